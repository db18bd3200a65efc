/**
 * Compound filters (two and three conditions, none selective alone) on pages 1–3 by cursor, against a brute
 * force over a small catalog on PostgreSQL and PGlite: which products match is decided here from the generated
 * attributes (not by the filter SQL under test), and every image's distance comes from the database's own
 * `<=>` over all rows (no filter, no index), so the expected order is the exact one. The service's choice on
 * this catalog (the exact scan) must reproduce it exactly; the vector index path (forced) must return full,
 * distinct, ordered pages with high recall.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vectorToSql } from '../../src/db/vector.js';
import type { Sql } from '../../src/db/sql.js';
import { SearchService } from '../../src/search/service.js';
import type { ProductFilter, SearchConfig, SearchRequest } from '../../src/search/types.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

const D = 768;
const MODEL = 'compound-768';
const N = 400;
const PAGE = 10;
const PAGES = 3;

const pid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const iid = (i: number, j: number) => `00000000-0000-4000-9000-${(i * 4 + j).toString(16).padStart(12, '0')}`;

/** attributes from coprime moduli (independent of one another) and random vectors */
const brandOf = (i: number) => `brand${i % 7}`;
const priceOf = (i: number) => (i * 37) % 101; // 0..100
const categoryOf = (i: number) => `c${i % 4}/s${i % 9}`;
const inStockOf = (i: number) => i % 3 !== 0;
const tagsOf = (i: number) => [...(i % 5 < 2 ? ['t2of5'] : []), ...(i % 11 < 6 ? ['t6of11'] : [])];
const imagesOf = (i: number) => 1 + (i % 3);

const CASES: { name: string; filter: ProductFilter; matches: (i: number) => boolean }[] = [
  {
    name: '3 brands + price ≤ 60',
    filter: { brands: ['brand0', 'brand2', 'brand3'], price: { min: null, max: '60', currency: 'USD' } },
    matches: (i) => ['brand0', 'brand2', 'brand3'].includes(brandOf(i)) && priceOf(i) <= 60,
  },
  {
    name: 'category subtree + in stock + tag',
    filter: { category: 'c1', inStock: true, tagsAll: ['t6of11'] },
    matches: (i) => categoryOf(i).startsWith('c1/') && inStockOf(i) && tagsOf(i).includes('t6of11'),
  },
  {
    name: 'brands + price range + tag',
    filter: {
      brands: ['brand1', 'brand4', 'brand5'],
      price: { min: '20', max: '90', currency: 'USD' },
      tagsAny: ['t2of5'],
    },
    matches: (i) =>
      ['brand1', 'brand4', 'brand5'].includes(brandOf(i)) &&
      priceOf(i) >= 20 &&
      priceOf(i) <= 90 &&
      tagsOf(i).includes('t2of5'),
  },
];

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
function randomUnit(rand: () => number): number[] {
  const v = Array.from({ length: D }, rand);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const config: SearchConfig = {
  maxFirst: 100,
  hnswEfSearch: 40,
  hnswMaxScanTuples: 20000,
  exactScanThreshold: 'auto',
  hnswTupleCost: 6,
  rrfK: 60,
  textSearchConfig: 'english',
  searchCandidateWindow: 100,
  ivfflatProbes: 10,
};

async function seed(sql: Sql): Promise<void> {
  await sql.query(
    `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, 'c', 768, true, true)`,
    [MODEL],
  );
  // the vector index is built once after the rows (PGlite inserts into an HNSW graph slowly), as the migration has it
  await sql.exec('DROP INDEX embedding_768_hnsw_idx');
  const rand = rng(7);
  for (let i = 0; i < N; i++) {
    await sql.query(
      `INSERT INTO product (id, sku, title, brand, category, price, currency, in_stock, tags)
       VALUES ($1, $2, $3, $4, $5, $6, 'USD', $7, $8)`,
      [pid(i), `C${i}`, `product ${i}`, brandOf(i), categoryOf(i), String(priceOf(i)), inStockOf(i), tagsOf(i)],
    );
    for (let j = 0; j < imagesOf(i); j++) {
      await sql.query(
        `INSERT INTO product_image (id, product_id, sha256, source, content_type, byte_size, width, height, position)
         VALUES ($1, $2, lpad(to_hex($3::int), 64, '0'), 'test', 'image/png', 1, 1, 1, $4)`,
        [iid(i, j), pid(i), i * 4 + j, j],
      );
      await sql.query(
        `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding) VALUES ($1, $2, $3, $4::halfvec(768))`,
        [iid(i, j), MODEL, pid(i), vectorToSql(randomUnit(rand))],
      );
    }
  }
  await sql.exec(
    'CREATE INDEX embedding_768_hnsw_idx ON embedding_768 USING hnsw (embedding halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)',
  );
  await sql.exec('ANALYZE');
}

describe.each(DB_KINDS)('compound filters on %s', (kind) => {
  let db: TestDatabase;
  let auto: SearchService;
  let indexed: SearchService;
  const queries = Array.from({ length: 3 }, (_, k) => randomUnit(rng(1000 + k)));

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    await seed(db.sql);
    auto = new SearchService(db.sql, config, null);
    indexed = new SearchService(db.sql, { ...config, exactScanThreshold: 0 }, null);
  }, 300_000);
  afterAll(async () => {
    await db?.drop();
  });

  /** the brute force: every product passing `matches`, by its best image's distance (database `<=>`), then id */
  async function bruteForce(q: number[], matches: (i: number) => boolean): Promise<string[]> {
    const rows = await db.sql.query<{ product_id: string; d: number }>(
      `SELECT product_id::text AS product_id, min(embedding <=> $1::halfvec(768))::float8 AS d
       FROM embedding_768 GROUP BY product_id`,
      [vectorToSql(q)],
    );
    const index = new Map(Array.from({ length: N }, (_, i) => [pid(i), i]));
    return rows
      .filter((r) => matches(index.get(r.product_id)!))
      .sort((a, b) => a.d - b.d || (a.product_id < b.product_id ? -1 : 1))
      .map((r) => r.product_id);
  }

  /** pages 1…PAGES by cursor: product ids in order, the strategies used and the distances returned */
  async function pages(svc: SearchService, req: SearchRequest) {
    const ids: string[] = [];
    const distances: number[] = [];
    const strategies = new Set<string>();
    let after: string | null = null;
    for (let page = 0; page < PAGES; page++) {
      const r = await svc.search({ ...req, first: PAGE, after });
      strategies.add(r.plan.strategy);
      ids.push(...r.hits.map((h) => h.productId));
      distances.push(...r.hits.map((h) => h.distance!));
      if (!r.pageInfo.hasNextPage) break;
      expect(r.hits).toHaveLength(PAGE);
      after = r.pageInfo.endCursor;
    }
    return { ids, distances, strategies };
  }

  for (const c of CASES)
    it(`${c.name}: pages 1–3 are exactly the brute force's order (the strategy chosen: exact)`, async () => {
      const matching = Array.from({ length: N }, (_, i) => i).filter(c.matches).length;
      expect(matching).toBeGreaterThan(PAGES * PAGE); // three full pages exist
      for (const q of queries) {
        const want = (await bruteForce(q, c.matches)).slice(0, PAGES * PAGE);
        const got = await pages(auto, { vector: q, filter: c.filter });
        expect([...got.strategies]).toEqual(['exact']);
        expect(got.ids).toEqual(want);
      }
    });

  it('on the vector index path the pages are full, distinct, ordered and near the brute force', async () => {
    for (const c of CASES)
      for (const q of queries) {
        const want = (await bruteForce(q, c.matches)).slice(0, PAGES * PAGE);
        const got = await pages(indexed, { vector: q, filter: c.filter });
        expect(got.ids).toHaveLength(PAGES * PAGE);
        expect(new Set(got.ids).size).toBe(got.ids.length);
        for (let k = 1; k < got.distances.length; k++)
          expect(got.distances[k]!).toBeGreaterThanOrEqual(got.distances[k - 1]! - 1e-6);
        const found = got.ids.filter((id) => want.includes(id)).length;
        expect(found / want.length, `${c.name}`).toBeGreaterThanOrEqual(0.9);
      }
  });
});
