/**
 * Read routing: which database a statement goes to. Each HTTP request carries a `ReadRoute` (set by the HTTP
 * layer: storefront queries may read from a standby; mutations, admin callers and everything outside a
 * request — jobs, the CLI, start-up — use the primary). The routed `Sql` asks the replica set for an eligible
 * standby per statement, transaction or session, and falls back in order:
 *  - a connection-level failure (refused, reset, shut down, too many clients) sets the standby aside and the
 *    same unit of work runs on the next standby or the primary, so a standby going away fails no request;
 *  - a write reaching a standby (25006) or a query cancelled by a recovery conflict (40001) runs again on the
 *    primary, without setting the standby aside.
 * Retrying is safe because only reads are routed to standbys: a unit that failed there wrote nothing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { notePool } from '../observability/server-timing.js';
import type { ReplicaSet } from './replicas.js';
import { databaseUnavailability } from './unavailable.js';
import type { Sql } from './sql.js';

export interface ReadRoute {
  /** true: reads may be answered by a hot standby (lag ≤ GLIMPSE_MAX_REPLICA_LAG_MS) */
  standby: boolean;
}

const store = new AsyncLocalStorage<ReadRoute>();

/** Runs `fn` (and everything it starts) under `route`; the route object may be changed while it runs. */
export function withReadRoute<T>(route: ReadRoute, fn: () => T): T {
  return store.run(route, fn);
}

/** The current request's route (undefined outside a request). */
export function currentReadRoute(): ReadRoute | undefined {
  return store.getStore();
}

/**
 * 'down': the standby cannot serve (set it aside); 'primary': run this unit on the primary; null: a real error.
 * Decided by code (src/db/unavailable.ts), never by message text.
 */
export function standbyFailure(err: unknown): 'down' | 'primary' | null {
  if ((err as { code?: unknown })?.code === '25006') return 'primary'; // a write reached the standby
  const u = databaseUnavailability(err);
  if (!u) return null;
  if (u.code === '40001' || u.code === '40P01') return 'primary'; // e.g. cancelled by a recovery conflict
  if (u.code === '57014' || u.code === '55P03') return null; // a timeout is the query's own, not the standby's
  return 'down';
}

/** An Sql over the primary that sends the reads of standby-routed requests to `replicas`. */
export function routedSql(primary: Sql, replicas: ReplicaSet, standbySql: ReadonlyMap<string, Sql>): Sql {
  async function run<T>(use: (sql: Sql) => Promise<T>): Promise<T> {
    if (store.getStore()?.standby) {
      for (const s of replicas.candidates()) {
        try {
          const out = await use(standbySql.get(s.name)!);
          notePool(s.name);
          return out;
        } catch (err) {
          const failure = standbyFailure(err);
          if (!failure) throw err;
          if (failure === 'down') replicas.markFailed(s.name, err);
          if (failure === 'primary') break;
        }
      }
    }
    notePool('primary');
    return use(primary);
  }
  return {
    kind: primary.kind,
    query: (text, params, opts) => run((sql) => sql.query(text, params, opts)),
    exec: (text) => primary.exec(text), // migrations and DDL: always the primary
    transaction: (fn) => run((sql) => sql.transaction(fn)),
    session: (fn) => run((sql) => sql.session(fn)),
  };
}
