// The demo's GraphQL client: one POST per operation (multipart when a photo is sent, per the GraphQL
// multipart request spec), errors turned into ApiError with the API's `extensions.code`, and the words a
// shopper reads for each code (a storefront shows these, never the raw code).

export class ApiError extends Error {
  constructor(code, message, retryAfterSeconds) {
    super(message);
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** POSTs a GraphQL operation; with a file, as a multipart request (the file goes to variables.input.image). */
export async function graphql(query, variables, { file, signal } = {}) {
  let init;
  if (file) {
    const form = new FormData();
    form.append(
      'operations',
      JSON.stringify({ query, variables: { ...variables, input: { ...variables.input, image: null } } }),
    );
    form.append('map', JSON.stringify({ 0: ['variables.input.image'] }));
    form.append('0', file, file.name || 'photo');
    // the preflight header satisfies the server's CSRF prevention for multipart requests
    init = { method: 'POST', body: form, headers: { 'Apollo-Require-Preflight': 'true' } };
  } else {
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    };
  }
  let res;
  try {
    res = await fetch('graphql', { ...init, signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError('NETWORK_ERROR', String(err.message ?? err));
  }
  let body;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`HTTP_${res.status}`, `the server answered HTTP ${res.status} without a GraphQL body`);
  }
  if (body.errors?.length && !body.data) {
    const e = body.errors[0];
    throw new ApiError(e.extensions?.code ?? 'ERROR', e.message, e.extensions?.retryAfterSeconds);
  }
  if (body.errors?.length) {
    // a nullable root field failed beside others that answered: the caller's field is null, say why
    const e = body.errors[0];
    body.data.__error = new ApiError(e.extensions?.code ?? 'ERROR', e.message, e.extensions?.retryAfterSeconds);
  }
  return body.data;
}

const FRIENDLY = {
  UNSUPPORTED_IMAGE: 'That file is not a picture we can read. Try a JPEG, PNG or WebP photo.',
  CORRUPT_IMAGE: 'That picture seems to be damaged. Try another one.',
  IMAGE_TOO_LARGE: 'That picture is too large. Try a smaller one.',
  PAYLOAD_TOO_LARGE: 'That picture is too large. Try a smaller one.',
  MODEL_UNAVAILABLE: 'Search by meaning is still starting up. Try again in a moment, or use Keyword search.',
  RATE_LIMITED: 'Too many searches in a short time. Please wait a moment and try again.',
  SERVICE_UNAVAILABLE: 'Search is busy right now. Please try again in a moment.',
  REQUEST_TIMEOUT: 'The upload took too long. Check your connection and try again.',
  NETWORK_ERROR: 'We could not reach the store. Check your connection and try again.',
  NOT_FOUND: 'This product is no longer available.',
};

/** What a shopper reads for an error (the code stays on the element for support and tests). */
export function friendlyMessage(err) {
  const known = FRIENDLY[err.code];
  if (known) {
    if (err.code === 'RATE_LIMITED' && err.retryAfterSeconds)
      return `Too many searches in a short time. Please try again in ${err.retryAfterSeconds} s.`;
    return known;
  }
  if (err.code === 'BAD_USER_INPUT') return 'This search could not be run. Try shorter or simpler words.';
  return 'Something went wrong with this search. Please try again.';
}
