/**
 * The vector index is selectable (src/catalog/store/vector-index.ts, `glimpse index`): a rebuild to IVFFlat and back to
 * HNSW keeps the schema-declared name, and searches detect the index type and still return full pages with the
 * exact ranking's top result — on the PostgreSQL server and on PGlite. A small catalog: 300 products with one
 * image each, 512-d vectors in a few clusters.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/sql.js';
import { vectorToSql } from '../../src/db/vector.js';
import {
  defaultLists,
  indexParameters,
  indexStatus,
  rebuildIndex,
  tableIndexStatus,
  vectorIndexName,
} from '../../src/catalog/store/vector-index.js';
import { SearchService } from '../../src/search/service.js';
import type { QueryEmbedder, SearchConfig, SearchRequest, SearchResult } from '../../src/search/types.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

const D = 512;
const MODEL = 'test-clip-512';
const N = 300;
const root = path.resolve(import.meta.dirname, '..', '..');
const tsxCli = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const prismaCli = path.join(root, 'node_modules', 'prisma', 'build', 'index.js');

const pid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const iid = (i: number) => `00000000-0000-4000-9000-${i.toString(16).padStart(12, '0')}`;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const r = rng(7);
const gauss = () => r() + r() + r() - 1.5;
function normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  return v.map((x) => x / Math.sqrt(n));
}
/** 12 cluster centres; each product near one of them */
const centres = Array.from({ length: 12 }, () => normalise(Float32Array.from({ length: D }, gauss)));
const vectors = Array.from({ length: N }, (_, i) =>
  normalise(Float32Array.from(centres[i % 12]!, (c) => c + 0.6 * gauss())),
);
/** 30% of the products are tagged 'moderate' */
const moderate = (i: number) => i % 10 < 3;

const embedder: QueryEmbedder = {
  modelId: MODEL,
  dimension: D,
  embedText: () => Promise.reject(new Error('vector queries only')),
};
const config: SearchConfig = {
  maxFirst: 50,
  hnswEfSearch: 40,
  hnswMaxScanTuples: 20000,
  exactScanThreshold: 0, // every search below takes the index path …
  rrfK: 60,
  textSearchConfig: 'english',
  searchCandidateWindow: 100,
  hnswTupleCost: 20,
  ivfflatProbes: 10,
};

async function seed(sql: Sql) {
  await sql.query(
    `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, 'test', $2, true, true)`,
    [MODEL, D],
  );
  for (let b = 0; b < N; b += 50) {
    const ids = Array.from({ length: Math.min(50, N - b) }, (_, k) => b + k);
    await sql.query(
      `INSERT INTO product (id, sku, title, tags)
       SELECT id, 'SKU-' || n, 'product ' || n, tags FROM unnest($1::uuid[], $2::int[], $3::text[]) AS t(id, n, tags_s)
       CROSS JOIN LATERAL (SELECT string_to_array(tags_s, ',') AS tags) x`,
      [ids.map(pid), ids, ids.map((i) => (moderate(i) ? 'moderate' : 'common'))],
    );
    await sql.query(
      `INSERT INTO product_image (id, product_id, sha256, source, content_type, byte_size, width, height, position)
       SELECT id, pid, lpad(n::text, 64, '0'), 'upload', 'image/png', 100, 10, 10, 0
       FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS t(id, pid, n)`,
      [ids.map(iid), ids.map(pid), ids],
    );
    await sql.query(
      `INSERT INTO embedding_512 (image_id, model_id, product_id, embedding)
       SELECT id, $1, pid, v::halfvec(512) FROM unnest($2::uuid[], $3::uuid[], $4::text[]) AS t(id, pid, v)`,
      [MODEL, ids.map(iid), ids.map(pid), ids.map((i) => vectorToSql(vectors[i]!))],
    );
  }
  await sql.exec('ANALYZE');
}

/** a query near product `i`'s vector */
const queryNear = (i: number) => Array.from(normalise(Float32Array.from(vectors[i]!, (x) => x + 0.02 * gauss())));
const ids = (res: SearchResult) => res.hits.map((h) => h.productId);

describe('index parameters', () => {
  it('defaults lists the way pgvector advises (rows/1000, at least 10; √rows above 1M)', () => {
    expect(defaultLists(300)).toBe(10);
    expect(defaultLists(250_000)).toBe(250);
    expect(defaultLists(1_000_000)).toBe(1000);
    expect(defaultLists(4_000_000)).toBe(2000);
    expect(indexParameters({ type: 'hnsw' }, 0)).toEqual({ m: 16, ef_construction: 64 });
    expect(indexParameters({ type: 'hnsw', m: 48 }, 0)).toEqual({ m: 48, ef_construction: 96 });
    expect(() => indexParameters({ type: 'hnsw', m: 16, efConstruction: 20 }, 0)).toThrow(/2 × m/);
    expect(() => indexParameters({ type: 'hnsw', lists: 10 }, 0)).toThrow(/ivfflat/);
    expect(() => indexParameters({ type: 'ivfflat', m: 10 }, 0)).toThrow(/hnsw/);
    expect(() => indexParameters({ type: 'bogus' as never }, 0)).toThrow(/unknown index type/);
  });
});

describe.each(DB_KINDS)('vector index on %s', (kind) => {
  let db: TestDatabase;
  let svc: SearchService;
  let exact: SearchService;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    await seed(db.sql);
    svc = new SearchService(db.sql, config, () => embedder);
    // … and this one scores every row exactly (the filter `inStock: true` matches everything)
    exact = new SearchService(db.sql, { ...config, exactScanThreshold: 100_000 }, () => embedder);
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  const truth = async (req: SearchRequest) => {
    const t = await exact.search({ ...req, filter: { ...req.filter, inStock: true } });
    expect(t.plan.strategy).toBe('exact');
    return t;
  };

  it('status: the migration’s HNSW index with its parameters, size and rows', async () => {
    const all = await indexStatus(db.sql);
    expect(all.map((t) => t.table)).toEqual(['embedding_512', 'embedding_768', 'embedding_1024']);
    const t = all[0]!;
    expect(t.rows).toBe(N);
    expect(t.index).toMatchObject({
      name: 'embedding_512_hnsw_idx',
      type: 'hnsw',
      opclass: 'halfvec_cosine_ops',
      parameters: { m: 16, ef_construction: 64 },
      valid: true,
    });
    expect(t.index!.bytes).toBeGreaterThan(0);
    expect(t.others).toEqual([]);
    const s = await svc.search({ vector: queryNear(5), first: 10 });
    expect(s.plan).toMatchObject({ strategy: 'hnsw-iterative', index: 'hnsw', shape: 'semantic-hnsw' });
  });

  it('rebuild to IVFFlat: status, searches with ivfflat settings, the index in the plan', async () => {
    const r = await rebuildIndex(db.sql, { dimension: D, type: 'ivfflat', maintenanceWorkMem: '64MB' });
    expect(r.before?.type).toBe('hnsw');
    expect(r.createSql).toMatch(/USING ivfflat \("embedding" halfvec_cosine_ops\) WITH \(lists = 10\)/);
    const t = await tableIndexStatus(db.sql, D);
    expect(t.index).toMatchObject({
      name: vectorIndexName(D),
      type: 'ivfflat',
      parameters: { lists: 10 },
      valid: true,
    });
    // the schema-declared name is the only vector index: `prisma migrate dev` sees no drift
    expect(t.others).toEqual([]);
    const names = await db.sql.query<{ indexname: string }>(
      `SELECT indexname FROM pg_indexes WHERE tablename = 'embedding_512' AND indexdef ~ '(hnsw|ivfflat)'`,
    );
    expect(names.map((n) => n.indexname)).toEqual(['embedding_512_hnsw_idx']);

    // unfiltered: the ivfflat index serves the scan
    const req: SearchRequest = { vector: queryNear(17), first: 10 };
    const ex = await svc.explain(req);
    expect(ex.plan).toMatchObject({ strategy: 'ivfflat-iterative', index: 'ivfflat', shape: 'semantic-ivfflat' });
    expect(ex.plan.lists).toBe(10);
    expect(ex.plan.probes).toBe(10); // GLIMPSE_IVFFLAT_PROBES default, capped at lists
    expect(ex.query.settings!.text).toMatch(/ivfflat\.probes/);
    expect(ex.query.settings!.text).not.toMatch(/hnsw\./);
    expect(ex.explain).toMatch(/Index Scan using embedding_512_hnsw_idx/);
    const res = await svc.search(req);
    const want = await truth(req);
    expect(res.hits).toHaveLength(10);
    expect(res.hits[0]!.productId).toBe(pid(17));
    expect(res.hits[0]!.productId).toBe(want.hits[0]!.productId);
    expect(ids(res)).toEqual(ids(want)); // probes = lists: every list read

    // moderately filtered (30%): a full page, the exact top result
    const freq: SearchRequest = { vector: queryNear(42), filter: { tagsAny: ['moderate'] }, first: 10 };
    const f = await svc.search(freq);
    expect(f.plan.strategy).toBe('ivfflat-iterative');
    expect(f.hits).toHaveLength(10);
    const fw = await truth(freq);
    expect(f.hits[0]!.productId).toBe(fw.hits[0]!.productId);
    expect(f.hits[0]!.productId).toBe(pid(42));

    // few probes: the iterative scan reads more lists until the filtered page is full
    const few = new SearchService(db.sql, { ...config, ivfflatProbes: 1 }, () => embedder);
    const fr = await few.search({ ...freq, first: 20 });
    expect(fr.plan.probes).toBeLessThan(10);
    expect(fr.plan.maxProbes).toBeGreaterThan(fr.plan.probes!);
    expect(fr.hits).toHaveLength(20);
    expect(fr.hits[0]!.productId).toBe(pid(42));
    // pages over the IVFFlat path: no duplicates, every 'moderate' product once
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const p: SearchResult = await svc.search({ ...freq, first: 25, after });
      seen.push(...ids(p));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(90);
  });

  it('rebuild back to HNSW with m 24: status and searches follow', async () => {
    const r = await rebuildIndex(db.sql, { dimension: D, type: 'hnsw', m: 24 });
    expect(r.before?.type).toBe('ivfflat');
    const t = await tableIndexStatus(db.sql, D);
    expect(t.index).toMatchObject({
      name: 'embedding_512_hnsw_idx',
      type: 'hnsw',
      parameters: { m: 24, ef_construction: 64 },
      valid: true,
    });
    expect(t.others).toEqual([]);
    const req: SearchRequest = { vector: queryNear(99), first: 10 };
    const ex = await svc.explain(req);
    expect(ex.plan).toMatchObject({ strategy: 'hnsw-iterative', index: 'hnsw' });
    expect(ex.explain).toMatch(/Index Scan using embedding_512_hnsw_idx/);
    const res = await svc.search(req);
    expect(res.hits).toHaveLength(10);
    expect(res.hits[0]!.productId).toBe((await truth(req)).hits[0]!.productId);
  });

  it('removes the leftover of an interrupted rebuild first', async () => {
    await db.sql.query(
      `CREATE INDEX embedding_512_rebuild_idx ON embedding_512 USING ivfflat (embedding halfvec_cosine_ops) WITH (lists = 10)`,
    );
    expect((await tableIndexStatus(db.sql, D)).others.map((o) => o.name)).toEqual(['embedding_512_rebuild_idx']);
    await rebuildIndex(db.sql, { dimension: D, type: 'hnsw', m: 16, efConstruction: 64 });
    const t = await tableIndexStatus(db.sql, D);
    expect(t.index?.parameters).toEqual({ m: 16, ef_construction: 64 });
    expect(t.others).toEqual([]);
  });
});

// The CLI and Prisma's drift check need a server (Prisma's schema engine cannot reach PGlite).
describe('index CLI on postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    await seed(db.sql);
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('CLI: glimpse index rebuild / status; Prisma sees no drift with an IVFFlat index', async () => {
    const run = promisify(execFile);
    const cli = (args: string[]) =>
      run(process.execPath, [tsxCli, 'src/cli/index.ts', 'index', ...args], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: db.url!, GLIMPSE_MIGRATE_ON_START: 'false', LOG_LEVEL: 'silent' },
      });
    const rb = await cli(['rebuild', '--dimension', '512', '--type', 'ivfflat', '--lists', '12']);
    expect(rb.stdout).toMatch(/embedding_512_hnsw_idx: ivfflat lists=12 over 300 rows/);
    const st = await cli(['status']);
    // the running pgvector first, then the table
    expect(st.stdout).toMatch(/^pgvector \d+\.\d+\.\d+\nTABLE\s+ROWS\s+INDEX\s+TYPE\s+PARAMETERS/);
    expect(st.stdout).toMatch(/embedding_512\s+300\s+embedding_512_hnsw_idx\s+ivfflat\s+lists=12/);
    expect(st.stdout).toMatch(/embedding_768\s+0\s+embedding_768_hnsw_idx\s+hnsw\s+m=16 ef_construction=64/);
    const bad = await cli(['rebuild', '--type', 'ivfflat', '--m', '8']).catch((e: { stderr: string }) => e);
    expect((bad as { stderr: string }).stderr).toMatch(/hnsw indexes only/);
    // Prisma reads the IVFFlat index under the declared name as the schema's index: no drift (exit code 0)
    const diff = await run(
      process.execPath,
      [
        prismaCli,
        'migrate',
        'diff',
        '--from-config-datasource',
        '--to-schema',
        'prisma/schema.prisma',
        '--script',
        '--exit-code',
      ],
      { cwd: root, env: { ...process.env, DATABASE_URL: db.url!, NO_COLOR: '1' } },
    );
    expect(diff.stdout).toMatch(/empty migration/);
  }, 60_000);
});
