/**
 * The points where docs/api.md, docs/errors.md (its code table, read by test/helpers/error-table.ts) and the
 * server once disagreed, checked against the real server: each answer has the documented code AND one of the
 * HTTP statuses the table lists for it. (SERVICE_UNAVAILABLE from the auth step, 503: postgres-restart.test.ts.)
 */
import crypto from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDocumentedStatus } from '../helpers/error-table.js';
import { errorCodes, postMultipart, startTestServer, type GqlResponse, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let admin: string;
let productId: string;

beforeAll(async () => {
  srv = await startTestServer({ config: { rateLimitPerMinute: 0, maxImageBytes: 100_000, maxFilesPerRequest: 2 } });
  admin = await srv.createKey('admin');
  const p = await srv.gql<{ createProduct: { id: string } }>(
    'mutation { createProduct(input: { sku: "C-1", title: "red" }) { id } }',
    undefined,
    { key: admin },
  );
  productId = p.body.data!.createProduct.id;
});
afterAll(async () => {
  await srv?.close();
});

/** The one code of a response, checked against the docs' table; 'ok' without errors. */
function documented(res: GqlResponse): string {
  const codes = [...new Set(errorCodes(res))];
  if (!codes.length) return 'ok';
  expect(codes.length, JSON.stringify(res.body)).toBe(1);
  const code = codes[0]!;
  expect(isDocumentedStatus(code, res.status), `${code} with HTTP ${res.status} is not in docs/errors.md`).toBe(true);
  return code;
}

const SEARCH =
  'query($t: String, $n: Int, $a: String) { search(input: { text: $t }, first: $n, after: $a) { edges { cursor } } }';

describe('contract = behaviour = docs', () => {
  it('first: 1..GLIMPSE_MAX_FIRST; 0 and 100000 are BAD_USER_INPUT in variables and written into the query', async () => {
    for (const n of [0, -1, 101, 100000]) {
      expect(documented(await srv.gql(SEARCH, { t: 'red', n }))).toBe('BAD_USER_INPUT');
      expect(documented(await srv.gql(`{ products(first: ${n}) { edges { cursor } } }`))).toBe('BAD_USER_INPUT');
      expect(documented(await srv.gql(`{ search(input: { text: "red" }, first: ${n}) { edges { cursor } } }`))).toBe(
        'BAD_USER_INPUT',
      );
      expect(
        documented(await srv.gql(`{ similarProducts(id: "${productId}", first: ${n}) { edges { cursor } } }`)),
      ).toBe('BAD_USER_INPUT');
    }
    for (const n of [1, 100]) expect(documented(await srv.gql(SEARCH, { t: 'red', n }))).toBe('ok');
  });

  it('an empty `after` is the first page in every connection', async () => {
    expect(documented(await srv.gql(SEARCH, { t: 'red', a: '' }))).toBe('ok');
    expect(documented(await srv.gql('{ products(after: "") { edges { cursor } } }'))).toBe('ok');
    expect(documented(await srv.gql(`{ similarProducts(id: "${productId}", after: "") { edges { cursor } } }`))).toBe(
      'ok',
    );
    expect(documented(await srv.gql(SEARCH, { t: 'red', a: 'garbage' }))).toBe('BAD_USER_INPUT');
  });

  it('the 1,000-character text limit counts code points: 1,000 emoji pass, 1,001 do not', async () => {
    expect(documented(await srv.gql(SEARCH, { t: '😀'.repeat(1000) }))).toBe('ok');
    expect(documented(await srv.gql(SEARCH, { t: 'é'.repeat(1000) }))).toBe('ok');
    const res = await srv.gql(SEARCH, { t: '😀'.repeat(1001) });
    expect(documented(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0]!.extensions).toMatchObject({ field: 'text', max: 1000 });
  });

  it('an upload over GLIMPSE_MAX_IMAGE_BYTES is IMAGE_TOO_LARGE; more files than GLIMPSE_MAX_FILES is PAYLOAD_TOO_LARGE', async () => {
    const big = await sharp(crypto.randomBytes(256 * 256 * 3), { raw: { width: 256, height: 256, channels: 3 } })
      .png()
      .toBuffer();
    expect(big.length).toBeGreaterThan(100_000);
    const add = 'mutation($p: ID!, $f: [Upload!]) { addProductImages(productId: $p, files: $f) { images { id } } }';
    const one = await postMultipart(
      srv.graphqlUrl,
      add,
      { p: productId, f: [null] },
      [{ at: 'f.0', name: 'big.png', bytes: big, type: 'image/png' }],
      { key: admin },
    );
    expect(documented(one)).toBe('IMAGE_TOO_LARGE');
    const search = await postMultipart(
      srv.graphqlUrl,
      'query($i: Upload) { search(input: { image: $i }) { edges { cursor } } }',
      { i: null },
      [{ at: 'i', name: 'big.png', bytes: big }],
    );
    expect(documented(search)).toBe('IMAGE_TOO_LARGE');
    const small = big.subarray(0, 10);
    const three = await postMultipart(
      srv.graphqlUrl,
      add,
      { p: productId, f: [null, null, null] },
      [0, 1, 2].map((i) => ({
        at: `f.${i}`,
        name: `${i}.png`,
        bytes: small,
      })),
      { key: admin },
    );
    expect(documented(three)).toBe('PAYLOAD_TOO_LARGE');
    expect(three.status).toBe(413);
  });

  it('image errors name their input once: `input.image: SVG …`, `files[0]: SVG …`, no doubled prefix', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>');
    const search = await postMultipart(
      srv.graphqlUrl,
      'query($i: Upload) { search(input: { image: $i }) { edges { cursor } } }',
      { i: null },
      [{ at: 'i', name: 'a.svg', bytes: svg, type: 'image/svg+xml' }],
    );
    expect(documented(search)).toBe('UNSUPPORTED_IMAGE');
    expect(search.body.errors![0]!.message).toMatch(/^input\.image: SVG /);
    const add = await postMultipart(
      srv.graphqlUrl,
      'mutation($p: ID!, $f: [Upload!]) { addProductImages(productId: $p, files: $f) { images { id } } }',
      { p: productId, f: [null] },
      [{ at: 'f.0', name: 'a.svg', bytes: svg, type: 'image/svg+xml' }],
      { key: admin },
    );
    expect(documented(add)).toBe('UNSUPPORTED_IMAGE');
    expect(add.body.errors![0]!.message).toMatch(/^files\[0\]: SVG /);
  });
});
