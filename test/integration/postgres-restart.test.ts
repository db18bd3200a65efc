/**
 * PostgreSQL crashes and starts again at once (`pg_ctl restart -m immediate`) while admin writes, searches
 * and requests with never-seen API keys (each one a key lookup in the auth step) run. Clients then meet
 * the crash-recovery window, where the server answers SQLSTATE 57P03 with changing messages ("not yet
 * accepting connections", "starting up"): every failure must be SERVICE_UNAVAILABLE with a Retry-After
 * header, never INTERNAL or HTTP 500, and every acknowledged write must be there afterwards.
 * Its own cluster in a temp dir (test/helpers/postgres-cluster.ts), never the shared one.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDocumentedStatus } from '../helpers/error-table.js';
import { createKey } from '../../src/auth/api-keys.js';
import type { Database } from '../../src/db/index.js';
import type { RunningServer } from '../../src/server.js';
import { serverOnTestCluster, type ServerOnTestCluster, type TestCluster } from '../helpers/postgres-cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  kind: 'write' | 'search' | 'new-key';
  status: number;
  code: string | null;
  retryAfter: string | null;
  t0: number;
  t1: number;
}

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

describe('PostgreSQL restarted immediately under write load', () => {
  it('zero INTERNAL: every failure is SERVICE_UNAVAILABLE with Retry-After; acknowledged writes survive', async () => {
    const admin = (await createKey(db.prisma, 'admin', 'restart')).key;
    const log: Outcome[] = [];
    const acknowledged = new Set<string>();
    const start = Date.now();
    let stop = false;
    const call = async (kind: Outcome['kind'], query: string, key: string): Promise<Record<string, unknown>> => {
      const t0 = Date.now() - start;
      try {
        const res = await fetch(srv.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ query }),
          signal: AbortSignal.timeout(20_000),
        });
        const body = (await res.json()) as {
          data?: Record<string, unknown>;
          errors?: { extensions?: { code?: string } }[];
        };
        const code = body.errors?.[0]?.extensions?.code ?? null;
        log.push({
          kind,
          status: res.status,
          code,
          retryAfter: res.headers.get('retry-after'),
          t0,
          t1: Date.now() - start,
        });
        return code === null ? (body.data ?? {}) : {};
      } catch (err) {
        log.push({
          kind,
          status: 0,
          code: `CLIENT:${(err as Error).name}`,
          retryAfter: null,
          t0,
          t1: Date.now() - start,
        });
        return {};
      }
    };
    const worker = async (w: number) => {
      for (let n = 0; !stop && n < 5000; n++) {
        if (n % 3 === 0) {
          const sku = `R-${w}-${n}`;
          const d = await call(
            'write',
            `mutation { createProduct(input: { sku: "${sku}", title: "restart ${n}" }) { sku } }`,
            admin,
          );
          if ((d.createProduct as { sku?: string } | undefined)?.sku === sku) acknowledged.add(sku);
        } else if (n % 3 === 1) {
          await call(
            'search',
            `{ search(input: { text: "red ${n % 5}" }, first: 5) { edges { node { id } } } }`,
            admin,
          );
        } else {
          // a well-formed key nobody has: always a lookup in the database, then UNAUTHENTICATED
          const unknownKey = `glk_${crypto.randomBytes(4).toString('hex')}_${crypto.randomBytes(32).toString('base64url').slice(0, 43)}`;
          await call('new-key', `{ products(first: 1) { edges { node { id } } } }`, unknownKey);
        }
        await sleep(5);
      }
    };
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    await sleep(1500);
    const before = await db.sql.query<{ up: Date }>('SELECT pg_postmaster_start_time() AS up');
    const crashAt = Date.now() - start;
    pgc.restartImmediately();
    // until the server writes again on its own, then a little longer
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !log.some((r) => r.kind === 'write' && r.t0 > crashAt && r.code === null))
      await sleep(100);
    await sleep(1000);
    stop = true;
    await Promise.all(workers);

    const failed = log.filter((r) => r.code !== null && r.code !== 'UNAUTHENTICATED');
    const byCode: Record<string, number> = {};
    for (const r of failed) byCode[`${r.code} ${r.status}`] = (byCode[`${r.code} ${r.status}`] ?? 0) + 1;
    const acrossTheCrash = log.filter((r) => r.t0 <= crashAt + 200 && r.t1 >= crashAt).length;
    console.log('[postgres-restart]', {
      requests: log.length,
      acknowledgedWrites: acknowledged.size,
      failedByCodeAndStatus: byCode,
      inFlightAcrossTheCrash: acrossTheCrash,
      recoveredAfterMs: Math.min(...log.filter((r) => r.t0 > crashAt && r.code === null).map((r) => r.t1)) - crashAt,
    });

    // the restart really happened, with requests in flight
    const after = await db.sql.query<{ up: Date }>('SELECT pg_postmaster_start_time() AS up');
    expect(after[0]!.up.getTime()).toBeGreaterThan(before[0]!.up.getTime());
    expect(acrossTheCrash).toBeGreaterThan(0);
    expect(log.filter((r) => r.t0 > crashAt && r.code === null).length).toBeGreaterThan(0);
    // typed: SERVICE_UNAVAILABLE with Retry-After, nothing else
    expect(log.filter((r) => r.code === 'INTERNAL' || (r.status >= 500 && r.code !== 'SERVICE_UNAVAILABLE'))).toEqual(
      [],
    );
    for (const r of failed) {
      expect(r.code, JSON.stringify(r)).toBe('SERVICE_UNAVAILABLE');
      expect(isDocumentedStatus('SERVICE_UNAVAILABLE', r.status), `HTTP ${r.status} is not in docs/errors.md`).toBe(
        true,
      );
      expect(Number(r.retryAfter), JSON.stringify(r)).toBeGreaterThanOrEqual(1);
    }
    // every acknowledged write is there
    const c = new pg.Client({ connectionString: pgc.url });
    await c.connect();
    try {
      const rows = await c.query<{ sku: string }>(`SELECT sku FROM product WHERE sku LIKE 'R-%'`);
      const present = new Set(rows.rows.map((r) => r.sku));
      expect([...acknowledged].filter((s) => !present.has(s))).toEqual([]);
      expect(acknowledged.size).toBeGreaterThan(5);
    } finally {
      await c.end();
    }
  });
});
