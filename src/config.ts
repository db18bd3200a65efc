/**
 * Every Glimpse setting, read from the environment and validated with zod. This file is the one table of
 * settings: docs/configuration.md is generated from `settingsTable()` (`npm run glimpse -- config --markdown`).
 * Add a setting here, with its description, and nowhere else.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const bytes = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, 'a size like 25mb, 512kb or 1048576')
  .transform((v) => {
    const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v)!;
    const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
    return Math.round(Number(m[1]) * unit);
  });

interface Setting<T extends z.ZodTypeAny = z.ZodTypeAny> {
  env: string;
  schema: T;
  default?: string;
  doc: string;
}
function setting<T extends z.ZodTypeAny>(env: string, schema: T, def: string | undefined, doc: string): Setting<T> {
  return def === undefined ? { env, schema, doc } : { env, schema, default: def, doc };
}

const dataDirDefault = process.env.GLIMPSE_DATA_DIR ?? path.resolve('.data');

/** Page size of a connection (`search`, `products`) when `first` is not given (docs/api.md). */
export const DEFAULT_PAGE_SIZE = 20;
export const settings = {
  // --- server
  port: setting('PORT', int(0, 65535), '4000', 'HTTP port of the GraphQL server.'),
  host: setting('HOST', z.string().min(1), '0.0.0.0', 'Interface the server listens on.'),
  publicUrl: setting(
    'GLIMPSE_PUBLIC_URL',
    z.string().url().optional(),
    undefined,
    'Base URL used in image URLs (default: derived from each request).',
  ),
  logLevel: setting(
    'LOG_LEVEL',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    'info',
    'pino log level.',
  ),
  shutdownTimeoutMs: setting(
    'GLIMPSE_SHUTDOWN_TIMEOUT_MS',
    int(0, 600_000),
    '10000',
    'Graceful shutdown: how long in-flight requests may take to finish.',
  ),
  demoPage: setting('GLIMPSE_DEMO_PAGE', bool, 'true', 'Serve the storefront demo page at /.'),

  // --- database
  databaseUrl: setting(
    'DATABASE_URL',
    z.string().url().optional(),
    undefined,
    'PostgreSQL URL (with pgvector). Unset: embedded PGlite under GLIMPSE_DATA_DIR.',
  ),
  databaseReadUrls: setting(
    'DATABASE_READ_URLS',
    z
      .string()
      .optional()
      .transform((v) =>
        (v ?? '')
          .split(',')
          .map((u) => u.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().url())),
    undefined,
    'Comma-separated PostgreSQL URLs of hot standbys of DATABASE_URL. Storefront queries (searches, listings, product reads) are answered by a healthy standby; mutations, admin callers and jobs use the primary (docs/scaling.md).',
  ),
  maxReplicaLagMs: setting(
    'GLIMPSE_MAX_REPLICA_LAG_MS',
    int(0, 3_600_000),
    '2000',
    'A standby whose replay lag exceeds this is skipped for reads until it catches up.',
  ),
  replicaCheckIntervalMs: setting(
    'GLIMPSE_REPLICA_CHECK_INTERVAL_MS',
    int(100, 600_000),
    '1000',
    'How often each standby is checked (reachable, in recovery, replay lag); a failed standby is retried at this interval.',
  ),
  dataDir: setting(
    'GLIMPSE_DATA_DIR',
    z.string().min(1),
    dataDirDefault,
    'Directory for embedded database, stored images and model cache.',
  ),
  dbPoolSize: setting('GLIMPSE_DB_POOL_SIZE', int(1, 500), '10', 'Connections in the PostgreSQL pool.'),
  dbPoolMin: setting(
    'GLIMPSE_DB_POOL_MIN',
    z.union([z.literal('all'), int(0, 500)]),
    'all',
    'Connections of each PostgreSQL pool kept open however long they are idle (`all`: GLIMPSE_DB_POOL_SIZE; at most that). The server opens them at start and runs a warm-up search on each, so that searches do not land on a new backend (its first search is 2–2.5× slower: docs/performance.md "Connection warmth and the access log").',
  ),
  dbIdleTimeoutMs: setting(
    'GLIMPSE_DB_IDLE_TIMEOUT_MS',
    int(0, 86_400_000),
    '30000',
    'A pooled connection beyond GLIMPSE_DB_POOL_MIN is closed after this long idle (0: never).',
  ),
  dbStatementTimeoutMs: setting(
    'GLIMPSE_DB_STATEMENT_TIMEOUT_MS',
    int(0, 3_600_000),
    '15000',
    'statement_timeout for API queries (0: none): a query that runs longer fails with SERVICE_UNAVAILABLE instead of holding its connection.',
  ),
  dbLockTimeoutMs: setting(
    'GLIMPSE_DB_LOCK_TIMEOUT_MS',
    int(0, 3_600_000),
    '5000',
    'lock_timeout for API queries (0: none): a statement waiting longer for a lock (a table locked by a migration, an index build or an operator) fails with SERVICE_UNAVAILABLE instead of piling requests up behind it.',
  ),
  migrateOnStart: setting(
    'GLIMPSE_MIGRATE_ON_START',
    bool,
    'true',
    'Apply pending Prisma migrations when the server starts.',
  ),
  indexBuildMemory: setting(
    'GLIMPSE_INDEX_BUILD_MEMORY',
    z.string().regex(/^\d+\s*(kB|MB|GB|TB)?$/, 'a PostgreSQL size like 512MB or 2GB'),
    '1GB',
    'maintenance_work_mem of vector index builds (bulk imports, `glimpse index rebuild`): an HNSW graph that does not fit builds many times slower (≈2 GB per million 768-d vectors).',
  ),
  indexBuildWorkers: setting(
    'GLIMPSE_INDEX_BUILD_WORKERS',
    int(0, 64),
    String(Math.max(0, Math.min(8, os.availableParallelism() - 1))),
    'max_parallel_maintenance_workers of vector index builds (bounded by the server’s max_worker_processes).',
  ),
  importWriters: setting(
    'GLIMPSE_IMPORT_WRITERS',
    int(1, 64),
    String(Math.max(2, Math.min(8, os.availableParallelism()))),
    '`glimpse import`: batch transactions written at once, each on its own connection, committed in record order (the vector index inserts of a live catalog run side by side).',
  ),
  importBulkMaxRows: setting(
    'GLIMPSE_IMPORT_BULK_MAX_ROWS',
    int(0, 100_000_000),
    '10000',
    '`glimpse import` defers the vector index (built once at the end) when the table holds at most this many vectors and the file has at least as many records (and 1,000); `--bulk` / `--no-bulk` decide instead.',
  ),

  // --- embedding model
  model: setting(
    'GLIMPSE_MODEL',
    z.string().min(1),
    'Xenova/clip-vit-large-patch14',
    'Model to use: a Hugging Face repo id in the model cache, a local folder path, or "test" for the generated test model (tests and demos only).',
  ),
  textModels: setting(
    'GLIMPSE_TEXT_MODELS',
    z
      .string()
      .optional()
      .transform((v) =>
        (v ?? '')
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string()).max(4)),
    undefined,
    'Extra text towers paired with GLIMPSE_MODEL\'s image space, comma-separated (at most 4): a Hugging Face repo id in the Immich export layout (e.g. immich-app/XLM-Roberta-Large-Vit-L-14), a local folder, or "test-multilingual" (the generated test tower). A tower of another space or dimension stops the server at start. See docs/models.md.',
  ),
  textRouting: setting(
    'GLIMPSE_TEXT_ROUTING',
    z.enum(['auto', 'multilingual', 'image-model']),
    'auto',
    "Which text model embeds a query when the request does not say (`language` / `textModel`): auto = the first text tower for text with CJK or other non-Latin letters, the image model's own text tower otherwise; multilingual = always the first text tower; image-model = always the image model's.",
  ),
  modelDir: setting(
    'GLIMPSE_MODEL_DIR',
    z.string().min(1),
    path.join(dataDirDefault, 'models'),
    'Model cache directory (one sub-folder per model, transformers.js layout).',
  ),
  modelDtype: setting(
    'GLIMPSE_MODEL_DTYPE',
    z.enum(['fp32', 'fp16']),
    'fp32',
    'Which ONNX weights to load (fp16 halves memory; best on GPU).',
  ),
  modelAutoFetch: setting(
    'GLIMPSE_MODEL_AUTO_FETCH',
    bool,
    'true',
    'Fetch the configured model in the background on first start when it is missing.',
  ),
  hfEndpoint: setting(
    'HF_ENDPOINT',
    z.string().url(),
    'https://huggingface.co',
    'Hugging Face endpoint for `glimpse model fetch`.',
  ),
  executionProvider: setting(
    'GLIMPSE_EP',
    z.enum(['cpu', 'cuda']),
    'cpu',
    'ONNX Runtime execution provider. cuda falls back to cpu with one warning if CUDA cannot load.',
  ),
  cudaDeviceId: setting('GLIMPSE_CUDA_DEVICE', int(0, 64), '0', 'CUDA device id.'),
  decodeWorkers: setting(
    'GLIMPSE_DECODE_WORKERS',
    int(1, 256),
    String(os.availableParallelism()),
    'Worker threads decoding and preprocessing image files (sharp + the resampler), beside the inference workers: image throughput on CPU scales with them up to one per core.',
  ),
  inferenceWorkers: setting(
    'GLIMPSE_INFERENCE_WORKERS',
    int(1, 64),
    String(Math.max(1, Math.min(2, os.availableParallelism() - 1))),
    'Worker threads running ONNX sessions.',
  ),
  intraOpThreads: setting(
    'GLIMPSE_INTRA_OP_THREADS',
    int(0, 256),
    '0',
    'ONNX Runtime intra-op threads per worker (0: ONNX default).',
  ),
  maxBatchSize: setting(
    'GLIMPSE_MAX_BATCH',
    int(1, 1024),
    '16',
    'Micro-batching: most inputs coalesced into one inference run.',
  ),
  maxBatchWaitMs: setting(
    'GLIMPSE_MAX_BATCH_WAIT_MS',
    int(0, 1000),
    '5',
    'Micro-batching: longest a request waits for others to join its batch.',
  ),
  textCacheSize: setting(
    'GLIMPSE_TEXT_CACHE_SIZE',
    int(0, 10_000_000),
    '10000',
    'LRU cache entries of text-query embeddings (0: off).',
  ),

  // --- images
  imageDir: setting(
    'GLIMPSE_IMAGE_DIR',
    z.string().min(1),
    path.join(dataDirDefault, 'images'),
    'Content-addressed store of uploaded originals.',
  ),
  imageStore: setting(
    'GLIMPSE_IMAGE_STORE',
    z
      .string()
      .regex(/^local(:.+)?$/, '`local` or `local:<dir>` (the one storage there is; object storage: docs/scaling.md)')
      .transform((v) => ({ kind: 'local' as const, dir: v === 'local' ? undefined : path.resolve(v.slice(6)) })),
    'local',
    'Where originals are stored: `local` (the folder GLIMPSE_IMAGE_DIR) or `local:<dir>` (that folder). Several API replicas may share one folder on a shared file system (NFS, EFS): the per-image locks are PostgreSQL advisory locks (docs/scaling.md).',
  ),
  maxImageBytes: setting('GLIMPSE_MAX_IMAGE_BYTES', bytes, '20mb', 'Largest image file accepted.'),
  maxImagePixels: setting(
    'GLIMPSE_MAX_IMAGE_PIXELS',
    int(1, 1_000_000_000),
    '50000000',
    'Largest image (width x height) decoded.',
  ),
  maxImageAspectRatio: setting(
    'GLIMPSE_MAX_IMAGE_ASPECT',
    num(1, 100_000),
    '100',
    'Largest long-side/short-side ratio of an image accepted (a 1x100000 strip is not a product photo).',
  ),
  maxFilesPerRequest: setting('GLIMPSE_MAX_FILES', int(1, 1000), '10', 'Most files in one multipart request.'),
  fetchAllowPrivate: setting(
    'GLIMPSE_FETCH_ALLOW_PRIVATE',
    bool,
    'false',
    'Allow image URLs that resolve to private, loopback or link-local addresses.',
  ),
  fetchTimeoutMs: setting(
    'GLIMPSE_FETCH_TIMEOUT_MS',
    int(100, 600_000),
    '10000',
    'Time limit for fetching an image URL.',
  ),
  fetchMaxRedirects: setting(
    'GLIMPSE_FETCH_MAX_REDIRECTS',
    int(0, 20),
    '3',
    'Redirects followed when fetching an image URL.',
  ),
  imageGcOnStart: setting(
    'GLIMPSE_IMAGE_GC_ON_START',
    bool,
    'true',
    'At start, delete stored image files that no row references (left by a crash) in the background. It walks the whole image directory: on very large stores turn it off and run `glimpse images gc` from a scheduler.',
  ),
  nearDuplicateThreshold: setting(
    'GLIMPSE_NEAR_DUPLICATE_THRESHOLD',
    num(0, 1),
    '0.97',
    'Cosine similarity from which an added image is reported as a near-duplicate.',
  ),

  // --- search
  maxFirst: setting('GLIMPSE_MAX_FIRST', int(1, 1000), '100', 'Hard cap on `first` (page size).'),
  hnswEfSearch: setting(
    'GLIMPSE_HNSW_EF_SEARCH',
    int(1, 1000),
    '200',
    'hnsw.ef_search floor for vector searches (raised per request to cover the page).',
  ),
  hnswMaxScanTuples: setting(
    'GLIMPSE_HNSW_MAX_SCAN_TUPLES',
    int(1, 100_000_000),
    '20000',
    'hnsw.max_scan_tuples floor: the iterative scan budget under filters, in visited index elements (raised per request for the filter and the page depth; the scan memory follows it: docs/search.md).',
  ),
  ivfflatProbes: setting(
    'GLIMPSE_IVFFLAT_PROBES',
    int(1, 32768),
    '10',
    "ivfflat.probes floor when a table's vector index is IVFFlat (`glimpse index rebuild --type ivfflat`): raised to cover the page, capped at the index's lists; see docs/search.md.",
  ),
  exactScanThreshold: setting(
    'GLIMPSE_EXACT_SCAN_ROWS',
    z.union([z.literal('auto'), int(0, 100_000_000)]),
    'auto',
    'Filtered searches matching at most this many embeddings score them exactly instead of walking the vector index. `auto`: the cost rule √(window × GLIMPSE_HNSW_TUPLE_COST × table rows), at least 2000; 0: never (docs/search.md).',
  ),
  hnswTupleCost: setting(
    'GLIMPSE_HNSW_TUPLE_COST',
    z.union([z.literal('auto'), num(0.1, 10_000)]),
    'auto',
    'Cost of one row walked by the HNSW iterative scan, in exactly scored rows (the `auto` exact-scan rule). `auto`: 6 while the vector table and its index fit in shared_buffers, 12 once they do not (measured in docs/performance.md).',
  ),
  searchCandidateWindow: setting(
    'GLIMPSE_SEARCH_CANDIDATES',
    int(10, 100_000),
    '500',
    'Images taken from the vector index scan for HYBRID fusion, for a totalCount under a score cut, and for a SEMANTIC / HYBRID search with an orderBy or boost (the products of its relevant list, at most); SEMANTIC pages take (first+1)×k, k = the catalog’s images per product rounded up, within 2–4; see docs/search.md.',
  ),
  semanticFloor: setting(
    'GLIMPSE_SEMANTIC_FLOOR',
    z.union([z.enum(['model', 'auto', 'off']), num(0, 1)]),
    'model',
    'Relevance floor of SEMANTIC text search: a query whose best match scores no higher has no results (`noResults`). `auto`: measured per model from nonsense probe queries over the catalog; a number in [0, 1]: fixed; `off`; `model`: `auto` for real models, `off` for the generated test model (docs/search.md "Relevance floor").',
  ),
  rrfK: setting('GLIMPSE_RRF_K', int(1, 10_000), '60', 'Reciprocal rank fusion constant k for HYBRID mode.'),
  textSearchConfig: setting(
    'GLIMPSE_TEXT_SEARCH_CONFIG',
    z.string().regex(/^[a-z_]+$/),
    'english',
    'PostgreSQL text search configuration for KEYWORD/HYBRID queries and new products.',
  ),

  // --- API limits and auth
  requireReadKey: setting(
    'GLIMPSE_REQUIRE_READ_KEY',
    bool,
    'false',
    'Require a read (or admin) API key for storefront queries.',
  ),
  bodyTimeoutMs: setting(
    'GLIMPSE_BODY_TIMEOUT_MS',
    int(100, 3_600_000),
    '20000',
    'Time a request body may take before GLIMPSE_BODY_MIN_RATE applies; a slower body is refused with 408 REQUEST_TIMEOUT and its connection closed.',
  ),
  bodyMinRate: setting(
    'GLIMPSE_BODY_MIN_RATE',
    bytes,
    '32kb',
    'Bytes per second a request body must keep up after GLIMPSE_BODY_TIMEOUT_MS: each such amount received earns one more second (a 200 MB upload on a good link is never cut; an upload at 1 KB/s is).',
  ),
  maxBodyBytes: setting(
    'GLIMPSE_MAX_BODY_BYTES',
    bytes,
    '4mb',
    'Largest JSON request body. The default takes a full upsertProducts call (1,000 products) of about 4 KB each.',
  ),
  maxQueryDepth: setting('GLIMPSE_MAX_QUERY_DEPTH', int(1, 100), '10', 'Deepest GraphQL selection accepted.'),
  maxAliases: setting('GLIMPSE_MAX_ALIASES', int(1, 1000), '30', 'Most field aliases in one GraphQL operation.'),
  maxComplexity: setting(
    'GLIMPSE_MAX_COMPLEXITY',
    int(1, 10_000_000),
    '5000',
    'Highest estimated cost of one GraphQL operation.',
  ),
  apiKeyCacheTtlMs: setting(
    'GLIMPSE_API_KEY_CACHE_TTL_MS',
    int(0, 600_000),
    '5000',
    'How long each server reuses an API key verdict before looking the key up again (0: every request). A revoked key is refused by every replica at most this long after revocation.',
  ),
  analyticsRetentionDays: setting(
    'GLIMPSE_ANALYTICS_RETENTION_DAYS',
    int(0, 3650),
    '90',
    'Search analytics (each search: query, filters, result count, latency; clicks from recordClick; nothing personal) are kept this many days; 0: not recorded at all.',
  ),
  rateLimitPerMinute: setting(
    'GLIMPSE_RATE_LIMIT_PER_MINUTE',
    int(0, 10_000_000),
    '600',
    'Requests per minute per API key (or per IP without key); 0: off. On PostgreSQL the budget is shared by every API replica (table rate_limit); on PGlite it is per process.',
  ),
  trustProxy: setting(
    'GLIMPSE_TRUST_PROXY',
    z.string(),
    'false',
    'Express "trust proxy": false, true, a hop count, or comma-separated addresses/subnets of trusted proxies (client address for rate limits, protocol/host for image URLs from X-Forwarded-*).',
  ),
} as const;

type Settings = typeof settings;
export type Config = { [K in keyof Settings]: z.output<Settings[K]['schema']> };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and validates every setting; throws ConfigError listing every invalid variable at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, s] of Object.entries(settings) as [string, Setting][]) {
    let raw = env[s.env];
    if (raw === '') raw = undefined;
    // defaults under the data dir follow GLIMPSE_DATA_DIR when it is set in `env`
    let def = s.default;
    if (env.GLIMPSE_DATA_DIR && def?.startsWith(dataDirDefault))
      def = def.replace(dataDirDefault, path.resolve(env.GLIMPSE_DATA_DIR));
    const parsed = s.schema.safeParse(raw ?? def);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${s.env}=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  // GLIMPSE_IMAGE_STORE=local:<dir> names the image folder: one folder, whichever variable gave it
  const store = out.imageStore as Config['imageStore'] | undefined;
  if (store?.dir && env.GLIMPSE_IMAGE_DIR && path.resolve(env.GLIMPSE_IMAGE_DIR) !== store.dir)
    problems.push(
      `GLIMPSE_IMAGE_STORE=${JSON.stringify(env.GLIMPSE_IMAGE_STORE)}: names another folder than GLIMPSE_IMAGE_DIR`,
    );
  else if (store?.dir) out.imageDir = store.dir;
  const poolMin = out.dbPoolMin as Config['dbPoolMin'] | undefined;
  if (typeof poolMin === 'number' && typeof out.dbPoolSize === 'number' && poolMin > out.dbPoolSize)
    problems.push(
      `GLIMPSE_DB_POOL_MIN=${JSON.stringify(env.GLIMPSE_DB_POOL_MIN)}: more than GLIMPSE_DB_POOL_SIZE (${out.dbPoolSize})`,
    );
  if (problems.length) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  const config = { ...(out as Config), ...overrides };
  // an imageDir given in code (tests, the CLI) is the folder of the local storage too
  if (overrides.imageDir && !overrides.imageStore) config.imageStore = { kind: 'local', dir: undefined };
  return config;
}

/** The connections each PostgreSQL pool keeps open (GLIMPSE_DB_POOL_MIN resolved against the pool size). */
export function poolMinOf(config: Pick<Config, 'dbPoolMin' | 'dbPoolSize'>): number {
  return config.dbPoolMin === 'all' ? config.dbPoolSize : Math.min(config.dbPoolMin, config.dbPoolSize);
}

/** Defaults that depend on the machine or working directory, as the docs state them. */
const docDefaults: Partial<Record<keyof Settings, string>> = {
  dataDir: '`.data` (in the working directory)',
  inferenceWorkers: 'min(2, CPU cores − 1), at least 1',
  indexBuildWorkers: 'min(8, CPU cores − 1)',
  importWriters: 'CPU cores, between 2 and 8',
  decodeWorkers: 'CPU cores',
};

/** The settings table for docs: variable, default, description. */
export function settingsTable(): string {
  const rows = (Object.entries(settings) as [keyof Settings, Setting][]).map(([key, s]) => {
    const def =
      docDefaults[key] ??
      (s.default === undefined
        ? '—'
        : '`' +
          s.default
            .replace(dataDirDefault, '$GLIMPSE_DATA_DIR')
            .replace(/\$GLIMPSE_DATA_DIR\$GLIMPSE_DATA_DIR/, '$GLIMPSE_DATA_DIR') +
          '`');
    return `| \`${s.env}\` | ${def} | ${s.doc} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
