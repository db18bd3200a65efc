/**
 * Model versioning against a real PostgreSQL: re-embedding a catalog (imported with the real test model, some
 * images precomputed without a file) to a second model of another dimension. Searches keep working on the old
 * model while the job runs, the active model switches in one step at the end, an interrupted job resumes, the
 * old vectors can be dropped, and the background runner (GraphQL startReembed) reports progress in its job row.
 *
 * The second model: the generated test model is 768-d only, so model B is the real test model's output
 * projected to 512-d (and model C to 1024-d) under its own id — real image embeddings, another dimension.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../helpers/processes.js';
import { loadConfig, type Config } from '../../src/config.js';
import { Importer } from '../../src/catalog/import/importer.js';
import { getJob } from '../../src/catalog/store/jobs.js';
import { ModelRegistry } from '../../src/catalog/store/models.js';
import { activateModel, dropModelVectors, listModels, ReembedRunner, runReembed } from '../../src/catalog/reembed.js';
import { Embedder } from '../../src/embedding/embedder.js';
import type { JobRunner } from '../../src/services.js';
import { SearchService } from '../../src/search/service.js';
import { generateCatalog } from '../helpers/catalog-gen.js';
import { openDatabase } from '../../src/db/index.js';
import { JobBusyError, jobLocked } from '../../src/catalog/store/job-lock.js';
import { createTestDatabase, vectorRowMismatches, type TestDatabase } from '../helpers/db.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
let tmp: string;
let db: TestDatabase;
let config: Config;
let embedder: Embedder;
let images: number;
let precomputed: number;

/** The test model's vectors folded to `dim` dimensions under another model id. */
function projected(base: Embedder, id: string, dim: number) {
  const fold = (v: Float32Array) => {
    const out = new Float32Array(dim);
    for (let i = 0; i < v.length; i++) out[i % dim]! += v[i]! * (i < dim ? 1 : 0.5);
    const n = Math.hypot(...out);
    return out.map((x) => x / n);
  };
  return {
    modelId: id,
    dimension: dim,
    isTestModel: true,
    embedImage: async (buf: Buffer | Uint8Array) => fold(await base.embedImage(buf)),
    embedText: async (t: string) => fold(await base.embedText(t)),
  };
}

const count = async (sql: string, params: unknown[] = []) =>
  Number((await db.sql.query<{ n: number }>(sql, params))[0]!.n);
const searchConfig = () => ({ ...config, exactScanThreshold: 0 });

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-reembed-'));
  db = await createTestDatabase('postgres');
  config = loadConfig(
    { GLIMPSE_DATA_DIR: tmp, GLIMPSE_MODEL: 'test', GLIMPSE_MODEL_DIR: path.join(root, '.data', 'models') },
    { inferenceWorkers: 1, maxBatchWaitMs: 2 },
  );
  embedder = await Embedder.load(config);
  await new ModelRegistry(db.sql).ensure(embedder);
  const cat = await generateCatalog({
    dir: path.join(tmp, 'cat'),
    format: 'jsonl',
    n: 60,
    bad: false,
    precomputed: { model: 'test', dimension: 768 },
  });
  const s = await new Importer({ sql: db.sql, config, model: embedder, embedder: async () => embedder }).run({
    file: cat.file,
    imagesDir: cat.imagesDir,
  });
  images = s.images.added;
  precomputed = s.images.precomputed;
  expect(images).toBe(cat.expected.images);
  expect(precomputed).toBeGreaterThan(0);
});

afterAll(async () => {
  await embedder?.close();
  await db?.drop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('reembed', () => {
  let modelB: ReturnType<typeof projected>;

  it('an interrupted re-embed keeps the old model active and resumes from its cursor', async () => {
    modelB = projected(embedder, 'test-512', 512);
    const abort = new AbortController();
    const first = await runReembed({ sql: db.sql, imageDir: config.imageDir }, modelB, {
      batchSize: 10,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.done >= 10) abort.abort();
      },
    });
    expect(first.state).toBe('cancelled');
    expect(first.activated).toBe(false);
    expect((await new ModelRegistry(db.sql).active())?.id).toBe('test');
    const job = (await getJob(db.sql, first.jobId))!;
    expect(job.state).toBe('cancelled');
    expect(job.cursor).toMatch(/^[0-9a-f-]{36}$/);
    const partial = await count(`SELECT count(*)::int AS n FROM embedding_512 WHERE model_id = 'test-512'`);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(images);
    expect(
      await count(`SELECT count(*)::int AS n FROM product_image WHERE id <= $1::uuid AND source <> 'precomputed'`, [
        job.cursor,
      ]),
    ).toBe(partial);
  });

  it('searches keep working on the old model until the switch, which is atomic', async () => {
    const search = new SearchService(db.sql, searchConfig(), embedder);
    const checks: Promise<void>[] = [];
    const seen: string[] = [];
    const summary = await runReembed({ sql: db.sql, imageDir: config.imageDir }, modelB, {
      batchSize: 8,
      onProgress: (p) => {
        checks.push(
          (async () => {
            // one snapshot: until the job row says succeeded, the old model is the active one
            const [snap] = await db.sql.query<{ active: string; state: string }>(
              `SELECT (SELECT id FROM embedding_model WHERE active) AS active, (SELECT state FROM job WHERE id = $1::uuid) AS state`,
              [p.jobId],
            );
            if (snap!.state !== 'succeeded') seen.push(snap!.active);
            else expect(snap!.active).toBe('test-512');
            const r = await search.search({ mode: 'SEMANTIC', text: 'red shirt', first: 5 });
            expect(r.hits.length).toBe(5);
            expect(r.modelId).toBe('test');
          })(),
        );
      },
    });
    await Promise.all(checks);
    expect(seen.length).toBeGreaterThan(2);
    expect(new Set(seen)).toEqual(new Set(['test']));
    expect(summary).toMatchObject({
      state: 'succeeded',
      activated: true,
      previousModel: 'test',
      model: 'test-512',
      dimension: 512,
    });
    expect(summary.failed).toBe(precomputed);
    expect(summary.failures).toEqual({ NO_ORIGINAL: precomputed });
    // exactly one active model, the new one; old vectors untouched
    expect(await db.sql.query('SELECT id FROM embedding_model WHERE active')).toEqual([{ id: 'test-512' }]);
    expect(await count(`SELECT count(*)::int AS n FROM embedding_512 WHERE model_id = 'test-512'`)).toBe(
      images - precomputed,
    );
    expect(await count(`SELECT count(*)::int AS n FROM embedding_768 WHERE model_id = 'test'`)).toBe(images);
    // the new model's vector rows carry their product's filter columns too
    expect(await vectorRowMismatches(db.sql)).toBe(0);
    const job = (await getJob(db.sql, summary.jobId))!;
    expect(job).toMatchObject({ state: 'succeeded', done: images, total: images, failed: precomputed });
    // both models answer searches from their own table
    const onB = await new SearchService(db.sql, searchConfig(), modelB).search({
      mode: 'SEMANTIC',
      text: 'red shirt',
      first: 5,
    });
    expect(onB.modelId).toBe('test-512');
    expect(onB.hits.length).toBe(5);
    expect(onB.plan.table).toBe('embedding_512');
  });

  it('lists models, refuses to activate an incomplete one, drops old vectors', async () => {
    const list = await listModels(db.sql);
    expect(list.map((m) => [m.id, m.dimension, m.active, m.vectors, m.missing])).toEqual([
      ['test-512', 512, true, images - precomputed, precomputed],
      ['test', 768, false, images, 0],
    ]);
    await expect(dropModelVectors(db.sql, 'test-512')).rejects.toThrow(/active model/);
    await expect(activateModel(db.sql, 'nope')).rejects.toThrow(/does not exist/);
    // back and forth: the switch is one transaction either way
    expect(await activateModel(db.sql, 'test')).toEqual({ previous: 'test-512', missing: 0 });
    await expect(activateModel(db.sql, 'test-512')).rejects.toThrow(/no vector for/);
    expect((await activateModel(db.sql, 'test-512', { force: true })).previous).toBe('test');
    expect(await dropModelVectors(db.sql, 'test')).toEqual({ deleted: images });
    expect(await count(`SELECT count(*)::int AS n FROM embedding_768`)).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM embedding_512`)).toBe(images - precomputed);
  });

  it('runs in the background for the startReembed mutation, with progress in the job row', async () => {
    const adopted: string[] = [];
    const runner = new ReembedRunner({
      sql: db.sql,
      config,
      current: () => embedder,
      load: async (name) => {
        if (name !== 'test-1024') throw new Error(`unknown model ${name}`);
        return projected(embedder, 'test-1024', 1024);
      },
      // the server adopts the new model's embedder once the switch is committed (ModelManager.adopt)
      onSwitched: (e) => void adopted.push(e.modelId),
      options: { batchSize: 5 },
    });
    const asJobRunner: JobRunner = runner; // what the resolvers' startReembed calls (services.jobs)
    const job = await asJobRunner.startReembed('test-1024');
    expect(job.kind).toBe('reembed');
    expect(['queued', 'running']).toContain(job.state);
    const again = await runner.startReembed('test-1024');
    expect(again.id).toBe(job.id); // one job per model at a time
    await runner.wait('test-1024');
    const done = (await getJob(db.sql, job.id))!;
    expect(done).toMatchObject({ state: 'succeeded', modelId: 'test-1024', done: images, failed: precomputed });
    expect((await new ModelRegistry(db.sql).active())?.id).toBe('test-1024');
    expect(adopted).toEqual(['test-1024']);
    expect(await count(`SELECT count(*)::int AS n FROM embedding_1024`)).toBe(images - precomputed);

    const failed = await runner.startReembed('missing-model');
    await runner.wait('missing-model');
    expect((await getJob(db.sql, failed.id))!).toMatchObject({ state: 'failed', error: 'unknown model missing-model' });
    expect(adopted).toEqual(['test-1024']); // a failed job hands nothing over
    expect((await new ModelRegistry(db.sql).active())?.id).toBe('test-1024');
  });
});

describe('one runner per job across API replicas', () => {
  it('a second process neither runs nor requeues a job another process is running', async () => {
    // another replica's view of the same database: its own pool, so its own sessions and advisory locks
    const other = await openDatabase({
      databaseUrl: db.url!,
      dataDir: tmp,
      dbPoolSize: 3,
      dbStatementTimeoutMs: 30_000,
      migrateOnStart: false,
    });
    try {
      const base = projected(embedder, 'test-512-slow', 512);
      const slow = { ...base, embedImage: async (b: Buffer | Uint8Array) => (await sleep(40), base.embedImage(b)) };
      const first = runReembed({ sql: db.sql, imageDir: config.imageDir }, slow, {
        batchSize: 2,
        concurrency: 1,
        activate: false,
      });
      const job = await waitFor(
        'the first runner to start',
        async () =>
          (
            await db.sql.query<{ id: string; state: string }>(
              `SELECT id::text AS id, state FROM job WHERE params->>'model' = 'test-512-slow'`,
            )
          )[0],
        30_000,
        20,
      );
      // the CLI or another replica resuming the same job is refused while the first runs
      await expect(
        runReembed({ sql: other.sql, imageDir: config.imageDir }, slow, { activate: false }),
      ).rejects.toBeInstanceOf(JobBusyError);
      // the startReembed mutation on another replica reports the running job and starts no second runner
      let loads = 0;
      const runner = new ReembedRunner({
        sql: other.sql,
        config,
        load: async () => (loads++, slow),
        options: { activate: false },
      });
      const seen = await runner.startReembed('test-512-slow');
      expect(seen.id).toBe(job.id);
      expect(seen.state).toBe('running');
      await runner.wait();
      expect(loads).toBe(0);

      const summary = await first;
      expect(summary).toMatchObject({ jobId: job.id, state: 'succeeded', embedded: images - precomputed });
      expect(await count(`SELECT count(*)::int AS n FROM job WHERE params->>'model' = 'test-512-slow'`)).toBe(1);
      // released: the finished job's lock is free again (a resumable job could now be taken over)
      expect(await jobLocked(other.sql, job.id)).toBe(false);
    } finally {
      await other.close();
    }
  });
});
