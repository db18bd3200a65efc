import { describe, expect, it } from 'vitest';
import { hashKey } from '../../src/auth/api-keys.js';
import { imagePath, imageUrl, sniffImageType } from '../../src/catalog/image-store-paths.js';
import { requireRole } from '../../src/graphql/auth.js';

describe('platform helpers', () => {
  it('hashes keys with sha256 hex', () => {
    expect(hashKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('addresses images by sha256 and refuses anything else', () => {
    const sha = 'ab'.repeat(32);
    expect(imagePath('/data/images', sha)).toBe(`/data/images/ab/ab/${sha}`);
    expect(imageUrl('http://x:4000/', sha)).toBe(`http://x:4000/images/${sha}`);
    expect(() => imagePath('/d', '../../etc/passwd')).toThrow(RangeError);
    expect(() => imageUrl('http://x', 'AB'.repeat(32))).toThrow(RangeError);
  });

  it('sniffs image types from magic bytes', () => {
    const b = (...x: Array<number | string>) =>
      Buffer.concat(x.map((v) => (typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from([v]))));
    expect(sniffImageType(b(0xff, 0xd8, 0xff, 0xe0))).toBe('image/jpeg');
    expect(sniffImageType(b(0x89, 'PNG\r\n\x1a\n'))).toBe('image/png');
    expect(sniffImageType(b('GIF89a'))).toBe('image/gif');
    expect(sniffImageType(b('RIFF', 0, 0, 0, 0, 'WEBPVP8 '))).toBe('image/webp');
    expect(sniffImageType(b(0, 0, 0, 0x1c, 'ftypavif'))).toBe('image/avif');
    expect(sniffImageType(b('II', 0x2a, 0))).toBe('image/tiff');
    expect(sniffImageType(b('<svg'))).toBeUndefined();
  });

  it('requireRole distinguishes anonymous, read and admin callers', () => {
    expect(() => requireRole({ caller: { role: null, keyId: null } }, 'admin')).toThrow(
      expect.objectContaining({ code: 'UNAUTHENTICATED' }),
    );
    expect(() => requireRole({ caller: { role: 'read', keyId: 'k' } }, 'admin')).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
    expect(requireRole({ caller: { role: 'admin', keyId: 'k' } }, 'admin').keyId).toBe('k');
    expect(requireRole({ caller: { role: 'read', keyId: 'k' } }, 'read').role).toBe('read');
  });
});
