/**
 * The Server-Timing header on GraphQL responses, over real HTTP to the real server on PostgreSQL and PGlite
 * with the generated test model: present on every GraphQL response, its parts plausible against each other
 * and against the time the client measured, and `strategy` naming what the search chose.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vectorToSql } from '../../src/db/vector.js';
import { DB_KINDS } from '../helpers/db.js';
import { startTestServer, type GqlResponse, type TestServer } from '../helpers/server.js';
import { unitVector } from '../helpers/catalog-gen.js';

const D = 768;
const N = 40;
const pid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const iid = (i: number) => `00000000-0000-4000-9000-${i.toString(16).padStart(12, '0')}`;

interface Timing {
  dur?: number;
  desc?: string;
}

/** Parses a Server-Timing header (`name;dur=1.2;desc="x", …`) into name → {dur, desc}. */
function parseServerTiming(header: string | null): Record<string, Timing> {
  const out: Record<string, Timing> = {};
  for (const metric of (header ?? '').split(',').map((m) => m.trim())) {
    if (!metric) continue;
    const [name, ...params] = metric.split(';');
    const t: Timing = {};
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k === 'dur') t.dur = Number(v);
      if (k === 'desc') t.desc = v!.replace(/^"|"$/g, '');
    }
    out[name!] = t;
  }
  return out;
}

describe.each(DB_KINDS)('Server-Timing on %s', (kind) => {
  let srv: TestServer;
  let admin: string;

  beforeAll(async () => {
    srv = await startTestServer({ db: kind, config: { rateLimitPerMinute: 0 } });
    admin = await srv.createKey('admin');
    const model = srv.models.status().modelId!;
    const sql = srv.db.sql;
    await sql.query(
      `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, 'test', 768, true, true)
       ON CONFLICT (id) DO UPDATE SET active = true`,
      [model],
    );
    for (let i = 0; i < N; i++) {
      await sql.query(
        `INSERT INTO product (id, sku, title, category, price, currency, tags) VALUES ($1, $2, $3, 'shoes', 10, 'USD', $4)`,
        [pid(i), `ST${i}`, `product ${i}`, i % 10 === 0 ? ['rare'] : []],
      );
      await sql.query(
        `INSERT INTO product_image (id, product_id, sha256, source, content_type, byte_size, width, height, position)
         VALUES ($1, $2, lpad(to_hex($3::int), 64, '0'), 'test', 'image/png', 1, 1, 1, 0)`,
        [iid(i), pid(i), i],
      );
      await sql.query(
        `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding) VALUES ($1, $2, $3, $4::halfvec(768))`,
        [iid(i), model, pid(i), vectorToSql(unitVector(D, i + 1))],
      );
    }
    await sql.exec('ANALYZE');
  }, 300_000);

  afterAll(async () => {
    await srv?.close();
  });

  /** runs an operation and returns the response, its parsed Server-Timing and the client's elapsed ms */
  async function timedGql(query: string, variables?: Record<string, unknown>, key?: string) {
    const t0 = performance.now();
    const res: GqlResponse = await srv.gql(query, variables, key ? { key } : {});
    const clientMs = performance.now() - t0;
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return { res, timing: parseServerTiming(res.headers.get('server-timing')), clientMs };
  }

  function expectPlausible(timing: Record<string, Timing>, clientMs: number) {
    const { db, embed, total } = timing;
    expect(db?.dur, 'db').toBeGreaterThan(0);
    expect(embed?.dur, 'embed').toBeGreaterThanOrEqual(0);
    expect(total?.dur, 'total').toBeGreaterThan(0);
    // the parts never exceed the whole (0.02 ms: each is rounded to 0.01), nor the whole what the client saw
    expect(db!.dur! + embed!.dur!).toBeLessThanOrEqual(total!.dur! + 0.02);
    expect(total!.dur!).toBeLessThanOrEqual(clientMs);
    expect(db!.desc).toMatch(/^[1-9]\d* statements$/);
  }

  it('a text search reports db, embed, total and the index strategy', async () => {
    const { res, timing, clientMs } = await timedGql(
      `{ search(input: { text: "red shoes" }, first: 5) { edges { node { sku } } } }`,
    );
    expect((res.body.data as { search: { edges: unknown[] } }).search.edges).toHaveLength(5);
    expectPlausible(timing, clientMs);
    expect(timing.embed!.dur).toBeGreaterThan(0);
    expect(timing.strategy?.desc).toBe('hnsw-iterative');
  });

  it('a selective filter reports the exact strategy; a raw vector embeds nothing', async () => {
    const { res, timing, clientMs } = await timedGql(
      `query($v: [Float!]) { search(input: { vector: $v, filter: { tagsAll: ["rare"] } }, first: 10) { edges { node { sku } } } }`,
      { v: unitVector(D, 1) },
      admin,
    );
    const skus = (res.body.data as { search: { edges: { node: { sku: string } }[] } }).search.edges.map(
      (e) => e.node.sku,
    );
    expect(skus).toHaveLength(N / 10);
    expect(skus[0]).toBe('ST0');
    expectPlausible(timing, clientMs);
    expect(timing.embed!.dur).toBe(0);
    expect(timing.strategy?.desc).toBe('exact');
  });

  it('a search reads its products in its own statement: 1 round trip, exact or index (its settings in the same message)', async () => {
    const q = `query($v: [Float!], $f: ProductFilter) {
      search(input: { vector: $v, filter: $f }, first: 10) { edges { node { sku title price { amount } tags } } } }`;
    const rare = { v: unitVector(D, 3), f: { tagsAll: ['rare'] } };
    await timedGql(q, rare, admin); // the filter's planner estimate is kept a minute: read it once
    const exact = await timedGql(q, rare, admin);
    expect(exact.timing.strategy?.desc).toBe('exact');
    expect(exact.timing.db!.desc).toBe('1 statements');
    const index = await timedGql(q, { v: unitVector(D, 3), f: null }, admin);
    expect(index.timing.strategy?.desc).toBe('hnsw-iterative');
    expect(index.timing.db!.desc).toBe('1 statements');
    const nodes = (index.res.body.data as { search: { edges: { node: { sku: string; title: string } }[] } }).search
      .edges;
    expect(nodes).toHaveLength(10);
    expect(nodes.every((e) => e.node.title.length > 0)).toBe(true);
  });

  it('two searches in one request list both strategies; a plain read has no strategy', async () => {
    const both = await timedGql(
      `query($v: [Float!]) {
         a: search(input: { vector: $v }, first: 3) { edges { cursor } }
         b: search(input: { vector: $v, filter: { tagsAll: ["rare"] } }, first: 3) { edges { cursor } } }`,
      { v: unitVector(D, 2) },
      admin,
    );
    expectPlausible(both.timing, both.clientMs);
    expect(both.timing.strategy?.desc?.split(' ').sort()).toEqual(['exact', 'hnsw-iterative']);

    const read = await timedGql(`{ product(sku: "ST3") { title } }`);
    expect(read.res.body.data).toEqual({ product: { title: 'product 3' } });
    expectPlausible(read.timing, read.clientMs);
    expect(read.timing.strategy).toBeUndefined();
  });

  it('is sent with GraphQL errors too', async () => {
    const res = await srv.gql(`{ search(input: { mode: KEYWORD }) { edges { cursor } } }`);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const timing = parseServerTiming(res.headers.get('server-timing'));
    expect(timing.total?.dur).toBeGreaterThan(0);
    expect(timing.db).toBeDefined();
  });
});
