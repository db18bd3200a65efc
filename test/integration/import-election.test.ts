/**
 * One runner per import job across hosts: real `glimpse import` processes (src/cli) of the same file on one
 * scratch database. Two started together make one job, run by one of them; the other exits with
 * IMPORT_RUNNING. A third, started while the job's row names a runner on ANOTHER host (rewritten here, as
 * two machines would see it: no pid of this host to check), is refused just the same — the refusal comes
 * from the job's advisory lock, not from the row. Once the runner is killed with SIGKILL, the same command
 * resumes the job after its last committed batch and ends with every product, image and vector exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportSummary } from '../../src/catalog/import/importer.js';
import { generateCatalog } from '../helpers/catalog-gen.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/processes.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const N = 500;

interface Cli {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

describe('glimpse import on two hosts: one runner per job', () => {
  let tmp: string;
  let db: TestDatabase;
  let args: string[];
  let env: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];

  const cli = (): Cli => {
    // `node --import tsx` (not the tsx CLI, which runs the script in a child process): SIGKILL hits the importer itself
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'index.ts'), ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d));
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    return { child, done };
  };
  const jobs = () =>
    db.sql.query<{ id: string; state: string; cursor: string; runner: { host: string; pid: number } | null }>(
      `SELECT id::text AS id, state, cursor, params->'runner' AS runner FROM job WHERE kind = 'import'`,
    );
  const count = async (q: string) => Number((await db.sql.query<{ n: number }>(q))[0]!.n);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-import-election-'));
    db = await createTestDatabase('postgres');
    const cat = await generateCatalog({
      dir: path.join(tmp, 'cat'),
      format: 'jsonl',
      n: N,
      skuPrefix: 'E',
      bad: false,
    });
    args = ['import', cat.file, '--images', cat.imagesDir, '--batch-size', '5', '--concurrency', '2', '--json'];
    env = {
      ...process.env,
      DATABASE_URL: db.url!,
      GLIMPSE_MODEL: 'test',
      GLIMPSE_MODEL_DIR: path.join(root, '.data', 'models'),
      GLIMPSE_DATA_DIR: path.join(tmp, 'data'),
      GLIMPSE_INFERENCE_WORKERS: '1',
      LOG_LEVEL: 'error',
    };
  });

  afterAll(async () => {
    // a failed run may leave an importer stopped (SIGSTOP) or running
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await db?.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses a second runner on any host while one runs, and resumes after the runner is killed', async () => {
    const pair = [cli(), cli()];
    // the job is under way: one of the two runs it
    const running = await waitFor(
      'one importer to commit a batch',
      async () => {
        const [job] = await jobs();
        return job && job.state === 'running' && Number(job.cursor) > 0 ? job : undefined;
      },
      90_000,
      20,
    );
    const runner = pair.find((p) => p.child.pid === running.runner?.pid)!;
    expect(runner).toBeDefined();
    // frozen, not finished: its connection (and the job's lock) stays open however fast the machine imports,
    // so what follows meets a runner that is still running
    runner.child.kill('SIGSTOP');
    const loser = await pair.find((p) => p !== runner)!.done;
    expect(loser.code).toBe(1);
    expect(loser.stderr).toMatch(/IMPORT_RUNNING: import job [0-9a-f-]{36} is being run by another process/);
    expect(runner.child.exitCode).toBeNull(); // the winner is still importing
    expect(await jobs()).toHaveLength(1);

    // as seen from another machine: the row names a runner this host cannot check by pid
    await db.sql.query(
      `UPDATE job SET params = jsonb_set(params, '{runner}', '{"host": "other-host", "pid": 1}') WHERE id = $1::uuid`,
      [running.id],
    );
    const third = await cli().done;
    expect(third.code).toBe(1);
    expect(third.stderr).toMatch(/IMPORT_RUNNING: .*process 1 on other-host/);
    expect(runner.child.exitCode).toBeNull();

    runner.child.kill('SIGKILL');
    expect((await runner.done).code).toBeNull();
    const [left] = await jobs();
    expect(left!.state).toBe('running'); // what a kill -9 leaves
    const committed = Number(left!.cursor);
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(N);
    expect(await count(`SELECT count(*)::int AS n FROM product`)).toBe(committed);

    const resumed = cli();
    const out = await resumed.done;
    expect(out.code, out.stderr).toBe(0);
    const summary = JSON.parse(out.stdout) as ImportSummary;
    expect(summary).toMatchObject({ jobId: running.id, resumedFrom: committed, imported: N - committed });
    expect(summary.job.imported).toBe(N);
    expect(await jobs()).toEqual([
      {
        id: running.id,
        state: 'succeeded',
        cursor: String(N),
        runner: { host: os.hostname(), pid: resumed.child.pid },
      },
    ]);
    expect(await count(`SELECT count(*)::int AS n FROM product`)).toBe(N);
    const images = await count(`SELECT count(*)::int AS n FROM product_image`);
    expect(images).toBe((N / 5) * 5); // generator: kinds 1, 3, 4 one image, kind 2 two, kind 0 none
    expect(await count(`SELECT count(DISTINCT image_id)::int AS n FROM embedding_768`)).toBe(images);
    expect(await count(`SELECT count(*)::int AS n FROM embedding_768`)).toBe(images);
  }, 240_000);
});
