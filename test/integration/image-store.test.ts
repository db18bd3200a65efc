import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/catalog/image-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('image store sweep (files a crash left without a row)', () => {
  let db: TestDatabase;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-store-'));
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('removes old unreferenced files and stale temporaries, keeps referenced and recent ones', async () => {
    const store = new ImageStore(dir);
    const [kept, orphan, recent] = ['kept', 'orphan', 'recent'].map((s) => Buffer.from(`image bytes ${s}`));
    for (const b of [kept!, orphan!, recent!]) expect(await store.ensure(sha(b), b)).toBe(true);
    const [p] = await db.sql.query<{ id: string }>(`INSERT INTO product (sku, title) VALUES ('S-1', 'x') RETURNING id`);
    await db.sql.query(
      `INSERT INTO product_image (product_id, sha256, source, content_type, byte_size, width, height, position)
       VALUES ($1, $2, 'upload', 'image/png', 10, 1, 1, 0)`,
      [p!.id, sha(kept!)],
    );
    const staleTmp = `${store.path(sha(orphan!))}.123.abc.tmp`;
    fs.writeFileSync(staleTmp, 'partial');
    const old = new Date(Date.now() - 3600_000);
    for (const f of [store.path(sha(kept!)), store.path(sha(orphan!)), staleTmp]) fs.utimesSync(f, old, old);

    const r = await store.sweep(db.sql);
    expect(r).toEqual({ scanned: 2, removed: 1, tempRemoved: 1 });
    expect(fs.existsSync(store.path(sha(kept!)))).toBe(true);
    expect(fs.existsSync(store.path(sha(recent!)))).toBe(true); // may belong to an upload in progress
    expect(fs.existsSync(store.path(sha(orphan!)))).toBe(false);
    expect(fs.existsSync(staleTmp)).toBe(false);
    expect(await store.sweep(db.sql)).toEqual({ scanned: 1, removed: 0, tempRemoved: 0 });
  });
});
