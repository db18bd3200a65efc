import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/search/cursor.js';
import { renderSearchQueries } from '../../src/search/dump.js';
import { escapeLike, filterConditions, hasFilter, normaliseFilter } from '../../src/catalog/filter.js';
import { embeddingTable } from '../../src/catalog/store/embeddings.js';
import { withLiterals } from '../../src/db/postgres.js';
import { Params } from '../../src/db/sql.js';
import { combineVectors } from '../../src/search/service.js';
import { buildEstimate, buildSearch, type BuildSearchInput, type VectorScan } from '../../src/search/sql.js';

const QUERIES_DIR = fileURLToPath(new URL('../../src/search/queries', import.meta.url));

const v = (dims: Record<number, number>, d = 4) => {
  const a = new Float32Array(d);
  for (const [k, x] of Object.entries(dims)) a[Number(k)] = x;
  return a;
};
const HNSW: VectorScan = {
  strategy: 'hnsw-iterative',
  window: 44,
  efSearch: 100,
  maxScanTuples: 20000,
  scanMemory: 4_000_000,
  iterativeScan: 'relaxed_order',
};
const EXACT: VectorScan = { strategy: 'exact', guard: null };
const base = (over: Partial<BuildSearchInput> = {}): BuildSearchInput => ({
  mode: 'SEMANTIC',
  vector: v({ 0: 1 }, 768),
  modelId: 'm',
  dimension: 768,
  first: 10,
  scan: HNSW,
  textSearchConfig: 'english',
  rrfK: 60,
  fusionWindow: 100,
  ...over,
});

describe('search SQL builder', () => {
  it('committed src/search/queries/*.sql are current (run `npm run sql:shapes`)', () => {
    const want = renderSearchQueries();
    const have = fs.readdirSync(QUERIES_DIR).filter((f) => f.endsWith('.sql'));
    expect(have.sort()).toEqual(Object.keys(want).sort());
    for (const [name, text] of Object.entries(want))
      expect(fs.readFileSync(path.join(QUERIES_DIR, name), 'utf8'), name).toBe(text);
  });

  it('IVFFlat: the statement of the HNSW shape with ivfflat.* settings (probes ≤ max_probes)', () => {
    const h = buildSearch(base());
    const f = buildSearch(base({ scan: { strategy: 'ivfflat-iterative', window: 44, probes: 12, maxProbes: 5 } }));
    expect(f.shape).toBe('semantic-ivfflat');
    expect(f.text).toBe(h.text);
    expect(f.params).toEqual(h.params);
    expect(f.settings!.text).toMatch(/set_config\('ivfflat\.iterative_scan', 'relaxed_order', true\)/);
    expect(f.settings!.text).not.toMatch(/hnsw\./);
    expect(f.settings!.params).toEqual(['12', '12']);
    expect(
      buildSearch(
        base({
          mode: 'HYBRID',
          text: 'x',
          scan: { strategy: 'ivfflat-iterative', window: 44, probes: 10, maxProbes: 10 },
        }),
      ).shape,
    ).toBe('hybrid-ivfflat');
  });

  it('turns every filter into parameterised conditions (no values in the SQL text)', () => {
    const p = new Params();
    const conds = filterConditions(
      {
        category: "wo'men_%",
        brands: ['a'],
        price: { min: 1, max: '2.50', currency: 'usd' },
        inStock: false,
        tagsAny: ['x'],
        tagsAll: ['y'],
        attributes: [{ key: 'color', equals: 'red' }, { key: 'size', in: ['S'] }, { key: 'has' }],
        createdAfter: '2026-01-01T00:00:00Z',
        createdBefore: new Date('2026-02-01T00:00:00Z'),
      },
      p,
      '00000000-0000-4000-8000-000000000001',
    );
    const sql = conds.join(' AND ');
    expect(sql).not.toMatch(/wo'men|red|usd|USD|2026/);
    expect(p.values).toContain("wo'men\\_\\%/%");
    expect(p.values).toContain('USD');
    expect(p.values).toContain('2.50');
    expect(p.values).toContain('1');
    expect(p.values).toContain('2026-02-01T00:00:00.000Z');
    expect(sql).toContain('p.id <> $1::uuid');
    expect(sql).toContain('p.tags && ');
    expect(sql).toContain('p.tags @> ');
    expect(sql).toContain('p.attributes ? ');
    expect(conds).toHaveLength(14);
  });

  it('exact category uses equality; subtree also matches children, not siblings with the same prefix', () => {
    const p = new Params();
    expect(filterConditions({ category: 'a/b', categoryExact: true }, p)).toEqual(['p.category = $1']);
    const q = new Params();
    expect(filterConditions({ category: 'a/b' }, q)).toEqual(['(p.category = $1 OR p.category LIKE $2)']);
    expect(q.values).toEqual(['a/b', 'a/b/%']);
    expect(escapeLike('50%_off\\')).toBe('50\\%\\_off\\\\');
  });

  it('hasFilter', () => {
    expect(hasFilter(null)).toBe(false);
    expect(hasFilter({})).toBe(false);
    expect(hasFilter({ inStock: true })).toBe(true);
    expect(hasFilter({}, '00000000-0000-4000-8000-000000000001')).toBe(true);
  });

  it('HNSW shape: index-ordered scan with LIMIT and per-transaction settings', () => {
    const q = buildSearch(base());
    expect(q.shape).toBe('semantic-hnsw');
    expect(q.text).toMatch(/ORDER BY e\.embedding <=> \$1::halfvec\(768\)\s+LIMIT/);
    expect(q.text).toContain('FROM embedding_768 e');
    expect(q.settings!.text).toContain("set_config('hnsw.iterative_scan'");
    expect(q.settings!.params).toEqual(['100', 'relaxed_order', '20000', 4_000_000]);
    expect(q.params).toContain(11); // first + 1
  });

  it("settings written in as quoted literals, in the statement's round trip; a quote cannot end the literal", () => {
    const q = buildSearch(base({ scan: { ...HNSW, efSearch: 100, window: 44 } }));
    const sql = withLiterals(q.settings!.text, q.settings!.params);
    expect(sql).toContain("set_config('hnsw.ef_search', '100', true)");
    expect(sql).toContain("set_config('hnsw.iterative_scan', 'relaxed_order', true)");
    expect(sql).not.toMatch(/\$\d/);
    expect(withLiterals('SELECT set_config($1, $2, true)', ['a', "x'; DROP TABLE t; --"])).toBe(
      "SELECT set_config('a', 'x''; DROP TABLE t; --', true)",
    );
    expect(withLiterals('SELECT $1, $2', ['a\\b', '[0.5,-1]'])).toBe("SELECT  E'a\\\\b', '[0.5,-1]'");
    expect(() => withLiterals('SELECT $2', ['a'])).toThrow(RangeError);
  });

  it('exact shape: cannot be served by the HNSW index; one statement, no settings transaction', () => {
    const q = buildSearch(base({ scan: EXACT }));
    expect(q.shape).toBe('semantic-exact');
    expect(q.settings).toBeNull();
    expect(q.text).not.toMatch(/ORDER BY e\.embedding <=>/);
    expect(q.text).toContain('ORDER BY product_id, distance, image_id');
    // no guard: LIMIT NULL (all filtered rows); a guard: its row count
    expect(q.text).toMatch(/LIMIT \$\d+::int8\n\)/);
    expect(q.params).toContain(null);
    expect(buildSearch(base({ scan: { strategy: 'exact', guard: 5000 } })).params).toContain(5000);
    expect(q.text).toContain('(SELECT count(*)::int FROM scored) AS scanned_rows');
  });

  it('reads the filter from the vector rows; joins product for attributes, and in an exact scan of a compound filter', () => {
    const ann = (q: { text: string }) => q.text.slice(0, q.text.indexOf('best AS'));
    const one = { tagsAll: ['s1'] };
    const compound = { brands: ['Acme'], price: { min: null, max: '50', currency: 'USD' } };
    for (const scan of [HNSW, EXACT]) {
      const single = ann(buildSearch(base({ scan, filter: one })));
      expect(single).toContain('e.tags @> $');
      expect(single).not.toContain('JOIN product p');
    }
    const indexed = ann(buildSearch(base({ scan: HNSW, filter: compound })));
    expect(indexed).toMatch(/e\.brand = ANY\(\$\d+::text\[\]\)[\s\S]*e\.price <= \$/);
    expect(indexed).not.toContain('JOIN product p');
    const exact = ann(buildSearch(base({ scan: EXACT, filter: compound })));
    expect(exact).toContain('JOIN product p ON p.id = e.product_id');
    expect(exact).toMatch(/p\.brand = ANY[\s\S]*p\.price <= \$/);
    const attr = ann(
      buildSearch(base({ scan: HNSW, filter: { tagsAll: ['x'], attributes: [{ key: 'color', equals: 'red' }] } })),
    );
    expect(attr).toContain('JOIN product p ON p.id = e.product_id');
    expect(attr).toContain('e.tags @> $');
    expect(attr).toContain('(p.attributes ->> $');
    // the product's creation time is product_created_at on the vector rows (they have their own created_at)
    expect(ann(buildSearch(base({ filter: { createdAfter: '2026-01-01T00:00:00Z' } })))).toContain(
      'e.product_created_at >= $',
    );
  });

  it('chooses the table by dimension from a whitelist; checks the vector length', () => {
    expect(embeddingTable(512)).toBe('embedding_512');
    expect(() => embeddingTable(300)).toThrow(RangeError);
    expect(() => buildSearch(base({ dimension: 1024 }))).toThrow(/dimensions/);
    expect(buildSearch(base({ dimension: 512, vector: v({ 0: 1 }, 512) })).text).toContain('embedding_512');
  });

  it('cursor keyset per mode, best score only from the cursor', () => {
    const s = buildSearch(
      base({
        after: { kind: 'distance', value: 0.5, productId: '00000000-0000-4000-8000-000000000001' },
        relativeCutoff: 0.5,
        bestScore: 0.9,
      }),
    );
    expect(s.text).toMatch(/\(m\.distance, m\.product_id\) > \(\$\d+::float8, \$\d+::uuid\)/);
    expect(s.text).toMatch(/\(e\.embedding <=> \$1::halfvec\(768\)\) >= \$\d+::float8/);
    expect(s.params).toContain(0.9);
    const k = buildSearch(
      base({
        mode: 'KEYWORD',
        vector: null,
        text: 'red',
        after: { kind: 'score', value: 0.3, productId: '00000000-0000-4000-8000-000000000001' },
      }),
    );
    expect(k.shape).toBe('keyword');
    expect(k.text).toContain('m.score < ');
    expect(k.text).toContain('ts_rank_cd(p.search_tsv, kq.q, 32)');
    const h = buildSearch(base({ mode: 'HYBRID', text: 'red', rrfK: 60 }));
    expect(h.shape).toBe('hybrid-hnsw');
    expect(h.text).toContain('FULL JOIN');
  });

  it('estimate counts up to the threshold', () => {
    const q = buildEstimate({ dimension: 768, modelId: 'm', filter: { inStock: true }, limit: 101 });
    expect(q.text).toContain('LIMIT $3::int');
    expect(q.params).toEqual(['m', true, 101]);
  });
});

describe('query vector', () => {
  it('normalised weighted sum minus the weighted negative, renormalised', () => {
    const q = combineVectors(
      [
        { w: 1, v: v({ 0: 2 }) },
        { w: 1, v: v({ 1: 5 }) },
      ],
      null,
      4,
    );
    expect(q[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(q[1]).toBeCloseTo(Math.SQRT1_2, 6);
    const n = combineVectors([{ w: 1, v: v({ 0: 1 }) }], { w: 0.5, v: v({ 0: 0.6, 1: 0.8 }) }, 4);
    // (1,0) − 0.5·(0.6,0.8) = (0.7,−0.4) → normalised
    expect(n[0]).toBeCloseTo(0.7 / Math.hypot(0.7, 0.4), 6);
    expect(n[1]).toBeCloseTo(-0.4 / Math.hypot(0.7, 0.4), 6);
    expect(() => combineVectors([{ w: 1, v: v({ 0: 1 }) }], { w: 1, v: v({ 0: 1 }) }, 4)).toThrow(/cancel/);
    expect(() => combineVectors([{ w: 0, v: v({ 0: 1 }) }], null, 4)).toThrow(/cancel/);
    expect(() => combineVectors([{ w: 1, v: v({}) }], null, 4)).toThrow(/zeros/);
  });
});

describe('cursor', () => {
  it('round-trips doubles exactly and rejects foreign or malformed cursors', () => {
    const id = '00000000-0000-4000-8000-00000000000a';
    const key = { kind: 'distance', value: 0.1 + 0.2, productId: id } as const;
    const c = encodeCursor('SEMANTIC', key, { bestScore: 0.7000000000000001, rank: 20 });
    expect(decodeCursor(c, 'SEMANTIC')).toEqual({ key, bestScore: 0.7000000000000001, rank: 20 });
    // a cursor made before ranks travelled still decodes (its page plans as page 1 did)
    expect(decodeCursor(encodeCursor('SEMANTIC', key, { bestScore: null }), 'SEMANTIC')).toEqual({
      key,
      bestScore: null,
    });
    const bad = (s: string, m: 'SEMANTIC' | 'KEYWORD' = 'SEMANTIC') =>
      expect(() => decodeCursor(s, m)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
    bad(c, 'KEYWORD');
    bad('');
    bad('!!!');
    bad(Buffer.from('not json').toString('base64url'));
    bad(Buffer.from(JSON.stringify({ v: 1, m: 'S', k: 'x', id, b: null })).toString('base64url'));
    bad(Buffer.from(JSON.stringify({ v: 1, m: 'S', k: 1, id: "1' OR 1=1", b: null })).toString('base64url'));
    for (const r of [0, -1, 1.5, '2', 1e9])
      bad(Buffer.from(JSON.stringify({ v: 1, m: 'S', k: 1, id, b: null, r })).toString('base64url'));
  });
});

describe('filter validation', () => {
  it.each([
    [{ price: { currency: 'US' } }],
    [{ price: { min: 'NaN', currency: 'USD' } }],
    [{ price: { min: Number.POSITIVE_INFINITY, currency: 'USD' } }],
    [{ brands: 'acme' }],
    [{ tagsAny: [1] }],
    [{ attributes: [{ equals: 'x' }] }],
    [{ createdBefore: 'not a date' }],
    [{ inStock: 'yes' }],
    [{ attributes: [{ key: 'size', equals: 3 }] }],
    [{ price: { min: '20', max: '10', currency: 'USD' } }],
  ])('rejects %j', (f) => {
    expect(() => normaliseFilter(f as never)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });

  it('normalises what searches and listings compare', () => {
    expect(
      normaliseFilter({
        category: ' Women/Dresses/ ',
        brands: [' acme ', ''],
        price: { min: 5, currency: 'usd' },
        createdAfter: '2026-01-01T00:00:00Z',
      }),
    ).toEqual({
      category: 'women/dresses',
      categoryExact: false,
      brands: ['acme'],
      price: { min: '5.00', max: null, currency: 'USD' },
      createdAfter: new Date('2026-01-01T00:00:00Z'),
    });
    expect(normaliseFilter({ category: '' })).toEqual({}); // "all categories"
  });
});
