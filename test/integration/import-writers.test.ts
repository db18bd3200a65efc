/**
 * The importer's several writers (src/catalog/import/ordered-writes.ts) on PostgreSQL: batches written on four
 * connections at once commit in record order, so a sku repeated in later batches ends with its LAST record, an
 * image file shared by products in different batches is stored once per product, and the job's cursor and
 * counts are those of a one-writer run. On PGlite (one backend) the importer writes with one writer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Importer } from '../../src/catalog/import/importer.js';
import { getJob } from '../../src/catalog/store/jobs.js';
import { loadConfig, type Config } from '../../src/config.js';
import { unitVector } from '../helpers/catalog-gen.js';
import { createTestDatabase, vectorRowMismatches, type TestDatabase } from '../helpers/db.js';
import { fixturePath } from '../helpers/fixtures.js';

const D = 512;
const MODEL = 'writers-test-512';
const RECORDS = 90;
const SKUS = 25;

/** Record k: sku k mod 25 (so most skus come back in later batches), every 3rd with the shared photo. */
function writeCatalog(dir: string): string {
  const lines: string[] = [];
  for (let k = 0; k < RECORDS; k++) {
    const images: unknown[] = [
      { url: `https://cdn.example.com/${k % SKUS}/${k}.jpg`, embedding: unitVector(D, k + 1), model: MODEL },
    ];
    if (k % 3 === 0) images.push({ path: 'shared.png', embedding: unitVector(D, 1000 + k), model: MODEL });
    lines.push(JSON.stringify({ sku: `s-${k % SKUS}`, title: `record ${k}`, images }));
  }
  const file = path.join(dir, 'catalog.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('several writers (postgres)', () => {
  let db: TestDatabase;
  let tmp: string;
  let config: Config;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-writers-'));
    fs.copyFileSync(fixturePath('images', 'chelsea.png'), path.join(tmp, 'shared.png'));
    db = await createTestDatabase('postgres', 8);
    config = loadConfig({ GLIMPSE_DATA_DIR: tmp }, { imageDir: path.join(tmp, 'images') });
    await db.sql.query(
      `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, $1, $2, true, true)`,
      [MODEL, D],
    );
  });
  afterAll(async () => {
    await db?.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('commits in record order: the last record of each sku wins, counts and cursor are exact', async () => {
    const importer = new Importer({
      sql: db.sql,
      config,
      model: { modelId: MODEL, dimension: D, isTestModel: true },
      embedder: () => Promise.reject(new Error('precomputed vectors only: no model is loaded')),
    });
    const s = await importer.run({ file: writeCatalog(tmp), batchSize: 4, writers: 4, bulk: false });
    expect(s).toMatchObject({ state: 'succeeded', imported: SKUS, updated: RECORDS - SKUS, rejected: 0 });

    const titles = await db.sql.query<{ sku: string; title: string }>('SELECT sku, title FROM product ORDER BY sku');
    const last = new Map<string, string>();
    for (let k = 0; k < RECORDS; k++) last.set(`s-${k % SKUS}`, `record ${k}`);
    expect(Object.fromEntries(titles.map((r) => [r.sku, r.title]))).toEqual(Object.fromEntries(last));
    // four writers at once: every vector row still carries its product's filter columns
    expect(await vectorRowMismatches(db.sql)).toBe(0);

    // every record's url image once per product; the shared photo once on each product that listed it
    const sharedRecords = Array.from({ length: RECORDS }, (_, k) => k).filter((k) => k % 3 === 0);
    const sharedOn = new Set(sharedRecords.map((k) => k % SKUS));
    const [counts] = await db.sql.query<{ images: number; vectors: number; shared: number }>(
      `SELECT (SELECT count(*)::int FROM product_image) AS images, (SELECT count(*)::int FROM embedding_512) AS vectors,
              (SELECT count(*)::int FROM product_image WHERE source <> 'precomputed') AS shared`,
    );
    expect(counts).toEqual({
      images: RECORDS + sharedOn.size,
      vectors: RECORDS + sharedOn.size,
      shared: sharedOn.size,
    });
    expect(s.images).toMatchObject({ added: RECORDS + sharedOn.size, duplicate: sharedRecords.length - sharedOn.size });

    const job = await getJob(db.sql, s.jobId);
    expect(job).toMatchObject({ state: 'succeeded', cursor: String(RECORDS), done: RECORDS });
    expect(job!.params.counts).toMatchObject({ imported: SKUS, updated: RECORDS - SKUS, rejected: 0 });
  });
});
