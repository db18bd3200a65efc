/** The process's structured logger (pino, JSON to stdout), with secrets redacted. */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** longest a buffered log line waits before it is written (createLogger with `bufferBytes`) */
export const LOG_FLUSH_MS = 1000;
const ERROR_LEVEL = 50;

/**
 * JSON logs to stdout (pino). Secrets never reach the log: API keys and cookies are redacted.
 *
 * `bufferBytes` 0: pino's default destination, each line handed to the OS as it is logged (an asynchronous
 * write per line: a job on libuv's thread pool and its callback, per access log line). Above 0
 * (GLIMPSE_LOG_BUFFER): lines are collected up to that many bytes and written in one asynchronous write, at the
 * latest LOG_FLUSH_MS after they were logged; an error or fatal line is written at once with everything before
 * it, and the buffer is written out synchronously when the process exits (pino's exit handler) and by
 * `flushLogger` (the server's shutdown).
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', bufferBytes = 0): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'glimpse' },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.apiKey', '*.key'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (bufferBytes <= 0) return pino(options);
  // the destination pino's default is, with a minimum length: one write for many lines
  const dest = pino.destination({ dest: 1, sync: false, minLength: bufferBytes });
  let pending = false;
  let closed = false;
  const flush = () => {
    pending = false;
    if (!closed) dest.flush();
  };
  const timer = setInterval(() => pending && flush(), LOG_FLUSH_MS);
  timer.unref();
  dest.on('close', () => {
    closed = true;
    clearInterval(timer);
  });
  return pino(
    {
      ...options,
      hooks: {
        logMethod(args, method, lineLevel) {
          method.apply(this, args);
          if (lineLevel >= ERROR_LEVEL) flush();
          else pending = true;
        },
      },
    },
    dest,
  );
}

/** Writes out what `logger` holds in its buffer (nothing to do for an unbuffered one). */
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
