/**
 * Where the bytes of original images are kept: the small interface the image store (image-store.ts: the
 * per-image locks, reference checks and the sweep) needs from a storage, and the one implementation, a local
 * folder (GLIMPSE_IMAGE_STORE=local[:<dir>], the default).
 *
 * The interface is what any backend must give: `put` atomic (a reader sees every byte or no object; an object
 * written twice with the same bytes is harmless, names are content hashes), `get` / `exists` / `delete` by
 * sha256, and `list` of everything there including the leftovers of interrupted writes, for the sweep. It does
 * NOT have to provide locking: concurrent writers and the sweep are serialised by PostgreSQL advisory locks
 * per sha256 (store/images.ts), which every API replica and the CLI take on the shared database. That is why a
 * folder on a shared file system (NFS, EFS, CephFS) mounted by several replicas is safe, as long as rename
 * within the folder is atomic there (it is on NFSv3+/EFS). An object store (S3 and alike) would implement
 * `put` as a single PUT (atomic per object), `list` as a paginated listing (multipart uploads left open are
 * its partial writes), and serve GET /images/<sha256> by redirect: not built here (no such service to test
 * against), see docs/scaling.md.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { imagePath } from './image-store-paths.js';

/** Random per process start: the temporary files this process writes carry it. */
export const BOOT_ID = randomBytes(6).toString('hex');

/** One thing in a storage: a stored image, or what an interrupted write of one left behind. */
export interface StoredObject {
  sha256: string;
  /** the storage's own name for it (what `deletePartial` takes) */
  key: string;
  /** an interrupted write, not a stored image */
  partial: boolean;
  modifiedMs: number;
}

export interface ImageStorage {
  /** where it is, for messages and logs */
  readonly location: string;
  /** Stores `bytes` (whose sha256 is `sha256`) atomically; false when an intact copy was already there. */
  put(sha256: string, bytes: Uint8Array): Promise<boolean>;
  /** The stored bytes, or undefined when there is no such image. */
  get(sha256: string): Promise<Buffer | undefined>;
  exists(sha256: string): Promise<boolean>;
  /** Deletes a stored image; false when it was not there. */
  delete(sha256: string): Promise<boolean>;
  /** Every stored image and every partial write, in no particular order. */
  list(): AsyncIterable<StoredObject>;
  /** Deletes a partial write found by `list`; false when it was gone. */
  deletePartial(key: string): Promise<boolean>;
}

/** <sha256>.<writer>.tmp: the writer is `<boot id>.<random>` (older versions: `<pid>.<random>`). */
const TEMP_NAME = /^([0-9a-f]{64})\.([^/]+)\.tmp$/;
const STORED_NAME = /^[0-9a-f]{64}$/;

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * A folder: <dir>/<ab>/<cd>/<sha256> (image-store-paths.ts). Written to a temporary name
 * (<sha256>.<boot id>.<random>.tmp, fsynced) and renamed into place, so a reader never sees half a file.
 */
export class LocalImageStorage implements ImageStorage {
  readonly location: string;

  constructor(readonly dir: string) {
    this.location = path.resolve(dir);
  }

  /** The file of a stored image (the HTTP layer streams it from there). */
  path(sha256: string): string {
    return imagePath(this.dir, sha256);
  }

  async put(sha256: string, bytes: Uint8Array): Promise<boolean> {
    const file = this.path(sha256);
    try {
      const st = await fsp.stat(file);
      if (st.isFile() && st.size === bytes.byteLength) return false;
    } catch (err) {
      if (!isMissing(err)) throw err;
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
      throw err;
    }
    return true;
  }

  async get(sha256: string): Promise<Buffer | undefined> {
    try {
      return await fsp.readFile(this.path(sha256));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async exists(sha256: string): Promise<boolean> {
    try {
      return (await fsp.stat(this.path(sha256))).isFile();
    } catch {
      return false;
    }
  }

  async delete(sha256: string): Promise<boolean> {
    return this.unlink(this.path(sha256));
  }

  async *list(): AsyncIterable<StoredObject> {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(this.dir, { recursive: true, withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const e of entries) {
      const temp = TEMP_NAME.exec(e.name);
      if (!temp && !STORED_NAME.test(e.name)) continue;
      const file = path.join(e.parentPath, e.name);
      const st = await fsp.stat(file).catch(() => undefined);
      if (!st?.isFile()) continue;
      yield { sha256: temp ? temp[1]! : e.name, key: file, partial: Boolean(temp), modifiedMs: st.mtimeMs };
    }
  }

  async deletePartial(key: string): Promise<boolean> {
    // only names this storage itself gives partial writes, inside its folder
    if (!TEMP_NAME.test(path.basename(key)) || !path.resolve(key).startsWith(this.location + path.sep)) return false;
    return this.unlink(key);
  }

  private async unlink(file: string): Promise<boolean> {
    try {
      await fsp.unlink(file);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }
}

/** The storage GLIMPSE_IMAGE_STORE selects (config.ts validates it: `local` is the one kind there is). */
export function openImageStorage(config: ImageStorageConfig): ImageStorage {
  return new LocalImageStorage(config.imageStore?.dir ?? config.imageDir);
}

/** The settings openImageStorage reads (config.ts); without `imageStore`, the local folder `imageDir`. */
export interface ImageStorageConfig {
  imageStore?: { kind: 'local'; dir?: string | undefined } | undefined;
  imageDir: string;
}
