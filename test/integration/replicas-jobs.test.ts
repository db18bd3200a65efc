/**
 * One job runner across API replicas: two real server processes (`src/server.ts`) on one PostgreSQL database
 * both receive `startReembed` for the same model at the same moment. Exactly one of them runs it (the job's
 * advisory lock, store/job-lock.ts), the other reports that job; a runner killed with SIGKILL mid-job leaves
 * the job resumable, and the surviving replica resumes it from its cursor. Checked on the rows themselves: one
 * job, the runner recorded in it, one vector per image, none twice. The creation race itself (two replicas
 * looking for the job before either has created it) is hit on purpose on the store function, from two pools.
 *
 * The target model: a copy of the generated test model in a folder of its own — a real ONNX model that both
 * processes can load, whose id (the folder path) differs from the serving model "test".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../../src/auth/api-keys.js';
import { Importer } from '../../src/catalog/import/importer.js';
import { findOrCreateJob } from '../../src/catalog/store/jobs.js';
import { ModelRegistry } from '../../src/catalog/store/models.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import { Embedder } from '../../src/embedding/embedder.js';
import { generateCatalog } from '../helpers/catalog-gen.js';
import { createScratchDatabase } from '../helpers/db.js';
import {
  postGraphQL,
  spawnServerProcess,
  stopServerProcess,
  waitFor,
  type ServerProcess,
} from '../helpers/processes.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const START = `mutation($m: ID!) { startReembed(model: $m) { id state model } }`;

interface JobView {
  id: string;
  state: string;
  done: number;
  total: number;
  runner: { host: string; pid: number } | null;
}

describe('two API server processes, one job runner', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let dataDir: string;
  let db: Database;
  let admin: string;
  /** images with a file (what a re-embed can embed) */
  let embeddable: number;
  const replicas: ServerProcess[] = [];

  /** A copy of the test model under its own folder: its id is that path. */
  const modelCopy = (name: string) => {
    const dir = path.join(dataDir, name);
    fs.cpSync(path.join(root, '.data', 'models', 'glimpse-test-clip'), dir, { recursive: true });
    return dir;
  };
  const jobsOf = (model: string) =>
    db.sql.query<JobView>(
      `SELECT id::text AS id, state, done, total, params->'runner' AS runner FROM job
       WHERE kind = 'reembed' AND params->>'model' = $1`,
      [model],
    );
  const vectorsOf = async (model: string) =>
    (
      await db.sql.query<{ n: number; distinct: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT image_id)::int AS distinct FROM embedding_768 WHERE model_id = $1`,
        [model],
      )
    )[0]!;
  const finished = (model: string) =>
    waitFor(
      `the ${model} job to finish`,
      async () => {
        const [job] = await jobsOf(model);
        return job && ['succeeded', 'failed'].includes(job.state) ? job : undefined;
      },
      120_000,
      100,
    );
  /** The JSON log lines of a process that carry `msg` containing `text`. */
  const logLines = (p: ServerProcess, text: string) =>
    p
      .output()
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      })
      .filter((l) => String(l.msg ?? '').includes(text));

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-replica-jobs-'));
    db = await openDatabase({ databaseUrl: scratch.url, dataDir, dbPoolSize: 3, dbStatementTimeoutMs: 30_000 });
    const config = loadConfig(
      { GLIMPSE_DATA_DIR: dataDir, GLIMPSE_MODEL: 'test', GLIMPSE_MODEL_DIR: path.join(root, '.data', 'models') },
      { inferenceWorkers: 1, maxBatchWaitMs: 2 },
    );
    const embedder = await Embedder.load(config);
    try {
      await new ModelRegistry(db.sql).ensure(embedder);
      const cat = await generateCatalog({ dir: path.join(dataDir, 'cat'), format: 'jsonl', n: 400, bad: false });
      const s = await new Importer({ sql: db.sql, config, model: embedder, embedder: async () => embedder }).run({
        file: cat.file,
        imagesDir: cat.imagesDir,
      });
      embeddable = s.images.added;
      expect(embeddable).toBe(cat.expected.images);
    } finally {
      await embedder.close();
    }
    admin = (await createKey(db.prisma, 'admin', 'jobs')).key;
    const env = {
      DATABASE_URL: scratch.url,
      GLIMPSE_DATA_DIR: dataDir,
      GLIMPSE_MODEL: 'test',
      GLIMPSE_MODEL_DIR: path.join(root, '.data', 'models'),
      GLIMPSE_INFERENCE_WORKERS: '1',
      GLIMPSE_MIGRATE_ON_START: 'false',
    };
    replicas.push(...(await Promise.all([spawnServerProcess(env), spawnServerProcess(env)])));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => stopServerProcess(r)));
    await db?.close().catch(() => {});
    await scratch?.drop().catch(() => {});
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('callers on several connection pools asking for the same job at once find ONE job', async () => {
    // the window the HTTP test can rarely hit (between looking for a job and creating one), hit on purpose:
    // every caller looks before any has created, from two pools (two replicas' worth of sessions)
    const other = await openDatabase({
      databaseUrl: scratch.url,
      dataDir,
      dbPoolSize: 5,
      dbStatementTimeoutMs: 30_000,
    });
    try {
      const match = { model: 'race-model' };
      const out = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          findOrCreateJob(i % 2 ? db.sql : other.sql, 'reembed', match, { state: 'queued', params: match }),
        ),
      );
      expect(new Set(out.map((o) => o.job.id)).size).toBe(1);
      expect(out.filter((o) => o.created)).toHaveLength(1);
      expect(await jobsOf('race-model')).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('both replicas asked at once: one job, run by one of them, every image embedded once', async () => {
    const model = modelCopy('model-b');
    const answers = await Promise.all(replicas.map((r) => postGraphQL(r.url, START, { m: model }, admin)));
    for (const a of answers) expect(a.body.errors, JSON.stringify(a.body.errors)).toBeUndefined();
    const [a, b] = answers.map((x) => (x.body.data!.startReembed as { id: string; state: string }).id);
    expect(a).toBe(b); // one job, not one per replica

    const job = await finished(model);
    expect(job.state).toBe('succeeded');
    expect(await jobsOf(model)).toHaveLength(1);
    const runner = replicas.find((r) => r.proc.pid === job.runner?.pid)!;
    expect(runner).toBeDefined();
    const other = replicas.find((r) => r !== runner)!;
    // the runner logs its summary just after the job row says succeeded
    const summary = await waitFor(
      'the runner to log its summary',
      async () => logLines(runner, 're-embed with')[0],
      10_000,
    );
    expect(logLines(runner, 're-embed with')).toHaveLength(1);
    // the other replica neither loaded the model nor ran a pass
    expect(logLines(other, 're-embed')).toEqual([]);
    expect(logLines(other, 'embedding model loaded').filter((l) => l.model === model)).toEqual([]);
    expect(await vectorsOf(model)).toEqual({ n: embeddable, distinct: embeddable });
    expect(summary).toMatchObject({ embedded: embeddable, state: 'succeeded' });
  });

  it('a runner killed mid-job leaves it resumable; the surviving replica resumes it from its cursor', async () => {
    const model = modelCopy('model-c');
    const answers = await Promise.all(replicas.map((r) => postGraphQL(r.url, START, { m: model }, admin)));
    const ids = answers.map((x) => (x.body.data?.startReembed as { id: string } | undefined)?.id);
    expect(ids[0]).toBeDefined();
    expect(ids[1]).toBe(ids[0]);
    // the job has committed a batch or more but is not done: kill its runner there
    const running = await waitFor(
      'the job to be part way',
      async () => {
        const [job] = await jobsOf(model);
        return job && job.state === 'running' && job.done > 0 ? job : undefined;
      },
      60_000,
      10,
    );
    const victim = replicas.find((r) => r.proc.pid === running.runner?.pid)!;
    const survivor = replicas.find((r) => r !== victim)!;
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const [left] = await jobsOf(model);
    expect(left!.state).toBe('running'); // what a kill -9 leaves: resumable
    expect(left!.done).toBeLessThan(embeddable);

    // the survivor reports no second job and takes the dead runner's over (its lock went with the connection)
    const again = await waitFor(
      'the survivor to take the job',
      async () => {
        const res = await postGraphQL(survivor.url, START, { m: model }, admin);
        const job = res.body.data?.startReembed as { id: string } | undefined;
        const [row] = await jobsOf(model);
        return job && row?.runner?.pid === survivor.proc.pid ? job : undefined;
      },
      30_000,
      200,
    );
    expect(again.id).toBe(ids[0]);
    const job = await finished(model);
    expect(job).toMatchObject({ state: 'succeeded', runner: { pid: survivor.proc.pid } });
    expect(await jobsOf(model)).toHaveLength(1);
    expect(await vectorsOf(model)).toEqual({ n: embeddable, distinct: embeddable });
    // resumed, not restarted: the survivor embedded only what the killed runner had not committed
    const summary = await waitFor(
      "the survivor's summary",
      async () => logLines(survivor, 're-embed with').find((l) => l.job === job.id),
      10_000,
    );
    expect(summary).toMatchObject({ state: 'succeeded' });
    expect(summary.embedded).toBe(embeddable - left!.done);
  });
});
