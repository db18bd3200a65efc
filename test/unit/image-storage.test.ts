/**
 * The image storage interface on a real folder, and its selection by GLIMPSE_IMAGE_STORE: `local` uses
 * GLIMPSE_IMAGE_DIR, `local:<dir>` names the folder (and becomes imageDir, which the HTTP layer serves), and
 * anything else — an object store, which is not built — is refused at start-up with the variable named.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalImageStorage, openImageStorage, type StoredObject } from '../../src/catalog/image-storage.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-image-storage-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('GLIMPSE_IMAGE_STORE', () => {
  it('selects the local folder: GLIMPSE_IMAGE_DIR by default, or the folder it names', () => {
    const byDir = loadConfig({ GLIMPSE_IMAGE_DIR: path.join(tmp, 'a') });
    expect(openImageStorage(byDir).location).toBe(path.join(tmp, 'a'));
    const named = loadConfig({ GLIMPSE_IMAGE_STORE: `local:${path.join(tmp, 'shared')}` });
    expect(named.imageDir).toBe(path.join(tmp, 'shared'));
    expect(openImageStorage(named).location).toBe(path.join(tmp, 'shared'));
  });

  it('refuses what is not built and two different folders, naming the variable', () => {
    expect(() => loadConfig({ GLIMPSE_IMAGE_STORE: 's3://bucket/images' })).toThrow(ConfigError);
    expect(() => loadConfig({ GLIMPSE_IMAGE_STORE: 's3://bucket/images' })).toThrow(/GLIMPSE_IMAGE_STORE=.*local/);
    expect(() => loadConfig({ GLIMPSE_IMAGE_STORE: 'local:/x', GLIMPSE_IMAGE_DIR: '/y' })).toThrow(
      /GLIMPSE_IMAGE_STORE=.*another folder than GLIMPSE_IMAGE_DIR/,
    );
  });
});

describe('LocalImageStorage', () => {
  const storage = new LocalImageStorage(path.join(tmp, 'store'));
  const bytes = Buffer.from('some image bytes');
  const id = sha(bytes);
  const list = async () => {
    const out: StoredObject[] = [];
    for await (const o of storage.list()) out.push(o);
    return out;
  };

  it('puts once, gets, lists, deletes', async () => {
    expect(await list()).toEqual([]); // no folder yet: nothing, no error
    expect(await storage.put(id, bytes)).toBe(true);
    expect(await storage.put(id, bytes)).toBe(false); // an intact copy is there
    expect(await storage.exists(id)).toBe(true);
    expect((await storage.get(id))!.equals(bytes)).toBe(true);
    expect((await list()).map((o) => [o.sha256, o.partial])).toEqual([[id, false]]);
    expect(await storage.delete(id)).toBe(true);
    expect(await storage.delete(id)).toBe(false);
    expect(await storage.get(id)).toBeUndefined();
    expect(await storage.exists(id)).toBe(false);
  });

  it('lists a partial write for the sweep and deletes only partial writes inside its folder', async () => {
    await storage.put(id, bytes);
    const partial = `${storage.path(id)}.someboot.abcd.tmp`;
    fs.writeFileSync(partial, 'cut');
    const found = (await list()).find((o) => o.partial)!;
    expect(found).toMatchObject({ sha256: id, key: partial, partial: true });
    expect(await storage.deletePartial(storage.path(id))).toBe(false); // a stored image is not a partial write
    const outside = path.join(tmp, `${id}.x.tmp`);
    fs.writeFileSync(outside, 'not ours');
    expect(await storage.deletePartial(outside)).toBe(false);
    expect(fs.existsSync(outside)).toBe(true);
    expect(await storage.deletePartial(found.key)).toBe(true);
    expect((await list()).map((o) => o.partial)).toEqual([false]);
  });
});
