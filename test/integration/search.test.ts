/**
 * Search against real databases (PostgreSQL server and PGlite): a small catalog with hand-made unit vectors
 * whose exact ranking is known, plus a few hundred random vectors for the HNSW path under a rare filter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vectorToSql } from '../../src/db/vector.js';
import type { Sql } from '../../src/db/sql.js';
import { SearchService } from '../../src/search/service.js';
import type { QueryEmbedder, SearchConfig, SearchRequest, SearchResult } from '../../src/search/types.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

const D = 768;
const MODEL = 'test-clip-768';
const OTHER = 'other-clip-768';
const BULK = 'bulk-768';
const N = 30;
const BULK_N = 400;

const pid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const iid = (i: number, j: number) => `00000000-0000-4000-9000-${(i * 10 + j).toString(16).padStart(12, '0')}`;
const CATS = ['women/dresses', 'women/dresses/maxi', 'men/shirts'];
const BRANDS = ['acme', 'globex', 'initech', 'umbrella'];

function unit(dims: Record<number, number>): Float32Array {
  const v = new Float32Array(D);
  for (const [k, x] of Object.entries(dims)) v[Number(k)] = x;
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return v.map((x) => x / n);
}

// product i: images 1 + i%3; its best image is #1 when it has ≥ 2 images and i is odd, else #0.
// best image at angle base(i) from e0 (in the plane e0, e(1+i)); the others 0.5+ rad farther.
const base = (i: number) => 0.1 + 0.05 * i;
const imageCount = (i: number) => 1 + (i % 3);
const bestImage = (i: number) => (imageCount(i) > 1 && i % 2 === 1 ? 1 : 0);
function imageVector(i: number, j: number): Float32Array {
  const t = base(i) + (j === bestImage(i) ? 0 : 0.5 + 0.1 * j);
  return unit({ 0: Math.cos(t), [1 + i]: Math.sin(t) });
}
const cosine = (i: number) => Math.cos(base(i));

interface P {
  i: number;
  category: string;
  brand: string;
  price: number;
  currency: string;
  inStock: boolean;
  tags: string[];
  attributes: Record<string, unknown>;
  created: string;
  title: string;
  description: string;
}
const products: P[] = Array.from({ length: N }, (_, i) => ({
  i,
  category: i === 29 ? 'women/dresses-sale' : CATS[i % 3]!,
  brand: BRANDS[i % 4]!,
  price: 5 + i * 10,
  currency: i === 28 ? 'EUR' : 'USD',
  inStock: i % 5 !== 0,
  tags: [i % 2 === 0 ? 'red' : 'blue', ...(i % 7 === 0 ? ['sale'] : [])],
  attributes: {
    color: i % 2 ? 'red' : 'blue',
    size: ['S', 'M', 'L'][i % 3],
    n: i,
    fits: i % 4 === 0 ? ['slim', 'regular'] : ['regular'],
  },
  created: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
  title: i % 3 === 2 ? `Linen shirt ${i}` : `Summer dress ${i}`,
  description: i % 5 === 0 ? 'with genuine leather trim' : 'soft cotton',
}));

/** mock embedder: known words → known vectors */
const TEXT_VECTORS: Record<string, Float32Array> = {
  dress: unit({ 0: 1 }),
  leather: unit({ 1: 1 }), // axis of product 0
  nothing: unit({ 767: 1 }),
};
const embedder: QueryEmbedder = {
  modelId: MODEL,
  dimension: D,
  async embedText(text: string) {
    const v = TEXT_VECTORS[text];
    if (!v) throw new Error(`no mock vector for ${text}`);
    return v;
  },
};

const config: SearchConfig = {
  maxFirst: 50,
  hnswEfSearch: 40,
  hnswMaxScanTuples: 20000,
  exactScanThreshold: 20,
  rrfK: 60,
  textSearchConfig: 'english',
  searchCandidateWindow: 100,
  hnswTupleCost: 20,
  ivfflatProbes: 10,
};

/** deterministic gaussian-ish random for the bulk vectors */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function insertRows(sql: Sql, table: string, cols: string[], rows: unknown[][], casts: string[] = []) {
  for (let b = 0; b < rows.length; b += 50) {
    const chunk = rows.slice(b, b + 50);
    const params: unknown[] = [];
    const values = chunk.map(
      (r) =>
        '(' +
        r
          .map((v) => {
            params.push(v);
            const cast = casts[(params.length - 1) % cols.length];
            return `$${params.length}${cast ? '::' + cast : ''}`;
          })
          .join(',') +
        ')',
    );
    await sql.query(`INSERT INTO ${table} (${cols.join(',')}) VALUES ${values.join(',')}`, params);
  }
}

async function seed(sql: Sql) {
  await sql.query(
    `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, 'test', 768, true, true), ($2, 'other', 768, false, true), ($3, 'bulk', 768, false, true)`,
    [MODEL, OTHER, BULK],
  );
  const pcols = [
    'id',
    'sku',
    'title',
    'description',
    'brand',
    'category',
    'price',
    'currency',
    'in_stock',
    'tags',
    'attributes',
    'created_at',
  ];
  const pcasts = ['uuid', '', '', '', '', '', 'numeric', 'bpchar', 'boolean', 'text[]', 'jsonb', 'timestamptz'];
  await insertRows(
    sql,
    'product',
    pcols,
    products.map((p) => [
      pid(p.i),
      `SKU-${p.i}`,
      p.title,
      p.description,
      p.brand,
      p.category,
      p.price.toFixed(2),
      p.currency,
      p.inStock,
      p.tags,
      JSON.stringify(p.attributes),
      p.created,
    ]),
    pcasts,
  );
  const icols = ['id', 'product_id', 'sha256', 'source', 'content_type', 'byte_size', 'width', 'height', 'position'];
  const images: unknown[][] = [];
  const embs: unknown[][] = [];
  for (const p of products)
    for (let j = 0; j < imageCount(p.i); j++) {
      images.push([
        iid(p.i, j),
        pid(p.i),
        String(p.i * 10 + j).padStart(64, '0'),
        'upload',
        'image/png',
        100,
        10,
        10,
        j,
      ]);
      embs.push([iid(p.i, j), MODEL, pid(p.i), vectorToSql(imageVector(p.i, j))]);
    }
  // another model's vector for product 29 points straight at e0: must never be compared with MODEL's
  embs.push([iid(29, 0), OTHER, pid(29), vectorToSql(unit({ 0: 1 }))]);
  await insertRows(sql, 'product_image', icols, images, ['uuid', 'uuid']);
  await insertRows(sql, 'embedding_768', ['image_id', 'model_id', 'product_id', 'embedding'], embs, [
    'uuid',
    '',
    'uuid',
    'halfvec(768)',
  ]);

  // bulk: BULK_N products with one random image each under model BULK; 2% tagged 'rare'
  const r = rng(42);
  const bulkProducts: unknown[][] = [];
  const bulkImages: unknown[][] = [];
  const bulkEmbs: unknown[][] = [];
  for (let k = 0; k < BULK_N; k++) {
    const i = 1000 + k;
    bulkProducts.push([
      pid(i),
      `BULK-${k}`,
      `zzbulk ${k}`,
      null,
      'bulkco',
      'bulk/x',
      '1.00',
      'USD',
      true,
      k % 50 === 0 ? ['rare'] : ['common'],
      '{}',
      '2025-01-01T00:00:00Z',
    ]);
    bulkImages.push([iid(i, 0), pid(i), `b${k}`.padStart(64, '0'), 'upload', 'image/png', 100, 10, 10, 0]);
    const v = new Float32Array(D);
    for (let d = 0; d < D; d++) v[d] = r() + r() + r() - 1.5 + (d < 8 ? 2 * (r() - 0.5) : 0);
    bulkEmbs.push([iid(i, 0), BULK, pid(i), vectorToSql(unit(Object.fromEntries(Array.from(v, (x, d) => [d, x]))))]);
  }
  await insertRows(sql, 'product', pcols, bulkProducts, pcasts);
  await insertRows(sql, 'product_image', icols, bulkImages, ['uuid', 'uuid']);
  await insertRows(sql, 'embedding_768', ['image_id', 'model_id', 'product_id', 'embedding'], bulkEmbs, [
    'uuid',
    '',
    'uuid',
    'halfvec(768)',
  ]);
  await sql.exec('ANALYZE');
}

/** products (of the main catalog) passing `pred`, in exact expected order for the query e0 */
const expected = (pred: (p: P) => boolean = () => true) => products.filter(pred).map((p) => pid(p.i));
const ids = (r: SearchResult) => r.hits.map((h) => h.productId);

describe.each(DB_KINDS)('search on %s', (kind) => {
  let db: TestDatabase;
  let svc: SearchService;
  const e0 = () => Array.from(unit({ 0: 1 }));

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    await seed(db.sql);
    svc = new SearchService(db.sql, config, () => embedder);
    // PGlite builds the HNSW graph for the 460 seeded vectors in WASM: 85–100 s when the machine is shared
  }, 300_000);
  afterAll(async () => {
    await db?.drop();
  });

  async function all(req: SearchRequest, first: number): Promise<string[]> {
    const out: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 50; page++) {
      const r: SearchResult = await svc.search({ ...req, first, after });
      out.push(...ids(r));
      expect(r.hits.length).toBeLessThanOrEqual(first);
      if (!r.pageInfo.hasNextPage) break;
      expect(r.hits.length).toBe(first);
      after = r.pageInfo.endCursor;
    }
    return out;
  }

  it('ranks products by their best image, says which image matched, scores in [0,1]', async () => {
    const r = await svc.search({ text: 'dress', first: 10 });
    expect(r.modelId).toBe(MODEL);
    expect(ids(r)).toEqual(expected().slice(0, 10));
    for (const h of r.hits) {
      const i = products.find((p) => pid(p.i) === h.productId)!.i;
      expect(h.matchedImageId).toBe(iid(i, bestImage(i)));
      expect(h.score).toBeCloseTo(cosine(i), 2);
      expect(h.score).toBeGreaterThanOrEqual(0);
      expect(h.score).toBeLessThanOrEqual(1);
    }
    // product 29's OTHER-model vector equals the query: it must not rank first
    expect(ids(r)[0]).toBe(pid(0));
    expect(r.plan.strategy).toBe('hnsw-iterative');
  });

  it('paginates without duplicates or gaps (HNSW and exact paths)', async () => {
    const got = await all({ vector: e0() }, 4);
    expect(got).toEqual(expected());
    const filtered = await all({ vector: e0(), filter: { tagsAny: ['red'] } }, 3);
    expect(filtered).toEqual(expected((p) => p.tags.includes('red')));
  });

  it.each<[string, SearchRequest['filter'], (p: P) => boolean]>([
    [
      'category subtree',
      { category: 'women/dresses' },
      (p) => p.category === 'women/dresses' || p.category.startsWith('women/dresses/'),
    ],
    ['category exact', { category: 'women/dresses', categoryExact: true }, (p) => p.category === 'women/dresses'],
    ['brands', { brands: ['acme', 'initech'] }, (p) => ['acme', 'initech'].includes(p.brand)],
    [
      'price range',
      { price: { min: '50', max: '150.00', currency: 'usd' } },
      (p) => p.currency === 'USD' && p.price >= 50 && p.price <= 150,
    ],
    ['price currency', { price: { currency: 'EUR' } }, (p) => p.currency === 'EUR'],
    ['in stock', { inStock: false }, (p) => !p.inStock],
    ['tags any', { tagsAny: ['sale', 'nope'] }, (p) => p.tags.includes('sale')],
    ['tags all', { tagsAll: ['red', 'sale'] }, (p) => p.tags.includes('red') && p.tags.includes('sale')],
    ['attribute equals', { attributes: [{ key: 'size', equals: 'M' }] }, (p) => p.attributes.size === 'M'],
    ['attribute in', { attributes: [{ key: 'size', in: ['S', 'L'] }] }, (p) => p.attributes.size !== 'M'],
    ['attribute number as text', { attributes: [{ key: 'n', equals: '7' }] }, (p) => p.i === 7],
    ['attribute list contains', { attributes: [{ key: 'fits', equals: 'slim' }] }, (p) => p.i % 4 === 0],
    ['attribute list contains any', { attributes: [{ key: 'fits', in: ['slim', 'tall'] }] }, (p) => p.i % 4 === 0],
    [
      'created range',
      { createdAfter: '2026-01-05T00:00:00Z', createdBefore: new Date('2026-01-10T00:00:00Z') },
      (p) => p.i >= 4 && p.i < 9,
    ],
    [
      'combined',
      {
        category: 'women',
        brands: ['acme', 'globex', 'umbrella'],
        inStock: true,
        tagsAny: ['red', 'blue'],
        price: { max: 250, currency: 'USD' },
        attributes: [{ key: 'color', in: ['red', 'blue'] }],
      },
      (p) =>
        p.category.startsWith('women/') && p.brand !== 'initech' && p.inStock && p.currency === 'USD' && p.price <= 250,
    ],
  ])('filter: %s', async (_name, filter, pred) => {
    const want = expected(pred);
    expect(want.length).toBeGreaterThan(0);
    const r = await svc.search({ vector: e0(), filter, first: 50 });
    expect(ids(r)).toEqual(want);
    // the same filter over the HNSW path (no exact scan) finds the same products
    const hnsw = new SearchService(db.sql, { ...config, exactScanThreshold: 0 }, () => embedder);
    const h = await hnsw.search({ vector: e0(), filter, first: 50 });
    expect(h.plan.strategy).toBe('hnsw-iterative');
    expect(ids(h)).toEqual(want);
  });

  it('minScore and relativeCutoff (best score carried across pages)', async () => {
    const min = cosine(10) - 0.001; // products 0..10
    const r = await svc.search({ vector: e0(), minScore: min, first: 50 });
    expect(ids(r)).toEqual(expected((p) => p.i <= 10));
    const rel = (cosine(12) - 0.001) / cosine(0); // products 0..12
    const got = await all({ vector: e0(), relativeCutoff: rel }, 5);
    expect(got).toEqual(expected((p) => p.i <= 12));
    // the same cutoff when the best product is filtered out changes the reference score
    const r2 = await svc.search({ vector: e0(), relativeCutoff: 0.99, first: 50, filter: { inStock: true } });
    expect(ids(r2)[0]).toBe(pid(1));
  });

  it('facets over the filtered match set', async () => {
    const r = await svc.search({
      vector: e0(),
      first: 2,
      filter: { category: 'women' },
      facets: ['CATEGORY', 'BRAND', 'IN_STOCK', 'PRICE'],
    });
    const set = products.filter((p) => p.category.startsWith('women/'));
    const count = <K extends string>(f: (p: P) => K) => {
      const m = new Map<string, number>();
      for (const p of set) m.set(f(p), (m.get(f(p)) ?? 0) + 1);
      return m;
    };
    const asMap = (xs: { value: string; count: number }[] | undefined) =>
      new Map((xs ?? []).map((x) => [x.value, x.count]));
    // the category facet ignores the category filter (disjunctive): every category of the catalog
    const everyCategory = new Map<string, number>();
    for (const p of products) everyCategory.set(p.category, (everyCategory.get(p.category) ?? 0) + 1);
    expect(asMap(r.facets!.categories)).toEqual(everyCategory);
    expect(asMap(r.facets!.brands)).toEqual(count((p) => p.brand));
    expect(asMap(r.facets!.inStock)).toEqual(count((p) => String(p.inStock)));
    const total = r.facets!.price!.reduce((s, b) => s + b.count, 0);
    expect(total).toBe(set.length);
    const b = r.facets!.price!.find((x) => x.currency === 'USD' && x.min === '0')!;
    expect(b).toMatchObject({ max: '10', count: set.filter((p) => p.price < 10 && p.currency === 'USD').length });
    expect(r.hits).toHaveLength(2);
    // disjunctive: each facet ignores its own condition (the brand facet still lists every brand of the
    // category), the others narrow it
    const acme = await svc.search({
      vector: e0(),
      first: 2,
      filter: { category: 'women', brands: ['acme'] },
      facets: ['CATEGORY', 'BRAND', 'IN_STOCK'],
      total: true,
    });
    expect(asMap(acme.facets!.brands)).toEqual(count((p) => p.brand));
    const acmeSet = set.filter((p) => p.brand === 'acme');
    expect(asMap(acme.facets!.inStock)).toEqual(
      new Map([
        ['true', acmeSet.filter((p) => p.inStock).length],
        ['false', acmeSet.filter((p) => !p.inStock).length],
      ]),
    );
    expect(acme.facets!.stock).toEqual({
      inStock: acmeSet.filter((p) => p.inStock).length,
      outOfStock: acmeSet.filter((p) => !p.inStock).length,
    });
    expect(acme.totalCount).toBe(acmeSet.length);
    expect(acme.totalCountExact).toBe(true);
    // the category tree: the top level, and the children of the open branch ('women' selected)
    const tree = await svc.search({ vector: e0(), first: 1, filter: { category: 'women' }, facets: ['CATEGORY_TREE'] });
    const under = (path: string) =>
      products.filter((p) => p.category === path || p.category.startsWith(path + '/')).length;
    expect(tree.facets!.categoryTree).toEqual(
      expect.arrayContaining([
        { path: 'women', name: 'women', depth: 1, parentPath: null, count: under('women') },
        { path: 'men', name: 'men', depth: 1, parentPath: null, count: under('men') },
        { path: 'women/dresses', name: 'dresses', depth: 2, parentPath: 'women', count: under('women/dresses') },
        { path: 'women/dresses-sale', name: 'dresses-sale', depth: 2, parentPath: 'women', count: 1 },
      ]),
    );
    // not open: men's children, and the grandchildren below women/dresses
    expect(tree.facets!.categoryTree).toHaveLength(4);
    // facets on the HNSW path come from the filter, not the candidate window; minScore cuts the list, not the
    // counts, and the total counts the list
    const hnsw = await svc.search({
      vector: e0(),
      first: 2,
      minScore: cosine(5) - 0.001,
      facets: ['IN_STOCK'],
      total: true,
    });
    expect(hnsw.plan.strategy).toBe('hnsw-iterative');
    expect(asMap(hnsw.facets!.inStock)).toEqual(
      new Map([
        ['true', products.filter((p) => p.inStock).length],
        ['false', products.filter((p) => !p.inStock).length],
      ]),
    );
    expect(hnsw.totalCount).toBe(6);
    expect(hnsw.totalCountExact).toBe(true);
    // later pages carry page 1's total
    const page2 = await svc.search({
      vector: e0(),
      first: 2,
      minScore: cosine(5) - 0.001,
      total: true,
      after: hnsw.pageInfo.endCursor,
    });
    expect(page2.totalCount).toBe(6);
  });

  it('KEYWORD: full-text, normalised rank, works without a model', async () => {
    const noModel = new SearchService(db.sql, config, () => null);
    const r = await noModel.search({ mode: 'KEYWORD', text: 'dress', first: 50 });
    expect(r.modelId).toBeNull();
    expect(r.plan.strategy).toBe('keyword');
    expect(ids(r)).toEqual(expected((p) => p.title.includes('dress')));
    for (const h of r.hits) {
      expect(h.score).toBeGreaterThan(0);
      expect(h.score).toBeLessThan(1);
      expect(h.matchedImageId).toBeNull();
    }
    // negative words, filters and pagination
    const neg = await noModel.search({
      mode: 'KEYWORD',
      text: 'dress',
      negativeText: 'leather',
      first: 50,
      filter: { inStock: true },
    });
    expect(ids(neg)).toEqual(
      expected((p) => p.title.includes('dress') && !p.description.includes('leather') && p.inStock),
    );
    expect(await all({ mode: 'KEYWORD', text: 'dress leather' }, 2)).toEqual(
      expected((p) => p.title.includes('dress') && p.description.includes('leather')),
    );
    // facets over every keyword match
    const f = await noModel.search({ mode: 'KEYWORD', text: 'dress', first: 1, facets: ['IN_STOCK'] });
    const dresses = products.filter((p) => p.title.includes('dress'));
    expect(f.facets!.inStock).toEqual([
      { value: 'true', count: dresses.filter((p) => p.inStock).length },
      { value: 'false', count: dresses.filter((p) => !p.inStock).length },
    ]);
    // vector modes need the model
    await expect(noModel.search({ text: 'dress' })).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE' });
  });

  it('HYBRID: reciprocal rank fusion, scores normalised, stable pages', async () => {
    const r = await svc.search({ mode: 'HYBRID', text: 'dress', first: 50 });
    // product 0 is first in both lists: score 1
    expect(r.hits[0]).toMatchObject({ productId: pid(0), semanticRank: 1, keywordRank: 1 });
    expect(r.hits[0]!.score).toBeCloseTo(1, 10);
    for (const h of r.hits) {
      expect(h.score).toBeGreaterThan(0);
      expect(h.score).toBeLessThanOrEqual(1);
    }
    // shirts have no keyword match but still rank semantically; dresses rank above shirts of similar distance
    const shirt = r.hits.find((h) => h.productId === pid(2))!;
    expect(shirt.keywordRank).toBeNull();
    expect(shirt.matchedImageId).toBe(iid(2, bestImage(2)));
    const scores = r.hits.map((h) => h.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(await all({ mode: 'HYBRID', text: 'dress' }, 7)).toEqual(ids(r));
    // with a selective filter: exact semantic list, fused the same way
    const acme = await svc.search({
      mode: 'HYBRID',
      text: 'dress',
      first: 50,
      filter: { brands: ['acme'] },
      facets: ['BRAND'],
    });
    expect(acme.plan.strategy).toBe('exact');
    expect(new Set(ids(acme))).toEqual(new Set(expected((p) => p.brand === 'acme')));
    // the brand facet is disjunctive: every brand with its count, though only acme is listed
    expect(acme.facets!.brands).toHaveLength(BRANDS.length);
    expect(acme.facets!.brands).toContainEqual({ value: 'acme', count: expected((p) => p.brand === 'acme').length });
  });

  it('more like this: product and image vectors, excluding the product itself', async () => {
    const r = await svc.similarProducts(pid(3), { first: 5 });
    expect(ids(r)).not.toContain(pid(3));
    expect(r.hits).toHaveLength(5);
    const byImage = await svc.search({ imageId: iid(4, 0), first: 5 });
    expect(ids(byImage)).not.toContain(pid(4));
    // works without a loaded embedder (active model from the database)
    const noModel = new SearchService(db.sql, config, () => null);
    expect(ids(await noModel.similarProducts(pid(3), { first: 5 }))).toEqual(ids(r));
    await expect(svc.similarProducts('00000000-0000-4000-8000-0000000fffff')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(svc.search({ imageId: '00000000-0000-4000-8000-0000000fffff' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(svc.similarProducts('not-a-uuid')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('negative text pushes results away; weights combine parts', async () => {
    const plain = await svc.search({ text: 'dress', first: 3 });
    expect(ids(plain)[0]).toBe(pid(0));
    const neg = await svc.search({ text: 'dress', negativeText: 'leather', weights: { negativeText: 1 }, first: 10 });
    // q = (e0 − e1)/√2: product 0 (tilted toward e1) falls behind products 1..7
    expect(ids(neg).indexOf(pid(0))).toBe(7);
    // text 1 + vector toward product 5's axis, weighted: product 5 comes first
    const mix = await svc.search({
      text: 'dress',
      vector: Array.from(unit({ 6: 1 })),
      weights: { text: 0.5, vector: 0.5 },
      first: 1,
    });
    expect(ids(mix)).toEqual([pid(5)]);
  });

  it('rejects bad input with BAD_USER_INPUT', async () => {
    const bad = async (req: SearchRequest) => expect(svc.search(req)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await bad({ vector: [1, 0, 0] });
    await bad({ vector: Array.from({ length: D }, (_, k) => (k === 3 ? Number.NaN : 0.1)) });
    await bad({ vector: e0(), first: 51 });
    await bad({ vector: e0(), first: -1 });
    await bad({ vector: e0(), first: 1.5 });
    await bad({ vector: e0(), after: 'garbage!' });
    await bad({ vector: e0(), after: Buffer.from('{"v":1}').toString('base64url') });
    await bad({ vector: e0(), minScore: 1.5 });
    await bad({ vector: e0(), relativeCutoff: Number.NaN });
    await bad({ vector: e0(), weights: { vector: -1 } });
    await bad({ vector: e0(), filter: { price: { min: 'abc', currency: 'USD' } } });
    await bad({ vector: e0(), filter: { createdAfter: 'yesterday' } });
    await bad({ mode: 'KEYWORD' });
    await bad({ mode: 'SEMANTIC' });
    await bad({ mode: 'BOGUS' as never, text: 'x' });
    // a cursor of another mode
    const k = await svc.search({ mode: 'KEYWORD', text: 'dress', first: 1 });
    await bad({ vector: e0(), after: k.pageInfo.endCursor });
  });

  it('selective filter: exact plan (no HNSW) and a full page', async () => {
    const req: SearchRequest = { vector: e0(), filter: { brands: ['acme'] }, first: 5 };
    const ex = await svc.explain(req);
    expect(ex.plan.strategy).toBe('exact');
    expect(ex.plan.plannerRows ?? ex.plan.estimatedRows).toBeLessThanOrEqual(20);
    expect(ex.plan.exactScanThreshold).toBe(20);
    expect(ex.explain).not.toMatch(/hnsw/);
    const r = await svc.search(req);
    expect(ids(r)).toEqual(expected((p) => p.brand === 'acme').slice(0, 5));
    expect(r.pageInfo.hasNextPage).toBe(true);
  });

  it('unfiltered: HNSW index scan', async () => {
    const ex = await svc.explain({ vector: e0(), first: 5 });
    expect(ex.plan.strategy).toBe('hnsw-iterative');
    expect(ex.plan.efSearch).toBeGreaterThanOrEqual(24);
    expect(ex.explain).toMatch(/embedding_768_hnsw_idx/);
  });

  it('HNSW path with a 2% filter still returns a full page (iterative scan)', async () => {
    // bulk model only: 400 random vectors, 8 tagged 'rare'
    const bulkEmbedder: QueryEmbedder = { ...embedder, modelId: BULK };
    const hnsw = new SearchService(db.sql, { ...config, exactScanThreshold: 0, hnswEfSearch: 10 }, () => bulkEmbedder);
    const exact = new SearchService(db.sql, { ...config, exactScanThreshold: 100_000 }, () => bulkEmbedder);
    const q = unit({ 0: 1, 1: 0.5, 2: -0.3, 3: 0.2 });
    const req: SearchRequest = { vector: Array.from(q), filter: { tagsAll: ['rare'] }, first: 6 };
    const ex = await hnsw.explain(req);
    expect(ex.explain).toMatch(/embedding_768_hnsw_idx/);
    const r = await hnsw.search(req);
    expect(r.plan.strategy).toBe('hnsw-iterative');
    expect(r.hits).toHaveLength(6);
    const truth = await exact.search(req);
    expect(truth.plan.strategy).toBe('exact');
    const overlap = ids(r).filter((x) => ids(truth).includes(x)).length;
    expect(overlap).toBeGreaterThanOrEqual(5);
    // pages over the HNSW path: all 8 rare products, no duplicates
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: SearchResult = await hnsw.search({ ...req, first: 3, after });
      seen.push(...ids(page));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(8);
  });
});
