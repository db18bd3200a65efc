/**
 * How errors reach clients. Every error is GraphQL-shaped (`{ errors: [{ message, extensions: { code } }] }`)
 * with a code from src/errors.ts; unexpected errors become INTERNAL with the request id, and are logged
 * in full — their message, stack or SQL never reach the client.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Response } from 'express';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { codeOf, ERROR_CODES, GlimpseError, type ErrorCode } from '../errors.js';
import { databaseUnavailability } from '../db/unavailable.js';
import type { Logger } from '../logger.js';
import { errorsTotal } from '../observability/metrics.js';

/**
 * HTTP status when the error rejects the whole request before GraphQL execution (transport level). Errors
 * raised while executing an operation are returned with HTTP 200 (GraphQL over HTTP, application/json),
 * except parse/validation failures (400).
 */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  UNSUPPORTED_IMAGE: 415,
  CORRUPT_IMAGE: 422,
  IMAGE_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  REQUEST_TIMEOUT: 408,
  RATE_LIMITED: 429,
  MODEL_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
  QUERY_TOO_COMPLEX: 400,
  INTERNAL: 500,
};

/** Per-request state reachable from Apollo's formatError (which has no context argument). */
export interface RequestStore {
  requestId: string;
  log: Logger;
}
export const requestStore = new AsyncLocalStorage<RequestStore>();

/** Apollo's own codes that are client mistakes; reported as BAD_USER_INPUT with the original as `reason`. */
const APOLLO_CLIENT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
]);
/** Kept as they are: Apollo Client's automatic persisted queries protocol depends on them. */
const APOLLO_PROTOCOL_CODES = new Set(['PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED']);

/** PostgreSQL errors caused by text the database cannot represent (22021: e.g. a NUL byte; 22P05). */
const UNSTORABLE_TEXT_CODES = new Set(['22021', '22P05']);

function hasPgCode(err: unknown, codes: Set<string>): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const o = e as { code?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof o.code === 'string' && codes.has(o.code)) return true;
    e = o.cause ?? o.originalError;
  }
  return false;
}

/**
 * A GraphQLError, by shape: `instanceof` is not reliable when graphql is loaded twice (ESM and CJS copies,
 * e.g. under vitest), and Apollo, graphql-js and our code may each hold a different copy.
 */
function isGraphQLError(e: unknown): e is GraphQLError {
  return (
    e instanceof GraphQLError || (e instanceof Error && 'extensions' in e && 'positions' in e && 'originalError' in e)
  );
}

/** Strips GraphQLError wrappers down to what was thrown. */
export function unwrap(err: unknown): unknown {
  let e = err;
  while (isGraphQLError(e) && e.originalError && e.originalError !== e) e = e.originalError;
  return e;
}

function safeDetails(err: unknown): Record<string, unknown> {
  if (err instanceof GlimpseError) return err.details;
  const d = (err as { details?: unknown }).details;
  return d && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : {};
}

/**
 * The client-facing form of any error: { code, message, details }. Unknown errors are logged (with the
 * request id) and hidden behind a generic INTERNAL message.
 */
export function classify(
  err: unknown,
  fallbackCode?: string,
): { code: string; message: string; details: Record<string, unknown> } {
  const inner = unwrap(err);
  const known = codeOf(inner);
  if (known) return { code: known, message: (inner as Error).message, details: safeDetails(inner) };
  const status = (inner as { status?: unknown } | null)?.status;
  // http-errors style errors marked client-safe (`expose`): graphql-upload-minimal's HttpError (file over
  // the size limit, malformed multipart, missing file), body-parser's errors
  if (inner instanceof Error && typeof status === 'number' && (inner as { expose?: unknown }).expose === true) {
    if (status === 413) return { code: 'PAYLOAD_TOO_LARGE', message: inner.message, details: {} };
    if (status >= 400 && status < 500) return { code: 'BAD_USER_INPUT', message: inner.message, details: {} };
  }
  if (hasPgCode(inner, UNSTORABLE_TEXT_CODES)) {
    // e.g. U+0000 in a string argument: PostgreSQL text cannot hold it — the client's input, not a server fault
    return {
      code: 'BAD_USER_INPUT',
      message: 'a text argument contains a character that cannot be stored or searched (e.g. U+0000)',
      details: {},
    };
  }
  const unavailable = databaseUnavailability(inner);
  if (unavailable) {
    logError(inner, `database unavailable (${unavailable.code})`);
    return {
      code: 'SERVICE_UNAVAILABLE',
      message: `The database is unavailable; retry in ${unavailable.retryAfterSeconds} s.`,
      details: { retryAfterSeconds: unavailable.retryAfterSeconds },
    };
  }
  if (fallbackCode && APOLLO_PROTOCOL_CODES.has(fallbackCode))
    return { code: fallbackCode, message: (err as Error).message, details: {} };
  if (fallbackCode && APOLLO_CLIENT_CODES.has(fallbackCode) && (inner === err || isGraphQLError(inner))) {
    return {
      code: 'BAD_USER_INPUT',
      message: (err as Error).message,
      details: fallbackCode === 'BAD_USER_INPUT' ? {} : { reason: fallbackCode },
    };
  }
  if (isGraphQLError(err) && !err.originalError && !err.path) {
    // raised by graphql-js itself before any resolver ran, about the request (e.g. "Too many errors
    // processing variables" after 50 invalid list items, which Apollo leaves without a code)
    return { code: 'BAD_USER_INPUT', message: err.message, details: {} };
  }
  const ext = isGraphQLError(err) ? err.extensions?.code : undefined;
  if (typeof ext === 'string' && ext in ERROR_CODES && ext !== 'INTERNAL')
    return { code: ext, message: (err as Error).message, details: {} };
  const store = requestStore.getStore();
  logError(inner, 'internal error');
  return {
    code: 'INTERNAL',
    message: `Internal server error (request id ${store?.requestId ?? 'unknown'})`,
    details: {},
  };
}

function logError(err: unknown, msg: string): void {
  const log = requestStore.getStore()?.log;
  log?.error({ err }, msg);
}

/** Apollo's formatError: maps every error to a documented code; never includes stacks. */
export function formatGraphQLError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const apolloCode = typeof formatted.extensions?.code === 'string' ? formatted.extensions.code : undefined;
  const { code, message, details } = classify(error, apolloCode);
  errorsTotal.inc({ code });
  return {
    message,
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { ...details, code },
  };
}

/** The largest `extensions.retryAfterSeconds` of formatted errors (for a `Retry-After` header), or null. */
export function retryAfterOf(errors: readonly GraphQLFormattedError[] | undefined): number | null {
  let max: number | null = null;
  for (const e of errors ?? []) {
    const s = e.extensions?.retryAfterSeconds;
    if (typeof s === 'number' && Number.isFinite(s)) max = Math.max(max ?? 0, s);
  }
  return max;
}

/** Sends a GraphQL-shaped error outside Apollo (body limits, auth, rate limit, CSRF, multipart). */
export function sendError(
  res: Response,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
  status = HTTP_STATUS[code],
): void {
  errorsTotal.inc({ code });
  if (res.headersSent) return;
  const retry = details.retryAfterSeconds;
  if (typeof retry === 'number' && !res.hasHeader('retry-after')) res.setHeader('Retry-After', String(retry));
  res
    .status(status)
    .type('application/json')
    .send(JSON.stringify({ errors: [{ message, extensions: { ...details, code } }] }));
}
