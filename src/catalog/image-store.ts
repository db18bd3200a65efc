/**
 * The content-addressed store of original image files (<imageDir>/<ab>/<cd>/<sha256>, see
 * image-store-paths.ts). Files are written to a temporary name and renamed into place (atomic). Writers and
 * the clean-up of unreferenced files serialise on a per-sha256 transaction-scoped advisory lock, so a file
 * is never deleted while another transaction is adding a row that references it.
 */
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Sql } from '../db/index.js';
import { imagePath } from './image-store-paths.js';

/** Takes the per-image advisory lock for the rest of the transaction `tx`. */
export async function lockImage(tx: Sql, sha256: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7305))', [`glimpse-image:${sha256}`]);
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
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
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
      const refs = await tx.query('SELECT 1 FROM product_image WHERE sha256 = $1 LIMIT 1', [sha256]);
      if (refs.length) return false;
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
   * Deletes what a crash can leave behind: files no product_image row references (the process died
   * between writing the file and committing its row) and abandoned temporary files. Only files older than
   * `minAgeMs` are considered, so uploads in progress are never touched; each deletion re-checks under
   * the image's advisory lock. Runs at server start and as `glimpse images gc`.
   */
  async sweep(
    sql: Sql,
    opts: { minAgeMs?: number } = {},
  ): Promise<{ scanned: number; removed: number; tempRemoved: number }> {
    const cutoff = Date.now() - (opts.minAgeMs ?? 10 * 60_000);
    const out = { scanned: 0, removed: 0, tempRemoved: 0 };
    let entries: string[];
    try {
      entries = (await fsp.readdir(this.imageDir, { recursive: true })) as string[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw err;
    }
    const candidates: string[] = [];
    for (const rel of entries) {
      const name = path.basename(rel);
      const isTemp = name.endsWith('.tmp');
      if (!isTemp && !/^[0-9a-f]{64}$/.test(name)) continue;
      const st = await fsp.stat(path.join(this.imageDir, rel)).catch(() => undefined);
      if (!st?.isFile() || st.mtimeMs > cutoff) continue;
      if (isTemp) {
        await fsp.rm(path.join(this.imageDir, rel), { force: true });
        out.tempRemoved++;
      } else {
        out.scanned++;
        candidates.push(name);
      }
    }
    for (let i = 0; i < candidates.length; i += 1000) {
      const batch = candidates.slice(i, i + 1000);
      const referenced = new Set(
        (
          await sql.query<{ sha256: string }>(
            'SELECT DISTINCT sha256 FROM product_image WHERE sha256 = ANY($1::bpchar[])',
            [batch],
          )
        ).map((r) => r.sha256),
      );
      for (const sha of batch) if (!referenced.has(sha) && (await this.removeIfUnreferenced(sql, sha))) out.removed++;
    }
    return out;
  }
}
