/**
 * The image store's disk runs full (a real 1 MB tmpfs: the kernel's own ENOSPC, see test/helpers/tmpfs.ts)
 * during an upload and during an import: the upload is SERVICE_UNAVAILABLE (reason IMAGE_STORE_FULL, with a
 * retry hint), the import stops with the same error and its job failed, resumable; nothing is half-written —
 * no row without its file, no file or temporary without a row — and once space is freed the same upload and
 * a rerun of the same import succeed. Real server over HTTP, real PostgreSQL, real test model.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Importer } from '../../src/catalog/import/importer.js';
import { Embedder } from '../../src/embedding/embedder.js';
import { postMultipart, rowCount, startTestServer, storedFiles, type TestServer } from '../helpers/server.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
let disk: Tmpfs;
let srv: TestServer;
let admin: string;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-disk-full-'));

/** A noise PNG of about 120 KB: it does not compress, so its size on disk is its size. */
const noisePng = (w = 200, h = 200) =>
  sharp(crypto.randomBytes(w * h * 3), { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();

beforeAll(async () => {
  disk = mountTmpfs(1024 * 1024);
  srv = await startTestServer({ config: { imageDir: path.join(disk.dir, 'images'), rateLimitPerMinute: 0 } });
  admin = await srv.createKey('admin');
});

afterAll(async () => {
  await srv?.close();
  disk?.unmount();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Files of the store no row references (the filler lies outside the store). */
async function filesWithoutRow(): Promise<string[]> {
  const referenced = new Set(
    (await srv.db.sql.query<{ sha256: string }>(`SELECT sha256::text FROM product_image`)).map((r) => r.sha256),
  );
  return storedFiles(srv).filter((f) => !referenced.has(path.basename(f)));
}

/** Rows whose file is missing. */
async function rowsWithoutFile(): Promise<string[]> {
  const rows = await srv.db.sql.query<{ sha256: string }>(`SELECT sha256::text FROM product_image`);
  const files = new Set(storedFiles(srv).map((f) => path.basename(f)));
  return rows.map((r) => r.sha256).filter((s) => !files.has(s));
}

describe('the image store runs out of space', () => {
  it('an upload is SERVICE_UNAVAILABLE (IMAGE_STORE_FULL), writes nothing, and succeeds once space is freed', async () => {
    const created = await srv.gql<{ createProduct: { id: string } }>(
      `mutation { createProduct(input: { sku: "FULL-1", title: "disk full" }) { id } }`,
      undefined,
      { key: admin },
    );
    const id = created.body.data!.createProduct.id;
    const [a, b] = [await noisePng(), await noisePng()];
    disk.fill(a.length + 40 * 1024); // room for the first file, not the second
    const upload = () =>
      postMultipart<{ addProductImages: { images: { id: string }[] } }>(
        srv.graphqlUrl,
        `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id } } }`,
        { id, files: [null, null] },
        [
          { at: 'files.0', name: 'a.png', bytes: a!, type: 'image/png' },
          { at: 'files.1', name: 'b.png', bytes: b!, type: 'image/png' },
        ],
        { key: admin },
      );
    const full = await upload();
    const error = full.body.errors?.[0];
    expect(error?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'IMAGE_STORE_FULL' });
    expect(error?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
    expect(full.headers.get('retry-after')).not.toBeNull();
    expect(error?.message).toMatch(/image store is full \(ENOSPC/);
    // nothing half-written: no row, no vector, and the first file (written before the second failed) is gone
    expect(await rowCount(srv, 'product_image')).toBe(0);
    expect(storedFiles(srv)).toEqual([]);

    disk.free();
    const ok = await upload();
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data!.addProductImages.images).toHaveLength(2);
    expect(await rowsWithoutFile()).toEqual([]);
    expect(await filesWithoutRow()).toEqual([]);
  });

  it('an import stops with the same error, its job failed; the rerun after freeing space resumes and completes', async () => {
    const imagesDir = path.join(work, 'images');
    fs.mkdirSync(imagesDir, { recursive: true });
    const lines: string[] = [];
    for (let i = 0; i < 4; i++) {
      fs.writeFileSync(path.join(imagesDir, `p${i}.png`), await noisePng());
      lines.push(JSON.stringify({ sku: `IMP-${i}`, title: `import ${i}`, images: [`p${i}.png`] }));
    }
    const file = path.join(work, 'catalog.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const embedder = await Embedder.load({
      ...srv.config,
      modelDir: path.join(root, '.data', 'models'),
      inferenceWorkers: 1,
    });
    try {
      const importer = () =>
        new Importer({
          sql: srv.db.sql,
          config: srv.config,
          model: { modelId: embedder.modelId, dimension: embedder.dimension, isTestModel: true },
          embedder: async () => embedder,
        });
      const rejectsFile = path.join(work, 'rejects.jsonl');
      disk.fill(2 * 130 * 1024); // room for two of the four images
      const stopped = await importer()
        .run({ file, imagesDir, batchSize: 1, concurrency: 1, rejectsFile })
        .then(
          () => null,
          (err: unknown) => err as { code?: string; details?: { reason?: string } },
        );
      expect(stopped?.code).toBe('SERVICE_UNAVAILABLE');
      expect(stopped?.details?.reason).toBe('IMAGE_STORE_FULL');
      const [job] = await srv.db.sql.query<{ state: string; cursor: string }>(
        `SELECT state, cursor FROM job WHERE kind = 'import' ORDER BY created_at DESC LIMIT 1`,
      );
      expect(job!.state).toBe('failed');
      const importedBefore = await srv.db.sql.query<{ sku: string }>(`SELECT sku FROM product WHERE sku LIKE 'IMP-%'`);
      expect(importedBefore.length).toBeGreaterThan(0);
      expect(importedBefore.length).toBeLessThan(4);
      expect(fs.readFileSync(rejectsFile, 'utf8')).toBe(''); // the full disk is no record's fault
      expect(await rowsWithoutFile()).toEqual([]);
      expect(await filesWithoutRow()).toEqual([]);

      disk.free();
      const rerun = await importer().run({ file, imagesDir, batchSize: 1, concurrency: 1, rejectsFile });
      expect(rerun.state).toBe('succeeded');
      expect(rerun.resumedFrom).toBe(importedBefore.length);
      const skus = await srv.db.sql.query<{ sku: string; images: number }>(
        `SELECT p.sku, count(i.id)::int AS images FROM product p LEFT JOIN product_image i ON i.product_id = p.id
         WHERE p.sku LIKE 'IMP-%' GROUP BY p.sku ORDER BY p.sku`,
      );
      expect(skus).toEqual([0, 1, 2, 3].map((i) => ({ sku: `IMP-${i}`, images: 1 })));
      expect(await rowsWithoutFile()).toEqual([]);
      expect(await filesWithoutRow()).toEqual([]);
    } finally {
      await embedder.close();
    }
  });
});
