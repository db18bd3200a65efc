/**
 * Generated catalogs for import tests and benchmarks: solid-colour PNGs (distinct bytes per colour), copies of
 * a few shared fixture photos, bad images, and JSONL / CSV catalogs mixing good rows, bad rows, duplicate
 * image references and precomputed embeddings. `expected` says what a correct import must report.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { fixturePath } from './fixtures.js';

/** A small PNG of one colour; colour `i` is distinct for i < 2^24. */
export async function colourPng(i: number, size = 24): Promise<Buffer> {
  const r = (i * 97) % 256;
  const g = (i * 57 + 31) % 256;
  const b = Math.floor(i / 3) % 256;
  const raw = Buffer.alloc(size * size * 3);
  for (let p = 0; p < size * size; p++) raw.set([r, g, b], p * 3);
  raw[0] = i % 256; // first pixel: makes colours that collide above still differ
  raw[1] = Math.floor(i / 256) % 256;
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

export function unitVector(dim: number, seed: number): number[] {
  let x = seed * 9301 + 49297;
  const v = Array.from({ length: dim }, () => {
    x = (x * 9301 + 49297) % 233280;
    return x / 233280 - 0.5;
  });
  const n = Math.sqrt(v.reduce((s, a) => s + a * a, 0));
  return v.map((a) => Number((a / n).toFixed(6)));
}

export interface GeneratedCatalog {
  file: string;
  imagesDir: string;
  records: number;
  expected: {
    /** products created by a first import */
    products: number;
    /** rejected records */
    rejected: number;
    /** image rows created */
    images: number;
    /** of `images`: precomputed */
    precomputed: number;
    /** rejected images */
    imageRejects: number;
    /** duplicate image references inside records */
    duplicates: number;
    /** distinct files written to the image store */
    files: number;
  };
}

export interface CatalogSpec {
  dir: string;
  format: 'jsonl' | 'csv';
  /** products (before bad rows are mixed in) */
  n: number;
  skuPrefix?: string;
  /** model id and dimension of precomputed embeddings (omit: none) */
  precomputed?: { model: string; dimension: number };
  /** mix in bad rows and bad images (default true) */
  bad?: boolean;
  /** first colour index (so two catalogs get different images) */
  colourOffset?: number;
}

const FIXTURE_PHOTOS = ['chelsea.png', 'coffee.png', 'rocket.jpg'];

/**
 * Product i (0-based):
 *   i % 5 == 0: no image
 *   i % 5 == 1: one colour PNG
 *   i % 5 == 2: a colour PNG referenced twice + a shared fixture photo (the photo is on several products)
 *   i % 5 == 3: precomputed embedding without a file (when `precomputed`), else one colour PNG
 *   i % 5 == 4: one colour PNG; every 10th such product also a bad image (truncated / not an image / missing)
 * Bad rows (when `bad`): after every 40th product, one of: invalid JSON (JSONL) / bad in_stock (CSV), empty
 * title, bad currency, bad sku.
 */
export async function generateCatalog(spec: CatalogSpec): Promise<GeneratedCatalog> {
  const { dir, format, n } = spec;
  const prefix = spec.skuPrefix ?? 'SKU';
  const imagesDir = path.join(dir, 'images');
  fs.mkdirSync(path.join(imagesDir, 'colours'), { recursive: true });
  for (const f of [...FIXTURE_PHOTOS, 'truncated.jpg', 'not_an_image.jpg']) {
    const to = path.join(imagesDir, f);
    if (!fs.existsSync(to)) fs.copyFileSync(fixturePath('images', f), to);
  }
  const bad = spec.bad ?? true;
  const exp = { products: 0, rejected: 0, images: 0, precomputed: 0, imageRejects: 0, duplicates: 0, files: 0 };
  const photosUsed = new Set<string>();
  const rows: Record<string, unknown>[] = [];
  const rawLines: (string | null)[] = [];
  let colour = spec.colourOffset ?? 0;
  const newColour = async () => {
    const c = colour++;
    const rel = `colours/c${c}.png`;
    fs.writeFileSync(path.join(imagesDir, rel), await colourPng(c));
    exp.files++;
    return rel;
  };
  let badImage = 0;
  for (let i = 0; i < n; i++) {
    const images: unknown[] = [];
    const kind = i % 5;
    if (kind === 1 || (kind === 3 && !spec.precomputed) || kind === 4) {
      images.push(await newColour());
      exp.images++;
    }
    if (kind === 2) {
      const c = await newColour();
      const photo = FIXTURE_PHOTOS[i % FIXTURE_PHOTOS.length]!;
      images.push(c, photo, c);
      exp.images += 2;
      exp.duplicates++;
      if (!photosUsed.has(photo)) exp.files++;
      photosUsed.add(photo);
    }
    if (kind === 3 && spec.precomputed) {
      images.push(
        format === 'jsonl'
          ? {
              url: `https://cdn.example.com/${prefix}-${i}.jpg`,
              embedding: unitVector(spec.precomputed.dimension, i),
              model: spec.precomputed.model,
            }
          : `missing-${i}.png`,
      );
      if (format === 'jsonl') {
        exp.images++;
        exp.precomputed++;
      } else exp.imageRejects++; // CSV cannot carry vectors: the file is missing
    }
    if (kind === 4 && bad && i % 10 === 4) {
      images.push(['truncated.jpg', 'not_an_image.jpg', 'nope/missing.png', '../outside.png'][badImage++ % 4]!);
      exp.imageRejects++;
    }
    const row: Record<string, unknown> = {
      sku: `${prefix}-${String(i).padStart(5, '0')}`,
      title: `Product ${i} ${['red', 'blue', 'green'][i % 3]} shirt`,
      description: i % 2 ? `A fine product, number ${i}.` : undefined,
      brand: ['acme', 'globex', 'initech'][i % 3],
      category: ['women/dresses', 'men/shirts', 'home'][i % 3],
      price: (5 + (i % 100) + 0.5).toFixed(2),
      currency: 'EUR',
      in_stock: i % 7 !== 0,
      tags: ['import', `t${i % 4}`],
      attributes: { n: i, colour: ['red', 'blue', 'green'][i % 3] },
      images,
    };
    rows.push(row);
    rawLines.push(null);
    exp.products++;
    if (bad && i % 40 === 39) {
      const b = Math.floor(i / 40) % 4;
      if (b === 0) {
        if (format === 'jsonl') {
          rows.push({});
          rawLines.push('{"sku": "broken", "title": ');
        } else {
          rows.push({ sku: `${prefix}-bad-${i}`, title: 'Bad stock', in_stock: 'maybe' });
          rawLines.push(null);
        }
      } else if (b === 1) {
        rows.push({ sku: `${prefix}-bad-${i}`, title: '   ' });
        rawLines.push(null);
      } else if (b === 2) {
        rows.push({ sku: `${prefix}-bad-${i}`, title: 'Bad currency', price: '10.00', currency: 'XYZ' });
        rawLines.push(null);
      } else {
        rows.push({ sku: `bad sku ${i}!`, title: 'Bad sku' });
        rawLines.push(null);
      }
      exp.rejected++;
    }
  }
  const file = path.join(dir, `catalog.${format}`);
  if (format === 'jsonl') {
    fs.writeFileSync(file, rows.map((r, k) => rawLines[k] ?? JSON.stringify(r)).join('\n') + '\n');
  } else {
    const cols = [
      'sku',
      'title',
      'description',
      'brand',
      'category',
      'price',
      'currency',
      'in_stock',
      'tags',
      'attributes',
      'images',
    ];
    const cell = (v: unknown): string => {
      if (v === undefined || v === null) return '';
      const s = Array.isArray(v) ? v.map(String).join('|') : typeof v === 'object' ? JSON.stringify(v) : String(v);
      return /[",\n|]/.test(s) || /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    fs.writeFileSync(
      file,
      [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n') + '\n',
    );
  }
  return { file, imagesDir, records: rows.length, expected: exp };
}
