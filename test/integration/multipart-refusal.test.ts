/**
 * Uploads the server refuses before reading their files (no key, a read key, a malformed id, a product that
 * does not exist) must still reach the client as the typed error, and leave a keep-alive connection usable:
 * the server reads and drops the rest of the body once it has answered (src/app.ts, drainAfterResponse).
 * Without that, the client's upload stalls or is reset (ECONNRESET) before it reads the answer, and the
 * next request on the same pooled connection hangs. Clients: Node 20's global `fetch` and an undici Pool
 * with one keep-alive connection (every request provably reuses it), 30 calls per case with a ~790 KB PNG,
 * each followed by a JSON request on the same pool.
 */
import crypto from 'node:crypto';
import sharp from 'sharp';
import { FormData as UndiciFormData, Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CALLS = 30;
const ADD = 'mutation($p: ID!, $f: [Upload!]) { addProductImages(productId: $p, files: $f) { images { id } } }';
const MISSING = '00000000-0000-0000-0000-000000000000';

let srv: TestServer;
let png: Buffer;
let keys: { admin: string; read: string };

beforeAll(async () => {
  srv = await startTestServer({ config: { rateLimitPerMinute: 0 } });
  keys = { admin: await srv.createKey('admin'), read: await srv.createKey('read') };
  // random pixels do not compress: ~790 KB, under GLIMPSE_MAX_IMAGE_BYTES, large enough to outlast the answer
  png = await sharp(crypto.randomBytes(512 * 512 * 3), { raw: { width: 512, height: 512, channels: 3 } })
    .png()
    .toBuffer();
});
afterAll(async () => {
  await srv?.close();
});

const CASES = [
  { name: 'no key', key: undefined, id: MISSING, code: 'UNAUTHENTICATED' },
  { name: 'a read key', key: 'read', id: MISSING, code: 'FORBIDDEN' },
  { name: 'a malformed id', key: 'admin', id: 'not-a-uuid', code: 'BAD_USER_INPUT' },
  { name: 'a missing product', key: 'admin', id: MISSING, code: 'NOT_FOUND' },
] as const;

function form<F extends FormData | UndiciFormData>(f: F, id: string): F {
  f.append('operations', JSON.stringify({ query: ADD, variables: { p: id, f: [null] } }));
  f.append('map', JSON.stringify({ 0: ['variables.f.0'] }));
  f.append('0', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'big.png');
  return f;
}

const headersFor = (key: string | undefined) => ({
  'apollo-require-preflight': 'true',
  ...(key ? { authorization: `Bearer ${keys[key as keyof typeof keys]}` } : {}),
});

const codeOf = (body: unknown) =>
  (body as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code ?? 'none';

describe('refused multipart uploads', () => {
  it(`Node's fetch: ${CALLS} calls per case, each the typed error, then a JSON request on the same pool`, async () => {
    expect(png.length).toBeGreaterThan(700_000);
    const outcomes: Record<string, number> = {};
    for (const c of CASES) {
      for (let i = 0; i < CALLS; i++) {
        let got: string;
        try {
          const res = await fetch(srv.graphqlUrl, {
            method: 'POST',
            body: form(new FormData(), c.id),
            headers: headersFor(c.key),
            signal: AbortSignal.timeout(10_000),
          });
          got = codeOf(await res.json());
        } catch (err) {
          got = `client error: ${String((err as { cause?: { code?: string } }).cause?.code ?? err)}`;
        }
        outcomes[`${c.name}: ${got}`] = (outcomes[`${c.name}: ${got}`] ?? 0) + 1;
        const next = await srv.gql<{ health: { ok: boolean } }>('{ health { ok } }');
        expect(next.body.data?.health.ok).toBe(true);
      }
    }
    console.log('[multipart-refusal] fetch', outcomes);
    expect(outcomes).toEqual(Object.fromEntries(CASES.map((c) => [`${c.name}: ${c.code}`, CALLS])));
  }, 240_000);

  it(`an undici Pool with one keep-alive connection: ${CALLS} refusals per case and the JSON requests between them all reuse it`, async () => {
    const origin = new URL(srv.graphqlUrl).origin;
    const pool = new Pool(origin, { connections: 1, pipelining: 1 });
    let connects = 0;
    pool.on('connect', () => connects++);
    const outcomes: Record<string, number> = {};
    try {
      for (const c of CASES) {
        for (let i = 0; i < CALLS; i++) {
          const body = form(new UndiciFormData(), c.id);
          const res = await pool.request({
            path: '/graphql',
            method: 'POST',
            body: body as never,
            headers: headersFor(c.key),
            headersTimeout: 10_000,
            bodyTimeout: 10_000,
          });
          const got = codeOf(await res.body.json());
          outcomes[`${c.name}: ${got}`] = (outcomes[`${c.name}: ${got}`] ?? 0) + 1;
          const next = await pool.request({
            path: '/graphql',
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: '{ health { ok } }' }),
            headersTimeout: 10_000,
            bodyTimeout: 10_000,
          });
          expect(next.statusCode).toBe(200);
          expect(((await next.body.json()) as { data: { health: { ok: boolean } } }).data.health.ok).toBe(true);
        }
      }
      console.log('[multipart-refusal] undici pool', outcomes, { connections: connects });
      expect(outcomes).toEqual(Object.fromEntries(CASES.map((c) => [`${c.name}: ${c.code}`, CALLS])));
      // one connection carried all 240 requests: none was closed or reset under it
      expect(connects).toBe(1);
    } finally {
      await pool.close();
    }
  }, 240_000);
});
