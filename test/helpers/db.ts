/**
 * Real databases for integration tests: a fresh PostgreSQL database per test file on the server that
 * scripts/postgres.sh starts (TEST_DATABASE_URL, default postgresql://glimpse:glimpse@127.0.0.1:5432/glimpse),
 * or an in-memory PGlite. Never a mock: when Postgres is unreachable the test fails and says how to start it.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/index.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://glimpse:glimpse@127.0.0.1:5432/glimpse';

export type TestDbKind = 'postgres' | 'pglite';

export interface TestDatabase extends Database {
  /** URL of the scratch database (postgres only) */
  url?: string;
  drop(): Promise<void>;
}

/** Creates an empty scratch database on the test server and returns its URL. */
export async function createScratchDatabase(
  prefix = 'glimpse_test',
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${crypto.randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_DATABASE_URL} (${(err as Error).message}). ` +
        'Start it with `bash scripts/postgres.sh` or set TEST_DATABASE_URL.',
    );
  }
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try {
        // a backend of the database may still be exiting (or an autovacuum worker starting): retry briefly
        for (let attempt = 1; ; attempt++) {
          try {
            await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
            break;
          } catch (err) {
            if (attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 300 * attempt));
          }
        }
      } finally {
        await c.end();
      }
    },
  };
}

/** A migrated Glimpse database of the given kind; call `drop()` in afterAll. */
export async function createTestDatabase(kind: TestDbKind = 'postgres', poolSize = 5): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const db = await openDatabase({ dataDir: 'memory://', dbPoolSize: 1, dbStatementTimeoutMs: 0 });
    return Object.assign(db, { drop: () => db.close() });
  }
  const scratch = await createScratchDatabase();
  const db = await openDatabase({
    databaseUrl: scratch.url,
    dataDir: '/nonexistent',
    dbPoolSize: poolSize,
    dbStatementTimeoutMs: 30_000,
  });
  return Object.assign(db, {
    url: scratch.url,
    async drop() {
      await db.close();
      await scratch.drop();
    },
  });
}

/** Both kinds, for the integration tests that must pass on the server and on PGlite alike. */
export const DB_KINDS: TestDbKind[] = ['postgres', 'pglite'];

/**
 * Vector rows whose copied filter columns (migration vector_row_filters) differ from their product's, over
 * every embedding table: 0 when the triggers kept them in sync.
 */
export async function vectorRowMismatches(sql: Database['sql']): Promise<number> {
  let n = 0;
  for (const table of ['embedding_512', 'embedding_768', 'embedding_1024']) {
    const rows = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} e JOIN product p ON p.id = e.product_id
       WHERE (e.category, e.brand, e.currency, e.price, e.in_stock, e.tags, e.product_created_at)
         IS DISTINCT FROM (p.category, p.brand, p.currency, p.price, p.in_stock, p.tags, p.created_at)`,
    );
    n += Number(rows[0]!.n);
  }
  return n;
}
