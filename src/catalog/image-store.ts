/**
 * The content-addressed store of original image files (<imageDir>/<ab>/<cd>/<sha256>, see
 * image-store-paths.ts). Files are written to a temporary name (<sha256>.<boot id>.<random>.tmp, the boot id
 * naming the writing process) and renamed into place (atomic). Every writer holds the image's per-sha256
 * transaction-scoped advisory lock from before it writes the file until the row that references it commits,
 * and the clean-up of unreferenced files takes the same lock: so a file that a live process (this one or
 * another API process sharing the folder and the database) is writing or about to reference is never
 * deleted, and a file whose writer is gone — nobody holds its lock, no row references it — can be deleted at
 * once, without waiting for it to age.
 *
 * A full disk (ENOSPC, or EDQUOT over a quota) is not the request's fault and passes: it is SERVICE_UNAVAILABLE
 * with reason IMAGE_STORE_FULL and a retry hint, the temporary file is removed, and the caller's transaction
 * rolls back (an import stops, resumable, rather than rejecting every record).
 */
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Sql } from '../db/index.js';
import { GlimpseError } from '../errors.js';
import { imagePath } from './image-store-paths.js';
import { imageFileReferenced, lockImage, referencedImageFiles, tryLockImage } from './store/images.js';

/** Random per process start: the temporary files this process writes carry it. */
export const BOOT_ID = randomBytes(6).toString('hex');

/** <sha256>.<writer>.tmp: the writer is `<boot id>.<random>` (older versions: `<pid>.<random>`). */
const TEMP_NAME = /^([0-9a-f]{64})\.([^/]+)\.tmp$/;

export { lockImage } from './store/images.js';

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
  constructor(readonly imageDir: string) {}

  path(sha256: string): string {
    return imagePath(this.imageDir, sha256);
  }

  /** Writes the bytes unless an intact copy is there; returns true when this call created the file. */
  async ensure(sha256: string, bytes: Uint8Array): Promise<boolean> {
    const file = this.path(sha256);
    try {
      const st = await fsp.stat(file);
      if (st.isFile() && st.size === bytes.byteLength) return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const tmp = `${file}.${BOOT_ID}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      const fh = await fsp.open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw storeFull(err, this.imageDir);
    }
    return true;
  }

  async exists(sha256: string): Promise<boolean> {
    try {
      return (await fsp.stat(this.path(sha256))).isFile();
    } catch {
      return false;
    }
  }

  /** Deletes the file when no product_image row references it; returns true when it was deleted. */
  async removeIfUnreferenced(sql: Sql, sha256: string): Promise<boolean> {
    return sql.transaction(async (tx) => {
      await lockImage(tx, sha256);
      if (await imageFileReferenced(tx, sha256)) return false;
      try {
        await fsp.unlink(this.path(sha256));
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
    });
  }

  /**
   * Deletes what a crash can leave behind: stored files no product_image row references (the writer died
   * between writing the file and committing its row) and temporary files of interrupted writes. A file is
   * deleted only when its image's lock can be taken at once (no live writer, in any process, is writing it or
   * about to commit a row for it) and, for a stored file, no row references it under that lock. So it runs
   * at server start without waiting for files to age; `minAgeMs` adds a grace (`glimpse images gc`).
   */
  async sweep(sql: Sql, opts: { minAgeMs?: number } = {}): Promise<SweepResult> {
    const cutoff = Date.now() - (opts.minAgeMs ?? 0);
    const out: SweepResult = { scanned: 0, removed: 0, tempRemoved: 0, busy: 0 };
    let entries: string[];
    try {
      entries = (await fsp.readdir(this.imageDir, { recursive: true })) as string[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw err;
    }
    const stored: string[] = [];
    const temps: { file: string; sha256: string }[] = [];
    for (const rel of entries) {
      const name = path.basename(rel);
      const temp = TEMP_NAME.exec(name);
      if (!temp && !/^[0-9a-f]{64}$/.test(name)) continue;
      const file = path.join(this.imageDir, rel);
      const st = await fsp.stat(file).catch(() => undefined);
      if (!st?.isFile() || st.mtimeMs > cutoff) continue;
      if (temp) temps.push({ file, sha256: temp[1]! });
      else stored.push(name);
    }
    for (const t of temps) {
      const r = await this.removeIfUnlocked(sql, t.sha256, t.file, false);
      if (r === 'removed') out.tempRemoved++;
      else if (r === 'busy') out.busy++;
    }
    for (let i = 0; i < stored.length; i += 1000) {
      const batch = stored.slice(i, i + 1000);
      out.scanned += batch.length;
      const referenced = new Set(await referencedImageFiles(sql, batch));
      for (const sha of batch) {
        if (referenced.has(sha)) continue;
        const r = await this.removeIfUnlocked(sql, sha, this.path(sha), true);
        if (r === 'removed') out.removed++;
        else if (r === 'busy') out.busy++;
      }
    }
    return out;
  }

  /** Deletes `file` when nobody holds the image's lock (and, `unreferenced`, no row references the image). */
  private async removeIfUnlocked(
    sql: Sql,
    sha256: string,
    file: string,
    unreferenced: boolean,
  ): Promise<'removed' | 'busy' | 'kept'> {
    return sql.transaction(async (tx) => {
      if (!(await tryLockImage(tx, sha256))) return 'busy';
      if (unreferenced && (await imageFileReferenced(tx, sha256))) return 'kept';
      try {
        await fsp.unlink(file);
        return 'removed';
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'kept';
        throw err;
      }
    });
  }
}
