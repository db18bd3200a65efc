/** The process's structured logger (pino, JSON to stdout), with secrets redacted. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** JSON logs to stdout (pino). Secrets never reach the log: API keys and cookies are redacted. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'glimpse' },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.apiKey', '*.key'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that prints nothing (tests, CLI subcommands that print their own output). */
export const silentLogger: Logger = pino({ level: 'silent' });
