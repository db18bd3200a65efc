/**
 * Bulk import against a real PostgreSQL with the real (generated) test model: JSONL and CSV catalogs with
 * fixture and generated images, precomputed embeddings, bad rows and bad images; reruns add nothing twice;
 * `glimpse import` killed with SIGKILL mid-way resumes after its last committed batch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { Importer, type ImportSummary, type RejectLine } from '../../src/catalog/import/importer.js';
import { ModelRegistry } from '../../src/catalog/store/models.js';
import { Embedder } from '../../src/embedding/embedder.js';
import { generateCatalog } from '../helpers/catalog-gen.js';
import { createTestDatabase, vectorRowMismatches, type TestDatabase } from '../helpers/db.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
let tmp: string;
let db: TestDatabase;
let config: Config;
let embedder: Embedder;

const count = async (sql: string, params: unknown[] = []) =>
  Number((await db.sql.query<{ n: number }>(sql, params))[0]!.n);

function importer(): Importer {
  return new Importer({
    sql: db.sql,
    config,
    model: { modelId: embedder.modelId, dimension: embedder.dimension, isTestModel: true },
    embedder: async () => embedder,
  });
}

const readRejects = (file: string): RejectLine[] =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RejectLine);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-import-'));
  db = await createTestDatabase('postgres');
  config = loadConfig(
    { GLIMPSE_DATA_DIR: tmp, GLIMPSE_MODEL: 'test', GLIMPSE_MODEL_DIR: path.join(root, '.data', 'models') },
    { inferenceWorkers: 1, maxBatchWaitMs: 2 },
  );
  embedder = await Embedder.load(config);
  await new ModelRegistry(db.sql).ensure(embedder);
});

afterAll(async () => {
  await embedder?.close();
  await db?.drop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('import (JSONL)', () => {
  let first: ImportSummary;
  let cat: Awaited<ReturnType<typeof generateCatalog>>;

  it('imports products, images and precomputed vectors; rejects bad rows and images with reasons', async () => {
    cat = await generateCatalog({
      dir: path.join(tmp, 'jsonl'),
      format: 'jsonl',
      n: 200,
      skuPrefix: 'J',
      precomputed: { model: 'test', dimension: 768 },
    });
    const rejects = path.join(tmp, 'jsonl-rejects.jsonl');
    first = await importer().run({
      file: cat.file,
      imagesDir: cat.imagesDir,
      batchSize: 25,
      concurrency: 8,
      rejectsFile: rejects,
    });
    const e = cat.expected;
    expect(first.state).toBe('succeeded');
    expect(first.records).toBe(cat.records);
    expect(first.imported).toBe(e.products);
    expect(first.updated).toBe(0);
    expect(first.rejected).toBe(e.rejected);
    expect(first.images.added).toBe(e.images);
    expect(first.images.precomputed).toBe(e.precomputed);
    expect(first.images.embedded).toBe(e.images - e.precomputed);
    expect(first.images.rejected).toBe(e.imageRejects);
    expect(first.images.duplicate).toBe(e.duplicates);

    expect(await count(`SELECT count(*)::int AS n FROM product WHERE sku LIKE 'J-%'`)).toBe(e.products);
    expect(await count('SELECT count(*)::int AS n FROM product_image')).toBe(e.images);
    expect(await count(`SELECT count(*)::int AS n FROM embedding_768 WHERE model_id = 'test'`)).toBe(e.images);
    expect(
      await count(`SELECT count(*)::int AS n FROM product_image WHERE source = 'precomputed' AND byte_size = 0`),
    ).toBe(e.precomputed);
    // files: one per distinct content (the shared photos are stored once)
    const files = fs.readdirSync(config.imageDir, { recursive: true }).filter((f) => /[0-9a-f]{64}$/.test(String(f)));
    expect(files.length).toBe(e.files);

    const lines = readRejects(rejects);
    expect(lines.filter((l) => l.image === undefined)).toHaveLength(e.rejected);
    expect(lines.filter((l) => l.image !== undefined)).toHaveLength(e.imageRejects);
    const codes = new Set(lines.map((l) => l.code));
    for (const c of [
      'PARSE_ERROR',
      'INVALID_PRODUCT',
      'CORRUPT_IMAGE',
      'UNSUPPORTED_IMAGE',
      'IMAGE_NOT_FOUND',
      'IMAGE_PATH_INVALID',
    ])
      expect(codes).toContain(c);
    for (const l of lines) {
      expect(l.record).toBeGreaterThan(0);
      expect(l.message.length).toBeGreaterThan(0);
    }
    expect(lines.find((l) => l.code === 'INVALID_PRODUCT' && /currency/.test(l.message))).toBeTruthy();
    // job row: finished, cursor at the last record
    const job = (
      await db.sql.query<{ state: string; cursor: string; done: number; total: number }>(
        'SELECT state, cursor, done, total FROM job WHERE id = $1::uuid',
        [first.jobId],
      )
    )[0]!;
    expect(job).toMatchObject({
      state: 'succeeded',
      cursor: String(cat.records),
      done: cat.records,
      total: cat.records,
    });
  });

  it('re-importing the same file updates in place and adds no image or vector twice', async () => {
    const images = await count('SELECT count(*)::int AS n FROM product_image');
    const again = await importer().run({
      file: cat.file,
      imagesDir: cat.imagesDir,
      batchSize: 50,
      rejectsFile: path.join(tmp, 'again.jsonl'),
    });
    expect(again.jobId).not.toBe(first.jobId);
    expect(again.imported).toBe(0);
    // the same records: nothing to write, so updatedAt stays
    expect(again.updated).toBe(0);
    expect(again.unchanged).toBe(cat.expected.products);
    expect(again.images.added).toBe(0);
    expect(again.images.embedded).toBe(0);
    expect(again.images.duplicate).toBe(cat.expected.images + cat.expected.duplicates);
    expect(await count('SELECT count(*)::int AS n FROM product_image')).toBe(images);
    expect(await count(`SELECT count(*)::int AS n FROM embedding_768`)).toBe(images);
    expect(
      await count(
        'SELECT count(*)::int AS n FROM (SELECT product_id, sha256 FROM product_image GROUP BY 1, 2 HAVING count(*) > 1) d',
      ),
    ).toBe(0);
    // the vector rows carry their product's filter columns (migration vector_row_filters)
    expect(await vectorRowMismatches(db.sql)).toBe(0);
  });

  it('checks precomputed embeddings for model and dimension', async () => {
    const file = path.join(tmp, 'pre.jsonl');
    const v = Array.from({ length: 768 }, (_, i) => (i === 5 ? 1 : 0));
    fs.writeFileSync(
      file,
      [
        { sku: 'P-1', title: 'ok', images: [{ embedding: v, model: 'test' }] },
        { sku: 'P-2', title: 'other model', images: [{ embedding: v, model: 'Xenova/clip-vit-base-patch32' }] },
        { sku: 'P-3', title: 'no model', images: [{ embedding: v }] },
        { sku: 'P-4', title: 'short', images: [{ embedding: v.slice(0, 512), model: 'test' }] },
        { sku: 'P-5', title: 'nan', images: [{ embedding: [...v.slice(1), 'x'], model: 'test' }] },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const s = await importer().run({ file, rejectsFile: path.join(tmp, 'pre-rejects.jsonl') });
    expect(s.imported).toBe(5); // the products themselves are fine
    expect(s.images.precomputed).toBe(1);
    expect(readRejects(path.join(tmp, 'pre-rejects.jsonl')).map((l) => [l.sku, l.code])).toEqual([
      ['P-2', 'EMBEDDING_MODEL_MISMATCH'],
      ['P-3', 'EMBEDDING_MODEL_MISMATCH'],
      ['P-4', 'EMBEDDING_INVALID'],
      ['P-5', 'EMBEDDING_INVALID'],
    ]);
  });
});

describe('import (CSV)', () => {
  it('imports the documented columns (tags and images |-separated, attributes JSON)', async () => {
    const cat = await generateCatalog({
      dir: path.join(tmp, 'csv'),
      format: 'csv',
      n: 60,
      skuPrefix: 'C',
      colourOffset: 5000,
    });
    const rejects = path.join(tmp, 'csv-rejects.jsonl');
    const s = await importer().run({ file: cat.file, imagesDir: cat.imagesDir, batchSize: 20, rejectsFile: rejects });
    expect(s.imported).toBe(cat.expected.products);
    expect(s.rejected).toBe(cat.expected.rejected);
    expect(s.images.added).toBe(cat.expected.images);
    expect(s.images.rejected).toBe(cat.expected.imageRejects);
    const p = (
      await db.sql.query<{
        tags: string[];
        attributes: Record<string, unknown>;
        price: string;
        currency: string;
        in_stock: boolean;
        category: string;
      }>(
        `SELECT tags, attributes, price::text AS price, currency::text AS currency, in_stock, category FROM product WHERE sku = 'C-00007'`,
      )
    )[0]!;
    expect(p).toEqual({
      tags: ['import', 't3'],
      attributes: { n: 7, colour: 'blue' },
      price: '12.50',
      currency: 'EUR',
      in_stock: false,
      category: 'men/shirts',
    });
    expect(readRejects(rejects).some((l) => l.code === 'PARSE_ERROR' && /in_stock/.test(l.message))).toBe(true);
  });
});

describe('glimpse import (CLI), killed and resumed', () => {
  const N = 400;
  let dbUrl: string;
  let env: NodeJS.ProcessEnv;
  let file: string;
  let imagesDir: string;

  beforeAll(async () => {
    const cat = await generateCatalog({
      dir: path.join(tmp, 'kill'),
      format: 'jsonl',
      n: N,
      skuPrefix: 'K',
      bad: false,
      colourOffset: 20000,
    });
    file = cat.file;
    imagesDir = cat.imagesDir;
    dbUrl = db.url!;
    env = {
      ...process.env,
      DATABASE_URL: dbUrl,
      GLIMPSE_MODEL: 'test',
      GLIMPSE_MODEL_DIR: path.join(root, '.data', 'models'),
      GLIMPSE_DATA_DIR: path.join(tmp, 'cli-data'),
      GLIMPSE_INFERENCE_WORKERS: '1',
      LOG_LEVEL: 'error',
    };
  });

  const cli = (args: string[]): ChildProcess =>
    // `node --import tsx` (not the tsx CLI, which runs the script in a child process): SIGKILL hits the importer itself
    spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'index.ts'), ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  const finish = (child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d));
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });

  it('resumes after the last committed batch with exactly N products and no duplicate images or vectors', async () => {
    const args = ['import', file, '--images', imagesDir, '--batch-size', '10', '--concurrency', '4', '--json'];
    const child = cli(args);
    const exited = finish(child);
    // wait until a few batches have committed, then kill -9
    let cursor = 0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const row = (
        await db.sql.query<{ cursor: string }>(
          `SELECT cursor FROM job WHERE kind = 'import' AND params->>'file' = $1`,
          [file],
        )
      )[0];
      cursor = Number(row?.cursor ?? 0);
      if (cursor >= 30) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    const killed = await exited;
    expect(killed.code).toBeNull();
    expect(cursor).toBeGreaterThanOrEqual(30);
    const committed = Number(
      (await db.sql.query<{ cursor: string }>(`SELECT cursor FROM job WHERE params->>'file' = $1`, [file]))[0]!.cursor,
    );
    expect(committed).toBeLessThan(N);
    // what the cursor says is committed is exactly what is there
    expect(await count(`SELECT count(*)::int AS n FROM product WHERE sku LIKE 'K-%'`)).toBe(committed);

    const rerun = await finish(cli(args));
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = JSON.parse(rerun.stdout) as ImportSummary;
    expect(summary.resumedFrom).toBe(committed);
    expect(summary.skipped).toBe(committed);
    expect(summary.imported).toBe(N - committed);
    expect(summary.job.imported).toBe(N);

    expect(await count(`SELECT count(*)::int AS n FROM product WHERE sku LIKE 'K-%'`)).toBe(N);
    const images = await count(
      `SELECT count(*)::int AS n FROM product_image i JOIN product p ON p.id = i.product_id WHERE p.sku LIKE 'K-%'`,
    );
    // generator: kinds 1, 3, 4 one image, kind 2 two images, kind 0 none
    expect(images).toBe((N / 5) * 5);
    expect(
      await count(
        'SELECT count(*)::int AS n FROM (SELECT product_id, sha256 FROM product_image GROUP BY 1, 2 HAVING count(*) > 1) d',
      ),
    ).toBe(0);
    expect(
      await count(
        `SELECT count(*)::int AS n FROM embedding_768 e JOIN product p ON p.id = e.product_id WHERE p.sku LIKE 'K-%'`,
      ),
    ).toBe(images);
    const jobs = await db.sql.query<{ state: string; cursor: string }>(
      `SELECT state, cursor FROM job WHERE params->>'file' = $1`,
      [file],
    );
    expect(jobs).toEqual([{ state: 'succeeded', cursor: String(N) }]);
  }, 180_000);
});
