/**
 * A real Glimpse server for integration/e2e tests: real HTTP on an ephemeral port (127.0.0.1:0), a real
 * database (a scratch PostgreSQL database, or embedded PGlite under a temp data dir), and by default the
 * real ModelManager on the generated test model. Call `close()` in afterAll: it shuts the server down
 * gracefully and drops the database and the temp directory.
 *
 *   const srv = await startTestServer({ config: { rateLimitPerMinute: 0 } });
 *   const res = await srv.gql('{ health { ok } }');
 *   const adminKey = await srv.createKey('admin');
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createKey } from '../../src/auth/api-keys.js';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import type { Role } from '../../src/auth/api-keys.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { startServer, type RunningServer, type ServerModels, type ServerOverrides } from '../../src/server.js';
import { createScratchDatabase, type TestDbKind } from './db.js';

export interface TestServerOptions {
  /** 'postgres' (default): a scratch database on the test server; 'pglite': embedded, under a temp dir */
  db?: TestDbKind;
  /** config overrides (on top of the defaults with GLIMPSE_DATA_DIR = a temp dir, port 0, host 127.0.0.1) */
  config?: Partial<Config>;
  /**
   * The model provider: 'test' (default: a real ModelManager on the generated test model, started and
   * awaited), 'none' (never ready; reason "no model in this test"), or any provider object (not closed).
   */
  models?: 'test' | 'none' | ServerModels;
  /** wait for the model before returning (default true for 'test') */
  waitForModel?: boolean;
  /** GraphQL schema/resolvers (default: schema.graphql + src/graphql/resolvers, as in production) */
  graphql?: ServerOverrides['graphql'];
  logger?: Logger;
}

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: {
    data?: T | null;
    errors?: Array<{ message: string; path?: unknown[]; extensions?: { code?: string; [k: string]: unknown } }>;
  };
}

export interface TestServer extends RunningServer {
  config: Config;
  /** the scratch database URL (postgres only) */
  databaseUrl?: string;
  dataDir: string;
  /** POST a GraphQL operation as JSON */
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    opts?: { key?: string; headers?: Record<string, string> },
  ): Promise<GqlResponse<T>>;
  /** a new API key of the given role (returned in clear) */
  createKey(role: Role, name?: string): Promise<string>;
}

export const NO_MODEL: ServerModels = { status: () => ({ ready: false, reason: 'no model in this test' }) };

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const kind = opts.db ?? 'postgres';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-test-'));
  let scratch: { url: string; drop: () => Promise<void> } | undefined;
  if (kind === 'postgres') scratch = await createScratchDatabase();
  const config: Config = loadConfig(
    {
      GLIMPSE_DATA_DIR: dataDir,
      GLIMPSE_MODEL: 'test',
      LOG_LEVEL: 'silent',
      ...(scratch ? { DATABASE_URL: scratch.url } : {}),
    },
    { port: 0, host: '127.0.0.1', dbPoolSize: 5, shutdownTimeoutMs: 5000, ...opts.config },
  );
  let db: Database | undefined;
  let server: RunningServer | undefined;
  try {
    db = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      dbPoolSize: config.dbPoolSize,
      dbStatementTimeoutMs: config.dbStatementTimeoutMs,
      dbLockTimeoutMs: config.dbLockTimeoutMs,
    });
    const models = opts.models ?? 'test';
    const overrides: ServerOverrides = { db, logger: opts.logger ?? silentLogger };
    if (models === 'none') overrides.models = NO_MODEL;
    else if (models !== 'test') overrides.models = models;
    if (opts.graphql) overrides.graphql = opts.graphql;
    server = await startServer(config, overrides);
    if (models === 'test' && opts.waitForModel !== false)
      await (server.models as { start?: () => Promise<unknown> }).start?.();
  } catch (err) {
    await server?.close().catch(() => {});
    await db?.close().catch(() => {});
    await scratch?.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const running = server;
  const database = db;
  let closed: Promise<void> | undefined;
  return {
    ...running,
    config,
    dataDir,
    ...(scratch ? { databaseUrl: scratch.url } : {}),
    async gql<T>(
      query: string,
      variables?: Record<string, unknown>,
      o: { key?: string; headers?: Record<string, string> } = {},
    ) {
      const res = await fetch(running.graphqlUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(o.key ? { authorization: `Bearer ${o.key}` } : {}),
          ...o.headers,
        },
        body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
      });
      return { status: res.status, headers: res.headers, body: await gqlBody<T>(res) };
    },
    async createKey(role: Role, name?: string) {
      return (await createKey(database.prisma, role, name ?? `test ${role}`)).key;
    },
    close() {
      return (closed ??= (async () => {
        await running.close();
        await database.close().catch(() => {});
        await scratch?.drop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      })());
    },
  };
}

/** The JSON body of a GraphQL response; a non-JSON one fails loudly with its start. */
async function gqlBody<T>(res: Response): Promise<GqlResponse<T>['body']> {
  const text = await res.text();
  try {
    return JSON.parse(text) as GqlResponse<T>['body'];
  } catch {
    throw new Error(`non-JSON response (HTTP ${res.status}): ${text.slice(0, 500)}`);
  }
}

/** Seeds products through the API (upsertProducts with `key`, an admin key); throws on any GraphQL error. */
export async function seedProducts(srv: TestServer, key: string, inputs: Record<string, unknown>[]): Promise<void> {
  const res = await srv.gql(
    `mutation ($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created } }`,
    { inputs },
    { key },
  );
  if (res.body.errors) throw new Error(`seeding products failed: ${JSON.stringify(res.body.errors)}`);
}

/** A file of a GraphQL multipart request, placed at `variables.<at>`. */
export interface UploadPart {
  at: string;
  name: string;
  bytes: Buffer;
  type?: string;
}

/**
 * POSTs a GraphQL multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec) with
 * the CSRF preflight header (unless `preflight: false`); `ms` is the time to the whole response.
 */
export async function postMultipart<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  uploads: UploadPart[],
  opts: { key?: string; preflight?: boolean } = {},
): Promise<GqlResponse<T> & { ms: number }> {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables }));
  const map: Record<string, string[]> = {};
  uploads.forEach((u, i) => (map[String(i)] = [`variables.${u.at}`]));
  form.append('map', JSON.stringify(map));
  uploads.forEach((u, i) =>
    form.append(String(i), new Blob([new Uint8Array(u.bytes)], { type: u.type ?? 'application/octet-stream' }), u.name),
  );
  const headers: Record<string, string> = {};
  if (opts.preflight !== false) headers['apollo-require-preflight'] = 'true';
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const t0 = Date.now();
  const res = await fetch(url, { method: 'POST', body: form, headers });
  return { status: res.status, headers: res.headers, body: await gqlBody<T>(res), ms: Date.now() - t0 };
}

/** The `extensions.code` of each error of a GraphQL response. */
export function errorCodes(res: Pick<GqlResponse, 'body'>): (string | undefined)[] {
  return (res.body.errors ?? []).map((e) => e.extensions?.code);
}

/** Rows in a table of the server's database (for "nothing was written" checks). */
export async function rowCount(srv: Pick<TestServer, 'db'>, table: string): Promise<number> {
  const rows = await srv.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return Number(rows[0]!.n);
}

/** Every file in the server's image store, sorted (relative paths). */
export function storedFiles(srv: Pick<TestServer, 'config'>): string[] {
  const dir = srv.config.imageDir;
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort();
}
