/**
 * Import throughput on scratch PostgreSQL databases (TEST_DATABASE_URL, as the tests use):
 *   - images/s for N fixture-derived images (variants of the fixture photos in test/fixtures: resized, cropped and
 *     re-encoded with sharp so every file has its own sha256) on the given model (default: the TEST model):
 *       decode   decode + CLIP preprocessing alone (preprocessImage, one per core at a time)
 *       embed    inference alone (embedImagePixels on preprocessed pixels)
 *       write    database writes alone (Importer on the same products/images with precomputed vectors, no file)
 *       e2e      `Importer.run` end to end (read, hash, decode, embed, store file, write rows + vectors)
 *   - precomputed 768-d vectors/s (one product + one vector per record, `glimpse import`'s code path):
 *       bulk        into an empty catalog, bulk mode (index deferred, built at the end: included in the time)
 *       maintained  the same file into an empty catalog with the index kept up to date (--no-bulk), the old path
 *       live        `--live-add` more records into a catalog that already holds `--live-base` (index kept)
 *
 *   npm run bench:import -- [--images 2000] [--products 10000] [--live-base 20000] [--live-add 5000]
 *                           [--no-maintained] [--model test] [--concurrency 16] [--batch-size 100] [--workers N]
 *                           [--writers N]
 *                           [--no-write]
 * Prints JSON and writes bench/results/import-<date>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/index.js';
import { Importer, type ImportSummary } from '../src/catalog/import/importer.js';
import { ModelRegistry } from '../src/catalog/store/models.js';
import { Embedder } from '../src/embedding/embedder.js';
import { preprocessImage } from '../src/embedding/image-preprocess.js';
import { createScratchDatabase } from '../test/helpers/db.js';
import { fixturePath } from '../test/helpers/fixtures.js';
import { unitVector } from '../test/helpers/catalog-gen.js';

const opts = new Command()
  .option('--images <n>', 'fixture-derived images', '2000')
  .option('--products <n>', 'products of the precomputed-vector runs into an empty catalog (0: skip)', '10000')
  .option('--live-base <n>', 'vectors already in the catalog of the live run (0: skip the live run)', '20000')
  .option('--live-add <n>', 'records imported into the live catalog', '5000')
  .option('--no-maintained', 'skip the maintained-index run into an empty catalog (slow: the path bulk mode replaces)')
  .option('--model <name>', 'model', 'test')
  .option('--concurrency <n>', 'importer concurrency', '16')
  .option('--batch-size <n>', 'importer batch size', '100')
  .option('--workers <n>', 'inference workers (default: GLIMPSE_INFERENCE_WORKERS)')
  .option('--writers <n>', 'batch transactions written at once (default: GLIMPSE_IMPORT_WRITERS)')
  .option('--no-write', 'do not write bench/results')
  .parse()
  .opts<{
    images: string;
    products: string;
    liveBase: string;
    liveAdd: string;
    maintained: boolean;
    model: string;
    concurrency: string;
    batchSize: string;
    workers?: string;
    writers?: string;
    write: boolean;
  }>();

const N = Number(opts.images);
const PRODUCTS = Number(opts.products);
const LIVE_BASE = Number(opts.liveBase);
const LIVE_ADD = Number(opts.liveAdd);
const concurrency = Number(opts.concurrency);
const batchSize = Number(opts.batchSize);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-bench-import-'));
const log = (m: string) => process.stderr.write(`[bench:import] ${m}\n`);

// ---- fixture-derived images (cached between runs: generating them is not what we measure)
const PHOTOS = [
  'chelsea.png',
  'coffee.png',
  'rocket.jpg',
  'astronaut.png',
  'camera.png',
  'coffee_progressive.jpg',
  'chelsea_exif6.jpg',
  'page.png',
];
const config = loadConfig(process.env, {
  model: opts.model,
  dataDir: work,
  imageDir: path.join(work, 'images'),
  ...(opts.workers ? { inferenceWorkers: Number(opts.workers) } : {}),
  ...(opts.writers ? { importWriters: Number(opts.writers) } : {}),
});
// a connection per writer, the job's lock and the reader's look-ups
const poolSize = config.importWriters + 3;
const embedder = await Embedder.load(config);

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}
const perSec = (n: number, ms: number) => Math.round((n / (ms / 1000)) * 10) / 10;
const round = (x: number) => Math.round(x * 10) / 10;

/** A JSONL catalog of precomputed vectors: one product and one distinct 768-d unit vector per record. */
async function vectorCatalog(name: string, from: number, n: number): Promise<string> {
  const file = path.join(work, `${name}.jsonl`);
  const out = fs.createWriteStream(file);
  for (let k = from; k < from + n; k++) {
    const row = {
      sku: `${name}-${k}`,
      title: `Product ${k}`,
      brand: ['acme', 'globex', 'initech'][k % 3],
      category: ['women/dresses', 'men/shirts', 'home'][k % 3],
      price: (5 + (k % 100)).toFixed(2),
      currency: 'EUR',
      tags: [`t${k % 5}`],
      images: [
        {
          url: `https://cdn.example.com/${name}/${k}.jpg`,
          embedding: unitVector(embedder.dimension, k),
          model: embedder.modelId,
        },
      ],
    };
    if (!out.write(JSON.stringify(row) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  return file;
}

/** One timed import of precomputed vectors on its own scratch database (after an untimed base load, if any). */
async function vectorRun(name: string, records: number, opt: { base?: number; bulk?: boolean }) {
  const scratch = await createScratchDatabase('glimpse_bench');
  const db = await openDatabase({
    databaseUrl: scratch.url,
    dataDir: work,
    dbPoolSize: poolSize,
    dbStatementTimeoutMs: 0,
  });
  try {
    await new ModelRegistry(db.sql).ensure(embedder);
    const importer = new Importer({ sql: db.sql, config, model: embedder, embedder: async () => embedder });
    let baseLoad: { seconds: number; indexBuildSeconds: number | null; vectorsPerSecond: number } | null = null;
    if (opt.base) {
      log(`${name}: loading a base catalog of ${opt.base} vectors (bulk: the empty-catalog path at this size)`);
      const b = await importer.run({ file: await vectorCatalog(`${name}-base`, 0, opt.base), batchSize, bulk: true });
      baseLoad = {
        seconds: round(b.seconds),
        indexBuildSeconds: b.index.buildSeconds === null ? null : round(b.index.buildSeconds),
        vectorsPerSecond: round(b.images.added / b.seconds),
      };
      log(`${name}: base catalog loaded ${JSON.stringify(baseLoad)}`);
    }
    const file = await vectorCatalog(name, 1_000_000, records);
    log(`${name}: importing ${records} records${opt.base ? ` into ${opt.base}` : ' into an empty catalog'}`);
    const s = await importer.run({
      file,
      batchSize,
      concurrency,
      bulk: opt.bulk,
      onIndexProgress: (p) => log(`${name}: index ${p.phase} ${p.done}/${p.total}`),
    });
    const result = {
      records,
      baseVectors: opt.base ?? 0,
      bulk: s.index.deferred,
      reason: s.index.reason,
      seconds: round(s.seconds),
      indexBuildSeconds: s.index.buildSeconds === null ? null : round(s.index.buildSeconds),
      vectorsPerSecond: round(s.images.added / s.seconds),
      imported: s.imported,
      rejected: s.rejected,
      ...(baseLoad ? { baseLoad } : {}),
    };
    log(`${name}: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await db.close();
    await scratch.drop();
  }
}

/** The image sections (1–4) on one scratch database. */
async function imageRuns() {
  const cacheDir = path.join(os.tmpdir(), `glimpse-bench-import-images-v1-${N}`);
  if (!fs.existsSync(path.join(cacheDir, 'done'))) {
    log(`generating ${N} image variants in ${cacheDir}`);
    fs.mkdirSync(cacheDir, { recursive: true });
    // upright copies first (EXIF orientation applied), so crop boxes are in displayed coordinates
    const sources = await Promise.all(
      PHOTOS.map(async (p) => {
        const buf = await sharp(fixturePath('images', p)).rotate().png().toBuffer();
        return { buf, meta: await sharp(buf).metadata() };
      }),
    );
    for (let k = 0; k < N; k++) {
      const src = sources[k % sources.length]!;
      const w = src.meta.width!;
      const h = src.meta.height!;
      const cw = Math.max(32, Math.floor(w * (0.6 + ((k * 13) % 40) / 100)));
      const ch = Math.max(32, Math.floor(h * (0.6 + ((k * 7) % 40) / 100)));
      const left = (k * 31) % Math.max(1, w - cw);
      const top = (k * 17) % Math.max(1, h - ch);
      const width = 200 + ((k * 37) % 400);
      let img = sharp(src.buf).extract({ left, top, width: cw, height: ch }).resize({ width });
      const fmt = k % 3;
      img =
        fmt === 0 ? img.jpeg({ quality: 70 + (k % 25) }) : fmt === 1 ? img.webp({ quality: 70 + (k % 25) }) : img.png();
      fs.writeFileSync(path.join(cacheDir, `v${k}.${['jpg', 'webp', 'png'][fmt]}`), await img.toBuffer());
    }
    fs.writeFileSync(path.join(cacheDir, 'done'), '');
  }
  const files = fs
    .readdirSync(cacheDir)
    .filter((f) => f !== 'done')
    .sort();
  const bytes = files.map((f) => fs.readFileSync(path.join(cacheDir, f)));
  const totalBytes = bytes.reduce((s, b) => s + b.length, 0);
  const scratch = await createScratchDatabase('glimpse_bench');
  const db = await openDatabase({
    databaseUrl: scratch.url,
    dataDir: work,
    dbPoolSize: poolSize,
    dbStatementTimeoutMs: 0,
  });
  try {
    await new ModelRegistry(db.sql).ensure(embedder);

    // 1. decode + preprocess alone (main-thread sharp decode + JS resampler, `workers` at a time)
    log('decode');
    const decodeN = Math.min(N, 400);
    let t = performance.now();
    const pixels: Float32Array[] = [];
    await mapLimit(bytes.slice(0, decodeN), Math.max(1, os.availableParallelism()), async (b, i) => {
      const p = await preprocessImage(b, { config: embedder.model.preprocessor });
      if (i < 64) pixels[i] = p.pixels;
    });
    const decode = { images: decodeN, ms: performance.now() - t };

    // 2. inference alone, on preprocessed pixels (the embedder micro-batches concurrent calls)
    log('embed');
    t = performance.now();
    await mapLimit(
      Array.from({ length: N }),
      64,
      async (_, i) => void (await embedder.embedImagePixels(pixels[i % pixels.length]!)),
    );
    const embed = { images: N, ms: performance.now() - t };

    // 3. end to end: one product per image file
    log('end to end');
    const imgDir = cacheDir;
    const e2eFile = path.join(work, 'e2e.jsonl');
    fs.writeFileSync(
      e2eFile,
      files
        .map((f, k) =>
          JSON.stringify({ sku: `E-${k}`, title: `Variant ${k}`, price: '9.90', currency: 'EUR', images: [f] }),
        )
        .join('\n') + '\n',
    );
    const importer = new Importer({ sql: db.sql, config, model: embedder, embedder: async () => embedder });
    const e2e: ImportSummary = await importer.run({
      file: e2eFile,
      imagesDir: imgDir,
      concurrency,
      batchSize,
      rejectsFile: path.join(work, 'e2e.rejects.jsonl'),
    });

    // 4. writes alone: the same shape (1 product + 1 image + 1 vector each) with precomputed vectors, no file;
    //    distinct random unit vectors (repeated vectors would flatter the HNSW inserts)
    log('write');
    const wFile = path.join(work, 'write.jsonl');
    fs.writeFileSync(
      wFile,
      files
        .map((_, k) =>
          JSON.stringify({
            sku: `W-${k}`,
            title: `Variant ${k}`,
            images: [
              {
                url: `https://cdn.example.com/w${k}.jpg`,
                embedding: unitVector(embedder.dimension, 100_000 + k),
                model: embedder.modelId,
              },
            ],
          }),
        )
        .join('\n') + '\n',
    );
    const write = await importer.run({
      file: wFile,
      concurrency,
      batchSize,
      rejectsFile: path.join(work, 'write.rejects.jsonl'),
    });
    return {
      images: { count: N, meanBytes: Math.round(totalBytes / N), sources: PHOTOS },
      imagesPerSecond: {
        decode: perSec(decode.images, decode.ms),
        embed: perSec(embed.images, embed.ms),
        write: round(write.imagesPerSecond),
        endToEnd: round(e2e.imagesPerSecond),
      },
      endToEnd: { seconds: e2e.seconds, imported: e2e.imported, images: e2e.images, rejected: e2e.rejected },
      write: { seconds: write.seconds, imported: write.imported, images: write.images },
    };
  } finally {
    await db.close();
    await scratch.drop();
  }
}

try {
  const images = N > 0 ? await imageRuns() : null;
  const vectors = {
    bulk: PRODUCTS > 0 ? await vectorRun('bulk', PRODUCTS, {}) : null,
    maintained: PRODUCTS > 0 && opts.maintained ? await vectorRun('maintained', PRODUCTS, { bulk: false }) : null,
    live: LIVE_BASE > 0 ? await vectorRun('live', LIVE_ADD, { base: LIVE_BASE }) : null,
  };
  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      node: process.version,
      loadavg: os.loadavg().map((x) => Math.round(x * 10) / 10),
    },
    model: {
      id: embedder.modelId,
      dimension: embedder.dimension,
      device: embedder.device,
      test: embedder.isTestModel,
      dtype: config.modelDtype,
      workers: config.inferenceWorkers,
      decodeWorkers: config.decodeWorkers,
      maxBatch: config.maxBatchSize,
    },
    settings: {
      concurrency,
      batchSize,
      indexBuildWorkers: config.indexBuildWorkers,
      indexBuildMemory: config.indexBuildMemory,
      writers: config.importWriters,
    },
    ...images,
    vectors,
    ratios: {
      bulkVsMaintained:
        vectors.bulk && vectors.maintained
          ? round(vectors.bulk.vectorsPerSecond / vectors.maintained.vectorsPerSecond)
          : null,
      liveVsBulk:
        vectors.bulk && vectors.live ? round(vectors.live.vectorsPerSecond / vectors.bulk.vectorsPerSecond) : null,
    },
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  if (opts.write) {
    const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `import-${report.date.slice(0, 10)}.json`);
    fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    log(`wrote ${file}`);
  }
} finally {
  await embedder.close();
  fs.rmSync(work, { recursive: true, force: true });
}
