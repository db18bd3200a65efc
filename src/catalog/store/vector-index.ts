/**
 * The vector indexes of the embedding tables: what they are (`glimpse index status`), how to replace one with
 * another type or parameters without a moment without an index (`glimpse index rebuild`), and the cheap
 * catalog lookup the search service uses to tune its per-transaction settings to the index type in place.
 *
 * Every embedding table has exactly one vector index, always named `embedding_{dim}_hnsw_idx` — also when it
 * is an IVFFlat index. The name is part of the schema contract: prisma/schema.prisma declares the index by that
 * name (`@@index([embedding], map: "embedding_768_hnsw_idx")`, Prisma cannot express HNSW/IVFFlat), so an index
 * under any other name would make `prisma migrate dev` see drift and generate a migration dropping it (and
 * creating a plain B-tree under the declared name). Prisma does not compare the access method of an index it
 * reads as a plain index on the column, so swapping HNSW ↔ IVFFlat under the same name is invisible to it.
 * Parameters and trade-offs: docs/search.md ("Choosing the index").
 */
import type { BuiltQuery, Sql } from '../../db/sql.js';
import { EMBEDDING_DIMENSIONS, embeddingTable } from './embeddings.js';

export type VectorIndexType = 'hnsw' | 'ivfflat';
export const VECTOR_INDEX_TYPES: readonly VectorIndexType[] = ['hnsw', 'ivfflat'];

/** pgvector's defaults (used when an index was created without the option) */
export const HNSW_DEFAULT_M = 16;
export const HNSW_DEFAULT_EF_CONSTRUCTION = 64;
export const IVFFLAT_DEFAULT_LISTS = 100;
/** pgvector's limit on ivfflat lists (and therefore probes) */
export const IVFFLAT_MAX_LISTS = 32768;
/** how long the search service trusts a lookup of a table's index type */
export const INDEX_INFO_TTL_MS = 60_000;

/** The standard (schema-declared) name of a table's vector index, whatever its type: see the file comment. */
export function vectorIndexName(dimension: number): string {
  return `${embeddingTable(dimension)}_hnsw_idx`;
}

/** The name a rebuild builds the new index under before the swap. */
export function rebuildIndexName(dimension: number): string {
  return `${embeddingTable(dimension)}_rebuild_idx`;
}

/** reloptions ('{m=16,ef_construction=64}') as numbers. */
export function parseReloptions(options: readonly string[] | null | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of options ?? []) {
    const eq = o.indexOf('=');
    if (eq > 0) out[o.slice(0, eq)] = Number(o.slice(eq + 1));
  }
  return out;
}

// ---- the search service's lookup ------------------------------------------------------------------------

/** What the search service needs to know about a table's vector index. */
export interface VectorIndexInfo {
  /** null: no vector index under the standard name (or an access method Glimpse does not tune) */
  type: VectorIndexType | null;
  /** ivfflat: number of lists */
  lists?: number;
  /** the planner's row count of the table (0 when never analysed) */
  rows: number;
  /** the planner's row count of `product` (0 when never analysed): images per product = rows ÷ productRows */
  productRows: number;
  /** bytes of the vector table (heap and TOAST) and of its vector index */
  bytes?: number;
  /** the server's shared_buffers in bytes: whether the table and index fit sets the `auto` tuple cost */
  sharedBuffers?: number;
}

/**
 * Index type and options, the planner's row counts of the table and of `product`, the table's and index's size
 * and shared_buffers: catalog reads and file sizes only, one row always (type and options null when there is no
 * index under the standard name).
 */
export function buildIndexInfo(dimension: number): BuiltQuery {
  const table = embeddingTable(dimension);
  return {
    shape: 'index-info',
    settings: null,
    text: `SELECT am.amname AS type, array_to_json(c.reloptions) AS options,
  (SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = '${table}'::regclass) AS rows,
  (SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = 'product'::regclass) AS product_rows,
  (pg_table_size('${table}'::regclass) + coalesce(pg_relation_size(i.oid), 0))::float8 AS bytes,
  pg_size_bytes(current_setting('shared_buffers'))::float8 AS shared_buffers
FROM (SELECT to_regclass($1) AS oid) i
LEFT JOIN pg_class c ON c.oid = i.oid
LEFT JOIN pg_am am ON am.oid = c.relam`,
    params: [vectorIndexName(dimension)],
  };
}

export async function readIndexInfo(sql: Sql, dimension: number): Promise<VectorIndexInfo> {
  const q = buildIndexInfo(dimension);
  const row = (
    await sql.query<{
      type: string | null;
      options: string[] | null;
      rows: number | null;
      product_rows: number | null;
      bytes: number | null;
      shared_buffers: number | null;
    }>(q.text, q.params)
  )[0];
  // without an index under the standard name the tables' row counts still size the search
  const sizes = {
    rows: Number(row?.rows ?? 0),
    productRows: Number(row?.product_rows ?? 0),
    ...(row?.bytes != null && row.shared_buffers != null
      ? { bytes: Number(row.bytes), sharedBuffers: Number(row.shared_buffers) }
      : {}),
  };
  if (row?.type === 'ivfflat')
    return { type: 'ivfflat', lists: parseReloptions(row.options).lists ?? IVFFLAT_DEFAULT_LISTS, ...sizes };
  return { type: row?.type === 'hnsw' ? 'hnsw' : null, ...sizes };
}

/** per database handle (the server builds a SearchService per request), per dimension */
const infoCache = new WeakMap<Sql, Map<number, { at: number; info: Promise<VectorIndexInfo> }>>();

/**
 * readIndexInfo, cached for `ttlMs` per database and table: a rebuild from another process (the CLI) is seen by
 * a running server within a minute; a rebuild through this module in this process is seen at once.
 */
export function cachedIndexInfo(
  sql: Sql,
  dimension: number,
  ttlMs = INDEX_INFO_TTL_MS,
  now = Date.now(),
): Promise<VectorIndexInfo> {
  let m = infoCache.get(sql);
  if (!m) infoCache.set(sql, (m = new Map()));
  const hit = m.get(dimension);
  if (hit && now - hit.at < ttlMs) return hit.info;
  const info = readIndexInfo(sql, dimension);
  m.set(dimension, { at: now, info });
  // a failed lookup is not cached
  info.catch(() => {
    if (m.get(dimension)?.info === info) m.delete(dimension);
  });
  return info;
}

/** Drops the cached lookups of a database (after a rebuild). */
export function forgetIndexInfo(sql: Sql): void {
  infoCache.delete(sql);
}

// ---- status ---------------------------------------------------------------------------------------------

export interface VectorIndexDetails {
  name: string;
  /** hnsw, ivfflat, or another access method's name */
  type: string;
  opclass: string;
  /** as stored in pg_class.reloptions (m, ef_construction / lists), pgvector defaults filled in */
  parameters: Record<string, number>;
  bytes: number;
  /** false for the leftover of an interrupted CREATE INDEX CONCURRENTLY */
  valid: boolean;
  /** the schema-declared name (searches use this one) */
  standard: boolean;
}

export interface VectorTableStatus {
  table: string;
  dimension: number;
  rows: number;
  /** the standard index, or null when missing */
  index: VectorIndexDetails | null;
  /** other vector indexes on the table (a rebuild in progress or interrupted, a benchmark's) */
  others: VectorIndexDetails[];
}

function withDefaults(type: string, options: Record<string, number>): Record<string, number> {
  if (type === 'hnsw')
    return { m: options.m ?? HNSW_DEFAULT_M, ef_construction: options.ef_construction ?? HNSW_DEFAULT_EF_CONSTRUCTION };
  if (type === 'ivfflat') return { lists: options.lists ?? IVFFLAT_DEFAULT_LISTS };
  return options;
}

/** Vector indexes (hnsw / ivfflat access methods) on a table. */
async function vectorIndexes(sql: Sql, dimension: number): Promise<VectorIndexDetails[]> {
  const table = embeddingTable(dimension);
  const rows = await sql.query<{
    name: string;
    type: string;
    opclass: string;
    options: string[] | null;
    bytes: number;
    valid: boolean;
  }>(
    `SELECT c.relname AS name, am.amname AS type, opc.opcname AS opclass, array_to_json(c.reloptions) AS options,
  pg_relation_size(c.oid)::float8 AS bytes, i.indisvalid AS valid
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
JOIN pg_opclass opc ON opc.oid = i.indclass[0]
WHERE i.indrelid = '${table}'::regclass AND am.amname IN ('hnsw', 'ivfflat')
ORDER BY c.relname`,
  );
  const standard = vectorIndexName(dimension);
  return rows.map((r) => ({
    name: r.name,
    type: r.type,
    opclass: r.opclass,
    parameters: withDefaults(r.type, parseReloptions(r.options)),
    bytes: Number(r.bytes),
    valid: Boolean(r.valid),
    standard: r.name === standard,
  }));
}

async function rowCount(sql: Sql, dimension: number): Promise<number> {
  const r = await sql.query<{ n: number }>(`SELECT count(*)::float8 AS n FROM ${embeddingTable(dimension)}`);
  return Number(r[0]?.n ?? 0);
}

/** Status of one table's vector index (exact row count: a sequential count of the table). */
export async function tableIndexStatus(sql: Sql, dimension: number): Promise<VectorTableStatus> {
  const indexes = await vectorIndexes(sql, dimension);
  const rows = await rowCount(sql, dimension);
  return {
    table: embeddingTable(dimension),
    dimension,
    rows,
    index: indexes.find((i) => i.standard) ?? null,
    others: indexes.filter((i) => !i.standard),
  };
}

/** Status of every embedding table (or of one dimension). */
export async function indexStatus(sql: Sql, dimension?: number): Promise<VectorTableStatus[]> {
  const dims = dimension != null ? [dimension] : [...EMBEDDING_DIMENSIONS];
  const out: VectorTableStatus[] = [];
  for (const d of dims) out.push(await tableIndexStatus(sql, d));
  return out;
}

// ---- rebuild --------------------------------------------------------------------------------------------

export interface RebuildOptions {
  dimension: number;
  type: VectorIndexType;
  /** hnsw: graph degree (pgvector 2–100; default 16) */
  m?: number | undefined;
  /** hnsw: candidate list while building (4–1000, ≥ 2·m; default 64) */
  efConstruction?: number | undefined;
  /** ivfflat: number of lists (default: defaultLists(rows)) */
  lists?: number | undefined;
  /** maintenance_work_mem of the build session (default '1GB'): an HNSW graph larger than this builds slowly */
  maintenanceWorkMem?: string | undefined;
  /** max_parallel_maintenance_workers of the build (default: the server's setting) */
  parallelWorkers?: number | undefined;
  /**
   * CREATE INDEX CONCURRENTLY (default on PostgreSQL): writes go on during the build. Off (bulk imports, the only
   * writer): one pass instead of two and no wait for other transactions; writes block until it ends, reads do not.
   */
  concurrently?: boolean | undefined;
  /** progress messages (CLI) */
  onProgress?: ((message: string) => void) | undefined;
  /** the build's progress from pg_stat_progress_create_index, every `progressEveryMs` (PostgreSQL only) */
  onBuildProgress?: ((p: IndexBuildProgress) => void) | undefined;
  progressEveryMs?: number | undefined;
}

export interface IndexBuildProgress {
  /** PostgreSQL's phase, e.g. "building index: loading tuples" */
  phase: string;
  /** tuples (or, for phases that count blocks, blocks) done of total; total 0 when unknown */
  done: number;
  total: number;
}

export interface RebuildResult {
  before: VectorIndexDetails | null;
  after: VectorIndexDetails;
  rows: number;
  buildSeconds: number;
  /** the statement that built the index (under the temporary name) */
  createSql: string;
}

/**
 * pgvector's advice for ivfflat lists: rows / 1000 up to 1M rows, √rows above; at least 10 here (fewer lists
 * make every probe read a large share of a small table, and a table can grow after the build).
 */
export function defaultLists(rows: number): number {
  const n = Math.max(0, Math.floor(rows));
  const lists = n > 1_000_000 ? Math.round(Math.sqrt(n)) : Math.round(n / 1000);
  return Math.min(IVFFLAT_MAX_LISTS, Math.max(10, lists));
}

function intIn(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return v;
}

/** Validates a rebuild's parameters and fills in the defaults; returns the index's WITH options. */
export function indexParameters(
  opts: Pick<RebuildOptions, 'type' | 'm' | 'efConstruction' | 'lists'>,
  rows: number,
): Record<string, number> {
  if (opts.type === 'hnsw') {
    if (opts.lists != null) throw new RangeError('--lists applies to ivfflat indexes only');
    const m = intIn('m', opts.m ?? HNSW_DEFAULT_M, 2, 100);
    const ef = intIn('ef_construction', opts.efConstruction ?? Math.max(HNSW_DEFAULT_EF_CONSTRUCTION, 2 * m), 4, 1000);
    if (ef < 2 * m) throw new RangeError(`ef_construction must be at least 2 × m (${2 * m})`);
    return { m, ef_construction: ef };
  }
  if (opts.type === 'ivfflat') {
    if (opts.m != null || opts.efConstruction != null)
      throw new RangeError('--m and --ef-construction apply to hnsw indexes only');
    return { lists: intIn('lists', opts.lists ?? defaultLists(rows), 1, IVFFLAT_MAX_LISTS) };
  }
  throw new RangeError(`unknown index type ${JSON.stringify(opts.type)} (hnsw or ivfflat)`);
}

/** CREATE INDEX for a table's vector index (values validated by indexParameters: integers only). */
export function createIndexSql(opts: {
  dimension: number;
  type: VectorIndexType;
  name: string;
  opclass: string;
  parameters: Record<string, number>;
  concurrently: boolean;
}): string {
  if (!/^[a-z_]+$/.test(opts.opclass)) throw new RangeError(`bad operator class ${opts.opclass}`);
  const withs = Object.entries(opts.parameters)
    .map(([k, v]) => `${k} = ${intIn(k, v, 1, IVFFLAT_MAX_LISTS)}`)
    .join(', ');
  return `CREATE INDEX${opts.concurrently ? ' CONCURRENTLY' : ''} "${opts.name}" ON "${embeddingTable(opts.dimension)}" USING ${opts.type} ("embedding" ${opts.opclass}) WITH (${withs})`;
}

/** Cosine operator class for the column's type (halfvec columns: halfvec_cosine_ops). */
async function cosineOpclass(sql: Sql, dimension: number): Promise<string> {
  const r = await sql.query<{ t: string }>(
    `SELECT t.typname AS t FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = '${embeddingTable(dimension)}'::regclass AND a.attname = 'embedding'`,
  );
  const t = r[0]?.t;
  if (t !== 'halfvec' && t !== 'vector') throw new Error(`unexpected embedding column type ${String(t)}`);
  return `${t}_cosine_ops`;
}

const MEM = /^\d+\s*(kB|MB|GB|TB)?$/;
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Replaces a table's vector index: builds the new one CONCURRENTLY under a temporary name (searches keep using
 * the old one meanwhile), then, in one short transaction, drops the old index and renames the new one to the
 * standard name — so no search ever runs without an index. An interrupted build leaves an invalid index under
 * the temporary name; the next rebuild removes it first.
 */
export async function rebuildIndex(sql: Sql, opts: RebuildOptions): Promise<RebuildResult> {
  const say = opts.onProgress ?? (() => {});
  const standard = vectorIndexName(opts.dimension);
  const temp = rebuildIndexName(opts.dimension);
  const mem = (opts.maintenanceWorkMem ?? '1GB').trim();
  if (!MEM.test(mem)) throw new RangeError(`maintenance_work_mem ${JSON.stringify(mem)}: expected e.g. 512MB or 1GB`);
  const rows = await rowCount(sql, opts.dimension);
  const parameters = indexParameters(opts, rows);
  const opclass = await cosineOpclass(sql, opts.dimension);
  const before = (await vectorIndexes(sql, opts.dimension)).find((i) => i.standard) ?? null;
  // PGlite is a single backend in one process: nothing runs beside the build, and it has no concurrent builds
  const concurrently = sql.kind === 'postgres' && (opts.concurrently ?? true);
  const workers = opts.parallelWorkers;
  if (workers !== undefined) intIn('parallel workers', workers, 0, 64);
  const createSql = createIndexSql({ ...opts, name: temp, opclass, parameters, concurrently });
  const dropTemp = `DROP INDEX${concurrently ? ' CONCURRENTLY' : ''} IF EXISTS "${temp}"`;

  const started = Date.now();
  await sql.session(async (s) => {
    await s.query(dropTemp); // the leftover of an interrupted rebuild
    await s.query(`SELECT set_config('maintenance_work_mem', $1, false)`, [mem.replace(/\s+/g, '')]);
    if (workers !== undefined)
      await s.query(`SELECT set_config('max_parallel_maintenance_workers', $1, false)`, [String(workers)]);
    say(
      `building ${opts.type} ${formatParameters(parameters)} on ${embeddingTable(opts.dimension)} (${rows} rows` +
        `${workers !== undefined ? `, ${workers} parallel workers` : ''}, maintenance_work_mem ${mem})`,
    );
    const watch = sql.kind === 'postgres' && opts.onBuildProgress ? watchBuild(sql, opts) : null;
    try {
      await s.query(createSql);
    } catch (err) {
      await s.query(dropTemp).catch(() => {}); // CONCURRENTLY leaves an invalid index behind on failure
      throw err;
    } finally {
      await watch?.stop();
    }
  });
  const buildSeconds = (Date.now() - started) / 1000;

  say(`swapping ${temp} → ${standard}`);
  for (let attempt = 1; ; attempt++) {
    try {
      await sql.transaction(async (tx) => {
        // do not queue behind a long query while holding up every search that arrives after us
        await tx.query(`SELECT set_config('lock_timeout', '5s', true)`);
        await tx.query(`DROP INDEX IF EXISTS "${standard}"`);
        await tx.query(`ALTER INDEX "${temp}" RENAME TO "${standard}"`);
      });
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE || attempt >= 5) throw err;
      say(`table busy, retrying the swap (${attempt})`);
    }
  }
  forgetIndexInfo(sql);
  const after = (await vectorIndexes(sql, opts.dimension)).find((i) => i.standard);
  if (!after) throw new Error(`${standard} is missing after the rebuild`);
  return { before, after, rows, buildSeconds, createSql };
}

/** Polls pg_stat_progress_create_index on another connection while a build of the table runs. */
function watchBuild(sql: Sql, opts: RebuildOptions): { stop: () => Promise<void> } {
  let stopped = false;
  let wake: () => void = () => {};
  const loop = (async () => {
    while (!stopped) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, opts.progressEveryMs ?? 2000);
      });
      if (stopped) break;
      const [row] = await sql
        .query<{ phase: string; td: number; tt: number; bd: number; bt: number }>(
          `SELECT phase, tuples_done::float8 AS td, tuples_total::float8 AS tt, blocks_done::float8 AS bd,
  blocks_total::float8 AS bt FROM pg_stat_progress_create_index WHERE relid = '${embeddingTable(opts.dimension)}'::regclass`,
        )
        .catch(() => []);
      if (!row) continue;
      const byTuples = Number(row.tt) > 0;
      opts.onBuildProgress?.({
        phase: row.phase,
        done: Number(byTuples ? row.td : row.bd),
        total: Number(byTuples ? row.tt : row.bt),
      });
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      wake();
      await loop;
    },
  };
}

/**
 * Drops a table's vector index so that a bulk load writes without maintaining it (rebuildIndex builds it again at
 * the end); returns what to build then: the dropped index's type and parameters (an HNSW with pgvector's
 * defaults when there was none). Searches meanwhile scan the table exactly.
 */
export async function dropVectorIndex(
  sql: Sql,
  dimension: number,
): Promise<{ type: VectorIndexType; parameters: Record<string, number> }> {
  const current = (await vectorIndexes(sql, dimension)).find((i) => i.standard);
  const type: VectorIndexType = current?.type === 'ivfflat' ? 'ivfflat' : 'hnsw';
  const parameters = current && current.type === type ? current.parameters : withDefaults('hnsw', {});
  await sql.query(`DROP INDEX IF EXISTS "${vectorIndexName(dimension)}"`);
  forgetIndexInfo(sql);
  return { type, parameters };
}

export function formatParameters(p: Record<string, number>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
