/**
 * bench:search's view from a storefront: starts the real server in its own process (bench/search-server.ts)
 * on the benchmark's database and sends GraphQL over loopback with a plain keep-alive HTTP client (node:http,
 * one socket per client: no fetch/undici layers to add to what is measured). Each request returns the page's
 * product skus, its end cursor, the client's elapsed time and the server's Server-Timing parts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchServer {
  url: string;
  pid: number;
  /** bytes the server wrote to stdout so far (its log; 0 unless started with stdout: 'pipe') */
  logBytes(): number;
  /** stops the server (clean exit: a --cpu-prof profile is written) */
  stop(): Promise<void>;
}

/**
 * Starts bench/search-server.ts on `databaseUrl`. `queries`: the query vectors that text queries `q<n>` stand
 * for; `env`: extra settings (GLIMPSE_*, LOG_LEVEL); `nodeArgs`: e.g. --cpu-prof --cpu-prof-dir DIR; `stdout`:
 * 'pipe' reads the server's log from a pipe (as a container runtime does) and counts its bytes, 'ignore'
 * (default) sends it to /dev/null; `root`: another checkout to run the server from (a before/after comparison).
 */
export async function startBenchServer(opts: {
  databaseUrl: string;
  queries: Float32Array;
  env?: Record<string, string>;
  nodeArgs?: string[];
  stdout?: 'ignore' | 'pipe';
  /** the checkout whose bench/search-server.ts (and src/) to run (default: this one) */
  root?: string;
}): Promise<BenchServer> {
  const root = opts.root ?? ROOT;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-bench-http-'));
  const queriesFile = path.join(dir, 'queries.f32');
  fs.writeFileSync(queriesFile, Buffer.from(opts.queries.buffer, opts.queries.byteOffset, opts.queries.byteLength));
  const child: ChildProcess = fork(path.join(root, 'bench', 'search-server.ts'), [], {
    cwd: root,
    execArgv: [...(opts.nodeArgs ?? []), '--import', 'tsx'],
    env: {
      ...process.env,
      DATABASE_URL: opts.databaseUrl,
      GLIMPSE_DATA_DIR: dir,
      GLIMPSE_MIGRATE_ON_START: 'false',
      GLIMPSE_IMAGE_GC_ON_START: 'false',
      GLIMPSE_DEMO_PAGE: 'false',
      // as deployed (Dockerfile): without it graphql-js runs its development checks (its instanceOf alone was
      // the largest JavaScript function in the server's CPU profile)
      NODE_ENV: 'production',
      // every benchmark client shares 127.0.0.1
      GLIMPSE_RATE_LIMIT_PER_MINUTE: '0',
      GLIMPSE_BENCH_QUERIES: queriesFile,
      ...opts.env,
    },
    stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe', 'ipc'],
  });
  let logBytes = 0;
  child.stdout?.on('data', (d: Buffer) => (logBytes += d.length));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-10_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench server not up within 120 s: ${stderr}`)), 120_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve((m as { url: string }).url);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench server exited (${code}): ${stderr}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    logBytes: () => logBytes,
    async stop() {
      child.send('stop');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Page {
  skus: string[];
  endCursor: string | null;
  hasNextPage: boolean;
  /** the client's time from sending the request to the parsed response */
  ms: number;
  /** Server-Timing parts (ms), strategy as text */
  server: { db: number; embed: number; total: number; strategy: string };
}

/** The search page query; `extra`: more of SearchConnection to select (facets, totalCount, didYouMean …). */
const searchQuery = (extra = '') => `query Search($input: SearchInput!, $first: Int, $after: String) {
  search(input: $input, first: $first, after: $after) {
    edges { node { sku } }
    pageInfo { hasNextPage endCursor }${extra ? `\n    ${extra}` : ''}
  }
}`;

function serverTiming(header: string | string[] | undefined): Page['server'] {
  const out = { db: NaN, embed: NaN, total: NaN, strategy: '' };
  for (const metric of String(header ?? '').split(',')) {
    const [name, ...params] = metric.trim().split(';');
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k === 'dur' && (name === 'db' || name === 'embed' || name === 'total')) out[name] = Number(v);
      if (k === 'desc' && name === 'strategy') out.strategy = v!.replace(/^"|"$/g, '');
    }
  }
  return out;
}

/** A GraphQL client over keep-alive HTTP/1.1 (`sockets`: at most that many concurrent requests' sockets). */
export function searchClient(url: string, key: string, sockets = 16) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const target = new URL('/graphql', url);
  const post = (body: string) =>
    new Promise<{ status: number; text: string; timing: string | string[] | undefined }>((resolve, reject) => {
      const req = http.request(
        target,
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
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              timing: res.headers['server-timing'],
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return {
    /** one search page (`extra`: more fields of the connection to select); throws on any GraphQL error */
    async search(
      input: Record<string, unknown>,
      first: number,
      after: string | null = null,
      extra = '',
    ): Promise<Page> {
      const body = JSON.stringify({ query: searchQuery(extra), variables: { input, first, after } });
      const t = performance.now();
      const res = await post(body);
      const parsed = JSON.parse(res.text) as {
        data?: {
          search: {
            edges: { node: { sku: string } }[];
            pageInfo: { hasNextPage: boolean; endCursor: string | null };
          };
        };
        errors?: { message: string }[];
      };
      const ms = performance.now() - t;
      if (parsed.errors?.length || !parsed.data)
        throw new Error(`HTTP ${res.status}: ${parsed.errors?.[0]?.message ?? res.text.slice(0, 300)}`);
      const s = parsed.data.search;
      return {
        skus: s.edges.map((e) => e.node.sku),
        endCursor: s.pageInfo.endCursor,
        hasNextPage: s.pageInfo.hasNextPage,
        ms,
        server: serverTiming(res.timing),
      };
    },
    close: () => agent.destroy(),
  };
}
