/**
 * The import's reader: turns a batch of catalog records (./source.ts) into a prepared batch: each record
 * mapped to the catalog's ProductInput and validated, each image read (path under the images folder, or URL),
 * hashed, checked and embedded, or its precomputed vector checked. Nothing is written here; bad records and
 * bad images become reject lines, anything else (the model failed to load, a worker crashed) is thrown.
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
import path from 'node:path';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/index.js';
import { codeOf } from '../../errors.js';
import { inspectImage } from '../../embedding/image-preprocess.js';
import { unitVector, VectorError } from '../../embedding/vector.js';
import { mapLimit } from '../concurrency.js';
import type { ImageEmbedder } from '../images.js';
import type { ModelIdentity } from '../store/models.js';
import { embeddedImagesOfSkus } from '../store/embeddings.js';
import { PRECOMPUTED_CONTENT_TYPE, PRECOMPUTED_SOURCE, type ImageFields } from '../store/images.js';
import { configuredFetchOptions, fetchImage, type FetchImageOptions } from '../url-fetch.js';
import { validateProductInput, type ProductInput } from '../validation.js';
import { sortRejects, type RejectLine } from './counts.js';
import type { ImportImageRef, ImportRecord } from './source.js';

export interface ReaderDeps {
  sql: Sql;
  config: Pick<
    Config,
    | 'maxImageBytes'
    | 'maxImagePixels'
    | 'maxImageAspectRatio'
    | 'fetchAllowPrivate'
    | 'fetchTimeoutMs'
    | 'fetchMaxRedirects'
  >;
  /** the model vectors are made for */
  model: ModelIdentity;
  /** the embedder of `model`, loaded on first use (an import of precomputed vectors never loads one) */
  embedder: () => Promise<ImageEmbedder>;
  fetchOptions?: Partial<FetchImageOptions> | undefined;
}

export interface ReaderOptions {
  /** base folder of image paths */
  imagesDir: string;
  /** images read/decoded/embedded at the same time */
  concurrency: number;
  /** called after each image (read, rejected or skipped) */
  onImage: () => void;
}

export interface PreparedImage extends ImageFields {
  /** position in the record's images */
  index: number;
  /** the original, to store (absent: a precomputed vector without a file) */
  bytes?: Buffer;
  vector?: Float32Array;
  precomputed: boolean;
}

export interface PreparedItem {
  n: number;
  line: number;
  sku: string;
  input: ProductInput;
  images: PreparedImage[];
  duplicates: number;
}

export interface PreparedBatch {
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

/** Reads and prepares batches of records for the batch writer (./writer.ts). */
export class BatchReader {
  private embedderPromise: Promise<ImageEmbedder> | undefined;

  constructor(
    private readonly deps: ReaderDeps,
    private readonly opts: ReaderOptions,
  ) {}

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

  /** Validates the records and reads, checks and embeds their images (up to `concurrency` at a time). */
  async prepare(records: ImportRecord[]): Promise<PreparedBatch> {
    const ctx = this.opts;
    const rejects: RejectLine[] = [];
    const pending: { item: PreparedItem; refs: ImportImageRef[] }[] = [];
    for (const rec of records) {
      const skuGuess = typeof rec.fields?.sku === 'string' ? rec.fields.sku : (rec.sku ?? null);
      if (rec.parseError || !rec.fields) {
        rejects.push({
          record: rec.n,
          line: rec.line,
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
          line: rec.line,
          sku: skuGuess,
          code: codeOf(err) === 'BAD_USER_INPUT' ? 'INVALID_PRODUCT' : 'PARSE_ERROR',
          message: (err as Error).message,
        });
        continue;
      }
      pending.push({ item: { n: rec.n, line: rec.line, sku, input, images: [], duplicates: 0 }, refs: rec.images });
    }

    // images already on these products with a vector of our model: not embedded again
    const withRefs = pending.filter((p) => p.refs.length).map((p) => p.item.sku);
    const known = new Set<string>();
    for (const r of withRefs.length ? await embeddedImagesOfSkus(this.deps.sql, this.deps.model, withRefs) : [])
      known.add(`${r.sku}\0${r.sha256}`);

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
            line: p.item.line,
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
    sortRejects(rejects);
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
          const fetched = await fetchImage(
            ref.url,
            configuredFetchOptions(config, this.deps.fetchOptions, `images[${index}]`),
          );
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
}
