/**
 * Every number a client can send, against the real server (real HTTP, scratch PostgreSQL, generated test
 * model): for each numeric input of schema.graphql (Int, Float and Decimal arguments and input fields,
 * enumerated from the schema, so a new one fails this test until it has a case here) fast-check sends
 * extreme values — ±1e308, 1e160, float32's limits, subnormals, NaN/±Infinity (null in JSON), 2^31, 2^53,
 * and literals such as 1e400 written into the query text. No response may be HTTP 500 or INTERNAL; a
 * refusal is BAD_USER_INPUT naming the field; a value inside the documented range must succeed (numbers
 * that would overflow the arithmetic are scaled, not refused: weights and raw vectors only count by
 * direction).
 *
 * Run count per input: GLIMPSE_FUZZ_NUMERIC_RUNS (default 25).
 */
import fs from 'node:fs';
import fc from 'fast-check';
import { buildSchema, getNamedType, isInputObjectType } from 'graphql';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postMultipart, startTestServer, type GqlResponse, type TestServer } from '../helpers/server.js';

const RUNS = Number(process.env.GLIMPSE_FUZZ_NUMERIC_RUNS ?? 25);
const DIM = 768;
const NUMERIC_TYPES = new Set(['Int', 'Float', 'Decimal']);

/** "Query.search(first)" for arguments of root fields, "SearchInput.minScore" for input fields. */
function numericInputsOfSchema(): string[] {
  const schema = buildSchema(fs.readFileSync('schema.graphql', 'utf8'));
  const out: string[] = [];
  for (const root of [schema.getQueryType()!, schema.getMutationType()!])
    for (const f of Object.values(root.getFields()))
      for (const a of f.args)
        if (NUMERIC_TYPES.has(getNamedType(a.type).name)) out.push(`${root.name}.${f.name}(${a.name})`);
  for (const t of Object.values(schema.getTypeMap()))
    if (isInputObjectType(t) && !t.name.startsWith('__'))
      for (const f of Object.values(t.getFields()))
        if (NUMERIC_TYPES.has(getNamedType(f.type).name)) out.push(`${t.name}.${f.name}`);
  return out.sort();
}

const extreme = fc.constantFrom(
  0,
  -0,
  1,
  -1,
  0.5,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  1e160,
  3.4028234663852886e38, // float32 max
  3.5e38,
  1e-40, // float32 subnormal
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  NaN,
  Infinity,
  -Infinity,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53 + 2,
  1e20,
);
const anyNumber = fc.oneof(
  { weight: 3, arbitrary: extreme },
  { weight: 2, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 120 }) },
);
/** literals JSON cannot carry (they overflow a double), written into the query text */
const hugeLiteral = fc.constantFrom('1e400', '-1e400', '1e-400', '9'.repeat(400), `0.${'0'.repeat(400)}1`);
const decimalish = fc.oneof(
  anyNumber,
  anyNumber.map(String),
  fc.bigInt({ min: 0n, max: 10n ** 12n }).map((n) => `${n / 100n}.${String(n % 100n).padStart(2, '0')}`),
  fc.constantFrom('9999999999.99', '99999999999', '-0.01', '1e5', ' 5 ', '0.001'),
);

/** What one generated value becomes: a request, and whether the value is inside the documented range. */
interface Case {
  /** the field's name, as the error must name it */
  field: string;
  values: fc.Arbitrary<unknown>;
  request(v: unknown, n: number): { query: string; variables: Record<string, unknown>; upload?: boolean };
  valid(v: unknown): boolean;
  /** sends the request with the admin key */
  admin?: boolean;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const firstOk = (v: unknown) => isNum(v) && Number.isInteger(v) && v >= 1 && v <= 100;
const unitOk = (v: unknown) => isNum(v) && v >= 0 && v <= 1;
const weightOk = (v: unknown) => isNum(v) && v >= 0;
const decimalOk = (v: unknown) => typeof v === 'string' && /^\d{1,10}(\.\d{1,2})?$/.test(v);
const SEARCH_OUT = '{ edges { score node { id } } }';

let productId = '';

/** A search whose weight `part` is the generated value, next to another part so that the weights never all vanish. */
function weightCase(part: string, input: string): Case {
  const declared = [
    ['$v', '$v: [Float!]'],
    ['$p', '$p: ID'],
    ['$i', '$i: Upload'],
  ].filter(([v]) => input.includes(v!));
  return {
    field: part,
    values: anyNumber,
    admin: true,
    valid: weightOk,
    request: (w) => ({
      query: `query($w: Float, ${declared.map((d) => d[1]).join(', ')}) {
        search(input: { ${input}, weights: { ${part}: $w } }) ${SEARCH_OUT} }`,
      variables: {
        w,
        ...(input.includes('$p') ? { p: productId } : {}),
        ...(input.includes('$v') ? { v: Array.from({ length: DIM }, (_, i) => Math.sin(i + 1)) } : {}),
        ...(input.includes('$i') ? { i: null } : {}),
      },
      ...(part === 'image' ? { upload: true } : {}),
    }),
  };
}

const CASES: Record<string, Case> = {
  'Query.search(first)': {
    field: 'first',
    values: anyNumber,
    valid: firstOk,
    request: (first) => ({
      query: `query($first: Int) { search(input: { text: "red" }, first: $first) ${SEARCH_OUT} }`,
      variables: { first },
    }),
  },
  'Query.products(first)': {
    field: 'first',
    values: anyNumber,
    valid: firstOk,
    request: (first) => ({
      query: `query($first: Int) { products(first: $first) { edges { node { id } } } }`,
      variables: { first },
    }),
  },
  'Query.suggest(first)': {
    field: 'first',
    values: anyNumber,
    valid: (v) => v === null || (isNum(v) && Number.isInteger(v) && v >= 1 && v <= 20),
    request: (first) => ({
      query: `query($first: Int) { suggest(prefix: "re", first: $first) { text kind } }`,
      variables: { first },
    }),
  },
  'Query.similarProducts(first)': {
    field: 'first',
    values: anyNumber,
    valid: firstOk,
    request: (first) => ({
      query: `query($first: Int, $p: ID!) { similarProducts(id: $p, first: $first) ${SEARCH_OUT} }`,
      variables: { first, p: productId },
    }),
  },
  'Query.searchAnalytics(days)': {
    field: 'days',
    values: anyNumber,
    admin: true,
    valid: (v) => v === null || (isNum(v) && Number.isInteger(v) && v >= 1 && v <= 366),
    request: (days) => ({
      query: `query($days: Int) { searchAnalytics(days: $days) { searches } }`,
      variables: { days },
    }),
  },
  'Query.searchAnalytics(first)': {
    field: 'first',
    values: anyNumber,
    admin: true,
    valid: (v) => v === null || firstOk(v),
    request: (first) => ({
      query: `query($first: Int) { searchAnalytics(first: $first) { searches } }`,
      variables: { first },
    }),
  },
  'Mutation.recordClick(position)': {
    field: 'position',
    values: anyNumber,
    valid: (v) => isNum(v) && Number.isInteger(v) && v >= 1 && v <= 10_000,
    request: (position) => ({
      query: `mutation($position: Int!) {
        recordClick(searchId: "00000000-0000-4000-8000-000000000000", productId: "${productId}", position: $position) }`,
      variables: { position },
    }),
  },
  'SearchInput.vector': {
    field: 'vector',
    values: fc.oneof(
      anyNumber.map((x) => Array(DIM).fill(x) as number[]),
      fc.array(anyNumber, { minLength: DIM, maxLength: DIM }),
    ),
    admin: true,
    valid: (v) => Array.isArray(v) && v.every(isNum) && v.some((x) => x !== 0),
    request: (vector) => ({
      query: `query($vector: [Float!]) { search(input: { vector: $vector }) ${SEARCH_OUT} }`,
      variables: { vector },
    }),
  },
  'SearchInput.minScore': {
    field: 'minScore',
    values: anyNumber,
    valid: unitOk,
    request: (minScore) => ({
      query: `query($minScore: Float) { search(input: { text: "red", minScore: $minScore }) ${SEARCH_OUT} }`,
      variables: { minScore },
    }),
  },
  'SearchBoost.inStock': {
    field: 'inStock',
    values: anyNumber,
    valid: (v) => v === null || unitOk(v),
    request: (inStock) => ({
      query: `query($inStock: Float) { search(input: { text: "red", boost: { inStock: $inStock } }) ${SEARCH_OUT} }`,
      variables: { inStock },
    }),
  },
  'AttributeBoost.weight': {
    field: 'weight',
    values: anyNumber,
    valid: unitOk,
    request: (weight) => ({
      query: `query($weight: Float!) {
        search(input: { text: "red", mode: HYBRID, boost: { attribute: { key: "rating", weight: $weight, max: 5 } } }) ${SEARCH_OUT} }`,
      variables: { weight },
    }),
  },
  'AttributeBoost.max': {
    field: 'max',
    values: anyNumber,
    valid: (v) => isNum(v) && v > 0 && v <= 1e12,
    request: (max) => ({
      query: `query($max: Float!) {
        search(input: { text: "red", mode: KEYWORD, boost: { attribute: { key: "rating", weight: 0.5, max: $max } } }) ${SEARCH_OUT} }`,
      variables: { max },
    }),
  },
  'SearchInput.relativeCutoff': {
    field: 'relativeCutoff',
    values: anyNumber,
    valid: unitOk,
    request: (relativeCutoff) => ({
      query: `query($relativeCutoff: Float) { search(input: { text: "red", relativeCutoff: $relativeCutoff }) ${SEARCH_OUT} }`,
      variables: { relativeCutoff },
    }),
  },
  'QueryWeights.text': weightCase('text', 'text: "red", productId: $p'),
  'QueryWeights.negativeText': weightCase('negativeText', 'text: "red", negativeText: "navy", productId: $p'),
  'QueryWeights.image': weightCase('image', 'image: $i, text: "red"'),
  'QueryWeights.product': weightCase('product', 'productId: $p, text: "red"'),
  'QueryWeights.vector': weightCase('vector', 'vector: $v, text: "red"'),
  'PriceRange.min': {
    field: 'min',
    values: decimalish,
    valid: decimalOk,
    request: (min) => ({
      query: `query($min: Decimal) { products(filter: { price: { min: $min, currency: "EUR" } }) { edges { node { id } } } }`,
      variables: { min },
    }),
  },
  'PriceRange.max': {
    field: 'max',
    values: decimalish,
    valid: decimalOk,
    request: (max) => ({
      query: `query($max: Decimal) { search(input: { text: "red", filter: { price: { max: $max, currency: "EUR" } } }) ${SEARCH_OUT} }`,
      variables: { max },
    }),
  },
  'MoneyInput.amount': {
    field: 'amount',
    values: decimalish,
    admin: true,
    valid: decimalOk,
    request: (amount, n) => ({
      query: `mutation($amount: Decimal!) { createProduct(input: { sku: "NUM-${n}", title: "n", price: { amount: $amount, currency: "EUR" } }) { id price { amount } } }`,
      variables: { amount },
    }),
  },
};

let srv: TestServer;
let admin: string;
let png: Buffer;

beforeAll(async () => {
  srv = await startTestServer({ config: { rateLimitPerMinute: 0 } });
  admin = await srv.createKey('admin');
  png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .png()
    .toBuffer();
  const p = await srv.gql<{ createProduct: { id: string } }>(
    'mutation { createProduct(input: { sku: "NUM-BASE", title: "red thing", price: { amount: "10", currency: "EUR" } }) { id } }',
    undefined,
    { key: admin },
  );
  productId = p.body.data!.createProduct.id;
  const up = await postMultipart(
    srv.graphqlUrl,
    'mutation($p: ID!, $f: [Upload!]) { addProductImages(productId: $p, files: $f) { images { id } } }',
    { p: productId, f: [null] },
    [{ at: 'f.0', name: 'red.png', bytes: png, type: 'image/png' }],
    { key: admin },
  );
  expect(up.body.errors).toBeUndefined();
});
afterAll(async () => {
  await srv?.close();
});

async function send(c: Case, v: unknown, n: number): Promise<GqlResponse> {
  const r = c.request(v, n);
  const opts = c.admin ? { key: admin } : {};
  if (r.upload)
    return postMultipart(srv.graphqlUrl, r.query, r.variables, [{ at: 'i', name: 'q.png', bytes: png }], opts);
  return srv.gql(r.query, r.variables, opts);
}

function check(res: GqlResponse, what: string, field: string, valid: boolean): string {
  const detail = `${what}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`;
  expect(res.status, detail).toBeLessThan(500);
  const errors = res.body.errors ?? [];
  for (const e of errors) expect(e.extensions?.code, detail).toBe('BAD_USER_INPUT');
  // (graphql-js adds one unnamed "Too many errors processing variables" after 50 invalid list items)
  if (errors.length) expect(JSON.stringify(errors[0]), `the error names \`${field}\`: ${detail}`).toContain(field);
  if (valid) expect(errors, detail).toEqual([]);
  return errors.length ? 'BAD_USER_INPUT' : 'ok';
}

describe('numeric inputs', () => {
  it('every numeric input of the schema has a case here', () => {
    expect(Object.keys(CASES).sort()).toEqual(numericInputsOfSchema());
  });

  it(`${RUNS} generated values per numeric input: never INTERNAL; refused with BAD_USER_INPUT naming the field, or answered`, async () => {
    const tally: Record<string, Record<string, number>> = {};
    let n = 0;
    for (const [name, c] of Object.entries(CASES)) {
      const t = (tally[name] = {} as Record<string, number>);
      await fc.assert(
        fc.asyncProperty(c.values, async (v) => {
          // JSON has no NaN/Infinity: they travel as null, which a valid request never contains
          const sent = JSON.parse(JSON.stringify(v ?? null)) as unknown;
          const k = check(
            await send(c, v, n++),
            `${name} = ${JSON.stringify(v)?.slice(0, 80)}`,
            c.field,
            c.valid(sent),
          );
          t[k] = (t[k] ?? 0) + 1;
        }),
        { numRuns: RUNS, seed: Number(process.env.GLIMPSE_FUZZ_SEED ?? 16), endOnFailure: true },
      );
    }
    console.log('[numeric-input] outcomes per input', tally);
  }, 240_000);

  it('the reported overflows: weights 1e308 / 1e160 and a raw vector of 768 × 1e308 are answered', async () => {
    for (const w of [1e308, 1e160, Number.MAX_VALUE]) {
      const res = await srv.gql(`{ search(input: { text: "red", weights: { text: ${w} } }) ${SEARCH_OUT} }`);
      expect(check(res, `weights.text ${w}`, 'text', true)).toBe('ok');
    }
    const res = await srv.gql(
      `query($v: [Float!]) { search(input: { vector: $v }) ${SEARCH_OUT} }`,
      { v: Array(DIM).fill(1e308) },
      { key: admin },
    );
    expect(check(res, 'vector 768 × 1e308', 'vector', true)).toBe('ok');
    // the same direction at any scale ranks the same
    const small = await srv.gql<{ search: { edges: { node: { id: string } }[] } }>(
      `query($v: [Float!]) { search(input: { vector: $v }) ${SEARCH_OUT} }`,
      { v: Array(DIM).fill(1e-300) },
      { key: admin },
    );
    expect(small.body.data?.search.edges).toEqual((res.body.data as typeof small.body.data)?.search.edges);
  });

  it('a raw vector sent compactly (vectorBase64, float32 LE) ranks as the list does; bad encodings are refused', async () => {
    const q = `query($v: [Float!], $b: String) { search(input: { vector: $v, vectorBase64: $b }) ${SEARCH_OUT} }`;
    const values = Array.from({ length: DIM }, (_, i) => Math.fround(Math.sin(i + 1)));
    const b64 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer).toString('base64');
    const asList = await srv.gql(q, { v: values }, { key: admin });
    const compact = await srv.gql(q, { b: b64(values) }, { key: admin });
    expect(check(compact, 'vectorBase64', 'vectorBase64', true)).toBe('ok');
    expect(compact.body.data).toEqual(asList.body.data);
    const refused = async (vars: Record<string, unknown>, message: RegExp) => {
      const res = await srv.gql(q, vars, { key: admin });
      expect(res.body.errors?.[0]?.extensions?.code, JSON.stringify(res.body)).toBe('BAD_USER_INPUT');
      expect(res.body.errors![0]!.message).toMatch(message);
    };
    await refused({ b: b64(values).slice(0, -4) + '!!!!' }, /`vectorBase64` is not base64/);
    await refused({ b: Buffer.alloc(DIM * 4 + 2).toString('base64') }, /not a whole number of float32/);
    await refused({ b: b64(values.slice(1)) }, /`vectorBase64` has 767 dimensions; the model has 768/);
    await refused({ b: b64([...values.slice(1), Infinity]) }, /component 767 is not a finite number/);
    await refused({ b: b64(values), v: values }, /give `vector` or `vectorBase64`, not both/);
    const anonymous = await srv.gql(q, { b: b64(values) });
    expect(anonymous.body.errors?.[0]?.extensions?.code).toMatch(/^(UNAUTHENTICATED|FORBIDDEN)$/);
  });

  it('literals that overflow a double (1e400, 400 nines) in the query text: BAD_USER_INPUT, never INTERNAL', async () => {
    await fc.assert(
      fc.asyncProperty(hugeLiteral, fc.constantFrom('first', 'minScore', 'weight', 'min'), async (lit, where) => {
        const query = {
          first: `{ search(input: { text: "red" }, first: ${lit}) ${SEARCH_OUT} }`,
          minScore: `{ search(input: { text: "red", minScore: ${lit} }) ${SEARCH_OUT} }`,
          weight: `{ search(input: { text: "red", productId: "${productId}", weights: { text: ${lit} } }) ${SEARCH_OUT} }`,
          min: `{ products(filter: { price: { min: ${lit}, currency: "EUR" } }) { edges { node { id } } } }`,
        }[where];
        const res = await srv.gql(query);
        expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
        for (const e of res.body.errors ?? []) expect(e.extensions?.code).toBe('BAD_USER_INPUT');
      }),
      { numRuns: 20, seed: 3 },
    );
  });
});
