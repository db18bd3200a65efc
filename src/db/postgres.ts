/**
 * The `Sql` interface over a node-postgres pool (a PostgreSQL server): result types normalised like PGlite's,
 * transactions and sessions on one pooled connection.
 */
import pg from 'pg';
import { prepareValue } from 'pg/lib/utils.js';
import type { QueryOptions, Sql } from './sql.js';
import type { VectorTypeParsers } from './vector.js';
import { connectionErrorOf } from './unavailable.js';

// int8 (counts, sums) as JS numbers: every int8 Glimpse reads is far below 2^53. numeric stays a string
// (prices are decimals and must not pass through floating point).
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface PostgresOptions {
  url: string;
  poolSize: number;
  /** connections kept open however long they are idle (default 0); pg-pool opens them on demand, warmPool at once */
  poolMin?: number;
  /** a connection beyond `poolMin` is closed after this long idle (default 30 s; 0: never) */
  idleTimeoutMs?: number;
  statementTimeoutMs: number;
  /** lock_timeout (0: none): waits for a lock are bounded like statements, so requests cannot pile up behind one */
  lockTimeoutMs?: number;
  applicationName?: string;
  /** result parsers for every connection (pgvector's, registered once the extension exists: src/db/vector.ts) */
  types?: VectorTypeParsers;
}

/** Driver errors with a code: a lost connection is SQLSTATE 08006, not a bare message (src/db/unavailable.ts). */
const coded = (err: unknown): never => {
  throw connectionErrorOf(err);
};

/**
 * pg.Pool whose promise-style `query` and `connect` (what Prisma's adapter and our Sql use) throw coded
 * connection errors. Callback-style calls (pg's own, inside the pool) are left as they are.
 */
class CodedPool extends pg.Pool {
  override query(...args: unknown[]): never {
    const out = (super.query as (...a: unknown[]) => unknown)(...args);
    return (out instanceof Promise ? out.catch(coded) : out) as never;
  }
  override connect(...args: unknown[]): never {
    const out = (super.connect as (...a: unknown[]) => unknown)(...args);
    return (out instanceof Promise ? out.catch(coded) : out) as never;
  }
}

export function createPool(opts: PostgresOptions): pg.Pool {
  const pool = new CodedPool({
    connectionString: opts.url,
    max: opts.poolSize,
    // A new backend's first search is 2–2.5× slower than its later ones (docs/performance.md "Connection warmth
    // and the access log"): connections up to `min` stay open instead of closing after the idle timeout.
    min: Math.min(opts.poolMin ?? 0, opts.poolSize),
    application_name: opts.applicationName ?? 'glimpse',
    // Session defaults every statement of Glimpse relies on, sent with the connection's start-up instead of a
    // transaction of settings per search (docs/search.md): statements are short, so JIT compilation (100+ ms
    // once the planner's disable costs pass jit_above_cost) never pays, and a parallel plan made the exact
    // search path seq-scan `product` instead of using the filter's index.
    options: '-c jit=off -c max_parallel_workers_per_gather=0',
    // fail fast when the database is down instead of queueing requests behind a dead server
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
    ...(opts.types ? { types: opts.types } : {}),
    ...(opts.statementTimeoutMs > 0 ? { statement_timeout: opts.statementTimeoutMs } : {}),
    ...(opts.lockTimeoutMs ? { lock_timeout: opts.lockTimeoutMs } : {}),
  });
  // An idle client losing its connection (e.g. Postgres restarted) must not crash the process;
  // the pool drops it and the next query opens a new connection.
  pool.on('error', () => {});
  // A checked-out client (e.g. inside a transaction, between statements) losing its connection emits 'error'
  // with no pool listener attached: without this, a Postgres restart crashes the process. The failure still
  // reaches the caller through its next query (and the broken client is destroyed on release).
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * Checks out `count` connections of `pool` at once (at most its size: the idle ones it holds and new ones
 * opened side by side) and runs `warm` on each before returning it to the pool idle. Returns how many it
 * warmed; a connection that cannot be opened, or whose warm-up fails, is not kept (the pool opens
 * one on demand) and the error goes to `onError`.
 */
export async function warmPool(
  pool: pg.Pool,
  count: number,
  warm: (sql: Sql) => Promise<unknown>,
  onError: (err: unknown) => void = () => {},
): Promise<number> {
  const wanted = Math.min(count, pool.options.max ?? count);
  // all checked out at once: each is its own connection (a released one would be handed to the next); the ones
  // already open (the migrations') among them
  const clients = await Promise.all(
    Array.from({ length: wanted }, () =>
      pool.connect().catch((err: unknown) => {
        onError(err);
        return null;
      }),
    ),
  );
  let warmed = 0;
  await Promise.all(
    clients.map(async (client) => {
      if (!client) return;
      let broken: Error | undefined;
      try {
        await warm(wrap(client, pool, false));
        await client.query('RESET ALL');
        warmed++;
      } catch (err) {
        onError(err);
        broken = err as Error; // a connection whose warm-up failed is not kept: the pool opens another on demand
      } finally {
        client.release(broken);
      }
    }),
  );
  return warmed;
}

type Queryable = pg.Pool | pg.PoolClient;

const NEEDS_ESCAPING = /['\\]/;

/**
 * `text` with its parameters written in as literals, each converted as node-postgres converts a bound one
 * (prepareValue: arrays to array literals, dates with their offset) and quoted by escapeLiteral. For the simple
 * query protocol, which takes no parameters but several statements in one message: a search's settings and its
 * statement in one round trip instead of three (BEGIN with the settings, the statement, COMMIT). The statement's
 * own casts (`$1::halfvec(768)`) type the literals as they typed the parameters.
 */
export function withLiterals(text: string, params: readonly unknown[]): string {
  return text.replace(/\$(\d+)\b/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i >= params.length) throw new RangeError(`parameter $${n} is missing`);
    const v = prepareValue(params[i]);
    if (v === null) return 'NULL';
    if (typeof v !== 'string') throw new TypeError(`parameter $${n}: binary values cannot be written as literals`);
    // what escapeLiteral returns for a string without quotes or backslashes (a vector's text is thousands of
    // characters, and escapeLiteral copies them one at a time)
    return NEEDS_ESCAPING.test(v) ? pg.escapeLiteral(v) : `'${v}'`;
  });
}

/**
 * One statement after its settings. A multi-statement simple query is one implicit transaction: the settings
 * (set_config(…, true)) end with it, and an error rolls all of it back and leaves the connection idle. Inside a
 * transaction already, the settings are a statement of their own in it.
 */
async function queryAfterSettings(
  client: Queryable,
  inTx: boolean,
  settings: NonNullable<QueryOptions['settings']>,
  text: string,
  params: readonly unknown[],
): Promise<unknown[]> {
  if (inTx) {
    await client.query(settings.text, settings.params as unknown[]);
    return (await client.query(text, params as unknown[])).rows;
  }
  const message = `${withLiterals(settings.text, settings.params)};\n${withLiterals(text, params)}`;
  const results = (await client.query(message)) as unknown as pg.QueryResult[];
  return results[results.length - 1]!.rows;
}

/** `inTx`: `client` is a connection inside BEGIN (nested transactions become savepoints). */
function wrap(client: Queryable, pool: pg.Pool, inTx = client !== pool): Sql {
  return {
    kind: 'postgres',
    async query<T>(text: string, params?: readonly unknown[], opts?: QueryOptions) {
      if (opts?.settings)
        return (await queryAfterSettings(client, inTx, opts.settings, text, params ?? []).catch(coded)) as T[];
      const res = await client.query(text, params as unknown[] | undefined).catch(coded);
      return res.rows as T[];
    },
    async exec(text: string) {
      await client.query(text).catch(coded);
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      if (inTx) {
        // already inside a transaction: a savepoint keeps nested units atomic
        const name = `sp_${Math.random().toString(36).slice(2, 10)}`;
        await client.query(`SAVEPOINT ${name}`).catch(coded);
        try {
          const out = await fn(wrap(client, pool, true));
          await client.query(`RELEASE SAVEPOINT ${name}`);
          return out;
        } catch (err) {
          await client.query(`ROLLBACK TO SAVEPOINT ${name}`);
          throw err;
        }
      }
      // a pooled connection, or the one connection of a session (then it stays checked out afterwards)
      const conn = client === pool ? await pool.connect() : (client as pg.PoolClient);
      let broken: Error | undefined;
      try {
        await conn.query('BEGIN').catch(coded);
        const out = await fn(wrap(conn, pool, true));
        await conn.query('COMMIT').catch(coded);
        return out;
      } catch (err) {
        try {
          await conn.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr as Error; // connection is unusable: destroy it rather than return it
        }
        throw err;
      } finally {
        if (client === pool) conn.release(broken);
      }
    },
    async session<T>(fn: (s: Sql) => Promise<T>): Promise<T> {
      if (client !== pool) return fn(wrap(client, pool, inTx)); // already on one connection
      const conn = await pool.connect();
      let broken: Error | undefined;
      try {
        return await fn(wrap(conn, pool, false));
      } finally {
        try {
          await conn.query('RESET ALL');
        } catch (err) {
          broken = err as Error;
        }
        conn.release(broken);
      }
    },
  };
}

export function postgresSql(pool: pg.Pool): Sql {
  return wrap(pool, pool);
}
