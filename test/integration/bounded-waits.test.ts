/**
 * Waits on PostgreSQL are bounded, so a stuck database answers SERVICE_UNAVAILABLE (with Retry-After) within
 * seconds instead of holding requests, connections and memory:
 * - a lock held on `product` for 30 s (an operator's `LOCK TABLE`, a migration): statements give up after
 *   GLIMPSE_DB_LOCK_TIMEOUT_MS, requests queued for a pooled connection after the pool's connect timeout, and
 *   the backends waiting on the lock never outnumber the pool;
 * - PostgreSQL at `max_connections` (its own cluster in a temp dir with a low limit, never the shared one):
 *   a request that needs a new connection is refused at once, and the server recovers when slots free up.
 * Real server over real HTTP, real PostgreSQL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createKey } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import { silentLogger } from '../../src/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { isDocumentedStatus } from '../helpers/error-table.js';
import { TestCluster } from '../helpers/postgres-cluster.js';
import { NO_MODEL, startTestServer, type TestServer } from '../helpers/server.js';

interface Outcome {
  status: number;
  code: string | null;
  retryAfter: string | null;
  ms: number;
}

async function post(url: string, query: string, key: string): Promise<Outcome> {
  const t0 = Date.now();
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
    const code = body.errors?.[0]?.extensions?.code ?? null;
    return { status: res.status, code, retryAfter: res.headers.get('retry-after'), ms: Date.now() - t0 };
  } catch (err) {
    return { status: 0, code: `CLIENT:${(err as Error).name}`, retryAfter: null, ms: Date.now() - t0 };
  }
}

const write = (sku: string) => `mutation { createProduct(input: { sku: "${sku}", title: "wait ${sku}" }) { sku } }`;
const keywordSearch = `{ search(input: { text: "wait", mode: KEYWORD }, first: 3) { edges { node { id } } } }`;

/** Every outcome refused the documented way: SERVICE_UNAVAILABLE with a retry hint, never INTERNAL or a hang. */
function expectUnavailable(outcomes: Outcome[], withinMs: number): void {
  const wrong = outcomes.filter(
    (o) => o.code !== 'SERVICE_UNAVAILABLE' || !o.retryAfter || !isDocumentedStatus(o.code, o.status),
  );
  expect(wrong).toEqual([]);
  expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(withinMs);
}

describe('a lock held on product', () => {
  let srv: TestServer;
  afterAll(async () => {
    await srv?.close();
  });

  it('held 30 s: mutations and reads fail with SERVICE_UNAVAILABLE after the lock timeout, waiters never exceed the pool', async () => {
    srv = await startTestServer({
      models: 'none',
      config: { dbLockTimeoutMs: 1000, dbPoolSize: 4, rateLimitPerMinute: 0 },
    });
    const admin = await srv.createKey('admin');
    expect((await post(srv.graphqlUrl, write('L-0'), admin)).code).toBeNull();

    const holder = new pg.Client({ connectionString: srv.databaseUrl });
    await holder.connect();
    const watcher = new pg.Client({ connectionString: srv.databaseUrl });
    await watcher.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE product IN ACCESS EXCLUSIVE MODE');
      const lockedAt = Date.now();
      let maxWaiting = 0;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          const r = await watcher.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          maxWaiting = Math.max(maxWaiting, r.rows[0]!.n);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      // waves of 16 writes and 4 searches at once, for the 30 s the lock is held
      const outcomes: Outcome[] = [];
      for (let wave = 0; Date.now() - lockedAt < 30_000; wave++) {
        outcomes.push(
          ...(await Promise.all([
            ...Array.from({ length: 16 }, (_, i) => post(srv.graphqlUrl, write(`L-${wave}-${i}`), admin)),
            ...Array.from({ length: 4 }, () => post(srv.graphqlUrl, keywordSearch, admin)),
          ])),
        );
      }
      watching = false;
      await watch;
      const heldMs = Date.now() - lockedAt;
      console.log('[bounded-waits] lock on product:', {
        requests: outcomes.length,
        heldMs,
        slowestMs: Math.max(...outcomes.map((o) => o.ms)),
        fastestMs: Math.min(...outcomes.map((o) => o.ms)),
        maxBackendsWaitingOnTheLock: maxWaiting,
      });
      // 20 requests on 4 connections: 5 rounds of the 1 s lock timeout at most, or the pool's 5 s connect wait
      expectUnavailable(outcomes, 7_500);
      expect(Math.min(...outcomes.map((o) => o.ms))).toBeGreaterThanOrEqual(900); // they did wait for the lock
      expect(heldMs).toBeGreaterThanOrEqual(30_000);
      expect(maxWaiting).toBeGreaterThan(0);
      expect(maxWaiting).toBeLessThanOrEqual(4);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
      await watcher.end();
    }
    // the lock gone: writes go through again, and nothing of the refused ones was written
    expect((await post(srv.graphqlUrl, write('L-after'), admin)).code).toBeNull();
    const skus = await srv.db.sql.query<{ sku: string }>(`SELECT sku FROM product ORDER BY sku`);
    expect(skus.map((r) => r.sku)).toEqual(['L-0', 'L-after']);
  });
});

describe('PostgreSQL at max_connections', () => {
  let pgc: TestCluster | undefined;
  let srv: RunningServer | undefined;
  let db: Database | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-maxconn-'));
  const fillers: pg.Client[] = [];
  afterAll(async () => {
    for (const c of fillers) await c.end().catch(() => {});
    await srv?.close().catch(() => {});
    await db?.close().catch(() => {});
    pgc?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a request that needs a connection gets SERVICE_UNAVAILABLE at once; the server recovers', async () => {
    pgc = new TestCluster();
    await pgc.init();
    pgc.settings.push('max_connections=12', 'superuser_reserved_connections=0');
    pgc.start();
    const config = loadConfig(
      { GLIMPSE_DATA_DIR: dataDir, LOG_LEVEL: 'silent', DATABASE_URL: pgc.url },
      { port: 0, host: '127.0.0.1', dbPoolSize: 4, rateLimitPerMinute: 0, shutdownTimeoutMs: 3000 },
    );
    db = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir,
      dbPoolSize: 4,
      dbStatementTimeoutMs: 15_000,
      dbLockTimeoutMs: config.dbLockTimeoutMs,
    });
    srv = await startServer(config, { db, logger: silentLogger, models: NO_MODEL });
    const admin = (await createKey(db.prisma, 'admin', 'max-connections')).key;
    expect((await post(srv.graphqlUrl, write('C-0'), admin)).code).toBeNull();

    // take every slot: first drop the server's idle connections, then connect until the server says no
    const first = new pg.Client({ connectionString: pgc.url });
    await first.connect();
    fillers.push(first);
    await first.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    );
    await new Promise((r) => setTimeout(r, 500));
    let refusal: unknown;
    while (!refusal && fillers.length < 20) {
      const c = new pg.Client({ connectionString: pgc.url });
      try {
        await c.connect();
        fillers.push(c);
      } catch (err) {
        refusal = err;
      }
    }
    expect((refusal as { code?: string }).code).toBe('53300'); // too_many_connections

    const outcomes = await Promise.all([
      ...Array.from({ length: 6 }, (_, i) => post(srv!.graphqlUrl, write(`C-full-${i}`), admin)),
      ...Array.from({ length: 4 }, () => post(srv!.graphqlUrl, keywordSearch, admin)),
    ]);
    console.log('[bounded-waits] max_connections:', {
      slotsTaken: fillers.length,
      requests: outcomes.length,
      slowestMs: Math.max(...outcomes.map((o) => o.ms)),
    });
    expectUnavailable(outcomes, 3_000);

    // slots free again: the server serves without a restart
    for (const c of fillers.splice(0)) await c.end();
    expect((await post(srv.graphqlUrl, write('C-after'), admin)).code).toBeNull();
    const skus = await db.sql.query<{ sku: string }>(`SELECT sku FROM product ORDER BY sku`);
    expect(skus.map((r) => r.sku)).toEqual(['C-0', 'C-after']);
  });
});
