/**
 * The content-addressed store of original images, on top of an ImageStorage (image-storage.ts: a local or
 * shared folder by default; what a storage must provide is written there). This layer adds what makes the
 * store safe for several processes at once: every writer holds the image's per-sha256 transaction-scoped
 * advisory lock from before it writes the bytes until the row that references them commits, and the clean-up
 * of unreferenced images takes the same lock. So an image that a live process (this one or another API
 * replica sharing the storage and the database) is writing or about to reference is never deleted, and one
 * whose writer is gone — nobody holds its lock, no row references it — can be deleted at once, without
 * waiting for it to age.
 *
 * A full disk (ENOSPC, or EDQUOT over a quota) is not the request's fault and passes: it is SERVICE_UNAVAILABLE
 * with reason IMAGE_STORE_FULL and a retry hint, the partial write is removed, and the caller's transaction
 * rolls back (an import stops, resumable, rather than rejecting every record).
 */
import type { Sql } from '../db/index.js';
import { GlimpseError } from '../errors.js';
import { LocalImageStorage, openImageStorage, type ImageStorage, type ImageStorageConfig } from './image-storage.js';
import { imageFileReferenced, lockImage, referencedImageFiles, tryLockImage } from './store/images.js';

export { BOOT_ID, type ImageStorage } from './image-storage.js';

/** Seconds a client should wait after the store was found full: someone has to free space first. */
const FULL_RETRY_AFTER_SECONDS = 30;

/** ENOSPC / EDQUOT as the typed error the API and the importer report; anything else unchanged. */
function storeFull(err: unknown, imageDir: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
  return new GlimpseError(
    'SERVICE_UNAVAILABLE',
    `the image store is full (${code} in ${imageDir}): no image can be stored until space is freed`,
    { reason: 'IMAGE_STORE_FULL', retryAfterSeconds: FULL_RETRY_AFTER_SECONDS },
  );
}

/** Whether `err` is the image store being full (storeFull's error). */
export function isImageStoreFull(err: unknown): boolean {
  return err instanceof GlimpseError && err.details.reason === 'IMAGE_STORE_FULL';
}

export interface SweepResult {
  /** stored files looked at */
  scanned: number;
  /** of those, deleted (no row references them under the lock) */
  removed: number;
  /** temporary files of writes that were interrupted */
  tempRemoved: number;
  /** files left alone because a live writer holds their lock */
  busy: number;
}

export class ImageStore {
  readonly storage: ImageStorage;

  /** `storage`: where the bytes are; a folder path means the local folder storage (the default). */
  constructor(storage: ImageStorage | string) {
    this.storage = typeof storage === 'string' ? new LocalImageStorage(storage) : storage;
  }

  /** The store on the storage the configuration selects (GLIMPSE_IMAGE_STORE). */
  static fromConfig(config: ImageStorageConfig): ImageStore {
    return new ImageStore(openImageStorage(config));
  }

  /** Stores the bytes unless an intact copy is there; returns true when this call created it. */
  async ensure(sha256: string, bytes: Uint8Array): Promise<boolean> {
    try {
      return await this.storage.put(sha256, bytes);
    } catch (err) {
      throw storeFull(err, this.storage.location);
    }
  }

  exists(sha256: string): Promise<boolean> {
    return this.storage.exists(sha256);
  }

  /** The stored bytes, or undefined when the image is not there. */
  get(sha256: string): Promise<Buffer | undefined> {
    return this.storage.get(sha256);
  }

  /** Deletes the image when no product_image row references it; returns true when it was deleted. */
  async removeIfUnreferenced(sql: Sql, sha256: string): Promise<boolean> {
    return sql.transaction(async (tx) => {
      await lockImage(tx, sha256);
      if (await imageFileReferenced(tx, sha256)) return false;
      return this.storage.delete(sha256);
    });
  }

  /**
   * Deletes what a crash can leave behind: stored images no product_image row references (the writer died
   * between storing the bytes and committing its row) and partial writes. One is deleted only when its image's
   * lock can be taken at once (no live writer, in any process, is writing it or about to commit a row for it)
   * and, for a stored image, no row references it under that lock. So it runs at server start without waiting
   * for files to age; `minAgeMs` adds a grace (`glimpse images gc`).
   */
  async sweep(sql: Sql, opts: { minAgeMs?: number } = {}): Promise<SweepResult> {
    const cutoff = Date.now() - (opts.minAgeMs ?? 0);
    const out: SweepResult = { scanned: 0, removed: 0, tempRemoved: 0, busy: 0 };
    const stored: string[] = [];
    const partials: { key: string; sha256: string }[] = [];
    for await (const o of this.storage.list()) {
      if (o.modifiedMs > cutoff) continue;
      if (o.partial) partials.push({ key: o.key, sha256: o.sha256 });
      else stored.push(o.sha256);
    }
    for (const p of partials) {
      const r = await this.removeIfUnlocked(sql, p.sha256, false, () => this.storage.deletePartial(p.key));
      if (r === 'removed') out.tempRemoved++;
      else if (r === 'busy') out.busy++;
    }
    for (let i = 0; i < stored.length; i += 1000) {
      const batch = stored.slice(i, i + 1000);
      out.scanned += batch.length;
      const referenced = new Set(await referencedImageFiles(sql, batch));
      for (const sha of batch) {
        if (referenced.has(sha)) continue;
        const r = await this.removeIfUnlocked(sql, sha, true, () => this.storage.delete(sha));
        if (r === 'removed') out.removed++;
        else if (r === 'busy') out.busy++;
      }
    }
    return out;
  }

  /** Runs `remove` when nobody holds the image's lock (and, `unreferenced`, no row references the image). */
  private async removeIfUnlocked(
    sql: Sql,
    sha256: string,
    unreferenced: boolean,
    remove: () => Promise<boolean>,
  ): Promise<'removed' | 'busy' | 'kept'> {
    return sql.transaction(async (tx) => {
      if (!(await tryLockImage(tx, sha256))) return 'busy';
      if (unreferenced && (await imageFileReferenced(tx, sha256))) return 'kept';
      return (await remove()) ? 'removed' : 'kept';
    });
  }
}
