/**
 * One image folder shared by two API replicas: two real server processes, each with its own data folder but
 * the same GLIMPSE_IMAGE_STORE=local:<dir> (as two hosts mounting one NFS export), add and remove the SAME
 * image on two products at the same time, over and over. The per-image advisory locks in PostgreSQL are all
 * that serialises them: a replica deleting its last reference must never delete the file the other replica
 * has just referenced (a lost file: its row then points at nothing), and once both have removed theirs no file
 * may remain (an orphan), nor any temporary of a write.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../../src/auth/api-keys.js';
import { imagePath } from '../../src/catalog/image-store-paths.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import { colourPng } from '../helpers/catalog-gen.js';
import { createScratchDatabase } from '../helpers/db.js';
import { postGraphQL, spawnServerProcess, stopServerProcess, type ServerProcess } from '../helpers/processes.js';
import { postMultipart } from '../helpers/server.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const ROUNDS = 12;
const ADD = `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id sha256 } } }`;
const REMOVE = `mutation($id: ID!) { removeProductImage(imageId: $id) }`;

describe('two API replicas sharing one image folder', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let tmp: string;
  let shared: string;
  let db: Database;
  let admin: string;
  const replicas: ServerProcess[] = [];

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-replica-images-'));
    shared = path.join(tmp, 'shared-images');
    db = await openDatabase({ databaseUrl: scratch.url, dataDir: tmp, dbPoolSize: 2, dbStatementTimeoutMs: 30_000 });
    admin = (await createKey(db.prisma, 'admin', 'images')).key;
    const env = (name: string) => ({
      DATABASE_URL: scratch.url,
      GLIMPSE_DATA_DIR: path.join(tmp, name), // nothing else shared: only the configured image store
      GLIMPSE_IMAGE_STORE: `local:${shared}`,
      GLIMPSE_MODEL: 'test',
      GLIMPSE_MODEL_DIR: path.join(root, '.data', 'models'),
      GLIMPSE_INFERENCE_WORKERS: '1',
      GLIMPSE_RATE_LIMIT_PER_MINUTE: '0',
      GLIMPSE_MIGRATE_ON_START: 'false',
    });
    replicas.push(...(await Promise.all([spawnServerProcess(env('a')), spawnServerProcess(env('b'))])));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => stopServerProcess(r)));
    await db?.close().catch(() => {});
    await scratch?.drop().catch(() => {});
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('adding and removing the same image concurrently loses no file and leaves no orphan', async () => {
    const bytes = await colourPng(7, 32);
    const sha = crypto.createHash('sha256').update(bytes).digest('hex');
    const file = imagePath(shared, sha);
    const products = await Promise.all(
      replicas.map(async (r, i) => {
        const res = await postGraphQL(
          r.url,
          `mutation($input: ProductInput!) { createProduct(input: $input) { id } }`,
          { input: { sku: `SHARED-${i}`, title: `Shared image ${i}` } },
          admin,
        );
        expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
        return (res.body.data!.createProduct as { id: string }).id;
      }),
    );
    const referenced = async () =>
      Number(
        (await db.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM product_image WHERE sha256 = $1', [sha]))[0]!
          .n,
      );
    const lost: string[] = [];

    // each replica adds the image to its own product and removes it again, ROUNDS times, both at once
    await Promise.all(
      replicas.map(async (r, i) => {
        const other = replicas[1 - i]!;
        for (let round = 0; round < ROUNDS; round++) {
          const added = await postMultipart<{ addProductImages: { images: { id: string; sha256: string }[] } }>(
            `${r.url}/graphql`,
            ADD,
            { id: products[i], files: [null] },
            [{ at: 'files.0', name: 'same.png', bytes, type: 'image/png' }],
            { key: admin },
          );
          expect(added.body.errors, JSON.stringify(added.body.errors)).toBeUndefined();
          const image = added.body.data!.addProductImages.images[0]!;
          expect(image.sha256).toBe(sha);
          // this replica's row references the image until it removes it: the file must be there, whatever the
          // other replica is doing; served by the other replica from the shared folder
          if (!fs.existsSync(file)) lost.push(`round ${round} replica ${i}: file missing`);
          const served = await fetch(`${other.url}/images/${sha}`);
          if (served.status !== 200) lost.push(`round ${round} replica ${i}: other replica answered ${served.status}`);
          else expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);
          const removed = await postGraphQL(r.url, REMOVE, { id: image.id }, admin);
          expect(removed.body.errors, JSON.stringify(removed.body.errors)).toBeUndefined();
          expect(removed.body.data!.removeProductImage).toBe(true);
        }
      }),
    );
    expect(lost).toEqual([]);
    // both removed their last reference: no row, no file, no temporary anywhere in the shared folder
    expect(await referenced()).toBe(0);
    const left = fs.existsSync(shared) ? (fs.readdirSync(shared, { recursive: true }) as string[]) : [];
    expect(left.filter((f) => fs.statSync(path.join(shared, f)).isFile())).toEqual([]);
  }, 120_000);
});
