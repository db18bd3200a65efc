/**
 * Hostile input against a real server (real HTTP, real multipart, scratch PostgreSQL, generated test model).
 * Extends test/integration/api.test.ts (which covers each fixture image on addProductImages and auth with
 * no key / a read key / a wrong key on a hand-written mutation list):
 *
 *  - every invalid fixture image plus generated ones (random bytes, a JPEG truncated at every 1/8, wrong
 *    extension / lying Content-Type, 1×100000 pixels), each uploaded to addProductImages AND as a search
 *    image: a typed error, nothing written (rows and files), the server still ready;
 *  - property-based fuzzing (fast-check, bounded run counts, logged) of search arguments and of mutation
 *    inputs: never HTTP 500 / INTERNAL / an undocumented code, never SQL or stack frames in a message;
 *    SQL-injection strings are stored and searched verbatim and change nothing else;
 *  - depth / alias / complexity bombs, a 10 MB JSON body, 1,000 files in one multipart request: rejected
 *    in < 2 s with the documented code;
 *  - auth matrix over every mutation enumerated from schema.graphql: no key, a revoked key, a read key.
 *
 * Run counts: GLIMPSE_FUZZ_SEARCH_RUNS (default 1500), GLIMPSE_FUZZ_MUTATION_RUNS (default 700).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  buildSchema,
  getNamedType,
  GraphQLEnumType,
  GraphQLInputObjectType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLScalarType,
  isLeafType,
  type GraphQLInputType,
} from 'graphql';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeKey, createKey } from '../../src/auth/api-keys.js';
import { ERROR_CODES } from '../../src/errors.js';
import { readFixture, readFixtureJson } from '../helpers/fixtures.js';
import {
  startTestServer,
  type GqlResponse,
  type TestServer,
  errorCodes,
  rowCount,
  storedFiles,
  postMultipart,
  type UploadPart,
} from '../helpers/server.js';

const SEARCH_RUNS = Number(process.env.GLIMPSE_FUZZ_SEARCH_RUNS ?? 1500);
const MUTATION_RUNS = Number(process.env.GLIMPSE_FUZZ_MUTATION_RUNS ?? 700);
const DOCUMENTED = new Set(Object.keys(ERROR_CODES).filter((c) => c !== 'INTERNAL'));

let srv: TestServer;
let admin: string;
let reader: string;
let productId: string;
let imageId: string;
let seedIds: string[] = [];

type Upload = UploadPart;

function multipart(
  query: string,
  variables: Record<string, unknown>,
  uploads: Upload[],
  opts: { key?: string } = {},
): Promise<GqlResponse & { ms: number }> {
  return postMultipart(srv.graphqlUrl, query, variables, uploads, opts);
}

const codes = errorCodes;

const count = (table: string) => rowCount(srv, table);

const files = () => storedFiles(srv);

async function snapshot() {
  return {
    products: await count('product'),
    images: await count('product_image'),
    vectors: await count('embedding_768'),
    keys: await count('api_key'),
    jobs: await count('job'),
    files: files(),
  };
}

async function assertHealthy(): Promise<void> {
  const h = await fetch(`${srv.url}/healthz`);
  expect(h.status).toBe(200);
  const r = await fetch(`${srv.url}/readyz`);
  expect(r.status, await r.text()).toBe(200);
  const q = await srv.gql<{ health: { ok: boolean } }>('{ health { ok } }');
  expect(q.body.data?.health.ok).toBe(true);
}

/** Markers of a leaked SQL statement, database error or stack trace (user input echoed back removed first). */
const LEAK =
  /\bSELECT\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|syntax error at|relation "|column "|violates|duplicate key|invalid input syntax|\bpg_|\bhalfvec\b|node_modules|\/src\/|\.ts:\d+|\bat \S+ \(|\n\s+at /i;

function collectStrings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => collectStrings(x, out));
  else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => (out.push(k), collectStrings(x, out)));
  return out;
}

/** Checks one response: no 500, no INTERNAL, documented codes only, nothing leaked. Returns the codes. */
function assertSafe(res: GqlResponse, variables: unknown, what: string): string[] {
  const detail = () => `${what}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 600)}`;
  expect(res.status, detail()).not.toBe(500);
  expect(res.status, detail()).toBeLessThan(500);
  const echoed = collectStrings(variables)
    .filter((s) => s.length >= 3)
    .sort((a, b) => b.length - a.length);
  const out: string[] = [];
  for (const e of res.body.errors ?? []) {
    const code = e.extensions?.code ?? 'none';
    expect(DOCUMENTED.has(code), detail()).toBe(true);
    let msg = e.message;
    for (const s of echoed) msg = msg.split(s).join('');
    for (const s of echoed) msg = msg.split(JSON.stringify(s).slice(1, -1)).join('');
    expect(LEAK.test(msg), `${detail()}\nleak in: ${msg.slice(0, 300)}`).toBe(false);
    expect(JSON.stringify(e.extensions ?? {})).not.toMatch(/stacktrace|exception/i);
    out.push(code);
  }
  return out;
}

const ADD_IMAGES = `mutation($id: ID!, $files: [Upload!], $urls: [String!]) {
  addProductImages(productId: $id, files: $files, urls: $urls) { images { id width height contentType } } }`;
const SEARCH = `query($input: SearchInput!, $first: Int, $after: String) {
  search(input: $input, first: $first, after: $after) {
    edges { cursor score node { id sku title } matchedImage { id } }
    pageInfo { hasNextPage endCursor } model
    facets { categories { value count } brands { value count } inStock { value count } price { min max currency count } }
  } }`;
const SEARCH_IMAGE = `query($input: SearchInput!) { search(input: $input, first: 3) { edges { node { id } } } }`;

const SEED_CATEGORIES = ['women/dresses', 'women/shoes', 'men/shirts', 'home/kitchen'];
const SEED_BRANDS = ['Acme', 'Globex', 'Initech'];

beforeAll(async () => {
  // key verdicts not cached: the auth matrix revokes a key and expects the very next request refused
  srv = await startTestServer({ config: { rateLimitPerMinute: 0, apiKeyCacheTtlMs: 0 } });
  admin = await srv.createKey('admin');
  reader = await srv.createKey('read');
  const inputs = Array.from({ length: 24 }, (_, i) => ({
    sku: `SEED-${i}`,
    title: `${['Red', 'Blue', 'Linen', 'Steel'][i % 4]} ${['dress', 'sneaker', 'shirt', 'pan'][i % 4]} ${i}`,
    description: `seed product ${i}`,
    brand: SEED_BRANDS[i % 3],
    category: SEED_CATEGORIES[i % 4],
    price: { amount: `${10 + i}.50`, currency: i % 5 === 0 ? 'USD' : 'EUR' },
    inStock: i % 3 !== 0,
    tags: [`t${i % 4}`, 'seed'],
    attributes: { color: ['red', 'blue'][i % 2]!, size: ['S', 'M', 'L'] },
  }));
  const up = await srv.gql<{ upsertProducts: { products: { id: string }[] } }>(
    `mutation($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { products { id } } }`,
    { inputs },
    { key: admin },
  );
  expect(up.body.errors, JSON.stringify(up.body.errors)).toBeUndefined();
  const ids = up.body.data!.upsertProducts.products.map((p) => p.id);
  productId = ids[0]!;
  seedIds = ids;
  for (const [i, file] of ['astronaut.png', 'coffee.png', 'chelsea.png', 'rocket.jpg'].entries()) {
    const res = await multipart(
      ADD_IMAGES,
      { id: ids[i], files: [null] },
      [{ at: 'files.0', name: file, bytes: readFixture('images', file) }],
      { key: admin },
    );
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    if (i === 0)
      imageId = (res.body.data as { addProductImages: { images: { id: string }[] } }).addProductImages.images[0]!.id;
  }
});

afterAll(async () => {
  await srv?.close();
});

// ---------------------------------------------------------------- images

interface BadImage {
  name: string;
  bytes: Buffer;
  type: string;
  /** expected code (undefined: any image code) */
  code?: string;
}

async function badImages(): Promise<BadImage[]> {
  const cases = readFixtureJson<{ invalid: { file: string }[] }>('images', 'cases.json');
  expect(cases.invalid.length).toBeGreaterThan(0);
  const out: BadImage[] = cases.invalid.map((c) => ({
    name: `fixture ${c.file}`,
    bytes: readFixture('images', c.file),
    type: 'application/octet-stream',
  }));
  // random bytes (first byte 0: never a magic number)
  for (const n of [1, 17, 4096, 200_000]) {
    const b = crypto.randomBytes(n);
    b[0] = 0;
    out.push({ name: `random ${n} bytes`, bytes: b, type: 'image/jpeg', code: 'UNSUPPORTED_IMAGE' });
  }
  // a real JPEG truncated at every 1/8 (0/8 = empty)
  const jpeg = readFixture('images', 'rocket.jpg');
  for (let k = 0; k < 8; k++) {
    out.push({
      name: `rocket.jpg truncated at ${k}/8`,
      bytes: jpeg.subarray(0, Math.floor((jpeg.length * k) / 8)),
      type: 'image/jpeg',
      code: k <= 0 ? 'CORRUPT_IMAGE' : undefined,
    });
  }
  // lying Content-Type / extension around non-images
  out.push({
    name: 'SVG sent as image/png, named .png',
    bytes: readFixture('images', 'external_entity.svg'),
    type: 'image/png',
    code: 'UNSUPPORTED_IMAGE',
  });
  out.push({
    name: 'HTML sent as image/jpeg',
    bytes: Buffer.from('<!doctype html><script>alert(1)</script>'),
    type: 'image/jpeg',
    code: 'UNSUPPORTED_IMAGE',
  });
  // a JPEG header and nothing else, a PNG signature with a lying IHDR (65535×65535)
  out.push({ name: 'JPEG SOI only', bytes: Buffer.from([0xff, 0xd8, 0xff, 0xe0]), type: 'image/jpeg' });
  const png = readFixture('images', 'red_1x1.png');
  const lying = Buffer.from(png);
  lying.writeUInt32BE(65535, 16);
  lying.writeUInt32BE(65535, 20);
  out.push({ name: 'PNG with a lying 65535×65535 header', bytes: lying, type: 'image/png' });
  return out;
}

describe('invalid images', () => {
  it('every invalid image, on addProductImages and as a search image: typed error, nothing written, still ready', async () => {
    const list = await badImages();
    const before = await snapshot();
    const seen: Record<string, string> = {};
    for (const bad of list) {
      const ext = bad.name.includes('.png') ? 'png' : 'jpg';
      const add = await multipart(
        ADD_IMAGES,
        { id: productId, files: [null] },
        [{ at: 'files.0', name: `upload.${ext}`, bytes: bad.bytes, type: bad.type }],
        { key: admin },
      );
      const addCodes = assertSafe(add, {}, `add ${bad.name}`);
      expect(addCodes, `add ${bad.name}: ${JSON.stringify(add.body.errors)}`).toEqual([
        bad.code ?? expect.stringMatching(/^(UNSUPPORTED_IMAGE|CORRUPT_IMAGE|IMAGE_TOO_LARGE)$/),
      ]);
      expect(add.body.errors![0]!.message).toContain('files[0]');
      expect(add.ms, bad.name).toBeLessThan(5000);
      const search = await multipart(SEARCH_IMAGE, { input: { image: null } }, [
        { at: 'input.image', name: `query.${ext}`, bytes: bad.bytes, type: bad.type },
      ]);
      const searchCodes = assertSafe(search, {}, `search ${bad.name}`);
      expect(searchCodes, `search ${bad.name}: ${JSON.stringify(search.body.errors)}`).toEqual([addCodes[0]]);
      expect(search.ms, bad.name).toBeLessThan(5000);
      seen[bad.name] = addCodes[0]!;
    }
    console.log(`[hostile-input] ${list.length} invalid images × (addProductImages + search):`, seen);
    expect(await snapshot()).toEqual(before);
    await assertHealthy();
  });

  it('a valid image with a lying Content-Type and extension is sniffed, not trusted', async () => {
    const before = await snapshot();
    const png = readFixture('images', 'camera.png');
    const res = await multipart(
      ADD_IMAGES,
      { id: productId, files: [null] },
      [{ at: 'files.0', name: 'holiday.gif', bytes: png, type: 'image/jpeg' }],
      { key: admin },
    );
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    const img = (res.body.data as { addProductImages: { images: { id: string; contentType: string }[] } })
      .addProductImages.images[0]!;
    expect(img.contentType).toBe('image/png');
    const served = await fetch(`${srv.url}/images/${crypto.createHash('sha256').update(png).digest('hex')}`);
    expect(served.headers.get('content-type')).toBe('image/png');
    await served.arrayBuffer();
    const rm = await srv.gql(`mutation($id: ID!) { removeProductImage(imageId: $id) }`, { id: img.id }, { key: admin });
    expect(rm.body.errors).toBeUndefined();
    expect(await snapshot()).toEqual(before);
  });

  it('1×100000 and 100000×1 pixels: IMAGE_TOO_LARGE (aspect ratio), quickly, nothing written', async () => {
    // within the pixel limit, but no product photo is a 100000:1 strip (GLIMPSE_MAX_IMAGE_ASPECT, default 100)
    const before = await snapshot();
    for (const [w, h] of [
      [1, 100_000],
      [100_000, 1],
    ] as const) {
      const bytes = await sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 20, b: 20 } } })
        .png()
        .toBuffer();
      const search = await multipart(SEARCH_IMAGE, { input: { image: null } }, [
        { at: 'input.image', name: 'strip.png', bytes, type: 'image/png' },
      ]);
      expect(search.body.errors?.[0]?.extensions?.code, JSON.stringify(search.body.errors)).toBe('IMAGE_TOO_LARGE');
      expect(search.ms).toBeLessThan(5000);
      const add = await multipart(
        ADD_IMAGES,
        { id: productId, files: [null] },
        [{ at: 'files.0', name: 'strip.png', bytes, type: 'image/png' }],
        { key: admin },
      );
      expect(add.body.errors?.[0]?.extensions?.code, JSON.stringify(add.body.errors)).toBe('IMAGE_TOO_LARGE');
      expect(add.body.errors?.[0]?.message).toMatch(/aspect ratio/);
      expect(add.ms).toBeLessThan(5000);
    }
    expect(await snapshot()).toEqual(before);
    await assertHealthy();
  });
});

// ---------------------------------------------------------------- fuzzing

const SQLI = [
  `'; DROP TABLE product; --`,
  `" OR 1=1 --`,
  `') OR ('1'='1`,
  `1; DELETE FROM product_image WHERE true; --`,
  `$$; TRUNCATE api_key; $$`,
  `\\'; SELECT pg_sleep(5); --`,
  `' UNION SELECT key_hash FROM api_key --`,
  `%' OR title LIKE '%`,
  `women/dresses'); DROP TABLE embedding_768; --`,
  `::uuid); DROP TABLE job; --`,
];
const CONTROL = fc
  .array(fc.integer({ min: 0, max: 31 }), { minLength: 1, maxLength: 20 })
  .map((cs) => String.fromCharCode(...cs));
const weirdString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom(...SQLI) },
  { weight: 1, arbitrary: CONTROL },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', ' ', '\u0000', '\uFEFF', '\u202E', '\uD800', '🙂'.repeat(300), 'a'.repeat(1001)),
  },
  { weight: 1, arbitrary: fc.constantFrom(...SEED_CATEGORIES, ...SEED_BRANDS, 'Women / Dresses', 'red dress') },
);
const hugeString = fc.constantFrom('x'.repeat(1_048_576), '\u0000'.repeat(200_000), 'é'.repeat(600_000));
const weirdNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(
    0,
    -0,
    -1,
    1,
    0.5,
    1e308,
    -1e308,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 53 + 1,
    Number.MAX_SAFE_INTEGER,
    1e-320,
  ),
);
const weirdInt = fc.oneof(
  fc.integer({ min: -5, max: 120 }),
  fc.constantFrom(0, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 1e20, 1.5, Number.MAX_SAFE_INTEGER),
);
const weirdDecimal = fc.oneof(
  fc.constantFrom('0', '19.90', '-1', '1e5', 'NaN', 'Infinity', '0x10', '12345678901.00', '1.234', '', ' 5 ', '٣'),
  fc.double().map(String),
);
const weirdDate = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '2026-01-01T00:00:00Z',
    '0000-00-00',
    '2026-13-45T99:99:99Z',
    'yesterday',
    '+275760-09-13T00:00:00.000Z',
    '',
  ),
  weirdString,
);
const uuidish = fc.oneof(
  fc.uuid(),
  weirdString,
  fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
);
const cursorish = fc.oneof(
  weirdString,
  fc.base64String({ maxLength: 80 }),
  fc
    .record({
      v: fc.oneof(fc.constant(1), weirdNumber),
      o: weirdString,
      k: fc.array(fc.oneof(weirdString, weirdNumber, fc.constant(null)), { maxLength: 4 }),
    })
    .map((o) => Buffer.from(JSON.stringify(o)).toString('base64url')),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')),
  fc.constant('A'.repeat(5000)),
);
const listOf = <T>(a: fc.Arbitrary<T>, max = 5) => fc.array(a, { maxLength: max });
/** Mostly a valid value (so the fuzzer reaches the SQL paths), sometimes a hostile one. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, weird: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: weird });
/** endCursors seen in earlier responses: replayed with other inputs, modes and orderings */
const cursorPool: string[] = [];
const seenCursor = fc.nat().map((i) => cursorPool[i % Math.max(1, cursorPool.length)] ?? 'none-yet');
const anyText = fc.oneof(
  fc.constantFrom('red dress', 'linen shirt', 'steel pan', 'blue sneaker 7', 'dress', 'Acme'),
  fc.string({ maxLength: 30 }),
);
const unit = fc.double({ min: 0, max: 1, noNaN: true });
const isoDate = fc
  .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
  .map((d) => d.toISOString());
const validFilter = fc.record(
  {
    category: fc.constantFrom(...SEED_CATEGORIES, 'women', 'Women / Dresses', 'nope'),
    categoryExact: fc.boolean(),
    brands: fc.subarray(SEED_BRANDS),
    price: fc.record(
      {
        min: fc.constantFrom('0', '10', '15.5', '20.00'),
        max: fc.constantFrom('12', '30', '99.99'),
        currency: fc.constantFrom('EUR', 'USD'),
      },
      { requiredKeys: ['currency'] },
    ),
    inStock: fc.boolean(),
    tagsAny: fc.subarray(['t0', 't1', 't2', 'seed', 'none']),
    tagsAll: fc.subarray(['t0', 'seed']),
    attributes: listOf(
      fc.oneof(
        fc.record({ key: fc.constant('color'), equals: fc.constantFrom('red', 'blue') }),
        fc.record({ key: fc.constant('size'), in: fc.subarray(['S', 'M', 'XL']) }),
      ),
      2,
    ),
    createdAfter: isoDate,
    createdBefore: isoDate,
  },
  { requiredKeys: [] },
);
const hostileFilter = fc.record(
  {
    category: weirdString,
    categoryExact: fc.boolean(),
    brands: listOf(weirdString),
    price: fc.record(
      {
        min: weirdDecimal,
        max: weirdDecimal,
        currency: fc.oneof(fc.constantFrom('EUR', 'USD', 'eur', 'XXX'), weirdString),
      },
      { requiredKeys: ['currency'] },
    ),
    inStock: fc.boolean(),
    tagsAny: listOf(weirdString),
    tagsAll: listOf(weirdString),
    attributes: listOf(
      fc.record({ key: weirdString, equals: weirdString, in: listOf(weirdString) }, { requiredKeys: ['key'] }),
      3,
    ),
    createdAfter: weirdDate,
    createdBefore: weirdDate,
  },
  { requiredKeys: [] },
);
/** a filter whose fields are each valid or hostile, independently */
const filterArb = fc
  .tuple(validFilter, hostileFilter, fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }))
  .map(([v, h, pick]) => {
    const out: Record<string, unknown> = {};
    const keys = [...new Set([...Object.keys(v), ...Object.keys(h)])];
    keys.forEach((k, i) => {
      const val = pick[i % 10] ? (h as Record<string, unknown>)[k] : (v as Record<string, unknown>)[k];
      if (val !== undefined) out[k] = val;
    });
    return out;
  });
/** search arguments: `hostile` mixes hostile values into otherwise valid ones; valid ones reach the SQL */
function searchArgsArb(hostile: boolean) {
  const m = <T, U>(valid: fc.Arbitrary<T>, weird: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
    hostile ? mostly(valid, weird) : valid;
  return fc
    .record(
      {
        input: fc.record(
          {
            text: m(anyText, weirdString),
            negativeText: m(anyText, weirdString),
            productId: m(
              fc.nat().map((i) => seedIds[i % seedIds.length]!),
              uuidish,
            ),
            imageId: m(
              fc.constant(null).map(() => imageId),
              uuidish,
            ),
            vector: m(
              fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 768, maxLength: 768 }),
              fc.oneof(listOf(weirdNumber, 8), fc.constant(Array(768).fill(0)), fc.constant(Array(769).fill(0.1))),
            ),
            weights: fc.record(
              {
                text: m(unit, weirdNumber),
                negativeText: m(unit, weirdNumber),
                image: m(unit, weirdNumber),
                product: m(unit, weirdNumber),
                vector: m(unit, weirdNumber),
              },
              { requiredKeys: [] },
            ),
            filter: hostile ? filterArb : validFilter,
            mode: m(fc.constantFrom('SEMANTIC', 'KEYWORD', 'HYBRID'), weirdString),
            minScore: m(unit, weirdNumber),
            relativeCutoff: m(unit, weirdNumber),
            facets: m(fc.subarray(['CATEGORY', 'BRAND', 'IN_STOCK', 'PRICE']), listOf(weirdString, 5)),
          },
          { requiredKeys: [] },
        ),
        first: m(fc.integer({ min: 1, max: 100 }), weirdInt),
        after: hostile ? fc.oneof(seenCursor, cursorish) : seenCursor,
        asAdmin: fc.boolean(),
      },
      { requiredKeys: ['input', 'asAdmin'] },
    )
    .map((a) => {
      if (!hostile) {
        // a valid request: a raw vector only with an admin key, some query part always present
        const input = a.input as Record<string, unknown>;
        if (!a.asAdmin) delete input.vector;
        if (input.mode === 'KEYWORD' || input.mode === 'HYBRID') {
          input.text ??= 'dress';
          if (input.mode === 'KEYWORD') for (const k of ['productId', 'imageId', 'vector', 'weights']) delete input[k];
        }
        // products 0..3 have images (the others: a typed "no embedded images" error)
        if (input.productId !== undefined) input.productId = seedIds[seedIds.indexOf(input.productId as string) % 4];
        if (input.weights !== undefined && (a.first ?? 1) % 3 !== 0) delete input.weights;
        if (!['text', 'productId', 'imageId', 'vector'].some((k) => input[k] !== undefined)) input.text = 'red dress';
        if (input.productId !== undefined) delete input.imageId;
        const f = input.filter as { price?: { min?: string; max?: string } } | undefined;
        if (f?.price?.min !== undefined && f.price.max !== undefined && Number(f.price.min) > Number(f.price.max))
          delete f.price.min;
        // a replayed cursor belongs to another search: mostly leave it out
        if (a.after !== undefined && (a.first ?? 1) % 10 !== 0) delete (a as { after?: string }).after;
      }
      return { ...a, hostile };
    });
}
const searchArgs = fc.oneof(searchArgsArb(false), searchArgsArb(true));

describe('property-based fuzzing', () => {
  it(`search arguments (${SEARCH_RUNS} runs): never INTERNAL, never a leak; SQL injection inert`, async () => {
    const before = await snapshot();
    const tally: Record<string, number> = {};
    const messages: Record<string, number> = {};
    let runs = 0;
    const t0 = Date.now();
    await fc.assert(
      fc.asyncProperty(searchArgs, async ({ asAdmin, hostile, ...vars }) => {
        runs++;
        const res = await srv.gql(SEARCH, vars, asAdmin ? { key: admin } : {});
        const cs = assertSafe(res, vars, 'search');
        const end = (res.body.data as { search?: { pageInfo: { endCursor: string | null } } } | null)?.search?.pageInfo
          .endCursor;
        if (end && cursorPool.length < 200) cursorPool.push(end);
        const k = `${hostile ? 'hostile' : 'valid'}:${cs.length ? [...new Set(cs)].join('+') : 'ok'}`;
        tally[k] = (tally[k] ?? 0) + 1;
        const msg = res.body.errors?.[0]?.message.replace(/"[^"]*"/g, '…').slice(0, 90);
        if (msg && !hostile) messages[msg] = (messages[msg] ?? 0) + 1;
      }),
      { numRuns: SEARCH_RUNS, seed: Number(process.env.GLIMPSE_FUZZ_SEED ?? 7), endOnFailure: true },
    );
    // the other Query fields with the same hostile arguments
    await fc.assert(
      fc.asyncProperty(filterArb, weirdInt, cursorish, uuidish, weirdString, async (filter, first, after, id, s) => {
        runs++;
        for (const [q, v] of [
          [
            `query($f: ProductFilter, $n: Int, $a: String) { products(filter: $f, first: $n, after: $a, orderBy: PRICE_ASC) { edges { node { id } } } }`,
            { f: filter, n: first, a: after },
          ],
          [
            `query($id: ID!, $f: ProductFilter, $n: Int, $a: String) { similarProducts(id: $id, filter: $f, first: $n, after: $a) { edges { node { id } } } }`,
            { id, f: filter, n: first, a: after },
          ],
          [`query($id: ID, $s: String) { a: product(id: $id) { id } b: product(sku: $s) { id } }`, { id, s }],
          [`query($p: String) { categories(parent: $p, flat: true) { path } }`, { p: s }],
        ] as const) {
          const res = await srv.gql(q, v);
          const cs = assertSafe(res, v, 'query');
          const k = `query:${cs.length ? [...new Set(cs)].join('+') : 'ok'}`;
          tally[k] = (tally[k] ?? 0) + 1;
        }
      }),
      { numRuns: Math.ceil(SEARCH_RUNS / 5), seed: 11, endOnFailure: true },
    );
    // 1 MB strings (over GLIMPSE_MAX_BODY_BYTES once JSON-encoded, or just under it)
    for (const s of fc.sample(hugeString, 3).concat(['y'.repeat(900_000)])) {
      for (const vars of [{ input: { text: s } }, { input: { text: 'dress', filter: { category: s } } }]) {
        const t = Date.now();
        const res = await srv.gql(SEARCH, vars);
        const cs = assertSafe(res, vars, 'huge string');
        expect(cs.length).toBeGreaterThan(0);
        expect(Date.now() - t).toBeLessThan(5000);
        tally[`huge:${cs.join('+')}`] = (tally[`huge:${cs.join('+')}`] ?? 0) + 1;
      }
    }
    console.log(`[hostile-input] search fuzzing: ${runs} generated cases in ${Date.now() - t0} ms`, tally);
    console.log(
      '[hostile-input] most frequent errors of valid-shaped searches',
      Object.entries(messages)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 10),
    );
    expect(await snapshot()).toEqual(before);
    await assertHealthy();
  }, 180_000); // 1,500 requests: minutes on a busy 2-core machine

  it(`mutation inputs (${MUTATION_RUNS} runs): never INTERNAL, never a leak; injection strings stored verbatim`, async () => {
    const jsonish = fc.oneof(
      fc.dictionary(weirdString, fc.oneof(weirdString, weirdNumber, fc.boolean(), listOf(weirdString, 3)), {
        maxKeys: 6,
      }),
      fc.jsonValue(),
      fc.constant({ a: 'x'.repeat(20_000) }),
    );
    const productInput = fc.record(
      {
        sku: fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}$/), weirdString),
        title: weirdString,
        description: weirdString,
        brand: weirdString,
        category: weirdString,
        price: fc.record({ amount: weirdDecimal, currency: fc.oneof(fc.constantFrom('EUR', 'usd'), weirdString) }),
        inStock: fc.boolean(),
        tags: listOf(weirdString, 60),
        attributes: jsonish,
      },
      { requiredKeys: ['sku', 'title'] },
    );
    const mutation = fc.oneof(
      productInput.map((input) => ({
        q: `mutation($input: ProductInput!) { createProduct(input: $input) { id sku title } }`,
        v: { input } as Record<string, unknown>,
      })),
      fc
        .record({
          id: fc.oneof(fc.constant('__P__'), uuidish),
          input: productInput.map((p) => {
            const { sku: _s, ...rest } = p;
            return rest;
          }),
        })
        .map((v) => ({
          q: `mutation($id: ID!, $input: ProductPatch!) { updateProduct(id: $id, input: $input) { id } }`,
          v,
        })),
      listOf(productInput, 3).map((inputs) => ({
        q: `mutation($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created updated } }`,
        v: { inputs } as Record<string, unknown>,
      })),
      fc.record({ p: fc.oneof(fc.constant('__P__'), uuidish), i: listOf(uuidish, 4) }).map((v) => ({
        q: `mutation($p: ID!, $i: [ID!]!) { reorderProductImages(productId: $p, imageIds: $i) { id } }`,
        v,
      })),
      uuidish.map((id) => ({
        q: `mutation($id: ID!) { removeProductImage(imageId: $id) }`,
        v: { id } as Record<string, unknown>,
      })),
      uuidish.map((id) => ({
        q: `mutation($id: ID!) { deleteProduct(id: $id) }`,
        v: { id } as Record<string, unknown>,
      })),
      fc
        .record({ id: fc.oneof(fc.constant('__P__'), uuidish), urls: listOf(fc.oneof(fc.webUrl(), weirdString), 3) })
        .map((v) => ({
          q: ADD_IMAGES,
          v,
        })),
    );
    // a product the fuzzer may update freely (its own, so the seed stays intact)
    const own = await srv.gql<{ createProduct: { id: string } }>(
      `mutation { createProduct(input: { sku: "FUZZ-TARGET", title: "fuzz target" }) { id } }`,
      {},
      { key: admin },
    );
    const target = own.body.data!.createProduct.id;
    const seedImages = await count('product_image');
    const seedTitle = (
      await srv.db.sql.query<{ t: string }>('SELECT title AS t FROM product WHERE id = $1::uuid', [productId])
    )[0]!.t;
    const tally: Record<string, number> = {};
    let created = 0;
    let deleted = 0;
    let runs = 0;
    const t0 = Date.now();
    await fc.assert(
      fc.asyncProperty(mutation, async ({ q, v }) => {
        runs++;
        const vars = JSON.parse(JSON.stringify(v).split('"__P__"').join(JSON.stringify(target))) as Record<
          string,
          unknown
        >;
        const res = await srv.gql<Record<string, { created?: number } | boolean>>(q, vars, { key: admin });
        const cs = assertSafe(res, vars, q.slice(0, 40));
        const data = res.body.data;
        if (!cs.length && data) {
          if ('createProduct' in data) created++;
          if ('upsertProducts' in data) created += (data.upsertProducts as { created: number }).created;
          if ('deleteProduct' in data && data.deleteProduct === true) deleted++;
        }
        const name = /\{\s*(\w+)/.exec(q)![1]!;
        const k = `${name}:${cs.length ? [...new Set(cs)].join('+') : 'ok'}`;
        tally[k] = (tally[k] ?? 0) + 1;
      }),
      { numRuns: MUTATION_RUNS, seed: Number(process.env.GLIMPSE_FUZZ_SEED ?? 7) + 1, endOnFailure: true },
    );
    console.log(`[hostile-input] mutation fuzzing: ${runs} generated mutations in ${Date.now() - t0} ms`, tally);
    // nothing but what was acknowledged changed: every table is there, counts add up, the seed is intact
    expect(deleted).toBe(0);
    expect(await count('product')).toBe(24 + 1 + created);
    expect(await count('product_image')).toBe(seedImages);
    expect(await count('api_key')).toBe(2);
    expect(
      (await srv.db.sql.query<{ t: string }>('SELECT title AS t FROM product WHERE id = $1::uuid', [productId]))[0]!.t,
    ).toBe(seedTitle);

    // injection strings as data: stored and returned verbatim, searchable, harmless
    for (const [i, s] of SQLI.entries()) {
      const res = await srv.gql<{ createProduct: { id: string; title: string; brand: string; tags: string[] } }>(
        `mutation($input: ProductInput!) { createProduct(input: $input) { id title brand tags } }`,
        { input: { sku: `SQLI-${i}`, title: s, brand: s.slice(0, 200), tags: [s] } },
        { key: admin },
      );
      expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
      expect(res.body.data!.createProduct).toMatchObject({ title: s.trim(), brand: s.slice(0, 200).trim() });
      const kw = await srv.gql<{ search: { edges: unknown[] } }>(SEARCH, {
        input: {
          text: s,
          mode: 'HYBRID',
          filter: { brands: [s], tagsAny: [s], category: s, attributes: [{ key: s, equals: s }] },
        },
      });
      assertSafe(kw, { s }, `search ${s}`);
    }
    expect(await count('product')).toBe(24 + 1 + created + SQLI.length);
    expect(await count('api_key')).toBe(2);
    expect(await count('embedding_768')).toBeGreaterThan(0);
    await assertHealthy();
  });
});

// ---------------------------------------------------------------- bombs

async function timedPost(body: string | FormData, headers: Record<string, string> = {}) {
  const t0 = Date.now();
  const res = await fetch(srv.graphqlUrl, {
    method: 'POST',
    body,
    headers: typeof body === 'string' ? { 'content-type': 'application/json', ...headers } : headers,
  });
  const text = await res.text();
  return { status: res.status, ms: Date.now() - t0, body: JSON.parse(text) as GqlResponse['body'] };
}

describe('bombs', () => {
  it('depth, alias and complexity bombs are QUERY_TOO_COMPLEX (400) in < 2 s', async () => {
    let deep = 'id';
    for (let i = 0; i < 30; i++) deep = `images { product { ${deep} } }`;
    const depth = await timedPost(JSON.stringify({ query: `{ products(first: 100) { edges { node { ${deep} } } } }` }));
    const aliases = await timedPost(
      JSON.stringify({ query: `{ ${Array.from({ length: 5000 }, (_, i) => `a${i}: health { ok }`).join(' ')} }` }),
    );
    // within the depth and alias limits, but 100 × 100 × 100 × 100 products
    const costly = await timedPost(
      JSON.stringify({
        query: `{ products(first: 100) { edges { node { images { product { images { product { images { product { title description images { url } } } } } } } } } } }`,
      }),
    );
    const wide = await timedPost(
      JSON.stringify({
        query: `{ ${Array.from({ length: 25 }, (_, i) => `s${i}: search(input: { text: "q${i}", facets: [CATEGORY, BRAND, PRICE, IN_STOCK] }, first: 100) { edges { node { images { product { images { url } } } } } }`).join(' ')} }`,
      }),
    );
    const fragments = await timedPost(
      JSON.stringify({
        query: `query { ...F0 } ${Array.from({ length: 40 }, (_, i) => `fragment F${i} on Query { health { ok } ${i < 39 ? `...F${i + 1} ...F${i + 1}` : ''} }`).join(' ')}`,
      }),
    );
    const limits: Record<string, unknown> = {};
    for (const [name, r, limit] of [
      ['depth', depth, 'depth'],
      ['aliases', aliases, 'aliases'],
      ['complexity', costly, undefined],
      ['wide search', wide, undefined],
      ['fragment fan-out', fragments, undefined],
    ] as const) {
      expect(r.status, `${name}: ${JSON.stringify(r.body).slice(0, 400)}`).toBe(400);
      const cs = codes(r as unknown as GqlResponse);
      expect(cs.length, name).toBeGreaterThan(0);
      if (name === 'fragment fan-out')
        expect(
          cs.every((c) => c === 'QUERY_TOO_COMPLEX' || c === 'BAD_USER_INPUT'),
          name,
        ).toBe(true);
      else expect(cs, name).toContain('QUERY_TOO_COMPLEX');
      if (limit)
        expect(
          r.body.errors!.some((e) => e.extensions?.limit === limit),
          name,
        ).toBe(true);
      expect(r.ms, name).toBeLessThan(2000);
      limits[name] = {
        ms: r.ms,
        codes: codes(r as unknown as GqlResponse),
        limit: r.body.errors?.[0]?.extensions?.limit,
      };
    }
    console.log('[hostile-input] bombs', limits);
    await assertHealthy();
  });

  it('a 10 MB JSON body is PAYLOAD_TOO_LARGE (413) in < 2 s', async () => {
    const big = JSON.stringify({ query: '{ health { ok } }', variables: { pad: 'x'.repeat(10 * 1024 * 1024) } });
    const r = await timedPost(big);
    expect(r.status).toBe(413);
    expect(codes(r as unknown as GqlResponse)).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(r.ms).toBeLessThan(2000);
    // deeply nested JSON (not a GraphQL limit: the body parser must survive it)
    const nested = `{"query":"{ health { ok } }","variables":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const n = await timedPost(nested);
    expect(n.status).toBeLessThan(500);
    expect(n.ms).toBeLessThan(2000);
    console.log(
      '[hostile-input] 10 MB body:',
      r.status,
      codes(r as unknown as GqlResponse),
      `${r.ms} ms`,
      '| 100k-deep JSON:',
      n.status,
      codes(n as unknown as GqlResponse),
      `${n.ms} ms`,
    );
    await assertHealthy();
  });

  it('1,000 files in one multipart request: PAYLOAD_TOO_LARGE in < 2 s, nothing written', async () => {
    const before = await snapshot();
    const png = readFixture('images', 'red_1x1.png');
    for (const key of [admin, undefined]) {
      const form = new FormData();
      const files = Array.from({ length: 1000 }, () => null);
      const query = key ? ADD_IMAGES : SEARCH_IMAGE;
      const variables = key ? { id: productId, files } : { input: { image: null } };
      form.append('operations', JSON.stringify({ query, variables }));
      const map: Record<string, string[]> = {};
      for (let i = 0; i < 1000; i++) map[String(i)] = [key ? `variables.files.${i}` : 'variables.input.image'];
      form.append('map', JSON.stringify(map));
      for (let i = 0; i < 1000; i++)
        form.append(String(i), new Blob([new Uint8Array(png)], { type: 'image/png' }), `${i}.png`);
      const r = await timedPost(form, {
        'apollo-require-preflight': 'true',
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      });
      expect(r.status, JSON.stringify(r.body)).toBe(413);
      expect(codes(r as unknown as GqlResponse)).toEqual(['PAYLOAD_TOO_LARGE']);
      expect(r.ms).toBeLessThan(2000);
      console.log(
        `[hostile-input] 1,000 files (${key ? 'addProductImages' : 'search'}):`,
        r.status,
        codes(r as unknown as GqlResponse),
        `${r.ms} ms`,
      );
    }
    expect(await snapshot()).toEqual(before);
    await assertHealthy();
  });
});

// ---------------------------------------------------------------- auth matrix

/** A valid value for an argument type (ids point at real rows, so only auth can refuse). */
function sampleValue(type: GraphQLInputType, argName: string): unknown {
  if (type instanceof GraphQLNonNull) return sampleValue(type.ofType, argName);
  if (type instanceof GraphQLList) return [sampleValue(type.ofType, argName)];
  if (type instanceof GraphQLEnumType) return type.getValues()[0]!.value;
  if (type instanceof GraphQLInputObjectType) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(type.getFields())) out[f.name] = sampleValue(f.type, f.name);
    return out;
  }
  if (type instanceof GraphQLScalarType) {
    const n = argName.toLowerCase();
    switch (type.name) {
      case 'ID':
        return n.includes('image') ? imageId : n === 'model' ? 'test' : productId;
      case 'String':
        return n === 'sku'
          ? 'AUTH-MATRIX-1'
          : n.includes('url')
            ? 'https://example.com/a.png'
            : n === 'currency'
              ? 'EUR'
              : 'hacked';
      case 'Int':
        return 1;
      case 'Float':
        return 1;
      case 'Boolean':
        return true;
      case 'Decimal':
        return '1.00';
      case 'DateTime':
        return '2026-01-01T00:00:00Z';
      case 'JSON':
        return { hacked: true };
      case 'Upload':
        return null;
    }
  }
  throw new Error(`auth matrix: no sample value for type ${String(type)} (argument ${argName}); extend sampleValue`);
}

describe('auth matrix (every mutation in schema.graphql)', () => {
  it('no key → UNAUTHENTICATED (401), revoked key → UNAUTHENTICATED (401), read key → FORBIDDEN; nothing written', async () => {
    const schema = buildSchema(
      fs.readFileSync(path.resolve(import.meta.dirname, '..', '..', 'schema.graphql'), 'utf8'),
    );
    // recordClick is the storefront's (public, rate-limited): every other mutation needs an admin key
    const PUBLIC_MUTATIONS = new Set(['recordClick']);
    const fields = Object.values(schema.getMutationType()!.getFields()).filter((f) => !PUBLIC_MUTATIONS.has(f.name));
    expect(fields.length).toBeGreaterThanOrEqual(8);
    // a revoked admin key: verified to work first, then revoked
    const { key: revoked, info } = await createKey(srv.db.prisma, 'admin', 'to be revoked');
    const jobQ = `{ job(id: "00000000-0000-4000-8000-000000000000") { id } }`;
    expect((await srv.gql(jobQ, {}, { key: revoked })).body.errors).toBeUndefined();
    await revokeKey(srv.db.prisma, info.id);
    const before = await snapshot();
    const product = await srv.gql(`query($id: ID) { product(id: $id) { title updatedAt images { id position } } }`, {
      id: productId,
    });
    const matrix: Record<string, string[]> = {};
    for (const f of fields) {
      const decl = f.args.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
      const call = f.args.map((a) => `${a.name}: $${a.name}`).join(', ');
      const leaf = isLeafType(getNamedType(f.type));
      const q = `mutation${decl ? `(${decl})` : ''} { ${f.name}${call ? `(${call})` : ''}${leaf ? '' : ' { __typename }'} }`;
      // Upload arguments travel only in multipart requests (below); JSON requests leave them out
      const vars = Object.fromEntries(
        f.args.filter((a) => getNamedType(a.type).name !== 'Upload').map((a) => [a.name, sampleValue(a.type, a.name)]),
      );
      const none = await srv.gql(q, vars);
      const rev = await srv.gql(q, vars, { key: revoked });
      const read = await srv.gql(q, vars, { key: reader });
      expect(codes(none), `${f.name} without a key: ${JSON.stringify(none.body)}`).toEqual(['UNAUTHENTICATED']);
      expect(codes(rev), `${f.name} with a revoked key`).toEqual(['UNAUTHENTICATED']);
      expect(rev.status).toBe(401);
      expect(codes(read), `${f.name} with a read key: ${JSON.stringify(read.body)}`).toEqual(['FORBIDDEN']);
      for (const r of [none, rev, read]) expect(r.body.data?.[f.name] ?? null).toBeNull();
      matrix[f.name] = [...codes(none), ...codes(rev), ...codes(read)] as string[];
      // uploads too, for mutations taking files
      if (f.args.some((a) => getNamedType(a.type).name === 'Upload')) {
        const fileArg = f.args.find((a) => getNamedType(a.type).name === 'Upload')!;
        const isList = String(fileArg.type).startsWith('[');
        const mvars = { ...vars, [fileArg.name]: isList ? [null] : null };
        for (const [key, code] of [
          [undefined, 'UNAUTHENTICATED'],
          [revoked, 'UNAUTHENTICATED'],
          [reader, 'FORBIDDEN'],
        ] as const) {
          const r = await multipart(
            q,
            mvars,
            [
              {
                at: `${fileArg.name}${isList ? '.0' : ''}`,
                name: 'a.png',
                bytes: readFixture('images', 'red_1x1.png'),
                type: 'image/png',
              },
            ],
            key ? { key } : {},
          );
          expect(codes(r), `${f.name} (multipart) key=${String(key && key.slice(0, 12))}`).toEqual([code]);
        }
      }
    }
    console.log('[hostile-input] auth matrix', Object.keys(matrix).length, 'mutations', matrix);
    expect(await snapshot()).toEqual(before);
    const after = await srv.gql(`query($id: ID) { product(id: $id) { title updatedAt images { id position } } }`, {
      id: productId,
    });
    expect(after.body).toEqual(product.body);
    // an admin key does get through (the matrix refused for the right reason)
    const ok = await srv.gql(
      `mutation($id: ID!) { updateProduct(id: $id, input: { inStock: true }) { id } }`,
      { id: productId },
      { key: admin },
    );
    expect(ok.body.errors).toBeUndefined();
  });
});
