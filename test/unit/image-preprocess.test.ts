import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageError, inspectImage, preprocessImage, sniffImageFormat } from '../../src/embedding/image-preprocess.js';
import { planResample } from '../../src/embedding/resample.js';
import { readFixture, readFixtureJson } from '../helpers/fixtures.js';

interface Cases {
  valid: Array<{
    file: string;
    reference: string;
    max_mean_abs_diff: number;
    format: string;
    mode: string;
    size: [number, number];
  }>;
  invalid: Array<{ file: string; why: string }>;
  may_reject: Array<{ file: string; reference?: string; max_mean_abs_diff?: number; why?: string }>;
}

const cases = readFixtureJson<Cases>('images', 'cases.json');
const CODES = ['UNSUPPORTED_IMAGE', 'CORRUPT_IMAGE', 'IMAGE_TOO_LARGE'];
const LIMITS = { maxBytes: 20 * 1024 * 1024, maxPixels: 50_000_000 };
const report: string[] = [];

afterAll(() => {
  if (report.length) console.log(`mean |diff| vs PIL reference:\n  ${report.join('\n  ')}`);
});

function reference(file: string): Float32Array {
  const b = readFixture('images', file);
  expect(b.length).toBe(3 * 224 * 224 * 4);
  const out = new Float32Array(3 * 224 * 224);
  for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i]! - b[i]!);
  return d / a.length;
}

/** Expect a typed rejection; returns the error. */
async function expectRejected(p: Promise<unknown>, codes: string[] = CODES): Promise<ImageError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the image to be rejected').toBeInstanceOf(ImageError);
  const e = err as ImageError;
  expect(codes).toContain(e.code);
  expect(e.message.length).toBeGreaterThan(15);
  expect(e.message).toMatch(/image|SVG|bytes|pixels/i);
  return e;
}

describe('preprocessImage: shared PIL references', () => {
  for (const c of cases.valid) {
    it(`${c.file} (${c.format} ${c.mode} ${c.size.join('x')}) within ${c.max_mean_abs_diff}`, async () => {
      const r = await preprocessImage(readFixture('images', c.file), LIMITS);
      expect(r.dims).toEqual([3, 224, 224]);
      expect(r.pixels).toHaveLength(3 * 224 * 224);
      expect(r.format).toBe(c.format.toLowerCase());
      const d = meanAbsDiff(r.pixels, reference(c.reference));
      report.push(`${c.file.padEnd(28)} ${d.toExponential(2)} (max ${c.max_mean_abs_diff})`);
      expect(d).toBeLessThanOrEqual(c.max_mean_abs_diff);
    });
  }

  it('reports the size after EXIF orientation', async () => {
    const r = await preprocessImage(readFixture('images', 'chelsea_exif6.jpg'), LIMITS);
    const meta = await sharp(readFixture('images', 'chelsea_exif6.jpg')).metadata();
    expect(meta.orientation).toBe(6);
    expect([r.width, r.height]).toEqual([meta.height, meta.width]);
  });
});

describe('preprocessImage: shared invalid files', () => {
  for (const c of cases.invalid) {
    it(`rejects ${c.file} (${c.why})`, async () => {
      const t0 = performance.now();
      const e = await expectRejected(preprocessImage(readFixture('images', c.file), LIMITS));
      await expectRejected(inspectImage(readFixture('images', c.file), LIMITS));
      if (c.file.startsWith('bomb')) {
        expect(e.code).toBe('IMAGE_TOO_LARGE');
        expect(performance.now() - t0).toBeLessThan(1000);
      }
      if (c.file.endsWith('.svg')) expect(e.code).toBe('UNSUPPORTED_IMAGE');
    });
  }

  for (const c of cases.may_reject) {
    it(`may reject ${c.file}, with a typed error, or match its reference`, async () => {
      const res = await preprocessImage(readFixture('images', c.file), LIMITS).then(
        (r) => r,
        (e: unknown) => e,
      );
      if (res instanceof Error) {
        expect(res).toBeInstanceOf(ImageError);
        expect(CODES).toContain((res as ImageError).code);
        report.push(`${c.file.padEnd(28)} rejected: ${(res as ImageError).code}`);
      } else {
        expect(c.reference, 'may_reject case accepted but it has no reference').toBeDefined();
        const d = meanAbsDiff((res as { pixels: Float32Array }).pixels, reference(c.reference!));
        report.push(`${c.file.padEnd(28)} ${d.toExponential(2)} (max ${c.max_mean_abs_diff})`);
        expect(d).toBeLessThanOrEqual(c.max_mean_abs_diff ?? 0.2);
      }
    });
  }
});

describe('preprocessImage: generated hostile input', () => {
  const jpeg = readFixture('images', 'rocket.jpg');
  const progressive = readFixture('images', 'coffee_progressive.jpg');

  it('rejects random bytes', async () => {
    for (let i = 0; i < 20; i++) await expectRejected(preprocessImage(randomBytes(1 + i * 997), LIMITS));
  });

  it('rejects random bytes behind a valid magic number', async () => {
    for (const magic of [
      [0xff, 0xd8, 0xff],
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      [...Buffer.from('GIF89a')],
    ]) {
      await expectRejected(preprocessImage(Buffer.concat([Buffer.from(magic), randomBytes(2000)]), LIMITS));
    }
  });

  it('rejects an empty file as CORRUPT_IMAGE', async () => {
    const e = await expectRejected(preprocessImage(Buffer.alloc(0), LIMITS));
    expect(e.code).toBe('CORRUPT_IMAGE');
  });

  for (const [name, buf] of [
    ['baseline', jpeg],
    ['progressive', progressive],
  ] as const) {
    it(`rejects a ${name} JPEG truncated at every 1/8`, async () => {
      for (let i = 1; i < 8; i++) {
        const cut = buf.subarray(0, Math.floor((buf.length * i) / 8));
        const e = await expectRejected(preprocessImage(cut, LIMITS));
        expect(e.code).toBe('CORRUPT_IMAGE');
        await expectRejected(inspectImage(cut, LIMITS));
      }
    });
  }

  it('rejects 1x100000 and 100000x1 strips by aspect ratio, and handles them in bounded time when allowed', async () => {
    const sizes: Array<[number, number]> = [
      [1, 100_000],
      [100_000, 1],
    ];
    for (const [w, h] of sizes) {
      const png = await sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 40, b: 90 } } })
        .png()
        .toBuffer();
      // one at a time: a second promise made up front would reject unobserved while the first is awaited
      for (const check of [() => preprocessImage(png, LIMITS), () => inspectImage(png, LIMITS)]) {
        await expect(check()).rejects.toMatchObject({
          code: 'IMAGE_TOO_LARGE',
          message: expect.stringMatching(/aspect ratio of 100000:1, over the limit of 100:1/),
        });
      }
      // the rocket_wide fixture (3000x90, 33:1) is a valid case, so the default leaves room for banners
      const r = await preprocessImage(png, { ...LIMITS, maxAspectRatio: 1e6 });
      expect(r.dims).toEqual([3, 224, 224]);
      expect([r.width, r.height]).toEqual([w, h]);
      // a flat colour stays that colour
      const expectR = (200 / 255 - 0.48145466) / 0.26862954;
      expect(r.pixels[0]).toBeCloseTo(expectR, 4);
      expect(r.pixels[224 * 224 - 1]).toBeCloseTo(expectR, 4);
    }
  });

  it('rejects SVG (even a harmless one) as UNSUPPORTED_IMAGE', async () => {
    for (const svg of [
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
      '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    ]) {
      const e = await expectRejected(preprocessImage(Buffer.from(svg), LIMITS));
      expect(e.code).toBe('UNSUPPORTED_IMAGE');
    }
  });

  it('enforces maxBytes and maxPixels before decoding', async () => {
    expect((await expectRejected(preprocessImage(jpeg, { maxBytes: 1000 }))).code).toBe('IMAGE_TOO_LARGE');
    expect((await expectRejected(preprocessImage(jpeg, { maxPixels: 1000 }))).code).toBe('IMAGE_TOO_LARGE');
    expect((await expectRejected(inspectImage(jpeg, { maxPixels: 1000 }))).code).toBe('IMAGE_TOO_LARGE');
  });

  it('ignores file names and claimed types: detection is by content', () => {
    expect(sniffImageFormat(jpeg)).toBe('jpeg');
    expect(sniffImageFormat(readFixture('images', 'not_an_image.jpg'))).toBeUndefined();
    expect(sniffImageFormat(readFixture('images', 'external_entity.svg'))).toBeUndefined();
  });
});

describe('preprocessImage: other accepted formats and modes', () => {
  const src = readFixture('images', 'rocket.jpg');

  it('accepts AVIF, TIFF, 16-bit PNG, WebP and alpha PNG, close to the 8-bit PNG result', async () => {
    const base = await preprocessImage(await sharp(src).png().toBuffer(), LIMITS);
    const variants: Array<[string, Buffer, number]> = [
      ['avif', await sharp(src).avif({ quality: 90 }).toBuffer(), 0.1],
      ['tiff', await sharp(src).tiff({ compression: 'lzw' }).toBuffer(), 1e-6],
      ['png', await sharp(src).toColourspace('rgb16').png().toBuffer(), 0.01],
      ['webp', await sharp(src).webp({ lossless: true }).toBuffer(), 1e-6],
      ['png', await sharp(src).ensureAlpha(1).png().toBuffer(), 1e-6],
    ];
    for (const [format, buf, tol] of variants) {
      const r = await preprocessImage(buf, LIMITS);
      expect(r.format).toBe(format);
      expect(meanAbsDiff(r.pixels, base.pixels)).toBeLessThanOrEqual(tol);
    }
  });

  it('flattens transparency onto white', async () => {
    const png = await sharp({
      create: { width: 300, height: 300, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const r = await preprocessImage(png, LIMITS);
    expect(r.pixels[0]).toBeCloseTo((1 - 0.48145466) / 0.26862954, 4);
  });

  it('takes the first frame of an animated GIF', async () => {
    const frames = [
      { r: 255, g: 0, b: 0 },
      { r: 0, g: 0, b: 255 },
    ];
    const raw = Buffer.concat(
      await Promise.all(
        frames.map((bg) =>
          sharp({ create: { width: 64, height: 64, channels: 3, background: bg } })
            .raw()
            .toBuffer(),
        ),
      ),
    );
    const gif = await sharp(raw, { raw: { width: 64, height: 128, channels: 3, pageHeight: 64 } })
      .gif({ loop: 0, delay: [100, 100] })
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const r = await preprocessImage(gif, LIMITS);
    expect([r.width, r.height]).toEqual([64, 64]);
    expect(r.pixels[0]).toBeCloseTo((1 - 0.48145466) / 0.26862954, 2); // red channel of a red frame
  });

  it('follows a preprocessor_config.json (size, crop, mean/std)', async () => {
    const r = await preprocessImage(src, {
      ...LIMITS,
      config: {
        size: { shortest_edge: 336 },
        crop_size: { height: 336, width: 336 },
        image_mean: [0, 0, 0],
        image_std: [1, 1, 1],
      },
    });
    expect(r.dims).toEqual([3, 336, 336]);
    expect(r.pixels.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('inspectImage reports format, content type and oriented size', async () => {
    expect(await inspectImage(readFixture('images', 'chelsea_exif6.jpg'), LIMITS)).toEqual({
      format: 'jpeg',
      contentType: 'image/jpeg',
      width: 451,
      height: 300,
    });
    expect(await inspectImage(readFixture('images', 'astronaut.webp'), LIMITS)).toMatchObject({
      format: 'webp',
      contentType: 'image/webp',
    });
  });
});

describe('planResample (PIL port)', () => {
  it('is the identity when sizes match', () => {
    const src = new Uint8Array(4 * 3 * 3).map((_, i) => (i * 37) % 256);
    const plan = planResample(4, 3, 4, 3, { x0: 0, x1: 4, y0: 0, y1: 3 }, 'bicubic');
    expect(Array.from(plan.run(src, 3))).toEqual(Array.from(src));
  });

  it('computes a window equal to the same part of the full resize', () => {
    const W = 50;
    const H = 30;
    const src = new Uint8Array(W * H * 3).map((_, i) => (i * 7919) % 251);
    const full = planResample(W, H, 20, 12, { x0: 0, x1: 20, y0: 0, y1: 12 }, 'bicubic');
    const all = full.run(src, 3);
    const part = planResample(W, H, 20, 12, { x0: 5, x1: 15, y0: 2, y1: 9 }, 'bicubic');
    const s = part.source;
    const sub = new Uint8Array(s.width * s.height * 3);
    for (let y = 0; y < s.height; y++)
      sub.set(src.subarray(((y + s.top) * W + s.left) * 3, ((y + s.top) * W + s.left + s.width) * 3), y * s.width * 3);
    const win = part.run(sub, 3);
    for (let y = 0; y < 7; y++) {
      expect(Array.from(win.subarray(y * 10 * 3, (y + 1) * 10 * 3))).toEqual(
        Array.from(all.subarray(((y + 2) * 20 + 5) * 3, ((y + 2) * 20 + 15) * 3)),
      );
    }
  });
});
