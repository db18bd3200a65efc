/**
 * Bulk mode of the importer on PostgreSQL and PGlite: the vector index is dropped for the load and built once at
 * the end with its own type and parameters; searches meanwhile scan exactly (same ranking as brute force); a
 * stopped bulk import leaves the job saying what to build and its rerun builds it; a live catalog keeps its
 * index throughout; the automatic choice follows the table's size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideBulk } from '../../src/catalog/import/bulk-index.js';
import { Importer, type ImportSummary } from '../../src/catalog/import/importer.js';
import { loadConfig, type Config } from '../../src/config.js';
import { vectorToSql } from '../../src/db/vector.js';
import { tableIndexStatus } from '../../src/catalog/store/vector-index.js';
import { unitVector } from '../helpers/catalog-gen.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

const D = 512;
const MODEL = 'bulk-test-512';
const INDEX = 'embedding_512_hnsw_idx';

function writeCatalog(dir: string, name: string, from: number, n: number): string {
  const file = path.join(dir, `${name}.jsonl`);
  const lines: string[] = [];
  for (let k = from; k < from + n; k++)
    lines.push(
      JSON.stringify({
        sku: `${name}-${k}`,
        title: `Product ${k}`,
        images: [{ url: `https://cdn.example.com/${name}/${k}.jpg`, embedding: unitVector(D, k + 1), model: MODEL }],
      }),
    );
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe.each(DB_KINDS)('bulk import (%s)', (kind) => {
  let db: TestDatabase;
  let tmp: string;
  let config: Config;
  const importer = (cfg: Partial<Config> = {}) =>
    new Importer({
      sql: db.sql,
      config: { ...config, ...cfg },
      model: { modelId: MODEL, dimension: D, isTestModel: true },
      embedder: () => Promise.reject(new Error('precomputed vectors only: no model is loaded')),
    });
  const indexExists = async () =>
    (await db.sql.query<{ r: string | null }>(`SELECT to_regclass($1)::text AS r`, [INDEX]))[0]!.r !== null;
  const vectors = async () =>
    Number((await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM embedding_512`))[0]!.n);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-bulk-'));
    db = await createTestDatabase(kind);
    config = loadConfig({ GLIMPSE_DATA_DIR: tmp }, { indexBuildWorkers: 1, indexBuildMemory: '64MB' });
    await db.sql.query(
      `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, $1, $2, true, true)`,
      [MODEL, D],
    );
    // a non-default index: the bulk import must build the same one again
    await db.sql.exec(
      `DROP INDEX ${INDEX}; CREATE INDEX ${INDEX} ON embedding_512 USING hnsw (embedding halfvec_cosine_ops) WITH (m = 8, ef_construction = 40)`,
    );
  }, 300_000); // a fresh, migrated PGlite takes minutes on a loaded shared machine
  afterAll(async () => {
    await db?.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('defers the index and rebuilds the same index (type and parameters) at the end', async () => {
    const file = writeCatalog(tmp, 'a', 0, 150);
    const query = vectorToSql(unitVector(D, 7));
    const summary: ImportSummary = await importer().run({
      file,
      bulk: true,
      batchSize: 50,
    });
    expect(summary.index).toMatchObject({ deferred: true, built: true, reason: '--bulk' });
    expect(summary.index.buildSeconds).toBeGreaterThanOrEqual(0);
    expect(summary.imported).toBe(150);
    expect(await vectors()).toBe(150);
    const st = await tableIndexStatus(db.sql, D);
    expect(st.index).toMatchObject({
      name: INDEX,
      type: 'hnsw',
      valid: true,
      parameters: { m: 8, ef_construction: 40 },
    });
    expect(st.others).toEqual([]);
    // the index answers: the query vector's own product first
    const [first] = await db.sql.query<{ sku: string }>(
      `SELECT p.sku FROM embedding_512 e JOIN product p ON p.id = e.product_id ORDER BY e.embedding <=> $1::halfvec(512) LIMIT 1`,
      [query],
    );
    expect(first!.sku).toBe('a-6');
  });

  it('while the index is deferred, nearest-neighbour queries scan exactly: the same top 10 as brute force', async () => {
    const file = writeCatalog(tmp, 'b', 1000, 120);
    const q = unitVector(D, 1042);
    let checked = false;
    const checks: Promise<void>[] = [];
    await importer().run({
      file,
      bulk: true,
      batchSize: 40,
      onProgress: (p) => {
        if (checked || p.done < 80) return;
        checked = true;
        checks.push(
          (async () => {
            expect(await indexExists()).toBe(false);
            const rows = await db.sql.query<{ id: string; d: number }>(
              `SELECT image_id::text AS id, (embedding <=> $1::halfvec(512))::float8 AS d FROM embedding_512 ORDER BY embedding <=> $1::halfvec(512) LIMIT 10`,
              [vectorToSql(q)],
            );
            const all = await db.sql.query<{ id: string; d: number }>(
              `SELECT image_id::text AS id, (embedding <=> $1::halfvec(512))::float8 AS d FROM embedding_512`,
              [vectorToSql(q)],
            );
            const brute = all.sort((x, y) => x.d - y.d || x.id.localeCompare(y.id)).slice(0, 10);
            expect(rows.map((r) => r.d)).toEqual(brute.map((r) => r.d));
          })(),
        );
      },
    });
    expect(checked).toBe(true);
    await Promise.all(checks);
    expect(await indexExists()).toBe(true);
  });

  it('a bulk import stopped before the end leaves the index to build; rerunning resumes and builds it', async () => {
    const file = writeCatalog(tmp, 'c', 2000, 120);
    const abort = new AbortController();
    const stopped = await importer().run({
      file,
      bulk: true,
      batchSize: 40,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.done >= 40) abort.abort();
      },
    });
    expect(stopped.state).toBe('cancelled');
    expect(stopped.index).toMatchObject({ deferred: true, built: false });
    expect(await indexExists()).toBe(false);
    const [job] = await db.sql.query<{ d: unknown }>(
      `SELECT params->'deferredIndex' AS d FROM job WHERE id = $1::uuid`,
      [stopped.jobId],
    );
    expect(job!.d).toMatchObject({ type: 'hnsw', parameters: { m: 8, ef_construction: 40 } });

    const rerun = await importer().run({ file, batchSize: 40 }); // no --bulk: the job remembers
    expect(rerun.jobId).toBe(stopped.jobId);
    expect(rerun.resumedFrom).toBeGreaterThan(0);
    expect(rerun.index).toMatchObject({ deferred: true, built: true, reason: 'resumed a bulk import' });
    expect(await indexExists()).toBe(true);
    expect((await tableIndexStatus(db.sql, D)).index?.parameters).toEqual({ m: 8, ef_construction: 40 });
  });

  it('into a live catalog (more vectors than GLIMPSE_IMPORT_BULK_MAX_ROWS) the index stays in place throughout', async () => {
    const file = writeCatalog(tmp, 'd', 3000, 80);
    const seen: boolean[] = [];
    const checks: Promise<void>[] = [];
    const s = await importer({ importBulkMaxRows: 100 }).run({
      file,
      batchSize: 40,
      onProgress: () => void checks.push(indexExists().then((e) => void seen.push(e))),
    });
    await Promise.all(checks);
    expect(s.index.deferred).toBe(false);
    expect(s.index.reason).toMatch(/more than 100 vectors/);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every(Boolean)).toBe(true);
  });

  it('decides automatically from the table and the file: small or empty table and a large file defer', async () => {
    const cfg = { ...config, importBulkMaxRows: 10_000 };
    const n = await vectors(); // a few hundred by now
    expect(await decideBulk(db.sql, D, 5000, cfg)).toMatchObject({ bulk: true });
    expect(await decideBulk(db.sql, D, 999, cfg)).toMatchObject({
      bulk: false,
      reason: expect.stringMatching(/too few/),
    });
    expect(await decideBulk(db.sql, D, 5000, { ...cfg, importBulkMaxRows: n - 1 })).toMatchObject({
      bulk: false,
      reason: expect.stringMatching(/live catalog/),
    });
    expect(await decideBulk(db.sql, D, 10, cfg, true)).toEqual({ bulk: true, reason: '--bulk' });
    expect(await decideBulk(db.sql, D, 1e6, cfg, false)).toEqual({ bulk: false, reason: '--no-bulk' });
  });
});
