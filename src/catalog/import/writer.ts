/**
 * The import's batch writer: writes a prepared batch (./reader.ts) in ONE transaction — products upserted by
 * sku, their new image rows and vectors, and the job row's cursor (= the batch's last record number) — then
 * appends the batch's rejects. A batch whose transaction fails is written again record by record, so one
 * unexpected row rejects only itself; a full image store is no record's fault and stops the import (resumable
 * once space is freed) instead. Files of new images are stored under the per-image lock before their
 * rows; a transaction that fails removes the files it stored unless another row references them.
 */
import fsp from 'node:fs/promises';
import type { Sql } from '../../db/index.js';
import type { Logger } from '../../logger.js';
import { ImageStore, isImageStoreFull } from '../image-store.js';
import { updateJob } from '../store/jobs.js';
import type { ModelIdentity } from '../store/models.js';
import { upsertProducts } from '../products.js';
import { insertEmbeddings, type NewEmbedding } from '../store/embeddings.js';
import { imagesOfProducts, insertImageRows, lockImage, type NewImageRow } from '../store/images.js';
import { EarlierBatchFailed } from './ordered-writes.js';
import { addCounts, emptyCounts, rejectCounts, sortRejects, type ImportCounts, type RejectLine } from './counts.js';
import type { PreparedBatch, PreparedImage, PreparedItem } from './reader.js';

export interface WriterDeps {
  sql: Sql;
  store: ImageStore;
  /** the model the vectors belong to */
  model: ModelIdentity;
  textSearchConfig: string;
  log?: Logger | undefined;
}

/** A prepared item with the id of the product its upsert wrote. */
interface OwnedItem {
  item: PreparedItem;
  productId: string;
}

/** `productId \0 sha256`: an image of one product. */
const imageKey = (productId: string, sha256: string) => `${productId}\0${sha256}`;

export class BatchWriter {
  constructor(
    private readonly deps: WriterDeps,
    private readonly job: { id: string; rejectsFile: string },
  ) {}

  /**
   * Writes a batch and its rejects. `before` resolves, once every earlier batch has committed, to the job's
   * counts so far (./ordered-writes.ts): the batch does its work, then waits for it, then moves the cursor and
   * commits. Returns what the batch added.
   */
  async write(batch: PreparedBatch, before: () => Promise<ImportCounts>): Promise<ImportCounts> {
    try {
      const delta = await this.commit(batch.items, rejectCounts(batch.rejects), batch.lastN, before);
      await this.writeRejects(batch.rejects);
      return delta;
    } catch (err) {
      if (isImageStoreFull(err) || err instanceof EarlierBatchFailed) throw err;
      this.deps.log?.warn({ err, from: batch.firstN, to: batch.lastN }, 'batch failed; retrying record by record');
    }
    return this.writeRecordByRecord(batch, await before());
  }

  /** One record per transaction: a failing record rejects only itself (WRITE_FAILED). */
  private async writeRecordByRecord(batch: PreparedBatch, before: ImportCounts): Promise<ImportCounts> {
    const after = (counts: ImportCounts) => () => Promise.resolve(addCounts(before, counts));
    let total = emptyCounts();
    const rejects = [...batch.rejects];
    for (const item of batch.items) {
      const imageRejects = batch.rejects.filter((r) => r.record === item.n && r.image !== undefined);
      try {
        total = addCounts(total, await this.commit([item], rejectCounts(imageRejects), item.n, after(total)));
      } catch (err) {
        rejects.push({
          record: item.n,
          line: item.line,
          sku: item.sku,
          code: 'WRITE_FAILED',
          message: (err as Error).message,
        });
        const delta = { ...emptyCounts(), rejected: 1 };
        await this.commit([], delta, item.n, after(total));
        total = addCounts(total, delta);
      }
    }
    // record-level rejects (no item) and the batch's end
    const delta = { ...emptyCounts(), rejected: batch.rejects.filter((r) => r.image === undefined).length };
    await this.commit([], delta, batch.lastN, after(total));
    total = addCounts(total, delta);
    await this.writeRejects(sortRejects(rejects));
    return total;
  }

  private async writeRejects(rejects: readonly RejectLine[]): Promise<void> {
    if (!rejects.length) return;
    await fsp.appendFile(this.job.rejectsFile, rejects.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  /**
   * One transaction: the items' products, images and vectors, then (once `before` resolves to the counts of
   * the batches before) the job row moved to `lastN` with those counts + what this wrote. `counted`: counts
   * the caller already knows (rejects); returns them with the written ones added.
   */
  private async commit(
    items: readonly PreparedItem[],
    counted: ImportCounts,
    lastN: number,
    before: () => Promise<ImportCounts>,
  ): Promise<ImportCounts> {
    const storedFiles: string[] = [];
    try {
      return await this.deps.sql.transaction(async (tx) => {
        const delta = items.length ? addCounts(counted, await this.writeItems(tx, items, storedFiles)) : counted;
        const after = addCounts(await before(), delta);
        await updateJob(tx, this.job.id, {
          cursor: String(lastN),
          done: lastN,
          failed: after.rejected,
          params: { counts: { ...after, skipped: 0 } },
        });
        return delta;
      });
    } catch (err) {
      for (const sha of storedFiles) await this.deps.store.removeIfUnreferenced(this.deps.sql, sha).catch(() => {});
      throw err;
    }
  }

  /** Products, then (set-based: one statement each) their new image rows and vectors. */
  private async writeItems(tx: Sql, items: readonly PreparedItem[], storedFiles: string[]): Promise<ImportCounts> {
    const delta = emptyCounts();
    const res = await upsertProducts(
      tx,
      items.map((i) => i.input),
      this.deps.textSearchConfig,
    );
    delta.imported = res.created;
    delta.updated = res.updated;
    delta.unchanged = res.unchanged;
    const owned: OwnedItem[] = items.map((item, k) => ({ item, productId: res.products[k]!.id }));
    for (const { item } of owned) delta.images.duplicate += item.duplicates;
    const withImages = owned.filter((o) => o.item.images.length);
    if (!withImages.length) return delta;

    // the per-image lock serialises file writes with the clean-up of unreferenced files (image-store.ts)
    const fileShas = new Set(withImages.flatMap((o) => o.item.images.filter((i) => i.bytes).map((i) => i.sha256)));
    for (const sha of [...fileShas].sort()) await lockImage(tx, sha);
    const existing = new Map<string, string>(); // image key → image id
    const nextPosition = new Map<string, number>();
    for (const r of await imagesOfProducts(
      tx,
      withImages.map((o) => o.productId),
    )) {
      existing.set(imageKey(r.productId, r.sha256), r.id);
      nextPosition.set(r.productId, Math.max(nextPosition.get(r.productId) ?? 0, r.position + 1));
    }
    const placed = await this.placeImages(withImages, existing, nextPosition, delta, storedFiles);
    for (const r of await insertImageRows(tx, placed.rows)) existing.set(imageKey(r.productId, r.sha256), r.id);
    const vectors: NewEmbedding[] = placed.vectors.map((v) => ({
      imageId: v.imageId ?? existing.get(imageKey(v.productId, v.img.sha256))!,
      vector: v.img.vector!,
    }));
    await insertEmbeddings(tx, this.deps.model, vectors);
    return delta;
  }

  /**
   * Which images are new rows (stored, positioned after the product's last image) and which vectors to write
   * (new images, and images the product has already when they come with a vector).
   */
  private async placeImages(
    owned: readonly OwnedItem[],
    existing: ReadonlyMap<string, string>,
    nextPosition: Map<string, number>,
    delta: ImportCounts,
    storedFiles: string[],
  ): Promise<{ rows: NewImageRow[]; vectors: { imageId?: string; productId: string; img: PreparedImage }[] }> {
    const rows: NewImageRow[] = [];
    const vectors: { imageId?: string; productId: string; img: PreparedImage }[] = [];
    for (const { item, productId } of owned) {
      for (const img of item.images) {
        const imageId = existing.get(imageKey(productId, img.sha256));
        if (imageId) {
          delta.images.duplicate++;
          if (img.vector) vectors.push({ imageId, productId, img });
          continue;
        }
        if (!img.vector) throw new Error(`image ${img.sha256} has no vector`); // known-image shortcut, but its row vanished
        if (img.bytes && (await this.deps.store.ensure(img.sha256, img.bytes))) storedFiles.push(img.sha256);
        const position = nextPosition.get(productId) ?? 0;
        nextPosition.set(productId, position + 1);
        rows.push({ productId, position, ...imageColumns(img) });
        vectors.push({ productId, img });
        delta.images.added++;
        if (img.precomputed) delta.images.precomputed++;
        else delta.images.embedded++;
      }
    }
    return { rows, vectors };
  }
}

function imageColumns(img: PreparedImage): Omit<NewImageRow, 'productId' | 'position'> {
  const { sha256, source, sourceUrl, contentType, byteSize, width, height } = img;
  return { sha256, source, sourceUrl, contentType, byteSize, width, height };
}
