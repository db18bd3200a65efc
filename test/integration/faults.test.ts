/**
 * Fault tests (pass/fail), each against real processes on loopback:
 *
 *  (a) PostgreSQL restarted while searches and admin writes run. A throwaway PostgreSQL cluster (initdb into a
 *      temp dir, pg_ctl on a free port; as the `postgres` OS user when running as root) so the shared test
 *      cluster is never restarted. /readyz turns 503, requests fail fast with SERVICE_UNAVAILABLE (no hang),
 *      the server recovers by itself, every acknowledged write is present afterwards.
 *  (b) The server (a child process: node --import tsx src/server.ts) killed with SIGKILL during a batch of
 *      admin uploads, then restarted: no image row without its file (or with a wrong file), no image without
 *      its vector, no orphaned rows, every acknowledged image present. Files without a row (written just before
 *      the kill, the transaction never committed) are counted, then removed by the image store's sweep.
 *  (c) Model files missing or corrupt at start (auto-fetch off): the server never reports ready; /readyz is 503
 *      naming the model and why; health.ok is false; semantic search and adding images are MODEL_UNAVAILABLE.
 *
 * Import killed with SIGKILL and rerun: covered by test/integration/import.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../../src/auth/api-keys.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import { buildTestModelFiles } from '../../src/embedding/test-model.js';
import { imagePath } from '../../src/catalog/image-store-paths.js';
import type { RunningServer } from '../../src/server.js';
import { createScratchDatabase } from '../helpers/db.js';
import { serverOnTestCluster, type ServerOnTestCluster, type TestCluster } from '../helpers/postgres-cluster.js';
import {
  freePort,
  sleep,
  spawnServerProcess as spawnServer,
  stopServerProcess as stopChild,
  waitFor,
  type ServerProcess as Child,
} from '../helpers/processes.js';

async function post(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  key?: string,
  timeoutMs = 20_000,
) {
  const t0 = Date.now();
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as {
      data?: Record<string, unknown> | null;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    return { status: res.status, body, ms: Date.now() - t0, code: body.errors?.[0]?.extensions?.code ?? null };
  } catch (err) {
    return { status: 0, body: {}, ms: Date.now() - t0, code: `CLIENT:${(err as Error).name}` };
  }
}

// ---------------------------------------------------------------- (a) PostgreSQL restart

describe('(a) PostgreSQL restarted while requests run', () => {
  let pgc: TestCluster;
  let srv: RunningServer;
  let db: Database;
  let cluster: ServerOnTestCluster;

  beforeAll(async () => {
    cluster = await serverOnTestCluster();
    ({ pgc, srv, db } = cluster);
  });

  afterAll(async () => {
    await cluster?.close();
  });

  interface Rec {
    kind: 'search' | 'write';
    t0: number;
    ms: number;
    code: string | null;
    status: number;
    sku?: string;
  }
  const CREATE = `mutation($input: ProductInput!) { createProduct(input: $input) { id sku } }`;
  const SEARCHES = [
    [
      `query($t: String!) { search(input: { text: $t }, first: 5) { edges { node { id } } } }`,
      (i: number) => ({ t: `red dress ${i % 7}` }),
    ],
    [
      `query($t: String!) { search(input: { text: $t, mode: KEYWORD }, first: 5) { edges { node { id } } } }`,
      () => ({ t: 'fault' }),
    ],
    [`{ products(first: 10, orderBy: NEWEST) { edges { node { id sku } } } }`, () => ({})],
  ] as const;
  let admin: string;
  /** what the run below saw: every request, the acknowledged writes, /readyz over time, the outage's bounds */
  const run = {
    log: [] as Rec[],
    acknowledged: new Set<string>(),
    readyz: [] as { t: number; status: number }[],
    downAt: 0,
    upAt: 0,
    notReadyAt: 0,
    readyAt: 0,
    recoveredAt: 0,
  };
  const failedCodes = () => {
    const codes: Record<string, number> = {};
    for (const r of run.log) if (r.code !== null) codes[r.code] = (codes[r.code] ?? 0) + 1;
    return codes;
  };

  it('step 1: seeds products for the searches to find', async () => {
    admin = (await createKey(db.prisma, 'admin', 'fault-a')).key;
    for (let i = 0; i < 5; i++) {
      const r = await post(
        srv.graphqlUrl,
        CREATE,
        { input: { sku: `SEED-${i}`, title: `fault seed ${i}`, category: 'c' } },
        admin,
      );
      expect(r.code).toBeNull();
    }
  });

  it('step 2: 6 clients write and search while PostgreSQL crashes (immediate stop), stays down 4 s and starts again', async () => {
    const gql = srv.graphqlUrl;
    let stop = false;
    let seq = 0;
    const start = Date.now();
    const HARD_END = start + 45_000; // every loop is bounded in time ...
    const worker = async (w: number) => {
      for (let n = 0; n < 2000 && !stop && Date.now() < HARD_END; n++) {
        // ... and in count
        const i = seq++;
        const t0 = Date.now() - start;
        if (i % 3 === 0) {
          const sku = `W-${w}-${n}`;
          const r = await post(gql, CREATE, { input: { sku, title: `write ${w}/${n}`, tags: ['fault'] } }, admin);
          run.log.push({ kind: 'write', t0, ms: r.ms, code: r.code, status: r.status, sku });
          if (r.code === null && (r.body.data?.createProduct as { sku?: string } | undefined)?.sku === sku)
            run.acknowledged.add(sku);
        } else {
          const [q, v] = SEARCHES[i % SEARCHES.length]!;
          const r = await post(gql, q, v(i));
          run.log.push({ kind: 'search', t0, ms: r.ms, code: r.code, status: r.status });
        }
        await sleep(20);
      }
    };
    const poller = (async () => {
      for (let n = 0; n < 1000 && !stop && Date.now() < HARD_END; n++) {
        const t = Date.now() - start;
        const r = await fetch(`${srv.url}/readyz`, { signal: AbortSignal.timeout(5000) }).catch(() => null);
        run.readyz.push({ t, status: r?.status ?? 0 });
        await r?.arrayBuffer();
        await sleep(100);
      }
    })();
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    try {
      await sleep(1500);
      run.downAt = Date.now() - start;
      pgc.stop('immediate'); // a crash: the next start replays the WAL
      run.notReadyAt = (
        await waitFor(
          '/readyz 503',
          async () => run.readyz.find((r) => r.t >= run.downAt && r.status === 503),
          5000,
          50,
        )
      ).t;
      await sleep(4000); // outage
      run.upAt = Date.now() - start;
      pgc.start();
      run.readyAt = (
        await waitFor(
          '/readyz 200 again',
          async () => run.readyz.find((r) => r.t >= run.upAt && r.status === 200),
          30_000,
          100,
        )
      ).t;
      // requests succeed again on their own (no restart of the server)
      run.recoveredAt = (
        await waitFor(
          'a successful write after the restart',
          async () => run.log.find((r) => r.kind === 'write' && r.t0 >= run.readyAt && r.code === null),
          15_000,
          100,
        )
      ).t0;
      await sleep(1000);
    } finally {
      stop = true;
      await Promise.all([...workers, poller]);
    }
    const failed = run.log.filter((r) => r.code !== null);
    console.log('[faults] (a) PostgreSQL restart:', {
      requests: run.log.length,
      writesAcknowledged: run.acknowledged.size,
      failedByCode: failedCodes(),
      duringOutage: run.log.filter((r) => r.t0 >= run.downAt && r.t0 < run.upAt).length,
      maxFailedMs: Math.max(0, ...failed.map((r) => r.ms)),
      maxMs: Math.max(...run.log.map((r) => r.ms)),
      notReadyAfterMs: run.notReadyAt - run.downAt,
      readyAfterStartMs: run.readyAt - run.upAt,
      firstSuccessfulWriteAfterReadyMs: run.recoveredAt - run.readyAt,
    });
    expect(run.log.filter((r) => r.t0 >= run.downAt && r.t0 < run.upAt).length).toBeGreaterThan(10);
  });

  it('step 3: requests during the outage failed fast, typed SERVICE_UNAVAILABLE only (no INTERNAL, no hang)', () => {
    const codes = failedCodes();
    expect(
      Object.keys(codes).every((c) => c === 'SERVICE_UNAVAILABLE'),
      JSON.stringify(codes),
    ).toBe(true);
    expect(codes.SERVICE_UNAVAILABLE ?? 0).toBeGreaterThan(0);
    expect(Math.max(0, ...run.log.filter((r) => r.code !== null).map((r) => r.ms))).toBeLessThan(6000);
    expect(Math.max(...run.log.map((r) => r.ms))).toBeLessThan(10_000);
  });

  it('step 4: /readyz said 503 within 3 s of the crash and 200 again after the start', () => {
    expect(run.notReadyAt - run.downAt).toBeLessThan(3000);
    expect(run.readyAt).toBeGreaterThanOrEqual(run.upAt);
  });

  it('step 5: every acknowledged write is in the database after the restart', async () => {
    const c = new pg.Client({ connectionString: pgc.url });
    await c.connect();
    try {
      const rows = await c.query<{ sku: string }>(`SELECT sku FROM product WHERE sku LIKE 'W-%'`);
      const present = new Set(rows.rows.map((r) => r.sku));
      const lost = [...run.acknowledged].filter((s) => !present.has(s));
      expect(lost, `acknowledged writes lost after the restart: ${lost.join(', ')}`).toEqual([]);
      expect(run.acknowledged.size).toBeGreaterThan(5);
    } finally {
      await c.end();
    }
  });

  it('step 6: the same server answers normally again (no restart of it)', async () => {
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
    expect((await post(srv.graphqlUrl, SEARCHES[0][0], { t: 'red' })).code).toBeNull();
  });
});

// ---------------------------------------------------------------- child-process server

// ---------------------------------------------------------------- (b) SIGKILL during uploads

describe('(b) server killed with SIGKILL during a batch of admin uploads', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let dataDir: string;
  let child: Child | undefined;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-fault-b-'));
  });

  afterAll(async () => {
    await stopChild(child);
    await scratch?.drop().catch(() => {});
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  let db: Database;
  let env: Record<string, string>;
  const acknowledged: { id: string; sha256: string; productId: string }[] = [];
  const at = { uploadsStarted: 0, acknowledgedAtKill: 0, filesAtKill: 0 };
  let rows: { id: string; sha256: string; byte_size: number; product_id: string }[] = [];
  const imageDir = () => path.join(dataDir, 'images');
  const listFiles = () =>
    fs.existsSync(imageDir())
      ? (fs.readdirSync(imageDir(), { recursive: true }) as string[]).filter((f) =>
          fs.statSync(path.join(imageDir(), f)).isFile(),
        )
      : [];
  const ready = (c: Child) =>
    waitFor('/readyz 200', async () => (await fetch(`${c.url}/readyz`)).status === 200, 60_000, 100);

  afterAll(async () => {
    await db?.close();
  });

  it('step 1: 4 admins upload images concurrently; the server is killed (SIGKILL) mid-batch', async () => {
    env = {
      DATABASE_URL: scratch.url,
      GLIMPSE_DATA_DIR: dataDir,
      GLIMPSE_MODEL: 'test',
      GLIMPSE_RATE_LIMIT_PER_MINUTE: '0',
    };
    child = await spawnServer(env);
    await ready(child);
    db = await openDatabase({
      databaseUrl: scratch.url,
      dataDir,
      dbPoolSize: 2,
      dbStatementTimeoutMs: 30_000,
      migrateOnStart: false,
    });
    const admin = (await createKey(db.prisma, 'admin', 'fault-b')).key;
    // distinct noise images (a few hundred KB each, so writes and embeddings take a moment)
    const images = await Promise.all(
      Array.from({ length: 48 }, async (_, i) => {
        const raw = crypto.randomBytes(256 * 256 * 3);
        const img = sharp(raw, { raw: { width: 256, height: 256, channels: 3 } });
        return (i % 2 ? img.png() : img.jpeg()).toBuffer();
      }),
    );
    let killed = false;
    const uploader = async (w: number) => {
      for (let n = 0; n < 12 && !killed; n++) {
        const c = await post(
          `${child!.url}/graphql`,
          `mutation($i: ProductInput!) { createProduct(input: $i) { id } }`,
          { i: { sku: `K-${w}-${n}`, title: `kill ${w}/${n}` } },
          admin,
          10_000,
        );
        const pid = (c.body.data?.createProduct as { id?: string } | undefined)?.id;
        if (!pid) return;
        const batch = [images[(w * 12 + n) % 48]!, images[(w * 12 + n + 7) % 48]!];
        const form = new FormData();
        form.append(
          'operations',
          JSON.stringify({
            query: `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id sha256 } } }`,
            variables: { id: pid, files: batch.map(() => null) },
          }),
        );
        form.append(
          'map',
          JSON.stringify(Object.fromEntries(batch.map((_, i) => [String(i), [`variables.files.${i}`]]))),
        );
        batch.forEach((b, i) => form.append(String(i), new Blob([new Uint8Array(b)]), `${i}.img`));
        at.uploadsStarted++;
        try {
          const res = await fetch(`${child!.url}/graphql`, {
            method: 'POST',
            body: form,
            headers: { authorization: `Bearer ${admin}`, 'apollo-require-preflight': 'true' },
            signal: AbortSignal.timeout(15_000),
          });
          const body = (await res.json()) as {
            data?: { addProductImages?: { images: { id: string; sha256: string }[] } };
          };
          for (const img of body.data?.addProductImages?.images ?? []) acknowledged.push({ ...img, productId: pid });
        } catch {
          return; // the connection died with the server: not acknowledged
        }
      }
    };
    const uploads = Array.from({ length: 4 }, (_, w) => uploader(w));
    await waitFor('some acknowledged uploads', async () => acknowledged.length >= 12, 60_000, 20);
    child.proc.kill('SIGKILL');
    killed = true;
    await child.exited;
    await Promise.all(uploads);
    at.acknowledgedAtKill = acknowledged.length;
    at.filesAtKill = listFiles().length;
    expect(at.acknowledgedAtKill).toBeGreaterThanOrEqual(12);
  });

  it('step 2: restarted on the same database and image folder, the server gets ready', async () => {
    child = await spawnServer(env);
    await ready(child);
    rows = await db.sql.query('SELECT id::text, sha256::text, byte_size, product_id::text FROM product_image');
    expect(rows.length).toBeGreaterThanOrEqual(at.acknowledgedAtKill);
  });

  it('step 3: every image row has its intact file and a vector; no vector, image or position left inconsistent', async () => {
    const problems: string[] = [];
    for (const r of rows) {
      const file = imagePath(imageDir(), r.sha256);
      if (!fs.existsSync(file)) problems.push(`image ${r.id}: file missing`);
      else {
        const bytes = fs.readFileSync(file);
        if (
          bytes.length !== Number(r.byte_size) ||
          crypto.createHash('sha256').update(bytes).digest('hex') !== r.sha256
        )
          problems.push(`image ${r.id}: file damaged`);
      }
    }
    const noVector = await db.sql.query<{ id: string }>(
      `SELECT i.id::text FROM product_image i WHERE NOT EXISTS (
         SELECT 1 FROM embedding_768 e JOIN embedding_model m ON m.id = e.model_id AND m.active WHERE e.image_id = i.id)`,
    );
    problems.push(...noVector.map((r) => `image ${r.id}: no vector for the active model`));
    const orphanVectors = await db.sql.query(
      `SELECT 1 FROM embedding_768 e WHERE NOT EXISTS (SELECT 1 FROM product_image i WHERE i.id = e.image_id)`,
    );
    if (orphanVectors.length) problems.push(`${orphanVectors.length} vectors without an image`);
    const orphanImages = await db.sql.query(
      `SELECT 1 FROM product_image i WHERE NOT EXISTS (SELECT 1 FROM product p WHERE p.id = i.product_id)`,
    );
    if (orphanImages.length) problems.push(`${orphanImages.length} images without a product`);
    const badPositions = await db.sql.query<{ product_id: string }>(
      `SELECT product_id::text FROM product_image GROUP BY product_id
       HAVING min(position) <> 0 OR max(position) <> count(*) - 1 OR count(DISTINCT position) <> count(*)`,
    );
    problems.push(...badPositions.map((r) => `product ${r.product_id}: image positions not 0..n-1`));
    expect(problems).toEqual([]);
  });

  it('step 4: every image acknowledged before the kill is there', () => {
    const ids = new Set(rows.map((r) => r.id));
    expect(acknowledged.filter((a) => !ids.has(a.id)).map((a) => `acknowledged image ${a.id} lost`)).toEqual([]);
  });

  it('step 5: the start-up sweep leaves no file without a row (written just before the kill, never committed)', async () => {
    // their writer is gone, so nobody holds their lock: the restarted server removes them at once, leaving every
    // referenced file in place
    const referenced = new Set(rows.map((r) => r.sha256));
    const orphans = () => listFiles().filter((f) => !referenced.has(path.basename(f)));
    const left = await waitFor(
      'the start-up sweep',
      async () => (orphans().length === 0 ? [] : undefined),
      15_000,
    ).catch(() => orphans());
    console.log('[faults] (b) SIGKILL during uploads:', {
      ...at,
      imageRows: rows.length,
      orphanFilesAfterRestart: left.length,
    });
    expect(left).toEqual([]);
    expect(listFiles().length).toBe(referenced.size);
  });

  it('step 6: the restarted server answers searches', async () => {
    const after = await post(
      `${child!.url}/graphql`,
      `{ search(input: { text: "red" }, first: 3) { edges { node { id } } } }`,
    );
    expect(after.code).toBeNull();
  });
});

// ---------------------------------------------------------------- (c) model missing or corrupt

describe('(c) model files missing or corrupt at start', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  const dirs: string[] = [];

  beforeAll(async () => {
    scratch = await createScratchDatabase();
  });
  afterAll(async () => {
    await scratch?.drop().catch(() => {});
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  function modelFolder(corrupt: (dir: string) => void): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-bad-model-'));
    dirs.push(dir);
    for (const [rel, bytes] of Object.entries(buildTestModelFiles())) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), bytes);
    }
    corrupt(dir);
    return dir;
  }

  it('truncated ONNX, a missing file, a missing hub model without auto-fetch: clear error, exit 1, never listens', async () => {
    const truncated = modelFolder((d) => {
      const f = path.join(d, 'onnx', 'vision_model.onnx');
      fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2));
    });
    const garbage = modelFolder((d) =>
      fs.writeFileSync(path.join(d, 'onnx', 'text_model.onnx'), crypto.randomBytes(4096)),
    );
    const missing = modelFolder((d) => fs.rmSync(path.join(d, 'onnx', 'vision_model.onnx')));
    const emptyCache = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-empty-models-'));
    dirs.push(emptyCache);
    const fatal: [string, Record<string, string>, RegExp][] = [
      ['truncated vision_model.onnx', { GLIMPSE_MODEL: truncated }, /model/i],
      ['garbage text_model.onnx', { GLIMPSE_MODEL: garbage }, /model/i],
      ['missing vision_model.onnx', { GLIMPSE_MODEL: missing }, /vision_model\.onnx|missing/i],
      [
        'hub model not in the cache, auto-fetch off',
        {
          GLIMPSE_MODEL: 'Xenova/clip-vit-base-patch32',
          GLIMPSE_MODEL_DIR: emptyCache,
          GLIMPSE_MODEL_AUTO_FETCH: 'false',
        },
        /missing|not found|fetch/i,
      ],
    ];
    // Local files that are missing or corrupt: a clear error and a non-zero exit, before anything listens.
    const outcomes: Record<string, unknown> = {};
    for (const [name, modelEnv, why] of fatal) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-fault-c-'));
      dirs.push(dataDir);
      const c = await spawnServer(
        { DATABASE_URL: scratch.url, GLIMPSE_DATA_DIR: dataDir, ...modelEnv },
        { expectListening: false },
      );
      const code = await Promise.race([c.exited, sleep(60_000).then(() => 'timeout' as const)]);
      await stopChild(c);
      expect(code, `${name}: exit code\n${c.output().slice(-2000)}`).toBe(1);
      expect(c.output(), name).not.toMatch(/Glimpse listening/);
      expect(c.output(), name).toMatch(
        /could not start the server: MODEL_UNAVAILABLE: embedding model .* cannot be used/,
      );
      expect(c.output(), name).toMatch(why);
      expect(c.output(), name).not.toMatch(/\n\s+at .*\.ts:\d+/); // a message, not a stack trace
      outcomes[name] = { exitCode: code, listened: false };
    }
    console.log('[faults] (c) model files missing/corrupt at start:', outcomes);
  });

  it('a model still to be downloaded: serves catalog reads and keyword search, never claims ready while the fetch fails', async () => {
    const emptyCache = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-empty-models-'));
    dirs.push(emptyCache);
    const cases: [string, Record<string, string>, RegExp][] = [
      [
        'hub model not in the cache, download unreachable',
        {
          GLIMPSE_MODEL: 'Xenova/clip-vit-base-patch32',
          GLIMPSE_MODEL_DIR: emptyCache,
          GLIMPSE_MODEL_AUTO_FETCH: 'true',
          HF_ENDPOINT: `http://127.0.0.1:${await freePort()}`, // nothing listens there
        },
        /MODEL_OFFLINE|download|fetch|unreachable|connect/i,
      ],
    ];
    // an admin key and a product, to try adding an image while the model is unavailable
    const db = await openDatabase({
      databaseUrl: scratch.url,
      dataDir: os.tmpdir(),
      dbPoolSize: 1,
      dbStatementTimeoutMs: 30_000,
    });
    let adminKey: string;
    let productId: string;
    try {
      adminKey = (await createKey(db.prisma, 'admin', 'fault-c')).key;
      productId = (
        await db.sql.query<{ id: string }>(
          `INSERT INTO product (sku, title) VALUES ('C-1', 'red mug') RETURNING id::text AS id`,
        )
      )[0]!.id;
    } finally {
      await db.close();
    }
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 255, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    const outcomes: Record<string, unknown> = {};
    for (const [name, modelEnv, why] of cases) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-fault-c-'));
      dirs.push(dataDir);
      const c = await spawnServer({
        DATABASE_URL: scratch.url,
        GLIMPSE_DATA_DIR: dataDir,
        ...modelEnv,
      });
      try {
        // readiness settles on "failed" (never "ready")
        const settled = await waitFor(
          `${name}: model state failed`,
          async () => {
            const r = await fetch(`${c.url}/readyz`);
            const body = (await r.json()) as {
              ready: boolean;
              reasons: string[];
              model: { ready: boolean; reason: string | null };
            };
            expect(r.status, name).toBe(503);
            expect(body.ready).toBe(false);
            return body.model.reason && !/loading|not been loaded/.test(body.model.reason) ? body : undefined;
          },
          30_000,
          100,
        );
        expect(settled.model.reason, name).toMatch(why);
        expect(settled.reasons.join(' ')).toMatch(/model not ready/);
        const health = await post(`${c.url}/graphql`, `{ health { ok modelReady database } }`);
        expect(health.body.data?.health, name).toEqual({ ok: false, modelReady: false, database: true });
        const sem = await post(`${c.url}/graphql`, `{ search(input: { text: "red" }) { edges { node { id } } } }`);
        expect(sem.code, name).toBe('MODEL_UNAVAILABLE');
        expect(JSON.stringify(sem.body)).not.toMatch(/\.ts:\d+|node_modules|stack/i);
        // still not ready a moment later (no flapping to ready)
        await sleep(300);
        expect((await fetch(`${c.url}/readyz`)).status).toBe(503);
        // the log states the reason clearly, once, as an error
        expect(c.output()).toMatch(/embedding model unavailable/);
        // adding an image is refused (nothing stored half-embedded); keyword search and reads keep working
        const form = new FormData();
        form.append(
          'operations',
          JSON.stringify({
            query: `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id } } }`,
            variables: { id: productId, files: [null] },
          }),
        );
        form.append('map', JSON.stringify({ 0: ['variables.files.0'] }));
        form.append('0', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'red.png');
        const add = (await (
          await fetch(`${c.url}/graphql`, {
            method: 'POST',
            body: form,
            headers: { authorization: `Bearer ${adminKey}`, 'apollo-require-preflight': 'true' },
          })
        ).json()) as { errors?: { extensions?: { code?: string } }[] };
        expect(add.errors?.[0]?.extensions?.code, name).toBe('MODEL_UNAVAILABLE');
        expect(
          fs.existsSync(path.join(dataDir, 'images'))
            ? (fs.readdirSync(path.join(dataDir, 'images'), { recursive: true }) as string[]).filter((f) =>
                fs.statSync(path.join(dataDir, 'images', f)).isFile(),
              )
            : [],
        ).toEqual([]);
        const kw = await post(
          `${c.url}/graphql`,
          `{ search(input: { text: "red mug", mode: KEYWORD }) { edges { node { sku } } } }`,
        );
        expect(kw.code, name).toBeNull();
        outcomes[name] = {
          readyz: 503,
          reason: settled.model.reason,
          search: sem.code,
          addImage: add.errors?.[0]?.extensions?.code,
          keywordSearch: 'ok',
          exitCode: c.proc.exitCode,
        };
      } finally {
        await stopChild(c);
      }
    }
    console.log('[faults] (c) model download unreachable:', outcomes);
  });
});
