/**
 * The embedded database: the `Sql` interface over PGlite (PostgreSQL in WebAssembly) with pgvector and pg_trgm,
 * under a data folder or in memory (tests). One backend: statements run one at a time.
 */
import fs from 'node:fs';
import { PGlite, types, type Transaction } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { vector } from '@electric-sql/pglite-pgvector';
import type { QueryOptions, Sql } from './sql.js';
import { registerPGliteVectorTypes } from './vector.js';
import { ConnectionLostError } from './unavailable.js';

/**
 * Embedded PostgreSQL (PGlite, WASM) with pgvector and pg_trgm (the migrations create both), persisted under
 * `dataDir` (or in memory when `dataDir` is 'memory://'). One backend: queries run one at a time, so it is 2–5× slower than a server
 * under concurrency — the right default for trying Glimpse, not for production traffic.
 */
export async function openPGlite(dataDir: string): Promise<PGlite> {
  if (!dataDir.startsWith('memory://')) fs.mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir, {
    extensions: { vector, pg_trgm },
    // same result types as node-postgres with Glimpse's parsers (see postgres.ts)
    parsers: { [types.NUMERIC]: (v: string) => v, [types.INT8]: (v: string) => Number(v) },
  });
  await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
  await registerPGliteVectorTypes(db);
  return db;
}

function wrapTx(tx: Transaction): Sql {
  return {
    kind: 'pglite',
    async query<T>(text: string, params?: readonly unknown[], opts?: QueryOptions) {
      if (opts?.settings) await tx.query(opts.settings.text, opts.settings.params as unknown[]); // in this transaction
      return (await tx.query<T>(text, params as unknown[] | undefined)).rows;
    },
    async exec(text: string) {
      await tx.exec(text);
    },
    async transaction<T>(fn: (inner: Sql) => Promise<T>): Promise<T> {
      const name = `sp_${Math.random().toString(36).slice(2, 10)}`;
      await tx.exec(`SAVEPOINT ${name}`);
      try {
        const out = await fn(wrapTx(tx));
        await tx.exec(`RELEASE SAVEPOINT ${name}`);
        return out;
      } catch (err) {
        await tx.exec(`ROLLBACK TO SAVEPOINT ${name}`);
        throw err;
      }
    },
    session<T>(fn: (s: Sql) => Promise<T>): Promise<T> {
      return fn(wrapTx(tx));
    },
  };
}

export function pgliteSql(db: PGlite): Sql {
  // a request still running while the server shuts down meets a closed database: unavailable, not a bug
  const closedIsUnavailable = (err: unknown): never => {
    throw db.closed && err instanceof Error ? new ConnectionLostError(err) : err;
  };
  return {
    kind: 'pglite',
    async query<T>(text: string, params?: readonly unknown[], opts?: QueryOptions) {
      const settings = opts?.settings;
      if (settings)
        return db
          .transaction(async (tx) => {
            await tx.query(settings.text, settings.params as unknown[]);
            return (await tx.query<T>(text, params as unknown[] | undefined)).rows;
          })
          .catch(closedIsUnavailable);
      return (await db.query<T>(text, params as unknown[] | undefined).catch(closedIsUnavailable)).rows;
    },
    async exec(text: string) {
      await db.exec(text).catch(closedIsUnavailable);
    },
    transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      return db.transaction((tx) => fn(wrapTx(tx)));
    },
    async session<T>(fn: (s: Sql) => Promise<T>): Promise<T> {
      // one backend: the session is the database itself
      const self = pgliteSql(db);
      try {
        return await fn(self);
      } finally {
        await db.exec('RESET ALL');
      }
    },
  };
}
