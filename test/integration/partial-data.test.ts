/**
 * The contract a storefront page relies on, through real HTTP on PostgreSQL and PGlite: a root field that fails
 * is null with its error beside the other fields' data (the category menu survives a bad search, or a model
 * that is still loading); the limits fit each other (the documented search page at the largest page size
 * passes the cost limit; a full upsertProducts call fits the body limit) and a refusal names the setting.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/catalog/index.js';
import { DB_KINDS } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const root = path.resolve(import.meta.dirname, '../..');

/** The storefront search page query of docs/api.md (its first graphql block). */
function documentedSearchPage(): string {
  const doc = fs.readFileSync(path.join(root, 'docs', 'api.md'), 'utf8');
  const m = /```graphql\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/api.md has no graphql block');
  return m[1]!;
}

describe.each(DB_KINDS)('partial data and limits on %s', (kind) => {
  let srv: TestServer;
  let noModel: TestServer;
  let admin: string;

  beforeAll(async () => {
    [srv, noModel] = await Promise.all([
      startTestServer({ db: kind, config: { rateLimitPerMinute: 0 } }),
      startTestServer({ db: kind, models: 'none', config: { rateLimitPerMinute: 0 } }),
    ]);
    admin = await srv.createKey('admin');
    const res = await srv.gql(
      `mutation ($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created } }`,
      {
        inputs: [
          { sku: 'P-1', title: 'Red dress', category: 'women/dresses' },
          { sku: 'P-2', title: 'Blue shirt', category: 'men/shirts' },
        ],
      },
      { key: admin },
    );
    expect(res.body.errors).toBeUndefined();
  }, 300_000);
  afterAll(async () => {
    await Promise.all([srv?.close(), noModel?.close()]);
  });

  it('a failing search keeps the category menu: search is null, its error says why', async () => {
    const res = await srv.gql<{ categories: { path: string }[] | null; search: unknown }>(
      `{ categories { path } search(input: { text: "red", minScore: 2 }) { edges { score } } }`,
    );
    expect(res.status).toBe(200);
    expect(res.body.data!.categories!.map((c) => c.path).sort()).toEqual(['men', 'women']);
    expect(res.body.data!.search).toBeNull();
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors![0]).toMatchObject({ path: ['search'], extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('while no model is loaded, SEMANTIC search is null with MODEL_UNAVAILABLE and the rest of the page works', async () => {
    const res = await noModel.gql<{ categories: unknown[] | null; search: unknown; keyword: { totalCount: number } }>(
      `{ categories { path } search(input: { text: "red" }) { totalCount }
         keyword: search(input: { text: "red", mode: KEYWORD }) { totalCount } }`,
    );
    expect(res.body.data!.categories).toEqual([]);
    expect(res.body.data!.search).toBeNull();
    expect(res.body.data!.keyword).toEqual({ totalCount: 0 });
    expect(res.body.errors!.map((e) => [e.path, e.extensions?.code])).toEqual([[['search'], 'MODEL_UNAVAILABLE']]);
  });

  it('the documented search page at the largest page size passes the cost limit', async () => {
    const res = await srv.gql(documentedSearchPage(), {
      input: { text: 'red', mode: 'KEYWORD', facets: ['CATEGORY', 'CATEGORY_TREE', 'BRAND', 'IN_STOCK', 'PRICE'] },
      first: srv.config.maxFirst,
    });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data).toMatchObject({ search: { totalCount: 1 } });
  });

  it('a refused operation names the limit and the setting that raises it', async () => {
    const nested = 'images { product { images { product { images { url } } } } }';
    const q = `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: search(input: { text: "x" }, first: 100) { edges { node { ${nested} } } }`).join(' ')} }`;
    const res = await srv.gql(q);
    expect(res.body.errors![0]!.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX' });
    expect(res.body.errors![0]!.message).toMatch(/GLIMPSE_MAX_(COMPLEXITY|QUERY_DEPTH|ALIASES)/);
  });

  it('a full upsertProducts call of products with 2 KB descriptions fits the body limit; an oversized body names GLIMPSE_MAX_BODY_BYTES', async () => {
    const inputs = Array.from({ length: LIMITS.upsertBatchMax }, (_, i) => ({
      sku: `BULK-${i}`,
      title: `Bulk product ${i}`,
      description: 'd'.repeat(2000),
      brand: 'Acme',
      category: 'home',
      price: { amount: '9.90', currency: 'EUR' },
      tags: ['a', 'b'],
    }));
    const ok = await srv.gql<{ upsertProducts: { created: number } }>(
      `mutation ($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created } }`,
      { inputs },
      { key: admin },
    );
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data!.upsertProducts.created).toBe(LIMITS.upsertBatchMax);
    const big = await srv.gql(
      `mutation ($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created } }`,
      { inputs: inputs.map((p) => ({ ...p, description: 'd'.repeat(5000) })) },
      { key: admin },
    );
    expect(big.status).toBe(413);
    expect(big.body.errors![0]!.extensions!.code).toBe('PAYLOAD_TOO_LARGE');
    expect(big.body.errors![0]!.message).toContain('GLIMPSE_MAX_BODY_BYTES');
  }, 120_000);
});
