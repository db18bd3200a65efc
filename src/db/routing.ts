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

const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

/** 'down': the standby cannot serve (set it aside); 'primary': run this unit on the primary; null: a real error. */
export function standbyFailure(err: unknown): 'down' | 'primary' | null {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (CONNECTION_ERRNOS.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code))
    return 'down';
  if (/Connection terminated|timeout exceeded when trying to connect|not queryable/i.test(message)) return 'down';
  if (code === '25006' || (code === '40001' && /conflict with recovery/i.test(message))) return 'primary';
  return null;
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
    query: (text, params) => run((sql) => sql.query(text, params)),
    exec: (text) => primary.exec(text), // migrations and DDL: always the primary
    transaction: (fn) => run((sql) => sql.transaction(fn)),
    session: (fn) => run((sql) => sql.session(fn)),
  };
}
