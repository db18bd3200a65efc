/**
 * Per-request timings for the `Server-Timing` response header (docs/api.md), so that a client can read where
 * a request's time went without a profiler: `db` (wall time during which at least one SQL statement of the
 * request was in flight — overlapping statements count once, so db ≤ total), `embed` (query embedding),
 * `total` (first middleware to the response), `strategy` (what each search chose) and `pool` (which database
 * pools answered: primary, standby-1, …).
 *
 * The HTTP layer runs each GraphQL request inside `withRequestTimings`; the database layer (`timedSql`), the
 * search service and the resolvers report into the current request's timings through AsyncLocalStorage, so no
 * signature changes hands timings around. Outside a request (CLI, jobs, benchmarks) every hook is a no-op.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { QueryOptions, Sql } from '../db/sql.js';

export class RequestTimings {
  /** performance.now() when the request arrived */
  readonly start: number;
  dbMs = 0;
  /** SQL round trips: statements, plus BEGIN and COMMIT of each transaction */
  dbStatements = 0;
  embedMs = 0;
  /** the strategy of every search the request ran, in order */
  readonly strategies: string[] = [];
  /** database pools that answered the request's statements (primary, standby-1, …; src/db/routing.ts) */
  readonly pools = new Set<string>();
  private dbInFlight = 0;
  private dbBusySince = 0;

  constructor(start = performance.now()) {
    this.start = start;
  }

  dbEnter(statements: number): void {
    this.dbStatements += statements;
    if (this.dbInFlight++ === 0) this.dbBusySince = performance.now();
  }

  dbLeave(): void {
    if (--this.dbInFlight === 0) this.dbMs += performance.now() - this.dbBusySince;
  }

  /** The header value, e.g. `db;dur=3.12;desc="4 statements", embed;dur=0, total;dur=4.87, strategy;desc="exact"`. */
  header(now = performance.now()): string {
    const ms = (x: number) => Math.round(x * 100) / 100;
    const parts = [
      `db;dur=${ms(this.dbMs)};desc="${this.dbStatements} statements"`,
      `embed;dur=${ms(this.embedMs)}`,
      `total;dur=${ms(now - this.start)}`,
    ];
    if (this.strategies.length) parts.push(`strategy;desc="${this.strategies.join(' ')}"`);
    if (this.pools.size) parts.push(`pool;desc="${[...this.pools].join(' ')}"`);
    return parts.join(', ');
  }
}

const store = new AsyncLocalStorage<RequestTimings>();

/** Runs `fn` (and everything it starts) with `timings` as the current request's timings. */
export function withRequestTimings<T>(timings: RequestTimings, fn: () => T): T {
  return store.run(timings, fn);
}

/** The current request's timings (undefined outside a request). */
export function currentTimings(): RequestTimings | undefined {
  return store.getStore();
}

/** Times an embedding call into the current request's `embed`. */
export async function timeEmbed<T>(fn: () => Promise<T>): Promise<T> {
  const t = store.getStore();
  if (!t) return fn();
  const start = performance.now();
  try {
    return await fn();
  } finally {
    t.embedMs += performance.now() - start;
  }
}

/** Records which database pool answered a statement of the current request. */
export function notePool(name: string): void {
  store.getStore()?.pools.add(name);
}

/** Records the strategy a search chose (e.g. `hnsw-iterative`, `exact`, `exact+fallback-index`). */
export function noteStrategy(strategy: string): void {
  store.getStore()?.strategies.push(strategy);
}

async function trackDb<T>(statements: number, fn: () => Promise<T>): Promise<T> {
  const t = store.getStore();
  if (!t) return fn();
  t.dbEnter(statements);
  try {
    return await fn();
  } finally {
    t.dbLeave();
  }
}

/** An Sql that reports its statements' time into the current request's `db` (transactions included). */
export function timedSql(sql: Sql): Sql {
  return {
    kind: sql.kind,
    query<T>(text: string, params?: readonly unknown[], opts?: QueryOptions) {
      return trackDb(1, () => sql.query<T>(text, params, opts));
    },
    exec: (text) => trackDb(1, () => sql.exec(text)),
    transaction<T>(fn: (tx: Sql) => Promise<T>) {
      return trackDb(2, () => sql.transaction((tx) => fn(timedSql(tx))));
    },
    session<T>(fn: (s: Sql) => Promise<T>) {
      return sql.session((s) => fn(timedSql(s)));
    },
  };
}
