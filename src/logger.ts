/** The process's structured logger (pino, JSON to stdout), with secrets redacted. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON logs to stdout (pino's default destination: each line handed to the OS as it is logged, one asynchronous
 * write per line). Secrets never reach the log: API keys and cookies are redacted. Collecting lines into fewer
 * writes was measured side by side and gained nothing (docs/performance.md "Connection warmth and the access
 * log"): the access log costs 0.03–0.09 ms of CPU per request.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'glimpse' },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.apiKey', '*.key'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** Waits until the lines `logger` has handed to its asynchronous destination are written (the server's shutdown). */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve(); // a destination already closed
    }
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
