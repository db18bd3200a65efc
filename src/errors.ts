/**
 * Glimpse's error codes: every failure a client sees is a GraphQL error whose `extensions.code` is one of
 * these (documented in docs/errors.md). Services throw `GlimpseError`; the GraphQL layer maps anything
 * else to INTERNAL without leaking its message, stack or SQL.
 */
export const ERROR_CODES = {
  BAD_USER_INPUT: 'The request is invalid (argument out of range, malformed id/cursor, unknown field value).',
  UNAUTHENTICATED: 'No API key, or an unknown or revoked key, where one is required.',
  FORBIDDEN: 'The API key is valid but its role may not do this (e.g. a read key on a mutation).',
  NOT_FOUND: 'The product, image, model or job does not exist.',
  UNSUPPORTED_IMAGE: 'The file is not an accepted image format (JPEG, PNG, WebP, AVIF, GIF, TIFF).',
  CORRUPT_IMAGE: 'The file claims to be an image but cannot be decoded (truncated, empty, damaged).',
  IMAGE_TOO_LARGE: 'An image exceeds the byte limit (an uploaded file or a fetched URL) or the pixel limit.',
  PAYLOAD_TOO_LARGE: 'The request body or the number of files exceeds its limit.',
  REQUEST_TIMEOUT: 'The request body arrived too slowly (below the minimum rate); the connection is closed.',
  RATE_LIMITED: 'Too many requests for this key (or address); retry after the indicated time.',
  MODEL_UNAVAILABLE:
    'The embedding model is not loaded yet (or failed to load); keyword search and catalog reads still work.',
  SERVICE_UNAVAILABLE:
    'The database (or the image store: disk full) cannot serve the request right now; retry after `retryAfterSeconds`.',
  QUERY_TOO_COMPLEX: 'The GraphQL operation is too deep, has too many aliases, or is too costly.',
  INTERNAL: 'An unexpected server error (details are in the server log under the request id).',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GlimpseError extends Error {
  override name = 'GlimpseError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** extra, client-safe details (e.g. { field: 'first', max: 100 } or { retryAfterSeconds: 3 }) */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const badInput = (message: string, details: Record<string, unknown> = {}) =>
  new GlimpseError('BAD_USER_INPUT', message, details);
/** The one wording of a page size out of range (resolvers, the search service and the validation rule). */
export const firstRangeMessage = (max: number) => `first: must be an integer from 1 to ${max}`;
export const notFound = (what: string, id: string) =>
  new GlimpseError('NOT_FOUND', `${what} ${JSON.stringify(id)} does not exist`, { id });

/** Errors from other modules that already carry one of our codes (e.g. ImageError, ModelUnavailableError). */
export function codeOf(err: unknown): ErrorCode | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code in ERROR_CODES ? (code as ErrorCode) : undefined;
}

/**
 * Prefixes a coded error with the input it is about (e.g. files[1]) and makes it a GlimpseError. The image
 * checks name their subject "image: …"; the label takes its place (`files[1]: SVG is not…`, not
 * `files[1]: image: SVG is not…`).
 */
export function labelled(err: unknown, label: string): unknown {
  if (err instanceof GlimpseError) return err;
  const code = codeOf(err);
  if (code) {
    const msg = (err as Error).message.replace(/^image: /, '');
    return new GlimpseError(code as ErrorCode, msg.startsWith(label) ? msg : `${label}: ${msg}`, { field: label });
  }
  return err;
}
