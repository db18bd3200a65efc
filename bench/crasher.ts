/**
 * The crasher: N minutes of concurrent admin writes (create, update, delete, image uploads) and searches
 * against the real server, which is killed with SIGKILL at random moments and restarted at once, plus one
 * immediate PostgreSQL restart (`pg_ctl restart -m immediate`, a crash and WAL recovery) on a private cluster
 * of its own. Then one clean restart and the consistency checks a user relies on:
 *
 * - every acknowledged write is there (created products, uploaded images), every acknowledged delete gone;
 * - rows ↔ vectors ↔ files: each image row has its file (right size and sha256) and a vector of the active
 *   model, no vector without an image, no image without a product, positions 0..n-1;
 * - zero orphans: no stored file and no temporary file without a row, after the one clean restart;
 * - no INTERNAL and no HTTP 500 in any answer (refusals during an outage are SERVICE_UNAVAILABLE, or the
 *   connection was refused while the server was down).
 *
 *   npm run bench:crasher                          # 10 minutes (the documented run), JSON to bench/results/
 *   npm run bench:crasher -- --seconds 45 --out /tmp/c.json
 *
 * Exit status 1 when a check fails. test/integration/crasher.test.ts runs a short version in the suite.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createKey } from '../src/auth/api-keys.js';
import { openDatabase, type Database } from '../src/db/index.js';
import { TestCluster } from '../test/helpers/postgres-cluster.js';
import { spawnServerProcess, type ServerProcess } from '../test/helpers/processes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface CrasherOptions {
  seconds: number;
  clients: number;
  /** server SIGKILLs come every minKillMs..maxKillMs */
  minKillMs: number;
  maxKillMs: number;
  /** go on past `seconds` (up to twice as long) until the server was killed this often: a slow machine's starts */
  minServerKills?: number;
  log?: (line: string) => void;
}

export interface CrasherReport {
  options: Omit<CrasherOptions, 'log'>;
  seconds: number;
  serverKills: number;
  postgresRestarts: number;
  /** what the start-up sweeps of the restarted servers removed (files the kills left without a row) */
  sweptAtStart: { removed: number; tempRemoved: number };
  requests: { total: number; ok: number; byKind: Record<string, number>; failedByCode: Record<string, number> };
  acknowledged: { products: number; images: number; deletes: number; updates: number };
  checks: {
    lostProducts: number;
    lostImages: number;
    deletedButPresent: number;
    rowsWithoutFile: number;
    damagedFiles: number;
    imagesWithoutVector: number;
    vectorsWithoutImage: number;
    imagesWithoutProduct: number;
    badPositions: number;
    orphanFiles: number;
    tempFiles: number;
    internalErrors: number;
  };
  pass: boolean;
}

type Kind = 'create' | 'update' | 'delete' | 'upload' | 'search' | 'list';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  code: string | null;
  data: Record<string, unknown> | undefined;
}

/** POSTs to /graphql; a transport failure (server down) is an answer with status 0, never thrown. */
async function post(url: string, init: { body: string | FormData; headers: Record<string, string> }): Promise<Answer> {
  try {
    const res = await fetch(`${url}/graphql`, { method: 'POST', ...init, signal: AbortSignal.timeout(20_000) });
    const body = (await res.json()) as {
      data?: Record<string, unknown>;
      errors?: { extensions?: { code?: string } }[];
    };
    return { status: res.status, code: body.errors?.[0]?.extensions?.code ?? null, data: body.data };
  } catch (err) {
    return { status: 0, code: `CLIENT:${(err as Error).name}`, data: undefined };
  }
}

const gql = (url: string, key: string, query: string, variables: Record<string, unknown> = {}) =>
  post(url, {
    body: JSON.stringify({ query, variables }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });

function upload(url: string, key: string, productId: string, png: Buffer): Promise<Answer> {
  const form = new FormData();
  form.append(
    'operations',
    JSON.stringify({
      query: `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id sha256 } } }`,
      variables: { id: productId, files: [null] },
    }),
  );
  form.append('map', JSON.stringify({ 0: ['variables.files.0'] }));
  form.append('0', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'c.png');
  return post(url, { body: form, headers: { authorization: `Bearer ${key}`, 'apollo-require-preflight': 'true' } });
}

const filesUnder = (dir: string): string[] =>
  fs.existsSync(dir)
    ? (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile())
    : [];

async function waitReady(server: ServerProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    if (r?.status === 200) return;
    await sleep(100);
  }
  throw new Error(`server not ready after ${timeoutMs} ms:\n${server.output().slice(-2000)}`);
}

/** The consistency checks of the header, on the database and the image folder as they are now. */
async function check(db: Database, imageDir: string, acked: Acknowledged): Promise<CrasherReport['checks']> {
  const products = new Set(
    (await db.sql.query<{ id: string }>(`SELECT id::text FROM product`)).map((r) => r.id.toLowerCase()),
  );
  const rows = await db.sql.query<{ id: string; sha256: string; byte_size: number; product_id: string }>(
    `SELECT id::text, sha256::text, byte_size, product_id::text FROM product_image`,
  );
  const imageIds = new Set(rows.map((r) => r.id.toLowerCase()));
  let rowsWithoutFile = 0;
  let damagedFiles = 0;
  for (const r of rows) {
    const file = path.join(imageDir, r.sha256.slice(0, 2), r.sha256.slice(2, 4), r.sha256);
    if (!fs.existsSync(file)) rowsWithoutFile++;
    else {
      const bytes = fs.readFileSync(file);
      if (bytes.length !== Number(r.byte_size) || crypto.createHash('sha256').update(bytes).digest('hex') !== r.sha256)
        damagedFiles++;
    }
  }
  const count = async (sql: string) => Number((await db.sql.query<{ n: number }>(sql))[0]!.n);
  const referenced = new Set(rows.map((r) => r.sha256));
  const files = filesUnder(imageDir);
  const maybeGone = (productId: string) => acked.deleteSent.has(productId);
  return {
    lostProducts: [...acked.products].filter((id) => !products.has(id) && !maybeGone(id)).length,
    lostImages: [...acked.images].filter(([id, pid]) => !imageIds.has(id) && !maybeGone(pid)).length,
    deletedButPresent: [...acked.deleted].filter((id) => products.has(id)).length,
    rowsWithoutFile,
    damagedFiles,
    imagesWithoutVector: await count(
      `SELECT count(*)::int AS n FROM product_image i WHERE NOT EXISTS (
         SELECT 1 FROM embedding_768 e JOIN embedding_model m ON m.id = e.model_id AND m.active WHERE e.image_id = i.id)`,
    ),
    vectorsWithoutImage: await count(
      `SELECT count(*)::int AS n FROM embedding_768 e WHERE NOT EXISTS (SELECT 1 FROM product_image i WHERE i.id = e.image_id)`,
    ),
    imagesWithoutProduct: await count(
      `SELECT count(*)::int AS n FROM product_image i WHERE NOT EXISTS (SELECT 1 FROM product p WHERE p.id = i.product_id)`,
    ),
    badPositions: await count(
      `SELECT count(*)::int AS n FROM (SELECT product_id FROM product_image GROUP BY product_id
         HAVING min(position) <> 0 OR max(position) <> count(*) - 1 OR count(DISTINCT position) <> count(*)) x`,
    ),
    orphanFiles: files.filter((f) => !f.endsWith('.tmp') && !referenced.has(path.basename(f))).length,
    tempFiles: files.filter((f) => f.endsWith('.tmp')).length,
    internalErrors: acked.internal,
  };
}

interface Acknowledged {
  products: Set<string>;
  /** image id → product id */
  images: Map<string, string>;
  deleted: Set<string>;
  /** deletes sent (acknowledged or not): their product may be gone, with its images */
  deleteSent: Set<string>;
  updates: number;
  internal: number;
}

export async function runCrasher(opts: CrasherOptions): Promise<CrasherReport> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const pgc = await TestCluster.create();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-crasher-'));
  const imageDir = path.join(dataDir, 'images');
  const env = {
    DATABASE_URL: pgc.url,
    GLIMPSE_DATA_DIR: dataDir,
    GLIMPSE_MODEL: 'test',
    GLIMPSE_MODEL_DIR: path.join(ROOT, '.data', 'models'),
    GLIMPSE_RATE_LIMIT_PER_MINUTE: '0',
    GLIMPSE_INFERENCE_WORKERS: '1',
    GLIMPSE_DB_POOL_SIZE: '6',
  };
  let server: ServerProcess | undefined;
  let db: Database | undefined;
  try {
    server = await spawnServerProcess(env);
    await waitReady(server, 60_000);
    db = await openDatabase({ databaseUrl: pgc.url, dataDir, dbPoolSize: 2, dbStatementTimeoutMs: 30_000 });
    const admin = (await createKey(db.prisma, 'admin', 'crasher')).key;
    const acked: Acknowledged = {
      products: new Set(),
      images: new Map(),
      deleted: new Set(),
      deleteSent: new Set(),
      updates: 0,
      internal: 0,
    };
    const byKind: Record<string, number> = {};
    const failedByCode: Record<string, number> = {};
    let total = 0;
    let ok = 0;
    const started = Date.now();
    const end = started + opts.seconds * 1000;
    const hardEnd = started + opts.seconds * 2000;
    let stopping = false;
    let seq = 0;
    let lastStatus = 200;
    const note = (kind: Kind, a: Answer): boolean => {
      total++;
      lastStatus = a.status;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      const typedOutage = a.code === 'SERVICE_UNAVAILABLE' || a.code === 'MODEL_UNAVAILABLE';
      if (a.code === 'INTERNAL' || (a.status >= 500 && !typedOutage)) acked.internal++;
      if (a.code === null && a.status === 200) {
        ok++;
        return true;
      }
      const code = a.code ?? `HTTP_${a.status}`;
      failedByCode[code] = (failedByCode[code] ?? 0) + 1;
      return false;
    };
    const randomLive = (): string | undefined => {
      const live = [...acked.products].filter((id) => !acked.deleteSent.has(id));
      return live[Math.floor(Math.random() * live.length)];
    };
    const worker = async (w: number) => {
      while (!stopping) {
        const url = server!.url;
        const roll = Math.random();
        const n = seq++;
        if (roll < 0.3) {
          const a = await gql(url, admin, `mutation($i: ProductInput!) { createProduct(input: $i) { id } }`, {
            i: { sku: `CR-${w}-${n}`, title: `crasher ${n} red shirt`, price: { amount: '9.90', currency: 'EUR' } },
          });
          if (note('create', a)) acked.products.add(String((a.data!.createProduct as { id: string }).id).toLowerCase());
        } else if (roll < 0.5) {
          const id = randomLive();
          if (!id) {
            await sleep(10); // no product yet: let the creates run
            continue;
          }
          const png = await sharp(crypto.randomBytes(48 * 48 * 3), { raw: { width: 48, height: 48, channels: 3 } })
            .png()
            .toBuffer();
          const a = await upload(url, admin, id, png);
          if (note('upload', a))
            for (const img of (a.data!.addProductImages as { images: { id: string }[] }).images)
              acked.images.set(img.id.toLowerCase(), id);
        } else if (roll < 0.58) {
          const id = randomLive();
          if (!id) {
            await sleep(10); // no product yet: let the creates run
            continue;
          }
          const a = await gql(
            url,
            admin,
            `mutation($id: ID!) { updateProduct(id: $id, input: { title: "updated ${n}" }) { id } }`,
            {
              id,
            },
          );
          if (note('update', a)) acked.updates++;
        } else if (roll < 0.62) {
          const id = randomLive();
          if (!id) {
            await sleep(10); // no product yet: let the creates run
            continue;
          }
          acked.deleteSent.add(id);
          const a = await gql(url, admin, `mutation($id: ID!) { deleteProduct(id: $id) }`, { id });
          if (note('delete', a) && a.data!.deleteProduct === true) acked.deleted.add(id);
        } else if (roll < 0.85) {
          const mode = n % 2 ? 'KEYWORD' : 'SEMANTIC';
          note(
            'search',
            await gql(
              url,
              admin,
              `{ search(input: { text: "red shirt ${n % 7}", mode: ${mode} }, first: 5) { edges { node { id } } } }`,
            ),
          );
        } else {
          note('list', await gql(url, admin, `{ products(first: 10) { edges { node { id title } } } }`));
        }
        // the server is down or was just replaced: do not spin on refused connections
        if (server!.url !== url || lastStatus === 0) await sleep(50);
      }
    };
    const workers = Array.from({ length: opts.clients }, (_, w) => worker(w));

    // the chaos: SIGKILL and restart at random moments, one immediate PostgreSQL restart in the middle
    const swept = { removed: 0, tempRemoved: 0 };
    const countSwept = (output: string) => {
      for (const m of output.matchAll(/"removed":(\d+),"tempRemoved":(\d+)/g)) {
        swept.removed += Number(m[1]);
        swept.tempRemoved += Number(m[2]);
      }
    };
    let serverKills = 0;
    let postgresRestarts = 0;
    const pgRestartAt = started + (opts.seconds * 1000) / 2;
    const enough = () => serverKills >= (opts.minServerKills ?? 0);
    const over = () => (Date.now() >= end && enough()) || Date.now() >= hardEnd;
    while (!over()) {
      const wait = opts.minKillMs + Math.random() * (opts.maxKillMs - opts.minKillMs);
      const until = Math.min(enough() ? end : hardEnd, Date.now() + wait);
      while (Date.now() < until) {
        if (!postgresRestarts && Date.now() >= pgRestartAt) {
          pgc.restartImmediately();
          postgresRestarts++;
          log(`[crasher] ${((Date.now() - started) / 1000).toFixed(1)}s: PostgreSQL restarted (immediate)`);
        }
        await sleep(100);
      }
      if (over()) break;
      server.proc.kill('SIGKILL');
      await server.exited;
      countSwept(server.output());
      serverKills++;
      log(`[crasher] ${((Date.now() - started) / 1000).toFixed(1)}s: server SIGKILLed (${serverKills}), restarting`);
      server = await spawnServerProcess(env);
    }
    stopping = true;
    await Promise.all(workers);

    // one clean restart: its start-up sweep removes the files the kills left; then the checks
    server.proc.kill('SIGTERM');
    await server.exited;
    countSwept(server.output());
    server = await spawnServerProcess(env);
    await waitReady(server, 60_000);
    const sweepDeadline = Date.now() + 20_000;
    while (Date.now() < sweepDeadline && !/removed image files|image store clean-up/.test(server.output())) {
      const referenced = new Set(
        (await db.sql.query<{ sha256: string }>(`SELECT sha256::text FROM product_image`)).map((r) => r.sha256),
      );
      if (filesUnder(imageDir).every((f) => referenced.has(path.basename(f)))) break; // nothing to sweep
      await sleep(200);
    }
    const checks = await check(db, imageDir, acked);
    countSwept(server.output());
    const report: CrasherReport = {
      options: {
        seconds: opts.seconds,
        clients: opts.clients,
        minKillMs: opts.minKillMs,
        maxKillMs: opts.maxKillMs,
        minServerKills: opts.minServerKills ?? 0,
      },
      seconds: (Date.now() - started) / 1000,
      serverKills,
      postgresRestarts,
      sweptAtStart: swept,
      requests: { total, ok, byKind, failedByCode },
      acknowledged: {
        products: acked.products.size,
        images: acked.images.size,
        deletes: acked.deleted.size,
        updates: acked.updates,
      },
      checks,
      pass: Object.values(checks).every((v) => v === 0),
    };
    return report;
  } finally {
    if (server && server.proc.exitCode === null && server.proc.signalCode === null) {
      server.proc.kill('SIGKILL');
      await server.exited;
    }
    await db?.close().catch(() => {});
    pgc.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

async function main(): Promise<void> {
  const minutes = flag('minutes', 10);
  const seconds = process.argv.includes('--seconds') ? flag('seconds', 60) : minutes * 60;
  const outAt = process.argv.indexOf('--out');
  const out =
    outAt !== -1
      ? process.argv[outAt + 1]!
      : path.join(ROOT, 'bench', 'results', `crasher-${new Date().toISOString().slice(0, 10)}.json`);
  const report = await runCrasher({
    seconds,
    clients: flag('clients', 6),
    minKillMs: flag('min-kill-ms', 5_000),
    maxKillMs: flag('max-kill-ms', 20_000),
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`[crasher] ${report.pass ? 'PASS' : 'FAIL'}; report in ${out}\n`);
  process.exitCode = report.pass ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`crasher: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
