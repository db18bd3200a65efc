/**
 * Bulk catalog import (`glimpse import`): reads a JSONL/CSV catalog (./source.ts) and runs it through three
 * parts — the reader (./reader.ts: records validated, images read, checked and embedded), the batch writer
 * (./writer.ts: one transaction per batch of products, image rows, vectors and the job cursor) and the progress
 * (./progress.ts: the job row, counts, callbacks) — and returns the run's summary.
 *
 * Batches: records are grouped into batches of `batchSize`. A batch is prepared (up to `concurrency` images at
 * a time) while earlier ones are being written — up to `writers` transactions at once on their own
 * connections, committed in record order (./ordered-writes.ts). A kill -9 therefore loses at most the batches
 * not yet committed; rerunning the same file (same sha256, same model) resumes after the job's cursor. Re-importing a
 * file whose job succeeded starts a new job, which updates the products in place and adds no image or vector
 * twice. Bad records and bad images never stop an import: they are counted and appended to the rejects file
 * (JSON Lines: {record, sku, image, code, message}) after their batch commits.
 *
 * Bulk mode (./bulk-index.ts): a large load into a small catalog drops the vector index first and builds it
 * once at the end (searches scan exactly meanwhile); a resumed job keeps its choice.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { IndexBuildProgress } from '../store/vector-index.js';
import { ImageStore } from '../image-store.js';
import { embeddingTable } from '../store/embeddings.js';
import { LIMITS } from '../validation.js';
import { buildDeferredIndex, decideBulk, deferIndex, type BulkConfig, type DeferredIndex } from './bulk-index.js';
import type { ImportCounts } from './counts.js';
import { ImportJob, type ImportProgress } from './progress.js';
import { BatchReader, type PreparedBatch, type ReaderDeps } from './reader.js';
import { detectFormat, readCatalog, type CatalogFormat, type ImportRecord } from './source.js';
import { OrderedWrites } from './ordered-writes.js';
import { BatchWriter } from './writer.js';

export type { ImageCounts, ImportCounts, RejectLine } from './counts.js';
export type { ImportProgress } from './progress.js';
export { toProductInput } from './reader.js';

export interface ImportOptions {
  file: string;
  format?: CatalogFormat | undefined;
  /** base folder of image paths (default: the catalog file's folder) */
  imagesDir?: string | undefined;
  /** images read/decoded/embedded at the same time (default 16) */
  concurrency?: number | undefined;
  /** records per transaction (default 100, at most 1000) */
  batchSize?: number | undefined;
  /**
   * batch transactions written at once, committed in order (default: config importWriters; 1 on PGlite). The
   * Sql's pool needs a connection per writer and two more (the job's lock, the reader's look-ups).
   */
  writers?: number | undefined;
  /** rejects file (default: <file>.rejects.jsonl) */
  rejectsFile?: string | undefined;
  /** progress callback (called often: throttle in the caller) */
  onProgress?: ((p: ImportProgress) => void) | undefined;
  /** stop after the batch being written (the job stays resumable) */
  signal?: AbortSignal | undefined;
  /** defer the vector index and build it at the end (bulk-index.ts); undefined: decided from the catalog's size */
  bulk?: boolean | undefined;
  /** progress of the deferred index build */
  onIndexProgress?: ((p: IndexBuildProgress) => void) | undefined;
}

export interface ImportDeps extends ReaderDeps {
  config: ReaderDeps['config'] &
    BulkConfig &
    Pick<Config, 'imageDir' | 'textSearchConfig' | 'importWriters'> &
    Partial<Pick<Config, 'imageStore'>>;
  log?: Logger | undefined;
}

export interface ImportSummary extends ImportCounts {
  jobId: string;
  file: string;
  format: CatalogFormat;
  model: string;
  /** record number this run resumed after (0: fresh start) */
  resumedFrom: number;
  records: number;
  state: 'succeeded' | 'cancelled';
  rejectsFile: string;
  seconds: number;
  productsPerSecond: number;
  imagesPerSecond: number;
  /** cumulative counts of the job over all its runs */
  job: ImportCounts;
  /** bulk mode: the vector index was deferred and built at the end (`built` false when the run stopped first) */
  index: { deferred: boolean; reason: string; built: boolean; buildSeconds: number | null };
}

/** sha256 of the file and its record count (JSONL: lines; CSV: data rows), in one or two streaming passes. */
export async function scanCatalog(file: string, format: CatalogFormat): Promise<{ sha256: string; records: number }> {
  const hash = createHash('sha256');
  let lines = 0;
  let last = -1;
  for await (const chunk of fs.createReadStream(file)) {
    const buf = chunk as Buffer;
    hash.update(buf);
    if (format === 'jsonl') for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) lines++;
    if (buf.length) last = buf[buf.length - 1]!;
  }
  let records = lines + (last !== -1 && last !== 10 ? 1 : 0);
  if (format === 'csv') {
    records = 0;
    for await (const _ of readCatalog(file, 'csv')) records++;
  }
  return { sha256: hash.digest('hex'), records };
}

export class Importer {
  private readonly store: ImageStore;

  constructor(private readonly deps: ImportDeps) {
    this.store = ImageStore.fromConfig(deps.config);
    embeddingTable(deps.model.dimension); // supported dimension, or throw now
  }

  async run(opts: ImportOptions): Promise<ImportSummary> {
    const started = Date.now();
    const file = path.resolve(opts.file);
    const format = detectFormat(file, opts.format);
    const batchSize = Math.max(1, Math.min(LIMITS.upsertBatchMax, Math.floor(opts.batchSize ?? 100)));
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 16));
    // PGlite has one backend: its transactions run one at a time anyway (and a second would wait for the first)
    const writers =
      this.deps.sql.kind === 'pglite' ? 1 : Math.max(1, Math.floor(opts.writers ?? this.deps.config.importWriters));
    const imagesDir = path.resolve(opts.imagesDir ?? path.dirname(file));
    const rejectsFile = path.resolve(opts.rejectsFile ?? `${file}.rejects.jsonl`);
    const { sql, model } = this.deps;

    const scan = await scanCatalog(file, format);
    const jobOptions = {
      identity: { fileSha256: scan.sha256, modelId: model.modelId },
      total: scan.records,
      params: { file, format, imagesDir, rejectsFile, batchSize, concurrency },
      fresh: async () => {
        await fsp.mkdir(path.dirname(rejectsFile), { recursive: true });
        await fsp.writeFile(rejectsFile, '');
      },
      started,
      onProgress: opts.onProgress,
      log: this.deps.log,
    };
    // the job's lock is held for the whole run: a second importer of this file (any host) gets IMPORT_RUNNING
    return ImportJob.run(sql, jobOptions, (job) =>
      this.runJob(job, { opts, file, format, scan, batchSize, concurrency, writers, imagesDir, rejectsFile, started }),
    );
  }

  /** The import itself, as the runner of `job`. */
  private async runJob(
    job: ImportJob,
    run: {
      opts: ImportOptions;
      file: string;
      format: CatalogFormat;
      scan: { records: number };
      batchSize: number;
      concurrency: number;
      writers: number;
      imagesDir: string;
      rejectsFile: string;
      started: number;
    },
  ): Promise<ImportSummary> {
    const { opts, file, format, scan, batchSize, concurrency, writers, imagesDir, rejectsFile, started } = run;
    const { sql, config, model } = this.deps;
    const bulk = await this.bulkMode(job, scan.records, opts.bulk);
    job.report();
    const reader = new BatchReader(this.deps, { imagesDir, concurrency, onImage: () => job.imageDone() });
    const writer = new BatchWriter(
      { sql, store: this.store, model, textSearchConfig: config.textSearchConfig, log: this.deps.log },
      { id: job.id, rejectsFile },
    );
    let cancelled = false;
    try {
      const options = { batchSize, writers, signal: opts.signal };
      cancelled = await this.pipeline(file, format, job.resumedFrom, options, {
        prepare: (records) => reader.prepare(records),
        // the batch commits once every earlier batch has: then the job's counts are those before it
        write: async (batch, turn) => {
          const delta = await writer.write(batch, () => turn().then(() => job.counts));
          job.committed(delta, batch.lastN);
        },
      });
    } catch (err) {
      await job.fail(err);
      if (bulk.deferred) this.warnIndexMissing(job.id);
      throw err;
    }
    let buildSeconds: number | null = null;
    if (bulk.deferred && !cancelled) {
      const { dimension } = model;
      buildSeconds = (await buildDeferredIndex(sql, dimension, bulk.deferred, config, opts.onIndexProgress)).seconds;
      await job.record({ deferredIndex: null });
    } else if (bulk.deferred) this.warnIndexMissing(job.id);
    const total = await job.finish(cancelled ? 'cancelled' : 'succeeded');
    const seconds = (Date.now() - started) / 1000;
    const counts = job.run;
    const images = counts.images.added + counts.images.duplicate;
    return {
      jobId: job.id,
      file,
      format,
      model: model.modelId,
      resumedFrom: job.resumedFrom,
      records: scan.records,
      state: cancelled ? 'cancelled' : 'succeeded',
      rejectsFile,
      ...counts,
      seconds,
      productsPerSecond: seconds > 0 ? (counts.imported + counts.updated) / seconds : 0,
      imagesPerSecond: seconds > 0 ? images / seconds : 0,
      job: total,
      index: { deferred: Boolean(bulk.deferred), reason: bulk.reason, built: buildSeconds !== null, buildSeconds },
    };
  }

  /** Bulk mode, decided once per job: a resumed job keeps its choice (its index is already gone). */
  private async bulkMode(
    job: ImportJob,
    records: number,
    requested: boolean | undefined,
  ): Promise<{ deferred: DeferredIndex | undefined; reason: string }> {
    const { sql, config, model } = this.deps;
    let deferred = (job.params.deferredIndex ?? undefined) as DeferredIndex | undefined;
    let reason = deferred ? 'resumed a bulk import' : '';
    if (!deferred) {
      const d = await decideBulk(sql, model.dimension, records - job.resumedFrom, config, requested);
      reason = d.reason;
      if (d.bulk) {
        deferred = await deferIndex(sql, model.dimension);
        await job.record({ deferredIndex: deferred });
      }
    }
    if (deferred)
      this.deps.log?.info(
        { job: job.id, reason },
        'bulk import: vector index deferred to the end (searches scan exactly meanwhile)',
      );
    return { deferred, reason };
  }

  private warnIndexMissing(jobId: string): void {
    this.deps.log?.warn(
      { job: jobId },
      'bulk import stopped before its vector index was built: searches scan exactly until the same import is rerun (it resumes, then builds the index) or `glimpse index rebuild` runs',
    );
  }

  /**
   * Reads the records after `resumedFrom` into batches; each batch is prepared while earlier ones are written
   * (up to `writers` transactions at once, committed in order: ./ordered-writes.ts). A sku seen twice in a
   * batch ends the batch first, so the later record wins as an update. Returns whether `signal` stopped it
   * (the batches being written are finished; those not started yet are left to the rerun).
   */
  private async pipeline(
    file: string,
    format: CatalogFormat,
    resumedFrom: number,
    run: { batchSize: number; writers: number; signal: AbortSignal | undefined },
    steps: {
      prepare: (records: ImportRecord[]) => Promise<PreparedBatch>;
      write: (batch: PreparedBatch, turn: () => Promise<void>) => Promise<void>;
    },
  ): Promise<boolean> {
    const writes = new OrderedWrites(run.writers);
    let records: ImportRecord[] = [];
    let skus = new Set<string>();
    let dropped = false; // a prepared batch not written because the import was stopped
    const flush = async () => {
      if (!records.length) return;
      const batch = records;
      records = [];
      skus = new Set();
      const prepared = await steps.prepare(batch);
      const started = await writes.submit(batchKeys(prepared), (turn) => steps.write(prepared, turn), run.signal);
      if (!started) dropped = true;
    };
    try {
      for await (const rec of readCatalog(file, format)) {
        if (rec.n <= resumedFrom) continue;
        if (run.signal?.aborted || dropped) {
          await writes.drain();
          return true;
        }
        const sku = typeof rec.fields?.sku === 'string' ? rec.fields.sku.trim() : undefined;
        if (sku !== undefined && skus.has(sku)) await flush();
        records.push(rec);
        if (sku !== undefined) skus.add(sku);
        if (records.length >= run.batchSize) await flush();
      }
      await flush();
      await writes.drain();
      return dropped;
    } catch (err) {
      await writes.drain().catch(() => {});
      throw err;
    }
  }
}

/** What a batch's transaction locks beyond its own new rows: its products (by sku) and its files (by sha256). */
function batchKeys(batch: PreparedBatch): Set<string> {
  const keys = new Set<string>();
  for (const item of batch.items) {
    keys.add(`sku:${item.sku}`);
    for (const img of item.images) if (img.bytes) keys.add(`file:${img.sha256}`);
  }
  return keys;
}
