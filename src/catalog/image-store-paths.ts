/**
 * Where content-addressed images live and how they are addressed. Shared by the catalog (which writes the
 * store) and the HTTP layer (which serves it at /images/<sha256>).
 *
 * Layout: <imageDir>/<ab>/<cd>/<sha256>, where ab and cd are the first two byte pairs of the lowercase hex
 * sha256 of the file's bytes. The content type is not stored: it is sniffed from the magic bytes
 * (`sniffImageType`) — the store only holds files that were validated as images when added.
 */
import path from 'node:path';

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export function isSha256Hex(s: string): boolean {
  return SHA256_HEX.test(s);
}

/** Absolute path of a stored image. Throws on anything but a lowercase 64-char hex sha256. */
export function imagePath(imageDir: string, sha256: string): string {
  if (!isSha256Hex(sha256)) throw new RangeError(`not a sha256 hex digest: ${JSON.stringify(sha256)}`);
  return path.join(path.resolve(imageDir), sha256.slice(0, 2), sha256.slice(2, 4), sha256);
}

/** Stable public URL of a stored image, e.g. http://localhost:4000/images/<sha256>. */
export function imageUrl(baseUrl: string, sha256: string): string {
  if (!isSha256Hex(sha256)) throw new RangeError(`not a sha256 hex digest: ${JSON.stringify(sha256)}`);
  return `${baseUrl.replace(/\/+$/, '')}/images/${sha256}`;
}

export type ImageMime = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp' | 'image/avif' | 'image/tiff';

/** The image type from the first bytes of a file (at least 16 bytes should be given), or undefined. */
export function sniffImageType(head: Uint8Array): ImageMime | undefined {
  const b = head;
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 4) === 'PNG' && b[4] === 0x0d && b[5] === 0x0a) return 'image/png';
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'image/gif';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (b.length >= 12 && ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
  }
  if (
    b.length >= 4 &&
    ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0x00) ||
      (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && b[3] === 0x2a))
  )
    return 'image/tiff';
  return undefined;
}
