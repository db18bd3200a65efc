/**
 * Bulk mode of `glimpse import`: into an empty or small catalog, maintaining the HNSW index row by row costs
 * several times what one build at the end does (each insert walks the graph on disk; a build does it in memory,
 * in parallel). So the import drops the table's vector index first, writes without it, and builds it again at
 * the end (parallel workers and maintenance_work_mem from config, progress from pg_stat_progress_create_index).
 *
 * Meanwhile searches are answered EXACTLY: with no vector index the same search statement is a sequential scan
 * ordered by distance (slower per query — tens of ms per 10,000 vectors — but never wrong or refused). The
 * dropped index's definition is kept in the job's params, so an import that is stopped or killed leaves the job
 * saying what to build: rerunning the same command resumes and builds it at the end (or `glimpse index
 * rebuild` builds it at once).
 */
import type { Config } from '../../config.js';
import type { Sql } from '../../db/index.js';
import { dropVectorIndex, rebuildIndex, type IndexBuildProgress, type VectorIndexType } from '../store/vector-index.js';
import { analyzeCatalog, countVectorsUpTo } from '../store/embeddings.js';

/** Files this small gain nothing from a deferred index (a build costs about what their inserts do). */
export const BULK_MIN_RECORDS = 1000;

export interface DeferredIndex {
  type: VectorIndexType;
  parameters: Record<string, number>;
}

export type BulkConfig = Pick<Config, 'importBulkMaxRows' | 'indexBuildMemory' | 'indexBuildWorkers'>;

/**
 * Whether an import of `records` records defers the index: `forced` (--bulk / --no-bulk) decides when given;
 * otherwise the table must hold at most importBulkMaxRows vectors and the file at least as many records (and
 * BULK_MIN_RECORDS): the import at least doubles the table, so one build is cheaper than the inserts.
 */
export async function decideBulk(
  sql: Sql,
  dimension: number,
  records: number,
  config: BulkConfig,
  forced?: boolean,
): Promise<{ bulk: boolean; reason: string }> {
  if (forced !== undefined) return { bulk: forced, reason: forced ? '--bulk' : '--no-bulk' };
  const cap = config.importBulkMaxRows;
  const existing = await countVectorsUpTo(sql, dimension, cap + 1);
  if (existing > cap) return { bulk: false, reason: `the table holds more than ${cap} vectors (a live catalog)` };
  if (records < Math.max(BULK_MIN_RECORDS, existing))
    return { bulk: false, reason: `${records} records: too few to pay for an index build over ${existing} vectors` };
  return { bulk: true, reason: `${existing} vectors in the table, ${records} records to import` };
}

/** Drops the vector index for the load; returns what buildDeferredIndex builds at the end. */
export async function deferIndex(sql: Sql, dimension: number): Promise<DeferredIndex> {
  return dropVectorIndex(sql, dimension);
}

/** Builds the deferred index (one pass, parallel), then refreshes the planner's statistics of the tables. */
export async function buildDeferredIndex(
  sql: Sql,
  dimension: number,
  index: DeferredIndex,
  config: BulkConfig,
  onProgress?: (p: IndexBuildProgress) => void,
): Promise<{ seconds: number; rows: number }> {
  const started = Date.now();
  const r = await rebuildIndex(sql, {
    dimension,
    type: index.type,
    // an IVFFlat index is sized for the rows it now has, not for the small table it was built on
    ...(index.type === 'hnsw'
      ? { m: index.parameters.m, efConstruction: index.parameters.ef_construction }
      : { lists: undefined }),
    maintenanceWorkMem: config.indexBuildMemory,
    parallelWorkers: config.indexBuildWorkers,
    concurrently: false,
    onBuildProgress: onProgress,
  });
  await analyzeCatalog(sql, dimension);
  return { seconds: (Date.now() - started) / 1000, rows: r.rows };
}
