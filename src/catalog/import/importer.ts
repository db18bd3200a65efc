/**
 * Bulk catalog import (`glimpse import`): reads a JSONL/CSV catalog (source.ts), upserts products by sku with
 * the catalog's own validation and upsert (products.ts), adds their images deduplicated by content hash, and
 * embeds them through the Embedder (concurrent calls are micro-batched into inference batches).
 *
 * Batches: records are grouped into batches of `batchSize`. A batch is prepared (files read, hashed,
 * validated, embedded, up to `concurrency` images at a time) while the previous one is being written, then
 * written in ONE transaction: products, image rows, vectors, and the job row's `cursor` (= the last record
 * number of the batch). A kill -9 therefore loses at most the batches not yet committed; rerunning the same
 * file (same sha256, same model) resumes after `cursor`. Re-importing a file whose job succeeded starts a
 * new job, which updates the products in place and adds no image or vector twice.
 *
 * Bad records and bad images never stop an import: they are counted and appended to the rejects file (JSON
 * Lines: {record, sku, image, code, message}) after their batch commits. A batch whose transaction fails is
 * retried record by record, so one unexpected row rejects only itself.
 *
 * Precomputed embeddings: an image given as {"path"|"url", "embedding": [...], "model": "<id>"} is not
 * embedded; the vector must have the model's dimension and `model` must be the import's model id. When the
 * path names an existing file the original is stored as usual (so `reembed` can use it later); otherwise the
 * image row has source 'precomputed', no file (byte_size, width, height 0), and its sha256 is that of
 * "glimpse-precomputed:" + the url or path (or, with neither, the vector's float32 bytes): the same
 * reference on the same product is therefore deduplicated like a file.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/index.js';
import { codeOf } from '../../errors.js';
import { inspectImage } from '../../embedding/image-preprocess.js';
import type { Logger } from '../../logger.js';
import { ImageStore, lockImage } from '../image-store.js';
import type { ImageEmbedder } from '../images.js';
import type { ModelIdentity } from '../models.js';
import { embeddingTable, insertEmbeddings } from '../store/embeddings.js';
import { PRECOMPUTED_CONTENT_TYPE, PRECOMPUTED_SOURCE } from '../store/images.js';
import { unitVector, VectorError } from '../../embedding/vector.js';
import { upsertProducts } from '../products.js';
import { fetchImage, type FetchImageOptions } from '../url-fetch.js';
import { LIMITS, validateProductInput, type ProductInput } from '../validation.js';
import { createJob, findResumableJob, updateJob, type JobRow } from '../jobs.js';
import { detectFormat, readCatalog, type CatalogFormat, type ImportImageRef, type ImportRecord } from './source.js';
import { mapLimit } from '../concurrency.js';
import type { IndexBuildProgress } from '../../search/index-admin.js';
import { buildDeferredIndex, decideBulk, deferIndex, type DeferredIndex } from './bulk-index.js';

export interface ImportOptions {
  file: string;
  format?: CatalogFormat | undefined;
  /** base folder of image paths (default: the catalog file's folder) */
  imagesDir?: string | undefined;
  /** images read/decoded/embedded at the same time (default 16) */
  concurrency?: number | undefined;
  /** records per transaction (default 100, at most 1000) */
  batchSize?: number | undefined;
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

export interface ImportDeps {
  sql: Sql;
  config: Pick<
    Config,
    | 'imageDir'
    | 'maxImageBytes'
    | 'maxImagePixels'
    | 'maxImageAspectRatio'
    | 'fetchAllowPrivate'
    | 'fetchTimeoutMs'
    | 'fetchMaxRedirects'
    | 'textSearchConfig'
    | 'importBulkMaxRows'
    | 'indexBuildMemory'
    | 'indexBuildWorkers'
  >;
  /** the model vectors are written for (registered in embedding_model) */
  model: ModelIdentity;
  /** the embedder of `model`, loaded on first use (an import of precomputed vectors never loads one) */
  embedder: () => Promise<ImageEmbedder>;
  log?: Logger | undefined;
  fetchOptions?: Partial<FetchImageOptions> | undefined;
}

export interface ImageCounts {
  /** new image rows */
  added: number;
  /** of `added`: embedded by the model */
  embedded: number;
  /** of `added`: precomputed vectors accepted */
  precomputed: number;
  /** already on the product (same sha256), or twice in one record */
  duplicate: number;
  rejected: number;
}

export interface ImportCounts {
  /** new products */
  imported: number;
  /** existing skus updated */
  updated: number;
  /** records committed by an earlier run of this job (resume) */
  skipped: number;
  /** records not imported (parse or validation error) */
  rejected: number;
  images: ImageCounts;
}

export interface ImportProgress {
  jobId: string;
  /** records handled so far, resumed ones included */
  done: number;
  total: number;
  imagesDone: number;
  rejected: number;
  elapsedMs: number;
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

export interface RejectLine {
  record: number;
  sku: string | null;
  /** index in the record's images when the reject is about one image */
  image?: number;
  ref?: string;
  code: string;
  message: string;
}

interface PreparedImage {
  index: number;
  sha256: string;
  source: string;
  sourceUrl: string | null;
  contentType: string;
  byteSize: number;
  width: number;
  height: number;
  bytes?: Buffer;
  vector?: Float32Array;
  precomputed: boolean;
}

interface PreparedItem {
  n: number;
  sku: string;
  input: ProductInput;
  images: PreparedImage[];
  duplicates: number;
}

interface PreparedBatch {
  firstN: number;
  lastN: number;
  items: PreparedItem[];
  rejects: RejectLine[];
}

/** Errors of the embedding engine that are about the image itself (ImageError codes). */
const IMAGE_ERROR_CODES = new Set(['UNSUPPORTED_IMAGE', 'CORRUPT_IMAGE', 'IMAGE_TOO_LARGE']);

class RejectError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const emptyCounts = (): ImportCounts => ({
  imported: 0,
  updated: 0,
  skipped: 0,
  rejected: 0,
  images: { added: 0, embedded: 0, precomputed: 0, duplicate: 0, rejected: 0 },
});

function addCounts(a: ImportCounts, b: ImportCounts): ImportCounts {
  return {
    imported: a.imported + b.imported,
    updated: a.updated + b.updated,
    skipped: a.skipped + b.skipped,
    rejected: a.rejected + b.rejected,
    images: {
      added: a.images.added + b.images.added,
      embedded: a.images.embedded + b.images.embedded,
      precomputed: a.images.precomputed + b.images.precomputed,
      duplicate: a.images.duplicate + b.images.duplicate,
      rejected: a.images.rejected + b.images.rejected,
    },
  };
}

const runnerId = () => ({ host: os.hostname(), pid: process.pid });

/** Refuses to resume a job that a live process on this host is still running (two writers on one cursor). */
function assertNotRunningElsewhere(job: JobRow): void {
  const r = job.params.runner as { host?: string; pid?: number } | undefined;
  if (job.state !== 'running' || !r || r.host !== os.hostname() || typeof r.pid !== 'number' || r.pid === process.pid)
    return;
  try {
    process.kill(r.pid, 0);
  } catch {
    return; // gone (killed, crashed): resume
  }
  throw Object.assign(
    new Error(`import job ${job.id} is being run by process ${r.pid} on this host; wait for it or stop it first`),
    { code: 'IMPORT_RUNNING' },
  );
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

const str = (v: unknown): string | undefined =>
  v === undefined || v === null
    ? undefined
    : typeof v === 'string'
      ? v
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : undefined;

/** Documented import columns → the catalog's ProductInput (validation is validateProductInput's). */
export function toProductInput(f: Record<string, unknown>): ProductInput {
  const input: ProductInput = { sku: f.sku as string, title: f.title as string };
  if (f.description !== undefined) input.description = f.description as string | null;
  if (f.brand !== undefined) input.brand = f.brand as string | null;
  if (f.category !== undefined) input.category = f.category as string | null;
  if (f.price !== undefined && f.price !== null && f.price !== '') {
    input.price =
      typeof f.price === 'object' && !Array.isArray(f.price)
        ? (f.price as { amount: unknown; currency: unknown })
        : { amount: str(f.price) ?? f.price, currency: f.currency ?? null };
  }
  const inStock = f.in_stock ?? f.inStock;
  if (inStock !== undefined) input.inStock = inStock as boolean | null;
  if (f.tags !== undefined) input.tags = f.tags as string[] | null;
  if (f.attributes !== undefined) input.attributes = f.attributes;
  return input;
}

function refLabel(ref: ImportImageRef): string {
  return ref.path ?? ref.url ?? (ref.embedding ? '(embedding)' : '(empty)');
}

export class Importer {
  private readonly store: ImageStore;
  private embedderPromise: Promise<ImageEmbedder> | undefined;

  constructor(private readonly deps: ImportDeps) {
    this.store = new ImageStore(deps.config.imageDir);
    embeddingTable(deps.model.dimension); // supported dimension, or throw now
  }

  private embedder(): Promise<ImageEmbedder> {
    this.embedderPromise ??= this.deps.embedder().then((e) => {
      if (e.modelId !== this.deps.model.modelId || e.dimension !== this.deps.model.dimension) {
        throw new Error(
          `the embedder is ${e.modelId} (${e.dimension}-d) but the import writes vectors of ${this.deps.model.modelId} (${this.deps.model.dimension}-d)`,
        );
      }
      return e;
    });
    return this.embedderPromise;
  }

  async run(opts: ImportOptions): Promise<ImportSummary> {
    const started = Date.now();
    const file = path.resolve(opts.file);
    const format = detectFormat(file, opts.format);
    const batchSize = Math.max(1, Math.min(LIMITS.upsertBatchMax, Math.floor(opts.batchSize ?? 100)));
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 16));
    const imagesDir = path.resolve(opts.imagesDir ?? path.dirname(file));
    const rejectsFile = path.resolve(opts.rejectsFile ?? `${file}.rejects.jsonl`);
    const { sql, model } = this.deps;

    const scan = await scanCatalog(file, format);
    const identity = { fileSha256: scan.sha256, modelId: model.modelId };
    let job: JobRow | null = await findResumableJob(sql, 'import', identity);
    const resumedFrom = job ? Number(job.cursor ?? 0) || 0 : 0;
    let jobCounts: ImportCounts = emptyCounts();
    if (job) {
      assertNotRunningElsewhere(job);
      const saved = job.params.counts as ImportCounts | undefined;
      if (saved) jobCounts = addCounts(emptyCounts(), saved);
      await updateJob(sql, job.id, {
        state: 'running',
        error: null,
        total: scan.records,
        params: { runner: runnerId() },
      });
      this.deps.log?.info({ job: job.id, cursor: resumedFrom }, 'resuming import');
    } else {
      job = await createJob(sql, {
        kind: 'import',
        modelId: model.modelId,
        total: scan.records,
        cursor: '0',
        params: {
          ...identity,
          runner: runnerId(),
          file,
          format,
          imagesDir,
          rejectsFile,
          batchSize,
          concurrency,
          counts: emptyCounts(),
        },
      });
      await fsp.mkdir(path.dirname(rejectsFile), { recursive: true });
      await fsp.writeFile(rejectsFile, '');
    }
    // bulk mode: decided once per job (a resumed job keeps its choice: its index is already gone)
    let deferred = (job.params.deferredIndex ?? undefined) as DeferredIndex | undefined;
    let bulkReason = deferred ? 'resumed a bulk import' : '';
    if (!deferred) {
      const d = await decideBulk(sql, model.dimension, scan.records - resumedFrom, this.deps.config, opts.bulk);
      bulkReason = d.reason;
      if (d.bulk) {
        deferred = await deferIndex(sql, model.dimension);
        await updateJob(sql, job.id, { params: { deferredIndex: deferred } });
      }
    }
    if (deferred)
      this.deps.log?.info(
        { job: job.id, reason: bulkReason },
        'bulk import: vector index deferred to the end (searches scan exactly meanwhile)',
      );
    const jobId = job.id;
    const run = emptyCounts();
    run.skipped = resumedFrom;
    let done = resumedFrom;
    let imagesDone = 0;
    const progress = () =>
      opts.onProgress?.({
        jobId,
        done,
        total: scan.records,
        imagesDone,
        rejected: jobCounts.rejected + run.rejected,
        elapsedMs: Date.now() - started,
      });
    progress();

    const ctx = { jobId, imagesDir, concurrency, rejectsFile, onImage: () => (imagesDone++, progress()) };

    /** Writes a prepared batch (one transaction), then its rejects; falls back to record by record. */
    const write = async (batch: PreparedBatch): Promise<void> => {
      const delta = await this.commitWithFallback(ctx, batch, addCounts(jobCounts, run));
      Object.assign(run, addCounts(run, delta));
      done = batch.lastN;
      progress();
    };

    let writing: Promise<void> = Promise.resolve();
    let cancelled = false;
    try {
      let records: ImportRecord[] = [];
      let skus = new Set<string>();
      const flush = async () => {
        if (!records.length) return;
        const batch = records;
        records = [];
        skus = new Set();
        const prepared = await this.prepare(ctx, batch);
        await writing;
        writing = write(prepared);
        // surface a failed write at once rather than after preparing the next batch
        writing.catch(() => {});
      };
      for await (const rec of readCatalog(file, format)) {
        if (rec.n <= resumedFrom) continue;
        if (opts.signal?.aborted) {
          cancelled = true;
          break;
        }
        const sku = typeof rec.fields?.sku === 'string' ? rec.fields.sku.trim() : undefined;
        // one sku twice in a batch: write the batch first, so the later record wins as an update
        if (sku !== undefined && skus.has(sku)) await flush();
        records.push(rec);
        if (sku !== undefined) skus.add(sku);
        if (records.length >= batchSize) await flush();
      }
      if (!cancelled) await flush();
      await writing;
    } catch (err) {
      await writing.catch(() => {});
      await updateJob(sql, jobId, { state: 'failed', error: (err as Error).message }).catch(() => {});
      if (deferred) this.warnIndexMissing(jobId);
      throw err;
    }
    let buildSeconds: number | null = null;
    if (deferred && !cancelled) {
      const built = await buildDeferredIndex(sql, model.dimension, deferred, this.deps.config, opts.onIndexProgress);
      buildSeconds = built.seconds;
      await updateJob(sql, jobId, { params: { deferredIndex: null } });
    } else if (deferred) this.warnIndexMissing(jobId);
    const total = addCounts(jobCounts, run);
    total.skipped = 0;
    await updateJob(sql, jobId, { state: cancelled ? 'cancelled' : 'succeeded', params: { counts: total } });
    const seconds = (Date.now() - started) / 1000;
    const images = run.images.added + run.images.duplicate;
    return {
      jobId,
      file,
      format,
      model: model.modelId,
      resumedFrom,
      records: scan.records,
      state: cancelled ? 'cancelled' : 'succeeded',
      rejectsFile,
      ...run,
      seconds,
      productsPerSecond: seconds > 0 ? (run.imported + run.updated) / seconds : 0,
      imagesPerSecond: seconds > 0 ? images / seconds : 0,
      job: total,
      index: { deferred: Boolean(deferred), reason: bulkReason, built: buildSeconds !== null, buildSeconds },
    };
  }

  private warnIndexMissing(jobId: string): void {
    this.deps.log?.warn(
      { job: jobId },
      'bulk import stopped before its vector index was built: searches scan exactly until the same import is rerun (it resumes, then builds the index) or `glimpse index rebuild` runs',
    );
  }

  // ------------------------------------------------------------------------------------------ prepare

  private async prepare(
    ctx: { imagesDir: string; concurrency: number; onImage: () => void },
    records: ImportRecord[],
  ): Promise<PreparedBatch> {
    const rejects: RejectLine[] = [];
    const pending: { item: PreparedItem; refs: ImportImageRef[] }[] = [];
    for (const rec of records) {
      const skuGuess = typeof rec.fields?.sku === 'string' ? rec.fields.sku : null;
      if (rec.parseError || !rec.fields) {
        rejects.push({
          record: rec.n,
          sku: skuGuess,
          code: 'PARSE_ERROR',
          message: rec.parseError ?? 'unreadable record',
        });
        continue;
      }
      let input: ProductInput;
      let sku: string;
      try {
        input = toProductInput(rec.fields);
        sku = validateProductInput(input).sku;
      } catch (err) {
        rejects.push({
          record: rec.n,
          sku: skuGuess,
          code: codeOf(err) === 'BAD_USER_INPUT' ? 'INVALID_PRODUCT' : 'PARSE_ERROR',
          message: (err as Error).message,
        });
        continue;
      }
      pending.push({ item: { n: rec.n, sku, input, images: [], duplicates: 0 }, refs: rec.images });
    }

    // images already on these products with a vector of our model: not embedded again
    const known = new Set<string>();
    if (pending.some((p) => p.refs.length)) {
      const rows = await this.deps.sql.query<{ sku: string; sha256: string }>(
        `SELECT p.sku, i.sha256::text AS sha256 FROM product p JOIN product_image i ON i.product_id = p.id
         JOIN ${embeddingTable(this.deps.model.dimension)} e ON e.image_id = i.id AND e.model_id = $2
         WHERE p.sku = ANY($1::text[])`,
        [pending.filter((p) => p.refs.length).map((p) => p.item.sku), this.deps.model.modelId],
      );
      for (const r of rows) known.add(`${r.sku}\0${r.sha256.trim()}`);
    }

    const tasks = pending.flatMap((p) => p.refs.map((ref, index) => ({ p, ref, index })));
    const results = await mapLimit(tasks, ctx.concurrency, async ({ p, ref, index }) => {
      try {
        return await this.prepareImage(ctx.imagesDir, p.item.sku, ref, index, known);
      } catch (err) {
        // a bad image is a reject; anything else (model failed to load, worker crashed, …) stops the import
        if (!(err instanceof RejectError) && !IMAGE_ERROR_CODES.has(String((err as { code?: unknown }).code)))
          throw err;
        const code = err instanceof RejectError ? err.code : String((err as { code?: unknown }).code);
        return {
          reject: {
            record: p.item.n,
            sku: p.item.sku,
            image: index,
            ref: refLabel(ref),
            code: String(code),
            message: (err as Error).message,
          } as RejectLine,
        };
      } finally {
        ctx.onImage();
      }
    });
    tasks.forEach(({ p }, k) => {
      const r = results[k]!;
      if ('reject' in r) rejects.push(r.reject);
      else if (p.item.images.some((i) => i.sha256 === r.sha256)) p.item.duplicates++;
      else p.item.images.push(r);
    });
    rejects.sort((a, b) => a.record - b.record || (a.image ?? -1) - (b.image ?? -1));
    return { firstN: records[0]!.n, lastN: records[records.length - 1]!.n, items: pending.map((p) => p.item), rejects };
  }

  private resolvePath(imagesDir: string, p: string): string {
    const full = path.resolve(imagesDir, p);
    const rel = path.relative(imagesDir, full);
    if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new RejectError(
        'IMAGE_PATH_INVALID',
        `image path ${JSON.stringify(p)} is outside the images folder ${imagesDir}`,
      );
    }
    return full;
  }

  private async readFile(file: string, label: string, mustExist: boolean): Promise<Buffer | undefined> {
    let st: fs.Stats;
    try {
      st = await fsp.stat(file);
    } catch {
      if (!mustExist) return undefined;
      throw new RejectError('IMAGE_NOT_FOUND', `image file ${JSON.stringify(label)} does not exist`);
    }
    if (!st.isFile()) throw new RejectError('IMAGE_NOT_FOUND', `image ${JSON.stringify(label)} is not a file`);
    if (st.size > this.deps.config.maxImageBytes) {
      throw new RejectError(
        'IMAGE_TOO_LARGE',
        `image ${JSON.stringify(label)} has ${st.size} bytes, over the limit of ${this.deps.config.maxImageBytes}`,
      );
    }
    try {
      return await fsp.readFile(file);
    } catch (err) {
      throw new RejectError(
        'IMAGE_UNREADABLE',
        `image ${JSON.stringify(label)} cannot be read: ${(err as Error).message}`,
      );
    }
  }

  private checkVector(ref: ImportImageRef): Float32Array {
    const { model } = this.deps;
    if (ref.model !== model.modelId) {
      throw new RejectError(
        'EMBEDDING_MODEL_MISMATCH',
        ref.model === undefined
          ? `a precomputed embedding needs "model": "${model.modelId}" (the model it was made with)`
          : `embedding was made by model ${JSON.stringify(ref.model)}, but this import writes vectors of ${JSON.stringify(model.modelId)}`,
      );
    }
    try {
      return unitVector(ref.embedding, model.dimension);
    } catch (err) {
      if (err instanceof VectorError) throw new RejectError('EMBEDDING_INVALID', `embedding ${err.message}`);
      throw err;
    }
  }

  private async prepareImage(
    imagesDir: string,
    sku: string,
    ref: ImportImageRef,
    index: number,
    known: Set<string>,
  ): Promise<PreparedImage> {
    const { config } = this.deps;
    const vector = ref.embedding !== undefined ? this.checkVector(ref) : undefined;
    let bytes: Buffer | undefined;
    let source = 'import';
    let sourceUrl: string | null = null;
    if (ref.path !== undefined) {
      bytes = await this.readFile(this.resolvePath(imagesDir, ref.path), ref.path, !vector);
    } else if (ref.url !== undefined) {
      sourceUrl = ref.url;
      if (!vector) {
        try {
          const fetched = await fetchImage(ref.url, {
            allowPrivate: config.fetchAllowPrivate,
            maxRedirects: config.fetchMaxRedirects,
            timeoutMs: config.fetchTimeoutMs,
            maxBytes: config.maxImageBytes,
            ...this.deps.fetchOptions,
            label: `images[${index}]`,
          });
          bytes = fetched.bytes;
          source = 'url';
        } catch (err) {
          throw new RejectError(codeOf(err) ?? 'FETCH_FAILED', (err as Error).message);
        }
      }
    } else if (!vector) {
      throw new RejectError('IMAGE_REF_INVALID', 'an image needs a "path", a "url" or an "embedding"');
    }

    if (!bytes) {
      // precomputed, no file: a reference row
      const key =
        ref.url ?? ref.path ?? Buffer.from(vector!.buffer, vector!.byteOffset, vector!.byteLength).toString('hex');
      const sha256 = createHash('sha256').update(`glimpse-precomputed:${key}`).digest('hex');
      return {
        index,
        sha256,
        source: PRECOMPUTED_SOURCE,
        sourceUrl,
        contentType: PRECOMPUTED_CONTENT_TYPE,
        byteSize: 0,
        width: 0,
        height: 0,
        vector: vector!,
        precomputed: true,
      };
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const base = { index, sha256, source, sourceUrl, byteSize: bytes.length, bytes, precomputed: Boolean(vector) };
    if (known.has(`${sku}\0${sha256}`)) {
      // already on the product with a vector: nothing to decode or embed (the row is found when writing)
      return { ...base, contentType: '', width: 0, height: 0 };
    }
    // the embedder decodes (and so verifies) the image itself; precomputed files are verified here
    const info = await inspectImage(bytes, {
      maxBytes: config.maxImageBytes,
      maxPixels: config.maxImagePixels,
      maxAspectRatio: config.maxImageAspectRatio,
      verify: Boolean(vector),
    });
    const v = vector ?? (await (await this.embedder()).embedImage(bytes));
    return { ...base, contentType: info.contentType, width: info.width, height: info.height, vector: v };
  }

  // -------------------------------------------------------------------------------------------- write

  private async commitWithFallback(
    ctx: { jobId: string; rejectsFile: string },
    batch: PreparedBatch,
    before: ImportCounts,
  ): Promise<ImportCounts> {
    try {
      const delta = await this.commit(ctx.jobId, batch.items, batch.rejects, batch.lastN, before);
      await this.writeRejects(ctx.rejectsFile, batch.rejects);
      return delta;
    } catch (err) {
      this.deps.log?.warn({ err, from: batch.firstN, to: batch.lastN }, 'batch failed; retrying record by record');
    }
    // one record per transaction: a failing record rejects only itself
    let total = emptyCounts();
    const rejects = [...batch.rejects];
    const byRecord = new Map<number, RejectLine[]>();
    for (const r of rejects) byRecord.set(r.record, [...(byRecord.get(r.record) ?? []), r]);
    for (const item of batch.items) {
      const own = (byRecord.get(item.n) ?? []).filter((r) => r.image !== undefined);
      try {
        total = addCounts(total, await this.commit(ctx.jobId, [item], own, item.n, addCounts(before, total)));
      } catch (err) {
        const reject: RejectLine = {
          record: item.n,
          sku: item.sku,
          code: 'WRITE_FAILED',
          message: (err as Error).message,
        };
        rejects.push(reject);
        const delta = emptyCounts();
        delta.rejected = 1;
        await this.commit(ctx.jobId, [], [], item.n, addCounts(before, addCounts(total, delta)), delta);
        total = addCounts(total, delta);
      }
    }
    // record-level rejects (no item) and the batch's end
    const recordRejects = batch.rejects.filter((r) => r.image === undefined).length;
    const delta = emptyCounts();
    delta.rejected = recordRejects;
    await this.commit(ctx.jobId, [], [], batch.lastN, addCounts(before, addCounts(total, delta)), delta);
    total = addCounts(total, delta);
    rejects.sort((a, b) => a.record - b.record || (a.image ?? -1) - (b.image ?? -1));
    await this.writeRejects(ctx.rejectsFile, rejects);
    return total;
  }

  private async writeRejects(file: string, rejects: RejectLine[]): Promise<void> {
    if (!rejects.length) return;
    await fsp.appendFile(file, rejects.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  /**
   * One transaction: upsert the products, add their new images and vectors, move the job cursor to `lastN`.
   * `fixed` replaces the computed counts (cursor-only commits of the fallback path).
   */
  private async commit(
    jobId: string,
    items: PreparedItem[],
    rejects: RejectLine[],
    lastN: number,
    before: ImportCounts,
    fixed?: ImportCounts,
  ): Promise<ImportCounts> {
    const { sql, config, model } = this.deps;
    const created: string[] = [];
    try {
      return await sql.transaction(async (tx) => {
        const delta = fixed ?? emptyCounts();
        if (!fixed) {
          delta.rejected = rejects.filter((r) => r.image === undefined).length;
          delta.images.rejected = rejects.filter((r) => r.image !== undefined).length;
        }
        if (items.length) {
          const res = await upsertProducts(
            tx,
            items.map((i) => i.input),
            config.textSearchConfig,
          );
          delta.imported += res.created;
          delta.updated += res.updated;
          // set-based writes: one query each for existing images, new image rows and vectors of the whole batch
          const owned = items.map((item, k) => ({ item, productId: res.products[k]!.id }));
          for (const { item } of owned) delta.images.duplicate += item.duplicates;
          const withImages = owned.filter((o) => o.item.images.length);
          if (withImages.length) {
            // the per-image lock serialises file writes with the clean-up of unreferenced files (image-store.ts)
            const fileShas = [
              ...new Set(withImages.flatMap((o) => o.item.images.filter((i) => i.bytes).map((i) => i.sha256))),
            ].sort();
            for (const sha of fileShas) await lockImage(tx, sha);
            const existing = new Map<string, string>(); // productId \0 sha256 → image id
            const nextPosition = new Map<string, number>();
            for (const r of await tx.query<{ id: string; productId: string; sha256: string; position: number }>(
              `SELECT id::text AS id, product_id::text AS "productId", sha256::text AS sha256, position FROM product_image WHERE product_id = ANY($1::uuid[])`,
              [withImages.map((o) => o.productId)],
            )) {
              existing.set(`${r.productId}\0${r.sha256.trim()}`, r.id);
              nextPosition.set(r.productId, Math.max(nextPosition.get(r.productId) ?? 0, Number(r.position) + 1));
            }
            const rows: { productId: string; img: PreparedImage; position: number }[] = [];
            const vectors: { imageId?: string; productId: string; img: PreparedImage }[] = [];
            for (const { item, productId } of withImages) {
              for (const img of item.images) {
                const imageId = existing.get(`${productId}\0${img.sha256}`);
                if (imageId) {
                  delta.images.duplicate++;
                  if (img.vector) vectors.push({ imageId, productId, img });
                  continue;
                }
                if (!img.vector) throw new Error(`image ${img.sha256} has no vector`); // known-image shortcut, but its row vanished
                if (img.bytes && (await this.store.ensure(img.sha256, img.bytes))) created.push(img.sha256);
                const position = nextPosition.get(productId) ?? 0;
                nextPosition.set(productId, position + 1);
                rows.push({ productId, img, position });
                vectors.push({ productId, img });
                delta.images.added++;
                if (img.precomputed) delta.images.precomputed++;
                else delta.images.embedded++;
              }
            }
            if (rows.length) {
              const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
              const inserted = await tx.query<{ id: string; productId: string; sha256: string }>(
                `INSERT INTO product_image (product_id, sha256, source, source_url, content_type, byte_size, width, height, position)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], $9::int[])
                 RETURNING id::text AS id, product_id::text AS "productId", sha256::text AS sha256`,
                [
                  col((r) => r.productId),
                  col((r) => r.img.sha256),
                  col((r) => r.img.source),
                  col((r) => r.img.sourceUrl),
                  col((r) => r.img.contentType),
                  col((r) => r.img.byteSize),
                  col((r) => r.img.width),
                  col((r) => r.img.height),
                  col((r) => r.position),
                ],
              );
              for (const r of inserted) existing.set(`${r.productId}\0${r.sha256.trim()}`, r.id);
            }
            if (vectors.length) {
              await insertEmbeddings(
                tx,
                model,
                vectors.map((v) => ({
                  imageId: v.imageId ?? existing.get(`${v.productId}\0${v.img.sha256}`)!,
                  vector: v.img.vector!,
                })),
              );
            }
          }
        }
        const after = addCounts(before, delta);
        await updateJob(tx, jobId, {
          cursor: String(lastN),
          done: lastN,
          failed: after.rejected,
          params: { counts: { ...after, skipped: 0 } },
        });
        return delta;
      });
    } catch (err) {
      for (const sha of created) await this.store.removeIfUnreferenced(sql, sha).catch(() => {});
      throw err;
    }
  }
}
