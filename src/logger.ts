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

/**
 * The logger of a CLI command: warnings and errors only unless LOG_LEVEL says otherwise, to stderr (stdout is
 * the command's own output).
 */
export function createCliLogger(level: string = process.env.LOG_LEVEL ?? 'warn'): Logger {
  return pino({ level, base: undefined }, pino.destination(2));
}

/** A logger that prints nothing (tests, CLI subcommands that print their own output). */
export const silentLogger: Logger = pino({ level: 'silent' });
