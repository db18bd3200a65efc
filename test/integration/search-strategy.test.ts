/**
 * How a filtered search picks its strategy (src/search/service.ts chooseStrategy): from the planner's
 * statistics, with a guard on the exact scan and a fall-back from an index scan that runs dry — tested
 * with statistics made stale on purpose (autovacuum off, rows changed after ANALYZE), so the estimate is
 * wrong in a known direction and the results must still be the exact ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vectorToSql } from '../../src/db/vector.js';
import { forgetIndexInfo } from '../../src/catalog/store/vector-index.js';
import { MIN_EXACT_SCAN_ROWS, SearchService } from '../../src/search/service.js';
import { LATER_PAGE_MARGIN, SCAN_BYTES_PER_VISITED, TUPLE_COST_IN_MEMORY } from '../../src/search/planner.js';
import { readIndexInfo } from '../../src/catalog/store/vector-index.js';
import type { QueryEmbedder, SearchConfig, SearchRequest, SearchResult } from '../../src/search/types.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

const D = 768;
const MODEL = 'strategy-768';
const N = 200;
const pid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const imageCount = (i: number) => 1 + (i % 3);

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
function randomUnit(next: () => number): number[] {
  const v = Array.from({ length: D }, () => next());
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const embedder: QueryEmbedder = {
  modelId: MODEL,
  dimension: D,
  embedText: () => Promise.reject(new Error('vector queries only')),
};
const base: SearchConfig = {
  maxFirst: 100,
  hnswEfSearch: 40,
  hnswMaxScanTuples: 20000,
  exactScanThreshold: 20,
  hnswTupleCost: 20,
  rrfK: 60,
  textSearchConfig: 'english',
  searchCandidateWindow: 100,
  ivfflatProbes: 10,
};
const ids = (r: SearchResult) => r.hits.map((h) => h.productId);

describe.each(DB_KINDS)('search strategy on %s', (kind) => {
  let db: TestDatabase;
  let svc: SearchService;
  /** ground truth: the exact scan without a guard, whatever the statistics say */
  let exact: SearchService;
  const query = randomUnit(rng(99));
  const req = (tag: string, first = 10): SearchRequest => ({ vector: query, filter: { tagsAll: [tag] }, first });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    // statistics change only when this test says so
    await db.sql.exec(
      `ALTER TABLE product SET (autovacuum_enabled = false); ALTER TABLE embedding_768 SET (autovacuum_enabled = false)`,
    );
    await db.sql.query(`INSERT INTO embedding_model (id, name, dimension, active) VALUES ($1, 'strategy', $2, true)`, [
      MODEL,
      D,
    ]);
    const next = rng(7);
    const tags = (i: number) => [
      ...(i % 2 === 0 ? ['half'] : []),
      ...(i < 5 ? ['rare'] : []),
      ...(i < 150 ? ['gone'] : []), // most products now; all but 3 lose it after ANALYZE
    ];
    await db.sql.query(
      `INSERT INTO product (id, sku, title, tags)
       SELECT id, sku, sku, string_to_array(nullif(t, ''), ',') FROM unnest($1::uuid[], $2::text[], $3::text[]) AS x(id, sku, t)`,
      [
        Array.from({ length: N }, (_, i) => pid(i)),
        Array.from({ length: N }, (_, i) => `S-${i}`),
        Array.from({ length: N }, (_, i) => tags(i).join(',')),
      ],
    );
    const img: string[] = [];
    const prod: string[] = [];
    const vecs: string[] = [];
    for (let i = 0; i < N; i++)
      for (let j = 0; j < imageCount(i); j++) {
        img.push(`00000000-0000-4000-9000-${(i * 10 + j).toString(16).padStart(12, '0')}`);
        prod.push(pid(i));
        vecs.push(vectorToSql(randomUnit(next)));
      }
    await db.sql.query(
      `INSERT INTO product_image (id, product_id, sha256, source, content_type, byte_size, width, height, position)
       SELECT id, pid, md5(id::text) || md5(pid::text), 'test', 'image/jpeg', 1, 1, 1, 0 FROM unnest($1::uuid[], $2::uuid[]) AS x(id, pid)`,
      [img, prod],
    );
    await db.sql.query(
      `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding)
       SELECT id, $4, pid, v::halfvec(768) FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS x(id, pid, v)`,
      [img, prod, vecs, MODEL],
    );
    svc = new SearchService(db.sql, base, () => embedder);
    exact = new SearchService(db.sql, { ...base, exactScanThreshold: 100_000 }, () => embedder);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('without statistics (never analysed) a bounded count decides', async () => {
    forgetIndexInfo(db.sql);
    const r = await svc.search(req('half'));
    expect(r.plan.plannerRows).toBeUndefined();
    expect(r.plan.estimatedRows).toBe(21); // stopped at threshold + 1
    expect(r.plan.strategy).toBe('hnsw-iterative');
    const rare = await svc.search(req('rare'));
    expect(rare.plan.estimatedRows).toBeLessThanOrEqual(20);
    expect(rare.plan.strategy).toBe('exact');
    expect(ids(rare)).toEqual(ids(await exact.search(req('rare'))));
  });

  it('with statistics: no count; above the threshold the index, at or below it the exact scan', async () => {
    await db.sql.exec('ANALYZE product; ANALYZE embedding_768');
    forgetIndexInfo(db.sql);
    const half = await svc.search(req('half'));
    expect(half.plan.plannerRows).toBeGreaterThan(20);
    expect(half.plan.estimatedRows).toBeUndefined();
    expect(half.plan.strategy).toBe('hnsw-iterative');
    expect(half.plan.statements).toBe(2); // the planner's estimate + the search
    expect(half.hits).toHaveLength(10);
    const rare = await svc.search(req('rare'));
    expect(rare.plan.plannerRows).toBeLessThanOrEqual(20);
    expect(rare.plan.strategy).toBe('exact');
    expect(rare.plan.statements).toBe(2);
    expect(ids(rare)).toEqual(ids(await exact.search(req('rare'))));
    expect(rare.hits).toHaveLength(5);
  });

  it('statistics that under-estimate: the exact scan stops at its guard and the index answers', async () => {
    // 'late' did not exist when ANALYZE ran: the planner expects next to no rows; 120 products have it
    await db.sql.exec(`UPDATE product SET tags = tags || '{late}' WHERE sku < 'S-5' OR sku LIKE 'S-1%'`);
    const matching = (
      await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM product WHERE tags @> '{late}'`)
    )[0]!.n;
    expect(matching).toBeGreaterThan(40);
    const r = await svc.search(req('late', 20));
    expect(r.plan.plannerRows).toBeLessThanOrEqual(20);
    expect(r.plan.fallback).toBe('index');
    expect(r.plan.strategy).toBe('hnsw-iterative');
    expect(r.plan.statements).toBe(3);
    expect(ids(r)).toEqual(ids(await exact.search(req('late', 20))));
  });

  it('statistics that over-estimate: the index scan runs dry and the exact scan fills the page', async () => {
    // 'gone' was on 150 products when ANALYZE ran; now 3 keep it
    await db.sql.exec(`UPDATE product SET tags = array_remove(tags, 'gone') WHERE sku NOT IN ('S-10', 'S-20', 'S-30')`);
    const r = await svc.search(req('gone'));
    expect(r.plan.plannerRows).toBeGreaterThan(20);
    expect(r.plan.fallback).toBe('exact');
    expect(r.plan.strategy).toBe('exact');
    expect(ids(r).sort()).toEqual([pid(10), pid(20), pid(30)].sort());
    expect(ids(r)).toEqual(ids(await exact.search(req('gone'))));
    expect(r.pageInfo.hasNextPage).toBe(false);
    // GLIMPSE_EXACT_SCAN_ROWS=0 means never exact: the index answers alone
    const never = new SearchService(db.sql, { ...base, exactScanThreshold: 0 }, () => embedder);
    const n = await never.search(req('gone'));
    expect(n.plan.strategy).toBe('hnsw-iterative');
    expect(n.plan.fallback).toBeUndefined();
    expect(ids(n).sort()).toEqual([pid(10), pid(20), pid(30)].sort());
  });

  it('auto tuple cost: the table and index sizes against shared_buffers, read with the index information', async () => {
    const info = await readIndexInfo(db.sql, D);
    expect(info.bytes).toBeGreaterThan(0);
    expect(info.sharedBuffers).toBeGreaterThan(info.bytes!); // the test catalog fits
    const auto = { ...base, exactScanThreshold: 'auto' as const, hnswTupleCost: 'auto' as const };
    const r = await new SearchService(db.sql, auto, () => embedder).search(req('half'));
    expect(r.plan.tupleCost).toBe(TUPLE_COST_IN_MEMORY);
  });

  it('an index scan gets the memory its budget needs: hnsw.scan_mem_multiplier = ⌈scanMemory ÷ work_mem⌉', async () => {
    const svc = new SearchService(
      db.sql,
      { ...base, exactScanThreshold: 0, hnswMaxScanTuples: 500_000 },
      () => embedder,
    );
    const ex = await svc.explain(req('half'));
    expect(ex.plan.strategy).toBe('hnsw-iterative');
    expect(ex.plan.scanMemory).toBe(500_000 * SCAN_BYTES_PER_VISITED);
    // the same settings as the search, then what the scan would run under
    const [applied] = await db.sql.query<{ multiplier: number; workMem: number }>(
      `SELECT current_setting('hnsw.scan_mem_multiplier')::float8 AS multiplier,
              pg_size_bytes(current_setting('work_mem'))::float8 AS "workMem"`,
      [],
      { settings: ex.query.settings },
    );
    expect(applied!.multiplier).toBe(Math.min(1000, Math.ceil(ex.plan.scanMemory! / applied!.workMem)));
    expect(applied!.multiplier).toBeGreaterThan(1); // 100 MB is more than any default work_mem
  });

  it('auto threshold: √(window × tuple cost × embeddings), never below the floor', async () => {
    const [{ rows, products }] = (await db.sql.query<{ rows: number; products: number }>(
      `SELECT (SELECT reltuples::float8 FROM pg_class WHERE oid = 'embedding_768'::regclass) AS rows,
              (SELECT reltuples::float8 FROM pg_class WHERE oid = 'product'::regclass) AS products`,
    )) as [{ rows: number; products: number }];
    expect(rows).toBeGreaterThan(0);
    // the window's images per hit: the catalog's images per product rounded up, within [2, 4]
    const perHit = Math.min(4, Math.max(2, Math.ceil(rows / products)));
    const auto = (cost: number) =>
      new SearchService(db.sql, { ...base, exactScanThreshold: 'auto', hnswTupleCost: cost }, () => embedder);
    const small = await auto(20).search(req('half'));
    expect(small.plan.exactScanThreshold).toBe(MIN_EXACT_SCAN_ROWS);
    expect(small.plan.strategy).toBe('exact'); // the whole table is below the floor
    const cost = 10_000;
    const big = await auto(cost).search(req('half', 10));
    expect(big.plan.exactScanThreshold).toBe(Math.round(Math.sqrt((10 + 1) * perHit * cost * rows)));
    // facets are a statement of their own (counted from the filter): they do not change the choice; HYBRID
    // fuses a wider window (GLIMPSE_SEARCH_CANDIDATES), and so does a total under a score cut
    const faceted = await auto(cost).search({ ...req('half', 10), facets: ['BRAND'] });
    expect(faceted.plan.exactScanThreshold).toBe(big.plan.exactScanThreshold);
    const counted = await auto(cost).search({ ...req('half', 10), total: true, minScore: 0.01 });
    expect(counted.plan.exactScanThreshold).toBe(Math.round(Math.sqrt(100 * cost * rows)));

    // a later page walks the earlier ones again: its threshold is sized for (hits before + first + 1) images per
    // hit, the hits before being the cursor's rank, and (filtered) the margin it takes past the cursor
    const page2 = await auto(cost).search({ ...req('half', 10), after: big.pageInfo.endCursor });
    const page3 = await auto(cost).search({ ...req('half', 10), after: page2.pageInfo.endCursor });
    const walked = (20 + 10 + 1 + LATER_PAGE_MARGIN * 20) * perHit;
    expect(page3.plan.exactScanThreshold).toBe(Math.round(Math.sqrt(walked * cost * rows)));
    expect(new Set([big, page2, page3].flatMap(ids)).size).toBe(30);
  });
});
