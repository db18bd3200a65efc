/**
 * The demo catalog behind `npm run demo:seed` / `glimpse demo seed`: 48 generated products (6 kinds × 8
 * colours, 4 brands, prices in EUR, some out of stock) with 1–3 pictures each drawn with sharp — a gradient in
 * the product's colour with a simple silhouette — plus a few posters from the repository's fixture photos
 * (test/fixtures/images: CC0 / public-domain photos, see test/fixtures/README.md). The colour is named in each title, so even the generated test model ranks "red" red things first.
 *
 * Everything goes through CatalogService (the API's code path: originals stored content-addressed, images
 * embedded with the given model). Idempotent: products are upserted by sku, and an image a product already has
 * (same bytes; generation is deterministic) is not added again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { CatalogService, ImageSource, ProductInput } from '../catalog/index.js';

export const DEMO_SKU_PREFIX = 'demo-';

type Rgb = readonly [number, number, number];

/** Colours the test model knows (src/embedding/test-model.ts TEST_COLOURS), as 0..255 RGB. */
const COLOURS: ReadonlyArray<{ name: string; rgb: Rgb }> = [
  { name: 'red', rgb: [220, 30, 35] },
  { name: 'blue', rgb: [30, 80, 220] },
  { name: 'green', rgb: [30, 150, 60] },
  { name: 'yellow', rgb: [245, 210, 40] },
  { name: 'black', rgb: [30, 30, 32] },
  { name: 'white', rgb: [242, 242, 238] },
  { name: 'orange', rgb: [245, 140, 20] },
  { name: 'purple', rgb: [120, 40, 140] },
  { name: 'pink', rgb: [245, 170, 190] },
  { name: 'navy', rgb: [20, 35, 110] },
  { name: 'teal', rgb: [20, 128, 128] },
  { name: 'grey', rgb: [128, 128, 130] },
];

interface Kind {
  key: string;
  noun: string;
  adjectives: readonly string[];
  category: string;
  basePrice: number;
  material: string;
  /** SVG markup of the silhouette in a 400×400 box (fill/stroke set by the caller) */
  shape: string;
}

const KINDS: readonly Kind[] = [
  {
    key: 'dress',
    noun: 'dress',
    adjectives: ['summer', 'wrap', 'midi', 'evening'],
    category: 'Clothing/Dresses',
    basePrice: 49,
    material: 'light viscose',
    shape:
      '<path d="M172 62 L228 62 L244 150 L312 338 L88 338 L156 150 Z"/><path d="M172 62 L160 40 M228 62 L240 40" fill="none" stroke-width="8"/>',
  },
  {
    key: 'tshirt',
    noun: 't-shirt',
    adjectives: ['cotton', 'organic', 'oversized', 'classic'],
    category: 'Clothing/T-shirts',
    basePrice: 19,
    material: 'organic cotton',
    shape:
      '<path d="M140 78 L176 66 Q200 96 224 66 L260 78 L326 130 L292 176 L266 154 L266 336 L134 336 L134 154 L108 176 L74 130 Z"/>',
  },
  {
    key: 'sneakers',
    noun: 'sneakers',
    adjectives: ['running', 'canvas', 'retro', 'trail'],
    category: 'Shoes/Sneakers',
    basePrice: 79,
    material: 'breathable mesh',
    shape:
      '<path d="M62 268 L74 186 Q118 196 146 162 L192 174 Q236 224 318 230 Q346 240 340 276 Z"/><rect x="58" y="270" width="286" height="26" rx="10"/>',
  },
  {
    key: 'backpack',
    noun: 'backpack',
    adjectives: ['hiking', 'city', 'laptop', 'roll-top'],
    category: 'Bags/Backpacks',
    basePrice: 59,
    material: 'recycled nylon',
    shape:
      '<rect x="118" y="96" width="164" height="236" rx="44"/><rect x="146" y="226" width="108" height="78" rx="16"/><path d="M170 98 Q200 46 230 98" fill="none" stroke-width="12"/>',
  },
  {
    key: 'mug',
    noun: 'mug',
    adjectives: ['ceramic', 'enamel', 'stoneware', 'travel'],
    category: 'Home/Mugs',
    basePrice: 12,
    material: 'glazed stoneware',
    shape:
      '<rect x="118" y="118" width="138" height="180" rx="16"/><circle cx="276" cy="204" r="40" fill="none" stroke-width="18"/>',
  },
  {
    key: 'cushion',
    noun: 'cushion',
    adjectives: ['linen', 'velvet', 'knitted', 'floor'],
    category: 'Home/Cushions',
    basePrice: 24,
    material: 'washed linen',
    shape:
      '<path d="M96 108 Q200 78 304 108 Q334 200 304 292 Q200 322 96 292 Q66 200 96 108 Z"/><circle cx="200" cy="200" r="10"/>',
  },
];

const BRANDS = ['Acme', 'Northwind', 'Lumen', 'Fjord'] as const;

/** Posters made from the fixture photos (used only when the folder is there). */
const PHOTO_POSTERS: ReadonlyArray<{ file: string; title: string }> = [
  { file: 'coffee.png', title: 'Espresso cup photo print' },
  { file: 'rocket.jpg', title: 'Rocket launch poster' },
  { file: 'astronaut.png', title: 'Astronaut portrait poster' },
  { file: 'chelsea.png', title: 'Tabby cat poster' },
  { file: 'camera.png', title: 'Vintage camera print' },
];

export interface DemoProduct {
  input: ProductInput;
  /** 1–3 images, in display order */
  images: Array<() => Promise<{ label: string; bytes: Buffer }>>;
}

const hex = (c: Rgb) =>
  `#${c
    .map((v) =>
      Math.round(Math.max(0, Math.min(255, v)))
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
const mix = (a: Rgb, b: Rgb, t: number): Rgb => [
  a[0] + (b[0] - a[0]) * t,
  a[1] + (b[1] - a[1]) * t,
  a[2] + (b[2] - a[2]) * t,
];
const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];

/**
 * One product picture: a gradient of the colour with the silhouette in a contrasting shade of the same colour,
 * so the picture's mean colour stays the product's colour. Variants: 0 front, 1 close-up, 2 pattern.
 */
export async function drawProductImage(kind: Kind, rgb: Rgb, variant: number, size = 400): Promise<Buffer> {
  const dark = rgb[0] * 0.3 + rgb[1] * 0.55 + rgb[2] * 0.15 < 90;
  const light = mix(rgb, WHITE, dark ? 0.12 : 0.18);
  const deep = mix(rgb, BLACK, 0.14);
  const shapeFill = dark ? mix(rgb, WHITE, 0.3) : mix(rgb, BLACK, 0.28);
  const stroke = dark ? mix(rgb, WHITE, 0.45) : mix(rgb, BLACK, 0.45);
  const gradient =
    variant === 1
      ? '<linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
      : '<linearGradient id="g" x1="0" y1="0" x2="0" y2="1">';
  const transform =
    variant === 1 ? 'translate(-120 -90) scale(1.6)' : variant === 2 ? 'translate(110 110) scale(0.45)' : '';
  const pattern =
    variant === 2
      ? Array.from(
          { length: 16 },
          (_, i) =>
            `<circle cx="${50 + (i % 4) * 100}" cy="${50 + Math.floor(i / 4) * 100}" r="14" fill="${hex(light)}"/>`,
        ).join('')
      : '';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 400 400">
  <defs>${gradient}<stop offset="0" stop-color="${hex(light)}"/><stop offset="1" stop-color="${hex(deep)}"/></linearGradient></defs>
  <rect width="400" height="400" fill="url(#g)"/>${pattern}
  <ellipse cx="200" cy="352" rx="130" ry="14" fill="${hex(mix(deep, BLACK, 0.25))}" opacity="0.5"/>
  <g transform="${transform}" fill="${hex(shapeFill)}" stroke="${hex(stroke)}" stroke-width="4" stroke-linejoin="round">${kind.shape}</g>
</svg>`;
  return sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer();
}

/** The demo catalog (deterministic). `fixturesDir`: a folder with the fixture photos, or null for none. */
export function demoProducts(fixturesDir: string | null = defaultFixturesDir()): DemoProduct[] {
  const out: DemoProduct[] = [];
  KINDS.forEach((kind, k) => {
    for (let j = 0; j < 8; j++) {
      const colour = COLOURS[(k * 3 + j) % COLOURS.length]!;
      const adjective = kind.adjectives[j % kind.adjectives.length]!;
      const title = `${colour.name[0]!.toUpperCase()}${colour.name.slice(1)} ${adjective} ${kind.noun}`;
      const n = k * 8 + j;
      const imageCount = 1 + (n % 3);
      out.push({
        input: {
          sku: `${DEMO_SKU_PREFIX}${kind.key}-${colour.name}-${adjective}`.replace(/[^A-Za-z0-9._:/-]/g, '-'),
          title,
          description: `A ${colour.name} ${adjective} ${kind.noun} in ${kind.material}. Demo product generated by Glimpse.`,
          brand: BRANDS[(k + j) % BRANDS.length]!,
          category: kind.category,
          price: { amount: (kind.basePrice + j * 4 + 0.9).toFixed(2), currency: 'EUR' },
          inStock: n % 5 !== 3,
          tags: ['demo', colour.name, kind.key],
          attributes: { color: colour.name, material: kind.material },
        },
        images: Array.from({ length: imageCount }, (_, v) => async () => ({
          label: `${kind.key}-${colour.name}-${v}.png`,
          bytes: await drawProductImage(kind, colour.rgb, v),
        })),
      });
    }
  });
  if (fixturesDir) {
    PHOTO_POSTERS.forEach((p, i) => {
      const file = path.join(fixturesDir, p.file);
      if (!fs.existsSync(file)) return;
      out.push({
        input: {
          sku: `${DEMO_SKU_PREFIX}poster-${path.parse(p.file).name}`,
          title: p.title,
          description: `${p.title}, printed on matte paper (photo from the Glimpse test fixtures).`,
          brand: BRANDS[i % BRANDS.length]!,
          category: 'Home/Posters',
          price: { amount: (15 + i * 5 + 0.5).toFixed(2), currency: 'EUR' },
          inStock: i !== 2,
          tags: ['demo', 'poster', 'photo'],
          attributes: { material: 'matte paper' },
        },
        images: [async () => ({ label: p.file, bytes: await fs.promises.readFile(file) })],
      });
    });
  }
  return out;
}

/** test/fixtures/images in the repository (or $GLIMPSE_FIXTURES_DIR/images), when it exists. */
export function defaultFixturesDir(): string | null {
  const root = process.env.GLIMPSE_FIXTURES_DIR
    ? path.resolve(process.env.GLIMPSE_FIXTURES_DIR)
    : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');
  const dir = path.join(root, 'images');
  return fs.existsSync(dir) ? dir : null;
}

export interface SeedSummary {
  products: number;
  created: number;
  updated: number;
  /** products already as the demo has them */
  unchanged: number;
  /** images stored now (new to their product) */
  imagesAdded: number;
  /** images the products had already (same bytes) */
  imagesKept: number;
}

/** Loads the demo catalog through the catalog service; safe to run again. */
export async function seedDemoCatalog(
  catalog: CatalogService,
  opts: { fixturesDir?: string | null; onProgress?: (done: number, total: number) => void } = {},
): Promise<SeedSummary> {
  const items = demoProducts(opts.fixturesDir === undefined ? defaultFixturesDir() : opts.fixturesDir);
  const upsert = await catalog.upsertProducts(items.map((i) => i.input));
  const summary: SeedSummary = {
    products: items.length,
    created: upsert.created,
    updated: upsert.updated,
    unchanged: upsert.unchanged,
    imagesAdded: 0,
    imagesKept: 0,
  };
  for (const [i, item] of items.entries()) {
    const product = upsert.products[i]!;
    const before = new Set((await catalog.imagesByProductIds([product.id])).map((img) => img.sha256));
    const sources: ImageSource[] = [];
    for (const draw of item.images) {
      const { label, bytes } = await draw();
      sources.push({ kind: 'bytes', label, bytes });
    }
    const added = await catalog.addImages(product.id, sources);
    for (const img of added.images) {
      if (before.has(img.sha256)) summary.imagesKept++;
      else summary.imagesAdded++;
    }
    opts.onProgress?.(i + 1, items.length);
  }
  return summary;
}
