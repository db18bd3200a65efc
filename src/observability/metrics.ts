/**
 * Prometheus metrics (prom-client), served at /metrics. One registry per process: every module registers
 * its metrics here (import the instruments below and observe them; add new ones with `registers: [registry]`).
 * Label values must stay low-cardinality: never put ids, query text or client-chosen strings in a label
 * (GraphQL operation names are sanitised and capped by `operationLabel`).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Every HTTP request: route is one of graphql, healthz, readyz, metrics, images, other. */
export const httpRequestDuration = new Histogram({
  name: 'glimpse_http_request_duration_seconds',
  help: 'HTTP request latency by route, method and status code.',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

/** Every GraphQL operation that reached Apollo, by (sanitised) operation name and type. */
export const graphqlRequestDuration = new Histogram({
  name: 'glimpse_graphql_request_duration_seconds',
  help: 'GraphQL operation latency by operation name and type (query/mutation).',
  labelNames: ['operation', 'type'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

/** Errors returned to clients, by extensions.code (GraphQL errors and transport-level rejections). */
export const errorsTotal = new Counter({
  name: 'glimpse_errors_total',
  help: 'Errors returned to clients, by error code.',
  labelNames: ['code'] as const,
  registers: [registry],
});

/** Search latency by mode (SEMANTIC, KEYWORD, HYBRID) and query kind (text, image, product, combined). */
export const searchDuration = new Histogram({
  name: 'glimpse_search_duration_seconds',
  help: 'Search latency in the database (query embedding excluded) by mode and strategy (hnsw-iterative, ivfflat-iterative, exact, keyword).',
  labelNames: ['mode', 'kind'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

/** Embedding latency per inference run (a whole micro-batch), by input kind (text, image). */
export const embeddingDuration = new Histogram({
  name: 'glimpse_embedding_duration_seconds',
  help: 'Embedding inference latency per batch, by input kind (text/image).',
  labelNames: ['kind'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/** Inputs per inference run (micro-batch size), by input kind. */
export const embeddingBatchSize = new Histogram({
  name: 'glimpse_embedding_batch_size',
  help: 'Inputs per embedding inference run, by input kind (text/image).',
  labelNames: ['kind'] as const,
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [registry],
});

/** Cache lookups by cache name (e.g. text_embedding) and result (hit/miss); the ratio is derived below. */
export const cacheLookups = new Counter({
  name: 'glimpse_cache_lookups_total',
  help: 'Cache lookups by cache and result (hit/miss).',
  labelNames: ['cache', 'result'] as const,
  registers: [registry],
});

const cacheCounts = new Map<string, { hit: number; miss: number }>();

/** Hit ratio since start per cache (hits / lookups), computed at scrape time from `recordCacheLookup`. */
export const cacheHitRatio = new Gauge({
  name: 'glimpse_cache_hit_ratio',
  help: 'Cache hit ratio since process start (hits / lookups), by cache.',
  labelNames: ['cache'] as const,
  registers: [registry],
  collect() {
    for (const [cache, c] of cacheCounts) {
      const total = c.hit + c.miss;
      this.set({ cache }, total ? c.hit / total : 0);
    }
  },
});

/** Records one cache lookup (use this rather than `cacheLookups` directly so the ratio gauge follows). */
export function recordCacheLookup(cache: string, hit: boolean, n = 1): void {
  let c = cacheCounts.get(cache);
  if (!c) cacheCounts.set(cache, (c = { hit: 0, miss: 0 }));
  c[hit ? 'hit' : 'miss'] += n;
  cacheLookups.inc({ cache, result: hit ? 'hit' : 'miss' }, n);
}

/** Times `fn` into a histogram (resolves/rejects like `fn`). */
export async function timed<T, L extends string>(
  histogram: Histogram<L>,
  labels: Partial<Record<L, string | number>>,
  fn: () => Promise<T>,
): Promise<T> {
  const end = histogram.startTimer(labels);
  try {
    return await fn();
  } finally {
    end();
  }
}

const MAX_OPERATION_LABELS = 200;
const seenOperations = new Set<string>();

/** A bounded label for a client-chosen operation name: anonymous, the name, or "other" past 200 names. */
export function operationLabel(name: string | null | undefined): string {
  if (!name) return 'anonymous';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) return 'other';
  if (seenOperations.has(name)) return name;
  if (seenOperations.size >= MAX_OPERATION_LABELS) return 'other';
  seenOperations.add(name);
  return name;
}
