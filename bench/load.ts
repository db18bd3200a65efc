/**
 * Load benchmark (`npm run bench:load -- [--clients 200] [--seconds 60] [--products 100000] [--images 300]
 * [--pool 10] [--writes-per-second 5] [--tag name] [--keep] [--replicas [--shared-buffers 512MB]]`): results in
 * bench/results/load-<date>[-<tag>].json (load-replicas-… with --replicas).
 *
 * 1. A scratch database on the PostgreSQL server (TEST_DATABASE_URL / DATABASE_URL, default the local
 *    glimpse cluster), migrated, filled by SQL for speed: N products (titles, brands, categories, prices,
 *    tags, attributes), one image row each and a 768-d vector per image (sums of random cluster vectors, so
 *    the HNSW graph has structure), for the generated test model; the HNSW index is built after the load.
 * 2. The real server as a child process (node --import tsx src/server.ts, test model, rate limit off: every
 *    client shares 127.0.0.1), bound to 127.0.0.1 on a free port.
 * 3. `--clients` concurrent keep-alive clients for `--seconds` send a mix: text searches (novel and repeated
 *    queries, with and without filters and facets, SEMANTIC / HYBRID / KEYWORD), image-upload searches
 *    (a few hundred generated JPEG/PNG photos-like images), product reads (by id, listings), and a trickle of
 *    admin writes (create/update product, add an image). Every loop is bounded in time and count.
 * 4. Every second: the server's RSS (/proc/<pid>/status) and event-loop delay (prom-client's
 *    monitorEventLoopDelay gauges on /metrics: p50/p99/max over the last interval).
 * JSON to stdout and bench/results/load-<date>.json; a summary to stderr. Loopback only.
 *
 * --replicas: the same catalog and the same client mix on a private primary and a real hot standby of it
 * (pg_basebackup -R into a second private cluster, test/helpers/postgres-cluster.ts), measured twice: one API
 * process on the primary, then two API processes reading from the standby (DATABASE_READ_URLS) with every
 * client request going to the next process in turn (round robin, as a load balancer would). On one machine
 * both topologies share the same cores: the ratio shows the overhead of the topology, not scale-out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import sharp from 'sharp';
import { createKey } from '../src/auth/api-keys.js';
import { openDatabase } from '../src/db/index.js';
import { TestCluster } from '../test/helpers/postgres-cluster.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] && !process.argv[i + 1]!.startsWith('--') ? process.argv[i + 1]! : def;
}
const CLIENTS = Number(arg('clients', '200'));
const SECONDS = Number(arg('seconds', '60'));
const PRODUCTS = Number(arg('products', '100000'));
const IMAGES = Number(arg('images', '300'));
const POOL = Number(arg('pool', '10'));
const KEEP = process.argv.includes('--keep');
/** primary + hot standby, then the same load on 1 and on 2 API processes (see twoReplicas) */
const REPLICAS = process.argv.includes('--replicas');
/** extra node flags for the server process, e.g. --server-node-args=--cpu-prof,--cpu-prof-dir=/tmp/prof */
const SERVER_NODE_ARGS = (
  process.argv.find((a) => a.startsWith('--server-node-args='))?.slice('--server-node-args='.length) ?? ''
)
  .split(',')
  .filter(Boolean);
const ADMIN_WRITES_PER_SECOND = Number(arg('writes-per-second', '5'));
const BASE_URL =
  process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://glimpse:glimpse@127.0.0.1:5432/glimpse';

const log = (...a: unknown[]) => process.stderr.write(a.map(String).join(' ') + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number) => Math.round(x * 10) / 10;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- catalog

const WORDS_A = [
  'red',
  'blue',
  'green',
  'black',
  'white',
  'linen',
  'leather',
  'steel',
  'wool',
  'cotton',
  'navy',
  'golden',
];
const WORDS_B = ['dress', 'shirt', 'sneaker', 'pan', 'lamp', 'chair', 'bag', 'watch', 'jacket', 'scarf', 'boot', 'mug'];
const BRANDS = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark'];
const CATEGORIES = [
  'women/dresses',
  'women/shoes',
  'men/shirts',
  'men/shoes',
  'home/kitchen',
  'home/lighting',
  'accessories/bags',
  'accessories/watches',
];

async function fillCatalog(url: string, modelId: string, n: number): Promise<Record<string, number>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const t: Record<string, number> = {};
  const step = async (name: string, sql: string) => {
    const t0 = performance.now();
    await c.query(sql);
    t[name] = r1((performance.now() - t0) / 1000);
    log(`  ${name}: ${t[name]} s`);
  };
  try {
    await c.query(`SET maintenance_work_mem = '1GB'; SET synchronous_commit = off`);
    await c.query(
      `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, 'test', 768, true, true)
       ON CONFLICT (id) DO UPDATE SET active = true`,
      [modelId],
    );
    const arr = (xs: string[]) => `ARRAY[${xs.map((x) => `'${x}'`).join(',')}]`;
    await step(
      'products',
      `INSERT INTO product (sku, title, description, brand, category, price, currency, in_stock, tags, attributes, created_at, updated_at)
       SELECT 'LOAD-' || g,
         (${arr(WORDS_A)})[1 + g % ${WORDS_A.length}] || ' ' || (${arr(WORDS_B)})[1 + (g / ${WORDS_A.length}) % ${WORDS_B.length}] || ' ' || g,
         'generated product ' || g || ' for the load benchmark, ' || (${arr(WORDS_A)})[1 + (g / 7) % ${WORDS_A.length}],
         (${arr(BRANDS)})[1 + g % ${BRANDS.length}],
         (${arr(CATEGORIES)})[1 + (g / 3) % ${CATEGORIES.length}],
         round((5 + g % 500 + (g % 100) / 100.0)::numeric, 2),
         CASE WHEN g % 10 = 0 THEN 'USD' ELSE 'EUR' END,
         g % 4 <> 0,
         ARRAY['t' || (g % 20), 'load'],
         jsonb_build_object('color', (ARRAY['red','blue','green'])[1 + g % 3], 'size', jsonb_build_array('S', 'M')),
         now() - (g || ' seconds')::interval, now()
       FROM generate_series(1, ${n}) g`,
    );
    await step(
      'images',
      `INSERT INTO product_image (product_id, sha256, source, content_type, byte_size, width, height, position)
       SELECT id, encode(sha256(id::text::bytea), 'hex'), 'import', 'image/jpeg', 50000, 512, 512, 0 FROM product`,
    );
    await c.query('DROP INDEX IF EXISTS embedding_768_hnsw_idx');
    await c.query(`CREATE TEMP TABLE basis AS
      SELECT k, array_agg(((random() - 0.5) * s)::real ORDER BY d)::vector(768) AS v
      FROM (SELECT k, CASE WHEN k < 97 THEN 1.0 WHEN k < 186 THEN 0.6 ELSE 0.35 END AS s FROM generate_series(0, 268) k) x
      CROSS JOIN generate_series(1, 768) d GROUP BY k`);
    await step(
      'vectors',
      `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding)
       SELECT i.id, '${modelId.replace(/'/g, "''")}', i.product_id, (a.v + b.v + c.v)::halfvec(768)
       FROM (SELECT id, product_id, row_number() OVER (ORDER BY id) AS g FROM product_image) i
       JOIN basis a ON a.k = i.g % 97
       JOIN basis b ON b.k = 97 + (i.g / 97) % 89
       JOIN basis c ON c.k = 186 + (i.g / 8633) % 83`,
    );
    await step(
      'hnsw index',
      `CREATE INDEX embedding_768_hnsw_idx ON embedding_768 USING hnsw (embedding halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)`,
    );
    await step('analyze', 'ANALYZE');
  } finally {
    await c.end();
  }
  return t;
}

/** Photo-like test images: smooth colour gradients plus noise, JPEG and PNG, 96–320 px. */
async function makeImages(n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const w = 96 + ((i * 37) % 224);
    const h = 96 + ((i * 53) % 224);
    const raw = Buffer.alloc(w * h * 3);
    const [r0, g0, b0] = [(i * 97) % 256, (i * 57) % 256, (i * 31) % 256];
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        const noise = (Math.random() - 0.5) * 40;
        raw[o] = Math.max(0, Math.min(255, r0 + (x * 60) / w + noise));
        raw[o + 1] = Math.max(0, Math.min(255, g0 + (y * 60) / h + noise));
        raw[o + 2] = Math.max(0, Math.min(255, b0 + noise));
      }
    const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
    out.push(await (i % 3 === 0 ? img.png() : img.jpeg({ quality: 85 })).toBuffer());
  }
  return out;
}

// ---------------------------------------------------------------- server

interface Server {
  proc: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

async function startServerProcess(env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...SERVER_NODE_ARGS, '--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      GLIMPSE_DEMO_PAGE: 'false',
      // as `npm start` and the Dockerfile run it: graphql-js skips its development-mode checks
      NODE_ENV: 'production',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}): ${err}`);
    const r = await fetch(`${url}/readyz`).catch(() => null);
    if (r?.status === 200) return { proc, url, exited };
    await r?.arrayBuffer();
    await sleep(200);
  }
  proc.kill('SIGKILL');
  throw new Error(`server not ready within 120 s: ${err}`);
}

function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * CPU seconds a process has used (user + system, all its threads, or its main thread alone: /proc/<pid>/stat
 * or /proc/<pid>/task/<pid>/stat, fields 14–15 in clock ticks, 100 per second on Linux). Per request it is a steadier figure than latency on a shared machine.
 */
function cpuSecondsOf(pid: number, thread?: 'main thread'): number | null {
  try {
    // a process's first thread has the process's id
    const stat = thread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`;
    const fields = fs.readFileSync(stat, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * CPU seconds by PostgreSQL backend pid, for the backends connected to `database` on this machine (a backend's
 * process title names its database: `postgres: 15/main: user database host(port) state`). Background processes
 * (WAL writer, checkpointer, autovacuum) serve every database and are left out.
 */
function backendCpuSeconds(database: string): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let title: string[];
    try {
      title = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split(/[\0 ]+/);
    } catch {
      continue; // exited meanwhile
    }
    if (title[0] !== 'postgres:' || !title.includes(database)) continue;
    const cpu = cpuSecondsOf(Number(entry));
    if (cpu !== null) byPid.set(Number(entry), cpu);
  }
  return byPid;
}

/** CPU a set of backends used between two readings (backends opened meanwhile count from zero). */
function backendCpuUsed(start: Map<number, number>, end: Map<number, number>): number {
  let used = 0;
  for (const [pid, cpu] of end) used += cpu - (start.get(pid) ?? 0);
  return used;
}

function metric(text: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

// ---------------------------------------------------------------- load

type Op =
  | 'search_text_novel'
  | 'search_text_repeated'
  | 'search_text_filtered'
  | 'search_image'
  | 'product_read'
  | 'products_list'
  | 'admin_write';

const SEARCH = `query($input: SearchInput!, $first: Int) { search(input: $input, first: $first) {
  edges { score node { id sku title price { amount currency } primaryImage { url } } }
  pageInfo { hasNextPage endCursor } facets { categories { value count } brands { value count } } } }`;
const SEARCH_IMAGE = `query($input: SearchInput!) { search(input: $input, first: 12) { edges { score node { id title } } } }`;

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** What the clients need besides the servers: an admin key, products to read and write, query images. */
interface LoadContext {
  adminKey: string;
  /** the benchmark database's name: its PostgreSQL backends' CPU is measured */
  database: string;
  productIds: string[];
  images: Buffer[];
}

/**
 * Warm-up, then `--clients` clients for `--seconds` against `servers`; each request goes to the next server in
 * turn (round robin, as a load balancer would). Latencies per operation, errors by code, RSS (summed over the
 * API processes) and event-loop delay (the worst process) every second.
 */
async function measure(servers: Server[], ctx: LoadContext): Promise<Record<string, unknown>> {
  const { adminKey, productIds, images } = ctx;
  const gqls = servers.map((srv) => `${srv.url}/graphql`);
  let turn = 0;
  const nextGql = () => gqls[turn++ % gqls.length]!;
  const headers = { 'content-type': 'application/json' };

  const lat: Record<Op, number[]> = {
    search_text_novel: [],
    search_text_repeated: [],
    search_text_filtered: [],
    search_image: [],
    product_read: [],
    products_list: [],
    admin_write: [],
  };
  const errors: Record<string, number> = {};
  const errorSamples: string[] = [];
  const countErr = (op: Op, code: string, msg?: string) => {
    const k = `${op}:${code}`;
    errors[k] = (errors[k] ?? 0) + 1;
    if (errorSamples.length < 20 && msg) errorSamples.push(`${k}: ${msg.slice(0, 200)}`);
  };
  let novel = 0;
  let writeTokens = 0;
  const REPEATED = Array.from(
    { length: 40 },
    (_, i) => `${WORDS_A[i % WORDS_A.length]} ${WORDS_B[(i * 5) % WORDS_B.length]}`,
  );

  async function request(op: Op, init: RequestInit): Promise<void> {
    const t = performance.now();
    try {
      const res = await fetch(nextGql(), { ...init, method: 'POST', signal: AbortSignal.timeout(30_000) });
      const text = await res.text();
      const ms = performance.now() - t;
      let body: { errors?: { message: string; extensions?: { code?: string } }[] };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        countErr(op, `HTTP_${res.status}_NON_JSON`, text);
        return;
      }
      if (body.errors?.length)
        countErr(op, body.errors[0]!.extensions?.code ?? `HTTP_${res.status}`, body.errors[0]!.message);
      else if (res.status !== 200) countErr(op, `HTTP_${res.status}`);
      else lat[op].push(ms);
    } catch (err) {
      countErr(op, `CLIENT_${(err as Error).name}`, (err as Error).message);
    }
  }

  const json = (query: string, variables: Record<string, unknown>, key?: string): RequestInit => ({
    headers: key ? { ...headers, authorization: `Bearer ${key}` } : headers,
    body: JSON.stringify({ query, variables }),
  });
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!;

  async function one(c: number): Promise<void> {
    const r = Math.random();
    if (writeTokens > 0 && r < 0.05) {
      writeTokens--;
      const k = Math.random();
      if (k < 0.5) {
        await request(
          'admin_write',
          json(
            `mutation($i: ProductInput!) { createProduct(input: $i) { id } }`,
            {
              i: {
                sku: `NEW-${c}-${crypto.randomBytes(4).toString('hex')}`,
                title: `${pick(WORDS_A)} ${pick(WORDS_B)} new`,
                brand: pick(BRANDS),
                category: pick(CATEGORIES),
                price: { amount: '19.90', currency: 'EUR' },
              },
            },
            adminKey,
          ),
        );
      } else if (k < 0.85) {
        await request(
          'admin_write',
          json(
            `mutation($id: ID!, $p: ProductPatch!) { updateProduct(id: $id, input: $p) { id } }`,
            {
              id: pick(productIds),
              p: { inStock: Math.random() < 0.5, tags: ['load', `u${c % 10}`] },
            },
            adminKey,
          ),
        );
      } else {
        const form = new FormData();
        form.append(
          'operations',
          JSON.stringify({
            query: `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id } } }`,
            variables: { id: pick(productIds), files: [null] },
          }),
        );
        form.append('map', JSON.stringify({ 0: ['variables.files.0'] }));
        form.append('0', new Blob([new Uint8Array(pick(images))]), 'p.jpg');
        await request('admin_write', {
          body: form,
          headers: { authorization: `Bearer ${adminKey}`, 'apollo-require-preflight': 'true' },
        });
      }
      return;
    }
    if (r < 0.2) {
      await request(
        'search_text_novel',
        json(SEARCH, {
          input: {
            text: `${pick(WORDS_A)} ${pick(WORDS_B)} ${novel++}`,
            mode: pick(['SEMANTIC', 'SEMANTIC', 'HYBRID']),
          },
          first: 24,
        }),
      );
    } else if (r < 0.4) {
      await request('search_text_repeated', json(SEARCH, { input: { text: pick(REPEATED) }, first: 24 }));
    } else if (r < 0.55) {
      const filter: Record<string, unknown> = { category: pick(CATEGORIES.map((x) => x.split('/')[0]!)) };
      if (Math.random() < 0.5) filter.brands = [pick(BRANDS)];
      if (Math.random() < 0.5) filter.inStock = true;
      if (Math.random() < 0.3) filter.price = { max: '100', currency: 'EUR' };
      await request(
        'search_text_filtered',
        json(SEARCH, {
          input: {
            text: Math.random() < 0.5 ? pick(REPEATED) : `${pick(WORDS_A)} ${novel++}`,
            filter,
            mode: pick(['SEMANTIC', 'HYBRID', 'KEYWORD']),
            facets: ['CATEGORY', 'BRAND'],
          },
          first: 24,
        }),
      );
    } else if (r < 0.63) {
      const form = new FormData();
      form.append('operations', JSON.stringify({ query: SEARCH_IMAGE, variables: { input: { image: null } } }));
      form.append('map', JSON.stringify({ 0: ['variables.input.image'] }));
      form.append('0', new Blob([new Uint8Array(pick(images))]), 'q.jpg');
      await request('search_image', { body: form, headers: { 'apollo-require-preflight': 'true' } });
    } else if (r < 0.88) {
      await request(
        'product_read',
        json(
          `query($id: ID!) { product(id: $id) { id sku title description brand category price { amount currency } inStock tags attributes images { url width height } } }`,
          { id: pick(productIds) },
        ),
      );
    } else {
      await request(
        'products_list',
        json(
          `query($f: ProductFilter) { products(filter: $f, first: 24, orderBy: PRICE_ASC) { edges { node { id title price { amount } primaryImage { url } } } pageInfo { endCursor } } }`,
          { f: { category: pick(CATEGORIES) } },
        ),
      );
    }
  }

  // warm-up
  log('warm-up (5 s)…');
  const warmEnd = Date.now() + 5000;
  await Promise.all(
    Array.from({ length: Math.min(20, CLIENTS) }, async (_, c) => {
      for (let n = 0; n < 10_000 && Date.now() < warmEnd; n++) await one(c);
    }),
  );
  for (const k of Object.keys(lat) as Op[]) lat[k] = [];
  for (const k of Object.keys(errors)) delete errors[k];
  errorSamples.length = 0;

  // measured run
  log(`running ${CLIENTS} clients for ${SECONDS} s…`);
  const samples: {
    t: number;
    rssMB: number | null;
    lagP50ms: number | null;
    lagP99ms: number | null;
    lagMaxMs: number | null;
    done: number;
  }[] = [];
  let stop = false;
  const cpuAtStart = servers.map((srv) => cpuSecondsOf(srv.proc.pid!));
  const mainAtStart = servers.map((srv) => cpuSecondsOf(srv.proc.pid!, 'main thread'));
  const backendsAtStart = backendCpuSeconds(ctx.database);
  const clientsAtStart = process.cpuUsage();
  const loadAtStart = os.loadavg()[0]!;
  const runStart = performance.now();
  const end = Date.now() + SECONDS * 1000;
  const doneCount = () =>
    Object.values(lat).reduce((s, a) => s + a.length, 0) + Object.values(errors).reduce((s, n) => s + n, 0);
  const sampler = (async () => {
    for (let n = 0; n < SECONDS + 30 && !stop; n++) {
      await sleep(1000);
      writeTokens = Math.min(writeTokens + ADMIN_WRITES_PER_SECOND, ADMIN_WRITES_PER_SECOND * 2);
      const texts = await Promise.all(
        servers.map((srv) =>
          fetch(`${srv.url}/metrics`)
            .then((r) => r.text())
            .catch(() => ''),
        ),
      );
      // the worst event-loop delay of the API processes
      const s = (name: string) => {
        const vs = texts.map((m) => metric(m, name)).filter((v): v is number => v !== null);
        return vs.length ? r1(Math.max(...vs) * 1000) : null;
      };
      samples.push({
        t: r1((performance.now() - runStart) / 1000),
        // the API processes together
        rssMB: (() => {
          const bs = servers.map((srv) => rssOf(srv.proc.pid!));
          return bs.includes(null) ? null : r1(bs.reduce((a: number, b) => a + b!, 0) / 2 ** 20);
        })(),
        lagP50ms: s('nodejs_eventloop_lag_p50_seconds'),
        lagP99ms: s('nodejs_eventloop_lag_p99_seconds'),
        lagMaxMs: s('nodejs_eventloop_lag_max_seconds'),
        done: doneCount(),
      });
    }
  })();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let n = 0; n < 1_000_000 && Date.now() < end; n++) await one(c);
    }),
  );
  const elapsed = (performance.now() - runStart) / 1000;
  const cpuAtEnd = servers.map((srv) => cpuSecondsOf(srv.proc.pid!));
  const mainAtEnd = servers.map((srv) => cpuSecondsOf(srv.proc.pid!, 'main thread'));
  const backendsUsed = backendCpuUsed(backendsAtStart, backendCpuSeconds(ctx.database));
  const clientsUsed = (({ user, system }) => (user + system) / 1e6)(process.cpuUsage(clientsAtStart));
  const loadAtEnd = os.loadavg()[0]!;
  stop = true;
  await sampler;
  // server-side view: mean seconds per search mode / embedding kind (sum / count of the histograms)
  const serverMetrics = {
    note: 'cumulative since server start (warm-up included), per API process',
    processes: await Promise.all(
      servers.map(async (srv) => serverSideMetrics(await fetch(`${srv.url}/metrics`).then((r) => r.text()))),
    ),
  };
  const ops: Record<string, unknown> = {};
  let ok = 0;
  for (const [op, arr] of Object.entries(lat)) {
    const s = [...arr].sort((a, b) => a - b);
    ok += s.length;
    const errs = Object.entries(errors)
      .filter(([k]) => k.startsWith(`${op}:`))
      .reduce((n, [, v]) => n + v, 0);
    ops[op] = {
      ok: s.length,
      errors: errs,
      perSecond: r1(s.length / elapsed),
      p50ms: r1(percentile(s, 50)),
      p95ms: r1(percentile(s, 95)),
      p99ms: r1(percentile(s, 99)),
      maxms: r1(s[s.length - 1] ?? 0),
    };
  }
  const errorTotal = Object.values(errors).reduce((s, n) => s + n, 0);
  const rss = samples.map((x) => x.rssMB).filter((x): x is number => x !== null);
  const third = Math.max(1, Math.floor(rss.length / 3));
  const avg = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);
  const lagP99 = samples
    .map((x) => x.lagP99ms)
    .filter((x): x is number => x !== null)
    .sort((a, b) => a - b);
  /** CPU milliseconds per request answered (ok or error) */
  const perRequest = (seconds: number | null) =>
    seconds === null || ok + errorTotal === 0 ? null : r1((seconds * 1000) / (ok + errorTotal));
  return {
    serverMetrics,
    elapsedSeconds: r1(elapsed),
    throughput: { okPerSecond: r1(ok / elapsed), requests: ok + errorTotal, ok, errors: errorTotal },
    serverCpu: (() => {
      const usedOf = (start: (number | null)[], end: (number | null)[]) =>
        end.reduce<number | null>(
          (sum, e, i) => (sum === null || e === null || start[i] == null ? null : sum + e - start[i]!),
          0,
        );
      const used = usedOf(cpuAtStart, cpuAtEnd);
      const main = usedOf(mainAtStart, mainAtEnd);
      return {
        note: 'user + system CPU of the API processes during the measured run: all threads, and the main thread alone (the rest is embedding workers, libuv and V8 helpers)',
        seconds: used === null ? null : r1(used),
        msPerRequest: perRequest(used),
        mainThreadMsPerRequest: perRequest(main),
      };
    })(),
    otherCpu: {
      note: "where the rest of the cores went: the benchmark database's PostgreSQL backends and this process (the clients)",
      postgresBackends: { seconds: r1(backendsUsed), msPerRequest: perRequest(backendsUsed) },
      clients: { seconds: r1(clientsUsed), msPerRequest: perRequest(clientsUsed) },
      coreSecondsAvailable: r1(elapsed * os.cpus().length),
    },
    loadAverage: { start: r1(loadAtStart), end: r1(loadAtEnd) },
    operations: ops,
    errorsByCode: errors,
    errorSamples,
    rss: {
      startMB: rss[0] ?? null,
      endMB: rss[rss.length - 1] ?? null,
      maxMB: rss.length ? Math.max(...rss) : null,
      firstThirdAvgMB: r1(avg(rss.slice(0, third))),
      lastThirdAvgMB: r1(avg(rss.slice(-third))),
    },
    eventLoopDelay: {
      source:
        'prom-client nodejs_eventloop_lag_* (perf_hooks.monitorEventLoopDelay in the server, reset per scrape, 1 s)',
      p99OfIntervalP99ms: r1(percentile(lagP99, 99)),
      medianOfIntervalP99ms: r1(percentile(lagP99, 50)),
      maxMs: Math.max(0, ...samples.map((x) => x.lagMaxMs ?? 0)),
    },
    samples,
  };
}

/** Server-side view of one API process: mean ms per search mode / embedding kind (histogram sum / count). */
function serverSideMetrics(metricsText: string): Record<string, unknown> {
  const serverSide: Record<string, { count: number; meanMs: number }> = {};
  for (const m of metricsText.matchAll(
    /^(glimpse_(?:search|embedding)_duration_seconds)_sum(\{[^}]*\})? ([0-9.eE+-]+)$/gm,
  )) {
    const count = Number(
      new RegExp(`^${m[1]}_count${(m[2] ?? '').replace(/[{}"=,.]/g, (c) => `\\${c}`)} ([0-9.eE+-]+)$`, 'm').exec(
        metricsText,
      )?.[1] ?? 0,
    );
    if (count) serverSide[`${m[1]}${m[2] ?? ''}`] = { count, meanMs: r1((Number(m[3]) / count) * 1000) };
  }
  const batch = /^glimpse_embedding_batch_size_sum(\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(metricsText);
  return { ...serverSide, embeddingBatchSizeSum: batch ? Number(batch[2]) : null };
}

/** The model the servers run (GLIMPSE_MODEL=test) and the catalog's vectors are registered for. */
const MODEL_ID = 'test';

/** Throws unless `srv` embeds queries with the model the catalog was filled for. */
async function assertModel(srv: Server): Promise<void> {
  const ready = (await (await fetch(`${srv.url}/readyz`)).json()) as { model?: { modelId?: string } };
  if (ready.model?.modelId !== MODEL_ID)
    throw new Error(`the server runs model ${ready.model?.modelId}, not ${MODEL_ID}`);
}

const stopServer = async (srv: Server | undefined) => {
  if (!srv || srv.proc.exitCode !== null) return;
  srv.proc.kill('SIGTERM');
  const t = setTimeout(() => srv.proc.kill('SIGKILL'), 15_000);
  await srv.exited;
  clearTimeout(t);
};

/** Migrates `dbUrl`, fills it with the generated catalog, and makes what the clients need. */
async function prepare(dbUrl: string, dataDir: string): Promise<{ ctx: LoadContext; setup: Record<string, unknown> }> {
  const t0 = performance.now();
  const db = await openDatabase({ databaseUrl: dbUrl, dataDir, dbPoolSize: 2, dbStatementTimeoutMs: 0 }); // migrates
  try {
    const adminKey = (await createKey(db.prisma, 'admin', 'load benchmark')).key;
    const migrateSeconds = r1((performance.now() - t0) / 1000);
    log(`filling the catalog (${PRODUCTS} products)…`);
    const fill = await fillCatalog(dbUrl, MODEL_ID, PRODUCTS);
    const productIds = (
      await db.sql.query<{ id: string }>(`SELECT id::text AS id FROM product ORDER BY random() LIMIT 5000`)
    ).map((r) => r.id);
    log(`making ${IMAGES} query images…`);
    const images = await makeImages(IMAGES);
    return {
      ctx: { adminKey, database: new URL(dbUrl).pathname.slice(1), productIds, images },
      setup: { migrateSeconds, fillSeconds: fill, modelId: MODEL_ID },
    };
  } finally {
    await db.close();
  }
}

/** The environment of an API process of the run (test model, rate limit off: every client is 127.0.0.1). */
const serverEnv = (dbUrl: string, dataDir: string, extra: Record<string, string> = {}) => ({
  DATABASE_URL: dbUrl,
  GLIMPSE_DATA_DIR: dataDir,
  GLIMPSE_MODEL: 'test',
  GLIMPSE_RATE_LIMIT_PER_MINUTE: '0',
  GLIMPSE_DB_POOL_SIZE: String(POOL),
  GLIMPSE_MIGRATE_ON_START: 'false',
  ...extra,
});

/** The default run: one API process on the PostgreSQL server at TEST_DATABASE_URL / DATABASE_URL. */
async function singleNode(result: Record<string, unknown>): Promise<void> {
  const dbName = `glimpse_load_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: BASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  await admin.end();
  const u = new URL(BASE_URL);
  u.pathname = `/${dbName}`;
  const dbUrl = u.toString();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-load-'));
  let server: Server | undefined;
  try {
    const { ctx, setup } = await prepare(dbUrl, dataDir);
    result.setup = setup;
    log('starting the server (test model)…');
    server = await startServerProcess(serverEnv(dbUrl, dataDir));
    await assertModel(server);
    Object.assign(result, await measure([server], ctx));
  } finally {
    await stopServer(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (!KEEP) {
      const c = new pg.Client({ connectionString: BASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await c.end();
    } else log(`kept database ${dbUrl}`);
  }
}

/** Which pool answered a storefront search on `srv` (its Server-Timing `pool;desc=…`). */
async function answeringPool(srv: Server): Promise<string | null> {
  const res = await fetch(`${srv.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: SEARCH, variables: { input: { text: 'red dress' }, first: 5 } }),
  });
  await res.arrayBuffer();
  return /pool;desc="([^"]+)"/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? null;
}

/**
 * `--replicas`: a private primary and a real hot standby of it (pg_basebackup -R, test/helpers/postgres-cluster.ts),
 * both with the same settings, then the same load twice on the same catalog: (1) one API process on the primary,
 * (2) two API processes reading from the standby (DATABASE_READ_URLS), the clients alternating between them.
 */
async function twoReplicas(result: Record<string, unknown>): Promise<void> {
  const settings = [`shared_buffers=${arg('shared-buffers', '512MB')}`, 'max_connections=100'];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-load-replicas-'));
  let primary: TestCluster | undefined;
  let standby: TestCluster | undefined;
  const servers: Server[] = [];
  try {
    log('starting a private primary…');
    primary = await TestCluster.create({ settings });
    const admin = new pg.Client({ connectionString: primary.url });
    await admin.connect();
    await admin.query('CREATE DATABASE glimpse_load');
    await admin.end();
    const dbUrl = primary.url.replace(/\/postgres$/, '/glimpse_load');
    const { ctx, setup } = await prepare(dbUrl, dataDir);
    log('taking a base backup for the hot standby…');
    standby = await TestCluster.standbyOf(primary, { settings });
    const readUrl = standby.url.replace(/\/postgres$/, '/glimpse_load');
    const check = new pg.Client({ connectionString: readUrl });
    await check.connect();
    const [row] = (
      await check.query<{ rec: boolean; n: number }>(
        'SELECT pg_is_in_recovery() AS rec, (SELECT count(*)::int FROM product) AS n',
      )
    ).rows;
    await check.end();
    if (!row?.rec || row.n < PRODUCTS)
      throw new Error(`the standby is not a caught-up hot standby: ${JSON.stringify(row)}`);
    result.setup = { ...setup, postgres: settings, standby: { inRecovery: row.rec, products: row.n } };

    log('phase 1: one API process on the primary…');
    const one = await startServerProcess(serverEnv(dbUrl, dataDir));
    servers.push(one);
    await assertModel(one);
    const singlePool = (await answeringPool(one)) ?? 'primary';
    const single = await measure([one], ctx);
    await stopServer(servers.pop());

    log('phase 2: two API processes reading from the standby…');
    const env = serverEnv(dbUrl, dataDir, { DATABASE_READ_URLS: readUrl });
    servers.push(...(await Promise.all([startServerProcess(env), startServerProcess(env)])));
    await Promise.all(servers.map(assertModel));
    const pools = await Promise.all(servers.map(answeringPool));
    if (pools.some((p) => !p?.startsWith('standby')))
      throw new Error(`reads are not answered by the standby: ${pools.join(', ')}`);
    const replicas = await measure(servers, ctx);
    const ok = (m: Record<string, unknown>) => (m.throughput as { okPerSecond: number }).okPerSecond;
    result.phases = {
      single: { apiProcesses: 1, readsAnsweredBy: singlePool, ...single },
      replicas: { apiProcesses: 2, readsAnsweredBy: pools, ...replicas },
    };
    result.ratio = {
      okPerSecondReplicasOverSingle: ok(single) ? Math.round((ok(replicas) / ok(single)) * 100) / 100 : null,
      note: 'both phases on the same machine and cores: the ratio shows the overhead (or headroom) of the topology, not scale-out',
    };
  } finally {
    await Promise.all(servers.map(stopServer));
    standby?.destroy();
    primary?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function logTable(title: string, m: Record<string, unknown>): void {
  const ops = m.operations as Record<
    string,
    { ok: number; errors: number; p50ms: number; p95ms: number; p99ms: number; perSecond: number }
  >;
  log(
    `\n${title}\n| operation | ok | errors | req/s | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- | --- |`,
  );
  for (const [op, o] of Object.entries(ops))
    log(`| ${op} | ${o.ok} | ${o.errors} | ${o.perSecond} | ${o.p50ms} | ${o.p95ms} | ${o.p99ms} |`);
  log(
    `throughput ${JSON.stringify(m.throughput)}; server CPU ${JSON.stringify(m.serverCpu)}; other CPU ${JSON.stringify(m.otherCpu)}; load average ${JSON.stringify(m.loadAverage)}; rss ${JSON.stringify(m.rss)}; event loop ${JSON.stringify(m.eventLoopDelay)}`,
  );
}

async function main() {
  const started = new Date();
  log(
    `load benchmark${REPLICAS ? ' (--replicas: primary + hot standby, 1 then 2 API processes)' : ''}: ${CLIENTS} clients × ${SECONDS} s, ${PRODUCTS} products, ${IMAGES} query images, pool ${POOL}`,
  );
  const result: Record<string, unknown> = {
    benchmark: REPLICAS ? 'load-replicas' : 'load',
    date: started.toISOString(),
    command: `npm run bench:load -- --clients ${CLIENTS} --seconds ${SECONDS} --products ${PRODUCTS} --images ${IMAGES} --pool ${POOL}${REPLICAS ? ' --replicas' : ''}`,
  };
  if (REPLICAS) await twoReplicas(result);
  else await singleNode(result);
  Object.assign(result, {
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memGB: r1(os.totalmem() / 2 ** 30),
      node: process.version,
      loadavgAtEnd: os.loadavg().map(r1),
    },
    notes: [
      'client and server share the same machine (2 cores here): client CPU competes with the server',
      'rate limit off for the run (every client is 127.0.0.1); DB pool GLIMPSE_DB_POOL_SIZE=' + POOL,
      'catalog vectors are synthetic (sums of random cluster vectors), query vectors from the generated test model',
      ...(REPLICAS ? ['--replicas: primary, standby, both API processes and the client all share the same cores'] : []),
    ],
    config: {
      clients: CLIENTS,
      seconds: SECONDS,
      products: PRODUCTS,
      queryImages: IMAGES,
      adminWritesPerSecond: ADMIN_WRITES_PER_SECOND,
    },
  });
  const out = JSON.stringify(result, null, 2);
  process.stdout.write(out + '\n');
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const TAG = arg('tag', '');
  const name = `${REPLICAS ? 'load-replicas' : 'load'}-${started.toISOString().slice(0, 10)}${TAG ? `-${TAG}` : ''}`;
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, out + '\n');
  if (REPLICAS) {
    const phases = result.phases as Record<string, Record<string, unknown>>;
    logTable('one API process on the primary', phases.single!);
    logTable('two API processes on the standby', phases.replicas!);
    log(`ratio ${JSON.stringify(result.ratio)}`);
  } else logTable('one API process', result);
  log(`written to ${file}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench:load failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
