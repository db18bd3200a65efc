/**
 * "The database cannot serve this right now" — decided by codes, never by message text (messages differ
 * between PostgreSQL versions, locales and drivers: the same SQLSTATE 57P03 reads "the database system is
 * starting up" or "… is not yet accepting connections" depending on the recovery phase).
 *
 * - SQLSTATE classes: 08 (connection exception), 53 (insufficient resources: too many connections, disk
 *   full, out of memory), 57P (admin shutdown, crash shutdown, cannot connect now), plus 57014 (statement
 *   timeout), 55P03 (lock timeout) and the retryable 40001 / 40P01 (serialization failure, deadlock);
 * - socket errno codes (ECONNREFUSED, ECONNRESET, …) and Prisma's connection error codes and kinds;
 * - errors the pg driver raises without a SQLSTATE ("Connection terminated unexpectedly", pool connect
 *   timeouts) are turned into a `ConnectionLostError` (SQLSTATE 08006) where they leave the driver
 *   (`connectionErrorOf`, used by src/db/postgres.ts), so they carry a code like the rest.
 *
 * Every such error becomes SERVICE_UNAVAILABLE with a retry hint (src/http/errors.ts).
 */

/** Seconds a client should wait before retrying: short for a retryable conflict, longer for an outage. */
export interface Unavailability {
  retryAfterSeconds: number;
  /** the code that decided it (logged) */
  code: string;
}

const RETRYABLE = new Set(['40001', '40P01']);
const TIMEOUTS = new Set(['57014', '55P03']);
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
]);
/** Prisma: can't reach, timed out, operations timed out, server closed the connection, pool timeout, conflict */
const PRISMA_CODES: Record<string, number> = { P1001: 2, P1002: 2, P1008: 2, P1017: 2, P2024: 2, P2034: 1 };
/** Prisma's driver-adapter error kinds */
const PRISMA_KINDS: Record<string, number> = {
  DatabaseNotReachable: 2,
  DatabaseDoesNotExist: 2,
  ConnectionClosed: 2,
  SocketTimeout: 2,
  TooManyConnections: 2,
  TransactionWriteConflict: 1,
};

function retryAfterOf(code: string): number | null {
  if (RETRYABLE.has(code)) return 1;
  if (TIMEOUTS.has(code)) return 1;
  if (/^(08|53)[0-9A-Z]{3}$/.test(code) || /^57P[0-9A-Z]{2}$/.test(code)) return 2;
  if (SOCKET_CODES.has(code)) return 2;
  return PRISMA_CODES[code] ?? null;
}

/** Why the database cannot serve this now (anywhere in the cause chain), or null when it is another error. */
export function databaseUnavailability(err: unknown): Unavailability | null {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length) {
    const e = queue.shift();
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const o = e as {
      code?: unknown;
      originalCode?: unknown;
      kind?: unknown;
      cause?: unknown;
      originalError?: unknown;
      errors?: unknown;
      meta?: { driverAdapterError?: unknown };
    };
    for (const c of [o.originalCode, o.code]) {
      const s = typeof c === 'string' ? retryAfterOf(c) : null;
      if (s !== null) return { retryAfterSeconds: s, code: c as string };
    }
    if (typeof o.kind === 'string' && o.kind in PRISMA_KINDS)
      return { retryAfterSeconds: PRISMA_KINDS[o.kind]!, code: o.kind };
    queue.push(o.cause, o.originalError, o.meta?.driverAdapterError);
    if (Array.isArray(o.errors)) queue.push(...(o.errors as unknown[])); // AggregateError
  }
  return null;
}

/** A connection the pg driver lost or could not open, as an error with SQLSTATE 08006 (connection failure). */
export class ConnectionLostError extends Error {
  override name = 'ConnectionLostError';
  /** SQLSTATE connection_failure; with `severity`, Prisma's pg adapter passes the code on as it does the server's */
  readonly code = '08006';
  readonly severity = 'ERROR';
  constructor(cause: Error) {
    super(`database connection failed: ${cause.message}`, { cause });
  }
}

/**
 * What the pg driver threw, with its code-less connection errors turned into ConnectionLostError. Errors
 * from the server carry a SQLSTATE (`code`), socket errors an errno code, programming errors are TypeError
 * / RangeError: those pass unchanged. What is left is the driver's own word that the connection is gone.
 */
export function connectionErrorOf(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) return err;
  if (typeof (err as { code?: unknown }).code === 'string') return err;
  return new ConnectionLostError(err);
}
