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
import { createPool, postgresSql } from './postgres.js';
import type { DatabaseKind, Sql } from './sql.js';
import { registerPoolVectorTypes, vectorTypeParsers } from './vector.js';

export type { Sql, DatabaseKind } from './sql.js';
export { vectorToSql, vectorFromSql } from './vector.js';
export { PrismaClient } from '../generated/prisma/client.js';

export interface Database {
  kind: DatabaseKind;
  sql: Sql;
  prisma: PrismaClient;
  /** the PostgreSQL pool (primary) for libraries that take one (shared rate limits); null on PGlite */
  pgPool: pg.Pool | null;
  /** where the data lives, without credentials (for logs) */
  location: string;
  /** true when the database answers a trivial query within `timeoutMs` */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  dbPoolSize: number;
  dbStatementTimeoutMs: number;
  migrateOnStart?: boolean;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  let db: Database;
  // PostgreSQL: pgvector's parsers go into the pool's types once the migrations have made sure the extension exists
  let registerVectors = async () => {};
  if (opts.databaseUrl) {
    const types = vectorTypeParsers();
    const pool: pg.Pool = createPool({
      url: opts.databaseUrl,
      poolSize: opts.dbPoolSize,
      statementTimeoutMs: opts.dbStatementTimeoutMs,
      types,
    });
    registerVectors = () => registerPoolVectorTypes(pool, types);
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    db = {
      kind: 'postgres',
      sql: timedSql(postgresSql(pool)),
      prisma,
      pgPool: pool,
      location: redactUrl(opts.databaseUrl),
      ping: (timeoutMs = 2000) =>
        withTimeout(
          pool.query('SELECT 1').then(() => true),
          timeoutMs,
        ),
      async close() {
        await prisma.$disconnect();
        await pool.end();
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
        ),
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

async function withTimeout(p: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
