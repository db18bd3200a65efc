/**
 * The image store's sweep on a real PostgreSQL: files a crash left without a row, and temporary files of cut
 * writes, are deleted at once when their writer is gone — no waiting for them to age — while a file a live
 * writer (another process, holding the image's lock until its row commits) is writing is never touched. The
 * last test is the crash itself: a writer process killed with SIGKILL mid-write, then one clean start of the
 * real server on the same database and image folder, whose start-up sweep removes what the writer left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/catalog/image-store.js';
import { imagePath } from '../../src/catalog/image-store-paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { spawnServerProcess, stopServerProcess, waitFor, type ServerProcess } from '../helpers/processes.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const filesIn = (dir: string) =>
  (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile());

let db: TestDatabase;
const children: ChildProcess[] = [];
beforeAll(async () => {
  db = await createTestDatabase('postgres');
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await db?.drop();
});

/** A writer process (test/helpers/image-writer.ts) that has stored `bytes` and a cut temp file, uncommitted. */
async function startWriter(dir: string, bytes: Buffer): Promise<{ proc: ChildProcess; exited: Promise<unknown> }> {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(root, 'test/helpers/image-writer.ts'),
      db.url!,
      dir,
      sha(bytes),
      bytes.toString('hex'),
    ],
    { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(proc);
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await Promise.race([
    waitFor('the writer to be ready', async () => out.includes('READY'), 30_000, 20),
    exited.then(() => {
      throw new Error(`writer exited early: ${out}`);
    }),
  ]);
  return { proc, exited };
}

describe('image store sweep', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-store-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('removes unreferenced files and cut temporaries at once, keeps referenced ones and a live writer’s', async () => {
    const store = new ImageStore(dir);
    const [kept, orphan] = ['kept', 'orphan'].map((s) => Buffer.from(`image bytes ${s}`));
    for (const b of [kept!, orphan!]) expect(await store.ensure(sha(b), b)).toBe(true);
    const [p] = await db.sql.query<{ id: string }>(`INSERT INTO product (sku, title) VALUES ('S-1', 'x') RETURNING id`);
    await db.sql.query(
      `INSERT INTO product_image (product_id, sha256, source, content_type, byte_size, width, height, position)
       VALUES ($1, $2, 'upload', 'image/png', 10, 1, 1, 0)`,
      [p!.id, sha(kept!)],
    );
    // an older version's temporary name (<sha>.<pid>.<random>.tmp), just written: no age is needed either
    const staleTmp = `${imagePath(dir, sha(orphan!))}.123.abc.tmp`;
    fs.writeFileSync(staleTmp, 'partial');
    const live = Buffer.from('image bytes of a live writer');
    const writer = await startWriter(dir, live);

    const r = await store.sweep(db.sql);
    expect(r).toEqual({ scanned: 3, removed: 1, tempRemoved: 1, busy: 2 });
    expect(fs.existsSync(imagePath(dir, sha(kept!)))).toBe(true);
    expect(fs.existsSync(imagePath(dir, sha(orphan!)))).toBe(false);
    expect(fs.existsSync(staleTmp)).toBe(false);
    // the live writer's file and its temporary: it holds their lock, so they are left alone
    expect(fs.existsSync(imagePath(dir, sha(live)))).toBe(true);
    expect(filesIn(dir).filter((f) => f.endsWith('.tmp'))).toHaveLength(1);

    // the writer commits its row: its stored file is referenced and stays; its own cut temporary goes
    writer.proc.stdin!.write('commit\n');
    await writer.exited;
    expect(writer.proc.exitCode).toBe(0);
    expect(await store.sweep(db.sql)).toEqual({ scanned: 2, removed: 0, tempRemoved: 1, busy: 0 });
    expect(fs.existsSync(imagePath(dir, sha(live)))).toBe(true);
    expect(filesIn(dir).sort()).toEqual([kept!, live].map((b) => path.relative(dir, imagePath(dir, sha(b)))).sort());
  });
});

describe('a writer killed mid-write, then one clean restart', () => {
  let server: ServerProcess | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-store-restart-'));
  const dir = path.join(dataDir, 'images');
  afterAll(async () => {
    await stopServerProcess(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('the start-up sweep removes the killed writer’s files and keeps a live writer’s', async () => {
    const killed = await startWriter(dir, Buffer.from('bytes of a writer that will be killed'));
    const live = await startWriter(dir, Buffer.from('bytes of a writer that stays alive'));
    expect(filesIn(dir)).toHaveLength(4); // two stored files, two cut temporaries
    killed.proc.kill('SIGKILL');
    await killed.exited;

    server = await spawnServerProcess({
      DATABASE_URL: db.url!,
      GLIMPSE_DATA_DIR: dataDir,
      GLIMPSE_IMAGE_DIR: dir,
      GLIMPSE_MODEL: 'test',
      GLIMPSE_MODEL_DIR: path.join(root, '.data', 'models'),
      GLIMPSE_IMAGE_GC_ON_START: 'true',
    });
    const liveFile = path.relative(dir, imagePath(dir, sha(Buffer.from('bytes of a writer that stays alive'))));
    // the sweep logs once it is done, a moment after its last delete
    await waitFor(
      'the start-up sweep',
      async () => filesIn(dir).length === 2 && server!.output().includes('removed image files left behind'),
      20_000,
    );
    expect(filesIn(dir).filter((f) => !f.endsWith('.tmp'))).toEqual([liveFile]);
    expect(server.output()).toMatch(/removed image files left behind by an earlier crash/);
    live.proc.kill('SIGKILL');
  });
});
