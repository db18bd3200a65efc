/**
 * A writer of the image store in a process of its own, for tests that kill it: like an upload, it takes the
 * image's lock in a transaction, stores the file and leaves a temporary file half-written (as a write cut
 * short), then prints READY and waits without committing — until it is killed (SIGKILL: the writer is gone),
 * or told to commit a row for the image on stdin ("commit\n"), which it then does and exits.
 *
 *   node --import tsx test/helpers/image-writer.ts <databaseUrl> <imageDir> <sha256> <hex bytes>
 */
import readline from 'node:readline';
import fsp from 'node:fs/promises';
import { openDatabase } from '../../src/db/index.js';
import { BOOT_ID, ImageStore } from '../../src/catalog/image-store.js';
import { lockImage } from '../../src/catalog/store/images.js';
import { imagePath } from '../../src/catalog/image-store-paths.js';

const [url, imageDir, sha256, hex] = process.argv.slice(2) as [string, string, string, string];
const db = await openDatabase({ databaseUrl: url, dataDir: '/nonexistent', dbPoolSize: 1, dbStatementTimeoutMs: 0 });
const store = new ImageStore(imageDir);
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
await db.sql.transaction(async (tx) => {
  await lockImage(tx, sha256);
  await store.ensure(sha256, Buffer.from(hex, 'hex'));
  await fsp.writeFile(`${imagePath(imageDir, sha256)}.${BOOT_ID}.cut.tmp`, Buffer.from(hex, 'hex').subarray(0, 3));
  process.stdout.write('READY\n');
  await lines.next();
  const [p] = await tx.query<{ id: string }>(`INSERT INTO product (sku, title) VALUES ($1, 'x') RETURNING id`, [
    `W-${sha256.slice(0, 8)}`,
  ]);
  await tx.query(
    `INSERT INTO product_image (product_id, sha256, source, content_type, byte_size, width, height, position)
     VALUES ($1, $2, 'upload', 'image/png', $3, 1, 1, 0)`,
    [p!.id, sha256, hex.length / 2],
  );
});
rl.close();
await db.close();
