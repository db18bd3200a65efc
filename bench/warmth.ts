/**
 * `npm run bench:warmth -- --database glimpse_bench_<id>`: what a search costs on a new PostgreSQL backend
 * against a warm one, and what the access log costs per request, side by side in one run on a database a
 * `bench:search --keep` run left (its HNSW index over embedding_768). Sections (`--sections`, comma-separated,
 * all by default):
 *
 * - `backend`: the search service on a pool of one connection. Per trial the connection is replaced by a new
 *   one (opened untimed), then the first search on it is timed — as it comes, or after the server's warm-up
 *   search (src/search/warm-up.ts) — and `--later` more searches on the same connection. Variants interleave
 *   trial by trial.
 * - `idle`: the real server (bench/search-server.ts) twice, over HTTP: `cold` keeps no connection
 *   (GLIMPSE_DB_POOL_MIN=0) and closes idle ones after half of `--gap-ms`, so every request finds none open, as
 *   on a storefront quiet for longer than the idle timeout; `warm` runs with the defaults (every connection
 *   kept, opened and warmed at start). One vector search to each in turn, `--gap-ms` apart.
 * - `logging`: the real server twice, stdout read from a pipe as a container runtime does: LOG_LEVEL=info (the
 *   default: an access log line per request, one write each) and LOG_LEVEL=warn (no access log at all: the
 *   floor). Rounds of `--requests` requests at `--clients` at a time to each server in turn,
 *   twice: a GraphQL request that reads nothing (`{ __typename }`: the HTTP, GraphQL and logging work alone) and
 *   a vector search; latency, throughput and the server process's CPU time per request (/proc).
 *
 * `--baseline DIR` (sections `idle` and `logging`) runs one more server, with its own defaults, from another
 * checkout (e.g. `git archive <commit>` unpacked, node_modules and src/generated linked in) beside the others:
 * before and after in one run.
 *
 * JSON to --results-dir (default bench/results). The query vectors are vectors of the table (a repeatable
 * sample), so each search's nearest neighbour is itself; that changes nothing in what is timed.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createKey } from '../src/auth/api-keys.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/index.js';
import { SearchService } from '../src/search/service.js';
import type { QueryEmbedder } from '../src/search/types.js';
import { warmUpSearch } from '../src/search/warm-up.js';
import { searchClient, startBenchServer, type BenchServer } from './search-http.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] && !process.argv[i + 1]!.startsWith('--') ? process.argv[i + 1]! : def;
}
const DATABASE = arg('database', '');
if (!/^glimpse_bench_[0-9a-f]+$/.test(DATABASE))
  throw new Error('--database: a glimpse_bench_… name (bench:search --keep)');
const TRIALS = Number(arg('trials', '40'));
const LATER = Number(arg('later', '3'));
const Q = Number(arg('queries', '50'));
const GAP_MS = Number(arg('gap-ms', '300'));
const REQUESTS = Number(arg('requests', '400'));
const CLIENTS = Number(arg('clients', '8'));
const ROUNDS = Number(arg('rounds', '4'));
const SECTIONS = new Set(arg('sections', 'backend,idle,logging').split(','));
/** another checkout (its node_modules and src/generated in place) whose server the logging section runs too */
const BASELINE = arg('baseline', '');
const RESULTS_DIR = path.resolve(arg('results-dir', path.join('bench', 'results')));
const D = 768;
const MODEL = 'bench-768';
const base = process.env.DATABASE_URL ?? 'postgresql://glimpse:glimpse@127.0.0.1:5432/glimpse';
const url = Object.assign(new URL(base), { pathname: `/${DATABASE}` }).toString();
const log = (...a: unknown[]) =>
  console.error(
    `[${new Date().toISOString().slice(11, 19)}]`,
    ...a.map((x) => (typeof x === 'object' ? JSON.stringify(x) : x)),
  );

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
}
const r2 = (x: number) => Math.round(x * 100) / 100;
const lat = (xs: number[]) => ({
  n: xs.length,
  p50: r2(pct(xs, 50)),
  p90: r2(pct(xs, 90)),
  mean: r2(xs.reduce((a, b) => a + b, 0) / xs.length),
});
/** CPU time (user + system, ms) a process has used so far, from /proc (Linux; NaN elsewhere) */
function cpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const db = await openDatabase({
  databaseUrl: url,
  dataDir: '/nonexistent',
  dbPoolSize: 1,
  dbStatementTimeoutMs: 0,
  migrateOnStart: false,
});
const sample = await db.sql.query<{ e: string }>(
  `SELECT embedding::text AS e FROM embedding_768 TABLESAMPLE SYSTEM (1) REPEATABLE (7) WHERE model_id = $1 LIMIT $2`,
  [MODEL, Math.max(Q, TRIALS * (1 + LATER)) + 1],
);
const vectors = sample.map((r) => JSON.parse(r.e) as number[]);
const vec = (i: number) => vectors[i % vectors.length]!;
const result: Record<string, unknown> = {
  command: `npm run bench:warmth -- ${process.argv.slice(2).join(' ')}`.trim(),
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, load: os.loadavg().map(r2) },
  database: DATABASE,
  ...(BASELINE ? { baseline: path.resolve(BASELINE) } : {}),
  vectors: (await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM embedding_768`))[0]!.n,
};

// ------------------------------------------------------------------ backend: first search on a new connection
if (SECTIONS.has('backend')) {
  const config = loadConfig({});
  const embedder: QueryEmbedder = {
    modelId: MODEL,
    dimension: D,
    embedText: () => Promise.reject(new Error('vectors only')),
  };
  const svc = new SearchService(db.sql, config, () => embedder);
  const pool = db.pgPool!;
  const variants = ['as it comes', 'after the warm-up search'] as const;
  const first: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v, []]));
  const later: number[] = [];
  let q = 0;
  await svc.search({ vector: vec(q++), first: 10 }); // the service's own caches (index info, model), untimed
  for (let t = 0; t < TRIALS; t++)
    for (const v of t % 2 ? [...variants].reverse() : variants) {
      const old = await pool.connect();
      old.release(true); // closed: the next checkout opens a new backend
      (await pool.connect()).release(); // opened, untimed
      if (v === 'after the warm-up search') await db.sql.session((s) => warmUpSearch(s, config, () => embedder));
      first[v]!.push(await timed(() => svc.search({ vector: vec(q++), first: 10 })));
      for (let i = 0; i < LATER; i++) later.push(await timed(() => svc.search({ vector: vec(q++), first: 10 })));
    }
  const laterP50 = pct(later, 50);
  const rows = {
    firstSearch: Object.fromEntries(variants.map((v) => [v, lat(first[v]!)])),
    laterSearches: lat(later),
    ratioP50ToLater: Object.fromEntries(variants.map((v) => [v, r2(pct(first[v]!, 50) / laterP50)])),
  };
  log('backend', rows);
  result.backend = rows;
}
const key = (await createKey(db.prisma, 'admin', 'bench:warmth')).key;
await db.close();

// ------------------------------------------------------------------ idle: a quiet storefront over HTTP
const queries = new Float32Array(D); // the servers embed no text here
async function servers(
  envs: Record<string, Record<string, string>>,
  stdout: 'ignore' | 'pipe',
  roots: Record<string, string> = {},
) {
  const out: Record<string, BenchServer> = {};
  for (const [name, env] of Object.entries(envs))
    out[name] = await startBenchServer({
      databaseUrl: url,
      queries,
      env: { GLIMPSE_DB_POOL_SIZE: '4', ...env },
      stdout,
      ...(roots[name] ? { root: roots[name] } : {}),
    });
  return out;
}

if (SECTIONS.has('idle')) {
  const srv = await servers(
    {
      cold: { LOG_LEVEL: 'warn', GLIMPSE_DB_POOL_MIN: '0', GLIMPSE_DB_IDLE_TIMEOUT_MS: String(Math.round(GAP_MS / 2)) },
      warm: { LOG_LEVEL: 'warn' },
      ...(BASELINE ? { baseline: { LOG_LEVEL: 'warn' } } : {}),
    },
    'ignore',
    BASELINE ? { baseline: path.resolve(BASELINE) } : {},
  );
  try {
    const names = Object.keys(srv);
    const clients = Object.fromEntries(names.map((n) => [n, searchClient(srv[n]!.url, key, 1)]));
    const ms: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const dbMs: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (const n of names) await clients[n]!.search({ vector: vec(0) }, 10); // the API key cached, untimed
    for (let q = 0; q < Q; q++) {
      await sleep(GAP_MS);
      for (const n of q % 2 ? [...names].reverse() : names) {
        const page = await clients[n]!.search({ vector: vec(q + 1) }, 10);
        ms[n]!.push(page.ms);
        dbMs[n]!.push(page.server.db);
      }
    }
    for (const c of Object.values(clients)) c.close();
    const rows = {
      gapMs: GAP_MS,
      http: Object.fromEntries(names.map((n) => [n, lat(ms[n]!)])),
      serverTimingDb: Object.fromEntries(names.map((n) => [n, lat(dbMs[n]!)])),
      ratioColdToWarmP50: {
        http: r2(pct(ms.cold!, 50) / pct(ms.warm!, 50)),
        db: r2(pct(dbMs.cold!, 50) / pct(dbMs.warm!, 50)),
      },
      ...(BASELINE
        ? {
            ratioBaselineToWarmP50: {
              http: r2(pct(ms.baseline!, 50) / pct(ms.warm!, 50)),
              db: r2(pct(dbMs.baseline!, 50) / pct(dbMs.warm!, 50)),
            },
          }
        : {}),
    };
    log('idle', rows);
    result.idle = rows;
  } finally {
    for (const s of Object.values(srv)) await s.stop();
  }
}

// ------------------------------------------------------------------ logging: the access log's cost per request
if (SECTIONS.has('logging')) {
  const baseline = BASELINE ? `baseline ${path.basename(path.resolve(BASELINE))} (its defaults, info)` : '';
  const srv = await servers(
    {
      ...(baseline ? { [baseline]: { LOG_LEVEL: 'info' } } : {}),
      'access log (info, the default)': { LOG_LEVEL: 'info' },
      'no access log (warn)': { LOG_LEVEL: 'warn' },
    },
    'pipe',
    baseline ? { [baseline]: path.resolve(BASELINE) } : {},
  );
  try {
    const names = Object.keys(srv);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    const post = (target: string, body: string) =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(
          new URL('/graphql', target),
          {
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              authorization: `Bearer ${key}`,
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const kinds = {
      'no database ({ __typename })': () => JSON.stringify({ query: '{ __typename }' }),
      'vector search': (i: number) =>
        JSON.stringify({
          query: 'query($input: SearchInput!) { search(input: $input, first: 10) { edges { node { sku } } } }',
          variables: { input: { vector: vec(i) } },
        }),
    };
    const rows: Record<string, unknown> = {};
    for (const [kind, body] of Object.entries(kinds)) {
      const ms: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
      const rps: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
      const bytesBefore = Object.fromEntries(names.map((n) => [n, srv[n]!.logBytes()]));
      const cpu: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
      const block = async (n: string, count: number, record: boolean) => {
        let next = 0;
        const t0 = performance.now();
        const cpu0 = cpuMs(srv[n]!.pid);
        await Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            while (next < count) {
              const i = next++;
              const t = performance.now();
              await post(srv[n]!.url, body(i));
              if (record) ms[n]!.push(performance.now() - t);
            }
          }),
        );
        if (record) {
          rps[n]!.push(count / ((performance.now() - t0) / 1000));
          cpu[n]! += cpuMs(srv[n]!.pid) - cpu0;
        }
      };
      for (const n of names) await block(n, Math.min(100, REQUESTS), false); // warm-up, untimed
      for (let r = 0; r < ROUNDS; r++)
        for (const n of r % 2 ? [...names].reverse() : names) await block(n, REQUESTS, true);
      await sleep(500); // the last lines written
      const sent = Math.min(100, REQUESTS) + ROUNDS * REQUESTS;
      const floor = pct(ms['no access log (warn)']!, 50);
      rows[kind] = Object.fromEntries(
        names.map((n) => [
          n,
          {
            latency: lat(ms[n]!),
            requestsPerSecond: r2(rps[n]!.reduce((a, b) => a + b, 0) / rps[n]!.length),
            p50OverNoAccessLogMs: r2(pct(ms[n]!, 50) - floor),
            serverCpuMsPerRequest: r2(cpu[n]! / (ROUNDS * REQUESTS)),
            logBytesPerRequest: r2((srv[n]!.logBytes() - bytesBefore[n]!) / sent),
          },
        ]),
      );
      log('logging', kind, rows[kind]);
    }
    agent.destroy();
    result.logging = { clients: CLIENTS, requestsPerRound: REQUESTS, rounds: ROUNDS, ...rows };
  } finally {
    for (const s of Object.values(srv)) await s.stop();
  }
}

fs.mkdirSync(RESULTS_DIR, { recursive: true });
const file = path.join(RESULTS_DIR, `warmth-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`);
fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
log(`wrote ${file}`);
