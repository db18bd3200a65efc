/**
 * Liveness/readiness: /healthz (process up), /readyz (database answers and the model is loaded; each database
 * pool's state; the running pgvector version and a warning when it lacks the HNSW vacuum fix), and the GraphQL
 * `health` query resolver (merged into the schema's resolvers when the schema declares it).
 */
import type { Database, PoolStatus } from '../db/index.js';
import { pgvectorVersion, pgvectorWarning } from '../db/pgvector-version.js';
import type { ModelProvider } from '../embedding/model-manager.js';

const startedAt = Date.now();
export const VERSION = process.env.npm_package_version ?? '0.1.0';

export interface Readiness {
  ready: boolean;
  /** why not ready, one line per cause (empty when ready) */
  reasons: string[];
  database: { ok: boolean; kind: string; pgvector: string | null };
  /** the primary and each hot standby (a standby down or lagging does not make the server unready: reads fall back) */
  pools: PoolStatus[];
  /** things an operator should fix that do not make the service unready (e.g. an old pgvector) */
  warnings: string[];
  model: { ready: boolean; modelId: string | null; reason: string | null; device: string | null };
}

export async function readiness(db: Database, models: ModelProvider, pingTimeoutMs = 1000): Promise<Readiness> {
  const pools = await db.pools(pingTimeoutMs).catch((): PoolStatus[] => []);
  const dbOk = pools[0]?.ok ?? false;
  const pgvector = dbOk ? await pgvectorVersion(db.sql).catch(() => null) : null;
  const warning = dbOk ? pgvectorWarning(pgvector) : null;
  let st: ReturnType<ModelProvider['status']>;
  try {
    st = models.status();
  } catch (err) {
    st = { ready: false, reason: `model status failed: ${(err as Error).message}` };
  }
  const reasons: string[] = [];
  if (!dbOk) reasons.push(`database (${db.kind}) is not reachable`);
  if (!st.ready) reasons.push(`model not ready: ${st.reason ?? 'loading'}`);
  return {
    ready: dbOk && st.ready,
    reasons,
    database: { ok: dbOk, kind: db.kind, pgvector },
    pools,
    warnings: warning ? [warning] : [],
    model: { ready: st.ready, modelId: st.modelId ?? null, reason: st.reason ?? null, device: st.device ?? null },
  };
}

/** Schema used until/unless schema.graphql exists (the full contract lives there; same Health type). */
export const MINIMAL_TYPE_DEFS = /* GraphQL */ `
  type Query {
    health: Health!
  }
  "Service health."
  type Health {
    ok: Boolean!
    database: Boolean!
    "Id of the loaded embedding model, if any."
    model: String
    modelReady: Boolean!
  }
`;

/** `Query.health` (schema.graphql's Health type; extra fields are for schemas that declare them). */
export function healthResolvers(db: Database, models: ModelProvider) {
  return {
    Query: {
      async health() {
        const r = await readiness(db, models);
        return {
          ok: r.ready,
          database: r.database.ok,
          model: r.model.modelId,
          modelReady: r.model.ready,
          databaseKind: r.database.kind,
          pgvectorVersion: r.database.pgvector,
          reasons: r.reasons,
          version: VERSION,
          uptimeSeconds: (Date.now() - startedAt) / 1000,
        };
      },
    },
  };
}
