/**
 * Opens Glimpse's database: PostgreSQL when DATABASE_URL is set, otherwise embedded PGlite under the data
 * directory. Both give the same `Sql` interface (search and catalog SQL) and a Prisma client (ordinary
 * data access), over the same connection(s), and the same migrations.
 */
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { timedSql } from '../observability/server-timing.js';
import { migrate } from './migrate.js';
import { openPGlite, pgliteSql } from './pglite.js';
import { createPool, postgresSql, warmPool } from './postgres.js';
import { redactUrl } from './redact.js';
import { publishPrimary, ReplicaSet, type PoolStatus } from './replicas.js';
import { routedSql } from './routing.js';
import type { DatabaseKind, Sql } from './sql.js';
import { registerPoolVectorTypes, vectorTypeParsers } from './vector.js';

export type { Sql, DatabaseKind } from './sql.js';
export { halfvecToSql, vectorToSql, vectorFromSql } from './vector.js';
export type { PoolStatus } from './replicas.js';
export { redactUrl } from './redact.js';
export { withReadRoute, currentReadRoute, type ReadRoute } from './routing.js';
export { PrismaClient } from '../generated/prisma/client.js';

export interface Database {
  kind: DatabaseKind;
  /** the catalog's SQL: the primary, except reads of standby-routed requests (src/db/routing.ts) */
  sql: Sql;
  prisma: PrismaClient;
  /** the PostgreSQL pool (primary) for libraries that take one (shared rate limits); null on PGlite */
  pgPool: pg.Pool | null;
  /** where the data lives, without credentials (for logs) */
  location: string;
  /** true when the database answers a trivial query within `timeoutMs` */
  ping(timeoutMs?: number): Promise<boolean>;
  /** the primary and every standby, checked now (for /readyz and metrics) */
  pools(timeoutMs?: number): Promise<PoolStatus[]>;
  /**
   * Opens each PostgreSQL pool's kept connections (`dbPoolMin`) now, side by side, and runs `warm` on each
   * (a search: a new backend's first one is 2–2.5× slower than its later ones); errors go to `onError`
   * and never throw. Returns the connections opened and warmed (0 on PGlite or with `dbPoolMin` 0).
   */
  warmUp(warm: (sql: Sql) => Promise<unknown>, onError?: (err: unknown) => void): Promise<number>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  dbPoolSize: number;
  /** connections of each pool kept open however long idle (default 0: every idle one closes after the timeout) */
  dbPoolMin?: number | undefined;
  /** idle time after which a pooled connection beyond `dbPoolMin` closes (default 30 s; 0: never) */
  dbIdleTimeoutMs?: number | undefined;
  dbStatementTimeoutMs: number;
  /** lock_timeout of every connection (0 or absent: wait for locks without limit, as the CLI's batch work does) */
  dbLockTimeoutMs?: number | undefined;
  migrateOnStart?: boolean;
  /** hot standbys for storefront reads (PostgreSQL only) */
  readUrls?: readonly string[] | undefined;
  /** a standby further behind than this is skipped (default 2000) */
  maxReplicaLagMs?: number | undefined;
  /** how often standbys are checked (default 1000) */
  replicaCheckIntervalMs?: number | undefined;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  let db: Database;
  if (opts.readUrls?.length && !opts.databaseUrl)
    throw new Error('DATABASE_READ_URLS needs DATABASE_URL: hot standbys are PostgreSQL servers, not embedded PGlite');
  // PostgreSQL: pgvector's parsers go into the pools' types once the migrations have made sure the extension
  // exists (a standby is a physical copy: same type OIDs, same parsers)
  let registerVectors = async () => {};
  if (opts.databaseUrl) {
    const types = vectorTypeParsers();
    const poolOf = (url: string, applicationName: string) =>
      createPool({
        url,
        poolSize: opts.dbPoolSize,
        poolMin: opts.dbPoolMin ?? 0,
        ...(opts.dbIdleTimeoutMs !== undefined ? { idleTimeoutMs: opts.dbIdleTimeoutMs } : {}),
        statementTimeoutMs: opts.dbStatementTimeoutMs,
        lockTimeoutMs: opts.dbLockTimeoutMs ?? 0,
        applicationName,
        types,
      });
    const pool: pg.Pool = poolOf(opts.databaseUrl, 'glimpse');
    registerVectors = () => registerPoolVectorTypes(pool, types);
    const standbys = (opts.readUrls ?? []).map((url) => ({ url, pool: poolOf(url, 'glimpse-read') }));
    const replicas = new ReplicaSet(pool, standbys, {
      maxLagMs: opts.maxReplicaLagMs ?? 2000,
      checkIntervalMs: opts.replicaCheckIntervalMs ?? 1000,
    });
    const primarySql = timedSql(postgresSql(pool));
    const standbySql = new Map(replicas.status().map((st, i) => [st.name, timedSql(postgresSql(standbys[i]!.pool))]));
    if (standbys.length) await replicas.start();
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    const location = redactUrl(opts.databaseUrl);
    db = {
      kind: 'postgres',
      sql: standbys.length ? routedSql(primarySql, replicas, standbySql) : primarySql,
      prisma,
      pgPool: pool,
      location,
      ping: (timeoutMs = 2000) =>
        withTimeout(
          pool.query('SELECT 1').then(() => true),
          timeoutMs,
          false,
        ),
      async pools(timeoutMs = 1000) {
        const [inRecovery] = await Promise.all([
          withTimeout<boolean | null>(
            pool.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r').then((r) => r.rows[0]!.r),
            timeoutMs,
            null,
          ),
          standbys.length ? withTimeout(replicas.check(), timeoutMs, undefined) : undefined,
        ]);
        const primary: PoolStatus = {
          name: 'primary',
          role: 'primary',
          location,
          ok: inRecovery !== null,
          eligible: inRecovery !== null,
          inRecovery,
          lagMs: 0,
          lagBytes: 0,
          reason: inRecovery === null ? 'not reachable' : null,
          connections: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount },
        };
        publishPrimary(primary);
        return [primary, ...replicas.status()];
      },
      async warmUp(warm, onError) {
        const min = Math.min(opts.dbPoolMin ?? 0, opts.dbPoolSize);
        if (min <= 0) return 0;
        const warmed = await Promise.all(
          [pool, ...standbys.map((s) => s.pool)].map((p) => warmPool(p, min, warm, onError)),
        );
        return warmed.reduce((a, b) => a + b, 0);
      },
      async close() {
        replicas.stop();
        await prisma.$disconnect();
        await Promise.all([pool.end(), ...standbys.map((s) => s.pool.end())]);
      },
    };
  } else {
    const dir = opts.dataDir.startsWith('memory://') ? opts.dataDir : path.join(opts.dataDir, 'pglite');
    const lite: PGlite = await openPGlite(dir);
    const prisma = new PrismaClient({ adapter: new PrismaPGlite(lite) });
    db = {
      kind: 'pglite',
      sql: timedSql(pgliteSql(lite)),
      prisma,
      pgPool: null,
      location: dir,
      ping: (timeoutMs = 2000) =>
        withTimeout(
          lite.query('SELECT 1').then(() => true),
          timeoutMs,
          false,
        ),
      async pools() {
        const ok = await this.ping();
        return [
          {
            name: 'primary',
            role: 'primary',
            location: dir,
            ok,
            eligible: ok,
            inRecovery: false,
            lagMs: 0,
            lagBytes: 0,
            reason: ok ? null : 'not reachable',
            connections: { total: 1, idle: 0, waiting: 0 },
          },
        ];
      },
      warmUp: () => Promise.resolve(0), // one in-process connection, always the same
      async close() {
        await prisma.$disconnect();
        await lite.close();
      },
    };
  }
  try {
    if (opts.migrateOnStart ?? true) await migrate(db.sql);
    await registerVectors();
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}

/** `p`'s value, or `fallback` when it fails or takes longer than `ms`. */
async function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([p.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
