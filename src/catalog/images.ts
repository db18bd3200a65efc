/**
 * Product images: add (validate, store the original content-addressed, embed, insert image + vector in ONE
 * transaction, report near-duplicates), remove, reorder. A failed call writes nothing: rows roll back and a
 * file this call stored is deleted again unless another row references the same bytes.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Sql } from '../db/index.js';
import { GlimpseError, badInput, labelled, notFound } from '../errors.js';
import { inspectImage, type ImageInfo } from '../embedding/image-preprocess.js';
import type { Logger } from '../logger.js';
import { ImageStore } from './image-store.js';
import type { ModelIdentity, ModelRegistry } from './store/models.js';
import { embeddingTable, insertEmbeddings, nearestImages } from './store/embeddings.js';
import {
  deleteImageRow,
  imageIdsOfProduct,
  imageOfProduct,
  imagesByIds,
  imagesOfProductIds,
  insertImageRow,
  lockImage,
  nextImagePosition,
  setImageOrder,
  type ImageRow,
} from './store/images.js';
import { lockProduct, productExists } from './store/products.js';
import { configuredFetchOptions, fetchImage, parseImageUrl, type FetchImageOptions } from './url-fetch.js';

export { IMAGE_COLUMNS, type ImageRow } from './store/images.js';

/** An image to add: uploaded bytes (read lazily, capped by the caller) or a URL to fetch. */
export type ImageSource =
  | { kind: 'upload'; label: string; read: () => Promise<Buffer> }
  | { kind: 'url'; label: string; url: string }
  | { kind: 'bytes'; label: string; bytes: Buffer; source?: string; sourceUrl?: string | null };

/** What adding images needs from the embedding engine (src/embedding Embedder satisfies it). */
export interface ImageEmbedder extends ModelIdentity {
  embedImage(buf: Buffer | Uint8Array): Promise<Float32Array>;
}

export interface NearDuplicateRow {
  imageId: string;
  ofImageId: string;
  similarity: number;
}

export interface AddImagesResult {
  images: ImageRow[];
  nearDuplicates: NearDuplicateRow[];
}

export interface ImageServiceDeps {
  sql: Sql;
  config: Partial<Pick<Config, 'imageStore'>> &
    Pick<
      Config,
      | 'imageDir'
      | 'maxImageBytes'
      | 'maxImagePixels'
      | 'maxImageAspectRatio'
      | 'maxFilesPerRequest'
      | 'fetchAllowPrivate'
      | 'fetchTimeoutMs'
      | 'fetchMaxRedirects'
      | 'nearDuplicateThreshold'
    >;
  /** the loaded embedder; throws MODEL_UNAVAILABLE while none is ready */
  embedder: () => ImageEmbedder;
  registry: ModelRegistry;
  log?: Logger;
  /** URL fetch overrides (tests: DNS, address policy) */
  fetchOptions?: Partial<FetchImageOptions>;
}

interface Prepared {
  label: string;
  bytes: Buffer;
  sha256: string;
  info: ImageInfo;
  source: string;
  sourceUrl: string | null;
  vector?: Float32Array;
}

const NEAR_DUPLICATE_CANDIDATES = 10;

export class ImageService {
  readonly store: ImageStore;

  constructor(private readonly deps: ImageServiceDeps) {
    this.store = ImageStore.fromConfig(deps.config);
  }

  private get sql(): Sql {
    return this.deps.sql;
  }

  /** Reads, validates and hashes one source (no side effects). */
  private async prepare(src: ImageSource): Promise<Prepared> {
    const { config } = this.deps;
    let bytes: Buffer;
    let source: string;
    let sourceUrl: string | null = null;
    try {
      if (src.kind === 'upload') {
        bytes = await src.read();
        source = 'upload';
      } else if (src.kind === 'url') {
        const fetched = await fetchImage(src.url, configuredFetchOptions(config, this.deps.fetchOptions, src.label));
        bytes = fetched.bytes;
        source = 'url';
        sourceUrl = src.url;
      } else {
        bytes = src.bytes;
        source = src.source ?? 'import';
        sourceUrl = src.sourceUrl ?? null;
      }
      if (bytes.length > config.maxImageBytes) {
        throw new GlimpseError(
          'IMAGE_TOO_LARGE',
          `${src.label}: ${bytes.length} bytes is over the limit of ${config.maxImageBytes} bytes`,
          {
            field: src.label,
            maxBytes: config.maxImageBytes,
          },
        );
      }
      const info = await inspectImage(bytes, {
        maxBytes: config.maxImageBytes,
        maxPixels: config.maxImagePixels,
        maxAspectRatio: config.maxImageAspectRatio,
      });
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { label: src.label, bytes, sha256, info, source, sourceUrl };
    } catch (err) {
      throw labelled(err, src.label);
    }
  }

  /**
   * Adds images to a product, in order. All or nothing: on any error no row is written and no file is left.
   * An image (same bytes) the product already has is returned as it is.
   */
  async addImages(productId: string, sources: readonly ImageSource[]): Promise<AddImagesResult> {
    const { config } = this.deps;
    if (!sources.length) throw badInput('give at least one file or url', { field: 'files' });
    if (sources.length > config.maxFilesPerRequest) {
      throw new GlimpseError(
        'PAYLOAD_TOO_LARGE',
        `at most ${config.maxFilesPerRequest} images per request (got ${sources.length})`,
        {
          max: config.maxFilesPerRequest,
        },
      );
    }
    for (const s of sources) if (s.kind === 'url') parseImageUrl(s.url, s.label);
    if (!(await productExists(this.sql, productId))) throw notFound('product', productId);
    const embedder = this.deps.embedder(); // MODEL_UNAVAILABLE before any work
    embeddingTable(embedder.dimension); // a supported dimension, or throw before any work

    // 1. read + validate everything first (uploads one after another: they arrive in order on one stream)
    const prepared: Prepared[] = [];
    for (const s of sources) prepared.push(await this.prepare(s));
    // 2. embed each distinct image once
    const distinct = new Map<string, Prepared>();
    for (const p of prepared) if (!distinct.has(p.sha256)) distinct.set(p.sha256, p);
    await Promise.all(
      [...distinct.values()].map(async (p) => {
        try {
          p.vector = await embedder.embedImage(p.bytes);
        } catch (err) {
          throw labelled(err, p.label);
        }
      }),
    );
    await this.deps.registry.ensure(embedder);

    // 3. one transaction: rows, vectors, files (written under the per-image lock)
    const created: string[] = [];
    try {
      return await this.sql.transaction(async (tx) => {
        if (!(await lockProduct(tx, productId))) throw notFound('product', productId);
        for (const sha of [...distinct.keys()].sort()) await lockImage(tx, sha);
        let position = await nextImagePosition(tx, productId);
        const images: ImageRow[] = [];
        const added: { row: ImageRow; vector: Float32Array }[] = [];
        const vectors: { imageId: string; vector: Float32Array }[] = [];
        const done = new Map<string, ImageRow>();
        for (const p of prepared) {
          const again = done.get(p.sha256);
          if (again) {
            images.push(again);
            continue;
          }
          const vector = distinct.get(p.sha256)!.vector!;
          const existing = await imageOfProduct(tx, productId, p.sha256);
          let row: ImageRow;
          if (existing) {
            row = existing;
            if (await this.store.ensure(p.sha256, p.bytes)) created.push(p.sha256); // repair a missing file
          } else {
            if (await this.store.ensure(p.sha256, p.bytes)) created.push(p.sha256);
            row = await insertImageRow(tx, {
              productId,
              sha256: p.sha256,
              source: p.source,
              sourceUrl: p.sourceUrl,
              contentType: p.info.contentType,
              byteSize: p.bytes.length,
              width: p.info.width,
              height: p.info.height,
              position: position++,
            });
            added.push({ row, vector });
          }
          vectors.push({ imageId: row.id, vector });
          done.set(p.sha256, row);
          images.push(row);
        }
        await insertEmbeddings(tx, embedder, vectors);
        const nearDuplicates: NearDuplicateRow[] = [];
        for (const { row, vector } of added) {
          const near = await nearestImages(tx, embedder, {
            vector,
            excludeImageId: row.id,
            candidates: NEAR_DUPLICATE_CANDIDATES,
            threshold: config.nearDuplicateThreshold,
          });
          for (const n of near)
            nearDuplicates.push({ imageId: row.id, ofImageId: n.imageId, similarity: Math.min(1, n.similarity) });
        }
        return { images, nearDuplicates };
      });
    } catch (err) {
      await this.cleanup(created);
      throw err;
    }
  }

  /** Deletes files no row references (after a failed add, a removal or a product deletion). Never throws. */
  async cleanup(sha256s: readonly string[]): Promise<void> {
    for (const sha of new Set(sha256s)) {
      try {
        await this.store.removeIfUnreferenced(this.sql, sha);
      } catch (err) {
        this.deps.log?.warn({ err, sha256: sha }, 'could not clean up an unreferenced image file');
      }
    }
  }

  /** Removes an image, its vectors and (when unreferenced) its file; later images move up one position. */
  async removeImage(imageId: string): Promise<ImageRow> {
    const row = await this.sql.transaction(async (tx) => {
      const [found] = await imagesByIds(tx, [imageId]);
      if (!found) throw notFound('image', imageId);
      await lockProduct(tx, found.productId);
      await lockImage(tx, found.sha256);
      if (!(await deleteImageRow(tx, found))) throw notFound('image', imageId);
      return found;
    });
    await this.cleanup([row.sha256]);
    return row;
  }

  /** Sets the display order; `imageIds` must be exactly the product's images. */
  async reorder(productId: string, imageIds: readonly string[]): Promise<void> {
    await this.sql.transaction(async (tx) => {
      if (!(await lockProduct(tx, productId))) throw notFound('product', productId);
      const have = new Set(await imageIdsOfProduct(tx, productId));
      const given = new Set(imageIds);
      if (given.size !== imageIds.length) throw badInput('imageIds: an image is listed twice', { field: 'imageIds' });
      if (given.size !== have.size || [...given].some((id) => !have.has(id))) {
        throw badInput('imageIds: must list every image of the product exactly once', { field: 'imageIds' });
      }
      if (!imageIds.length) return;
      await setImageOrder(tx, productId, imageIds);
    });
  }

  imagesByProductIds(productIds: readonly string[]): Promise<ImageRow[]> {
    return imagesOfProductIds(this.sql, productIds);
  }

  imagesByIds(ids: readonly string[]): Promise<ImageRow[]> {
    return imagesByIds(this.sql, ids);
  }
}
