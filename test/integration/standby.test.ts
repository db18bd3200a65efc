/**
 * Read routing on a real hot standby: a private primary cluster and a streaming standby made with
 * `pg_basebackup -R` (test/helpers/postgres-cluster.ts), and Glimpse servers with DATABASE_READ_URLS pointing at
 * it. Which pool answered is read from the `pool` entry of Server-Timing, and the standby is confirmed to be
 * one with pg_is_in_recovery() (through /metrics and directly).
 *
 *  - storefront queries are answered by the standby; admin reads and mutations by the primary;
 *  - SET LOCAL (per-search index settings) works in the standby's read-only transactions;
 *  - a write is visible on the primary at once, and on the standby after replay (replay paused, then resumed);
 *  - a standby over GLIMPSE_MAX_REPLICA_LAG_MS is skipped, and used again once it catches up;
 *  - stopping the standby moves reads to the primary with no failed request; restarted, it takes reads again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../../src/auth/api-keys.js';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase, withReadRoute, type Database } from '../../src/db/index.js';
import { silentLogger } from '../../src/logger.js';
import { startServer, type RunningServer, type ServerModels } from '../../src/server.js';
import { TestCluster } from '../helpers/postgres-cluster.js';
import { postGraphQL, sleep, waitFor } from '../helpers/processes.js';

const LISTING = '{ products(first: 50) { edges { node { sku } } } }';
const BY_SKU = 'query($sku: String) { product(sku: $sku) { sku title } }';
const SEARCH = 'query($t: String) { search(input: { text: $t }, first: 5) { edges { node { sku } } } }';
const KEYWORD = 'query($t: String) { search(input: { text: $t, mode: KEYWORD }, first: 5) { edges { node { sku } } } }';
const CREATE = 'mutation($input: ProductInput!) { createProduct(input: $input) { id sku } }';

/** The pools named in a response's Server-Timing (`pool;desc="standby-1"`). */
function poolsOf(res: { headers: Headers }): string[] {
  const m = /pool;desc="([^"]*)"/.exec(res.headers.get('server-timing') ?? '');
  return m ? m[1]!.split(' ') : [];
}

async function standbyQuery<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

describe('read routing on a real hot standby', () => {
  let primary: TestCluster;
  let standby: TestCluster;
  let setup: Database;
  let dataDir: string;
  /** max lag 60 s: a paused standby keeps taking reads (replay-visibility test) */
  let tolerant: RunningServer;
  /** max lag 500 ms: a paused standby is soon skipped */
  let strict: RunningServer;
  let admin: string;
  let sku = 0;

  const serve = async (maxLagMs: number, models?: ServerModels) => {
    const config: Config = loadConfig(
      {
        GLIMPSE_DATA_DIR: dataDir,
        GLIMPSE_MODEL: 'test',
        LOG_LEVEL: 'silent',
        DATABASE_URL: primary.url,
        DATABASE_READ_URLS: standby.url,
        GLIMPSE_MAX_REPLICA_LAG_MS: String(maxLagMs),
        GLIMPSE_REPLICA_CHECK_INTERVAL_MS: '200',
        GLIMPSE_IMAGE_GC_ON_START: 'false',
      },
      { port: 0, host: '127.0.0.1', dbPoolSize: 6, rateLimitPerMinute: 0, shutdownTimeoutMs: 3000 },
    );
    const srv = await startServer(config, { logger: silentLogger, ...(models ? { models } : {}) });
    if (!models) await (srv.models as { start?: () => Promise<unknown> }).start?.();
    return srv;
  };
  const create = async (title: string) => {
    const res = await postGraphQL(tolerant.url, CREATE, { input: { sku: `sb-${++sku}`, title } }, admin);
    expect(res.body.errors).toBeUndefined();
    return `sb-${sku}`;
  };
  const standbyEligible = (srv: RunningServer) =>
    waitFor(
      'the standby to be eligible',
      async () => {
        const r = (await (await fetch(`${srv.url}/readyz`)).json()) as { pools: { name: string; eligible: boolean }[] };
        return r.pools.find((p) => p.name === 'standby-1')?.eligible;
      },
      30_000,
    );

  beforeAll(async () => {
    primary = await TestCluster.create();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-standby-'));
    setup = await openDatabase({ databaseUrl: primary.url, dataDir, dbPoolSize: 2, dbStatementTimeoutMs: 30_000 });
    admin = (await createKey(setup.prisma, 'admin', 'standby-test')).key;
    standby = await TestCluster.standbyOf(primary);
    tolerant = await serve(60_000);
    strict = await serve(500, tolerant.models);
    await create('Red summer dress');
    await standbyEligible(tolerant);
    await standbyEligible(strict);
  }, 240_000);

  afterAll(async () => {
    await strict?.close().catch(() => {});
    await tolerant?.close().catch(() => {});
    await setup?.close().catch(() => {});
    standby?.destroy();
    primary?.destroy();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('storefront queries are answered by the standby (in recovery); admin reads and mutations by the primary', async () => {
    for (const [q, v] of [
      [LISTING, {}],
      [BY_SKU, { sku: 'sb-1' }],
      [SEARCH, { t: 'red dress' }],
      [KEYWORD, { t: 'dress' }],
    ] as const) {
      const res = await postGraphQL(tolerant.url, q, v);
      expect(res.body.errors, q).toBeUndefined();
      expect(poolsOf(res), q).toEqual(['standby-1']);
    }
    expect(poolsOf(await postGraphQL(tolerant.url, LISTING, {}, admin))).toEqual(['primary']);
    const created = await postGraphQL(
      tolerant.url,
      CREATE,
      { input: { sku: `sb-${++sku}`, title: 'Blue coat' } },
      admin,
    );
    expect(poolsOf(created)).toEqual(['primary']);

    const metrics = await (await fetch(`${tolerant.url}/metrics`)).text();
    expect(metrics).toMatch(/glimpse_db_pool_in_recovery\{pool="standby-1"\} 1/);
    expect(metrics).toMatch(/glimpse_db_pool_in_recovery\{pool="primary"\} 0/);
    expect(metrics).toMatch(/glimpse_db_pool_up\{pool="standby-1",role="standby"\} 1/);
    const ready = (await (await fetch(`${tolerant.url}/readyz`)).json()) as {
      pools: { name: string; location: string; inRecovery: boolean; lagMs: number }[];
    };
    const sb = ready.pools.find((p) => p.name === 'standby-1')!;
    expect(sb).toMatchObject({ inRecovery: true });
    expect(sb.location).toContain(`:${standby.port}/`);
    expect(await standbyQuery(standby.url, 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);
  });

  it('SET LOCAL index settings work in a read-only transaction on the standby', async () => {
    const rows = await withReadRoute({ standby: true }, () =>
      tolerant.db.sql.transaction(async (tx) => {
        await tx.query('SET LOCAL hnsw.ef_search = 77');
        await tx.query("SET LOCAL hnsw.iterative_scan = 'relaxed_order'");
        return tx.query<{ recovery: boolean; ef: string; scan: string; ro: string }>(
          `SELECT pg_is_in_recovery() AS recovery, current_setting('hnsw.ef_search') AS ef,
                  current_setting('hnsw.iterative_scan') AS scan, current_setting('transaction_read_only') AS ro`,
        );
      }),
    );
    expect(rows).toEqual([{ recovery: true, ef: '77', scan: 'relaxed_order', ro: 'on' }]);
    // and the setting was local to that transaction
    const after = await withReadRoute({ standby: true }, () =>
      tolerant.db.sql.query<{ ef: string }>("SELECT current_setting('hnsw.ef_search') AS ef"),
    );
    expect(after[0]!.ef).not.toBe('77');
  });

  it('a write is visible on the primary at once and on the standby after replay', async () => {
    await standbyQuery(standby.url, 'SELECT pg_wal_replay_pause()');
    try {
      const s = await create('Paused replay parka');
      const onPrimary = await postGraphQL(tolerant.url, BY_SKU, { sku: s }, admin);
      expect(onPrimary.body.data?.product).toMatchObject({ sku: s });
      const onStandby = await postGraphQL(tolerant.url, BY_SKU, { sku: s });
      expect(poolsOf(onStandby)).toEqual(['standby-1']);
      expect(onStandby.body.data?.product).toBeNull(); // not replayed yet
    } finally {
      await standbyQuery(standby.url, 'SELECT pg_wal_replay_resume()');
    }
    const replayed = await waitFor(
      'the write to be replayed',
      async () => {
        const r = await postGraphQL(tolerant.url, BY_SKU, { sku: `sb-${sku}` });
        return r.body.data?.product ? r : undefined;
      },
      20_000,
    );
    expect(poolsOf(replayed)).toEqual(['standby-1']);
  });

  it('a standby over GLIMPSE_MAX_REPLICA_LAG_MS is skipped, and used again once it catches up', async () => {
    await standbyQuery(standby.url, 'SELECT pg_wal_replay_pause()');
    try {
      const s = await create('Lagging lamp');
      const skipped = await waitFor(
        'the lagging standby to be skipped',
        async () => {
          const r = await postGraphQL(strict.url, BY_SKU, { sku: s });
          return poolsOf(r)[0] === 'primary' ? r : undefined;
        },
        20_000,
      );
      expect(skipped.body.data?.product).toMatchObject({ sku: s }); // the primary has it
      const ready = (await (await fetch(`${strict.url}/readyz`)).json()) as {
        ready: boolean;
        pools: { name: string; eligible: boolean; reason: string | null; lagMs: number }[];
      };
      const sb = ready.pools.find((p) => p.name === 'standby-1')!;
      expect(sb.eligible).toBe(false);
      expect(sb.reason).toMatch(/replay lag \d+ ms over GLIMPSE_MAX_REPLICA_LAG_MS=500/);
      expect(ready.ready).toBe(true); // reads fall back; the server stays ready
      // the tolerant server still reads from the paused standby
      expect(poolsOf(await postGraphQL(tolerant.url, BY_SKU, { sku: s }))).toEqual(['standby-1']);
    } finally {
      await standbyQuery(standby.url, 'SELECT pg_wal_replay_resume()');
    }
    await standbyEligible(strict);
    expect(poolsOf(await postGraphQL(strict.url, LISTING))).toEqual(['standby-1']);
  });

  it('stopping the standby moves reads to the primary with no failed request; restarted, it takes reads again', async () => {
    const results: { ok: boolean; pools: string[]; code: string | null }[] = [];
    let stop = false;
    const worker = async (i: number) => {
      while (!stop) {
        const r = await postGraphQL(tolerant.url, i % 2 ? LISTING : KEYWORD, i % 2 ? {} : { t: 'dress' });
        results.push({ ok: r.status === 200 && !r.body.errors, pools: poolsOf(r), code: r.code });
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await sleep(1000);
    const before = results.length;
    standby.stop('fast');
    await sleep(2500);
    stop = true;
    await Promise.all(workers);
    const failed = results.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    expect(results.slice(0, before).some((r) => r.pools.includes('standby-1'))).toBe(true);
    expect(results.slice(-5).every((r) => r.pools.join() === 'primary')).toBe(true);

    standby.start();
    await standbyEligible(tolerant);
    expect(poolsOf(await postGraphQL(tolerant.url, LISTING))).toEqual(['standby-1']);
  });
});
