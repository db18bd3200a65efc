/**
 * Search benchmark (`npm run bench:search -- [--products 100000] [--queries 100] [--clients 8]
 * [--options halfvec,fp32,ivfflat,bq,hnswlib,ivfflat-service] [--calibrate] [--keep] [--load import|direct]
 * [--database NAME] [--load-only] [--cache-only] [--options-only] [--service-ef 100,200] [--results-dir DIR]`).
 *
 * 1. Generates a synthetic catalog: N products with 1–4 images, 768-d unit vectors from a clustered,
 *    anisotropic distribution with a decaying spectrum (σ_d ∝ (1+d)^-α; cluster centre + product offset +
 *    image offset), rounded to fp16 like the halfvec column; tags whose filters hit 50/10/1/0.1/0.01 %.
 * 2. Loads it into a scratch database on the PostgreSQL server (DATABASE_URL / TEST_DATABASE_URL) through the
 *    catalog import code path (`--load import`, the default: a JSON Lines catalog with precomputed embeddings,
 *    imported by src/catalog/import's Importer exactly as `glimpse import` does), or with batched
 *    INSERT … SELECT unnest(…) (`--load direct`, faster, for quick iterations). `--keep` keeps the database;
 *    `--database NAME` runs the queries on such a kept database (same --products/--seed) without loading;
 *    `--load-only --keep` just prepares one; `--cache-only` just generates the catalog cache those runs read.
 * 3. Builds the HNSW index of the migration (time, size), then per selectivity runs the real SearchService:
 *    recall@10 (products) against exact ground truth computed here, latency p50/p95/p99 single client and
 *    `--clients` concurrent.
 * 4. Index options at the raw vector level (unfiltered image recall@10): HNSW halfvec (ef sweep), HNSW over
 *    fp32 `vector`, IVFFlat, binary quantisation + exact re-rank; and hnswlib-node in-process over the same
 *    vectors as the baseline.
 * JSON to stdout and bench/results/search-<date>.json; markdown tables to stderr (bench/search-report.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import hnswlib from 'hnswlib-node';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/db/index.js';
import { vectorFromSql, vectorToSql } from '../src/db/vector.js';
import { Importer } from '../src/catalog/import/importer.js';
import { rebuildIndex } from '../src/catalog/store/vector-index.js';
import { renderReport } from './search-report.js';
import { SearchService } from '../src/search/service.js';
import type { BuiltQuery } from '../src/search/sql.js';
import { createKey } from '../src/auth/api-keys.js';
import { searchClient, startBenchServer } from './search-http.js';
import type { FacetKind, ProductFilter, SearchConfig, SearchRequest, SearchResult } from '../src/search/types.js';

const D = 768;
const MODEL = 'bench-768';

// ---------------------------------------------------------------- arguments
function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] && !process.argv[i + 1]!.startsWith('--') ? process.argv[i + 1]! : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const N = Number(arg('products', '100000'));
const Q = Number(arg('queries', '100'));
const CLIENTS = Number(arg('clients', '8'));
const OPTIONS = new Set(arg('options', 'halfvec,fp32,ivfflat,bq,hnswlib,ivfflat-service').split(','));
const SEED = Number(arg('seed', '1'));
const LOADER = arg('load', 'import');
if (LOADER !== 'import' && LOADER !== 'direct') throw new Error('--load: import or direct');
/** a database kept by an earlier run with --keep (same --products, --seed and generator flags) */
const REUSE = arg('database', '');
if (REUSE && !/^glimpse_bench_[0-9a-f]+$/.test(REUSE)) throw new Error('--database: a glimpse_bench_… name');
// index builds: the HNSW graph must fit in maintenance_work_mem or the build slows down badly (~2 GB per 1M vectors)
const MAINTENANCE_WORK_MEM = arg('maintenance-work-mem', '2GB');
// generator: spectrum exponent and spreads (calibrated: see docs/performance.md "## Search")
const ALPHA = Number(arg('alpha', '0.35'));
const CLUSTER = Number(arg('cluster-spread', '1.0'));
const PRODUCT = Number(arg('product-spread', '1.2'));
const IMAGE = Number(arg('image-spread', '0.5'));
const CLUSTERS = Number(arg('clusters', String(Math.max(10, Math.round(N / 1000)))));
const DB_URL =
  process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgresql://glimpse:glimpse@127.0.0.1:5432/glimpse';
const log = (...a: unknown[]) =>
  console.error(
    `[${new Date().toISOString().slice(11, 19)}]`,
    ...a.map((x) => (typeof x === 'object' ? JSON.stringify(x) : x)),
  );

// ---------------------------------------------------------------- generator
function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gaussianSource(rand: () => number) {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = rand() || 1e-12;
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}
/** round to the nearest fp16 value (what halfvec stores) */
function toHalf(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  return Math.sign(x) * Math.round(a / ulp) * ulp;
}
/** the decimal written to the catalog file: 5 significant digits identify an fp16 value uniquely */
const decimals = new Map<number, number>(); // fp16 has 65,536 values: toPrecision once per value
const decimal = (x: number) => {
  let d = decimals.get(x);
  if (d === undefined) decimals.set(x, (d = Number(x.toPrecision(5))));
  return d;
};
/**
 * Normalises in place to exactly what PostgreSQL will hold: the fp16 unit vector is written with 5 digits,
 * the importer renormalises it in float32 (src/catalog/import/importer.ts checkVector) and halfvec rounds
 * to fp16 again — so the ground truth is computed on the stored values, whichever loader runs.
 */
function normaliseHalf(v: Float32Array, off: number): void {
  let s = 0;
  for (let d = 0; d < D; d++) s += v[off + d]! * v[off + d]!;
  const n = Math.sqrt(s);
  let s5 = 0;
  for (let d = 0; d < D; d++) {
    const w = Math.fround(decimal(toHalf(v[off + d]! / n)));
    v[off + d] = w;
    s5 += w * w;
  }
  const n5 = Math.sqrt(s5);
  for (let d = 0; d < D; d++) v[off + d] = toHalf(Math.fround(v[off + d]! / n5));
}

const SAMPLE = 200;
/** images whose stored vectors are compared with the generator's: evenly spread */
const sampleIndexes = (images: number) =>
  Array.from({ length: SAMPLE }, (_, k) => Math.floor((k * images) / SAMPLE) + (k % 4));

interface Ids {
  product: Map<string, number>;
  image: Map<string, number>;
}

interface Catalog {
  images: number;
  /** images × D, fp16-rounded unit vectors (empty when the catalog came from the cache: see `sample`) */
  vectors: Float32Array;
  /** the vectors of sampleIndexes(images), to check a database against the generator */
  sample: Float32Array;
  norms: Float32Array;
  imageProduct: Int32Array;
  /** product p's images are firstImage[p] … firstImage[p+1]-1 (N+1 entries) */
  firstImage: Int32Array;
  productTags: string[][];
  queries: Float32Array; // Q × D
}

const SELECTIVITIES: { name: string; tag: string | null; fraction: number }[] = [
  { name: 'none', tag: null, fraction: 1 },
  { name: '50%', tag: 's50', fraction: 0.5 },
  { name: '10%', tag: 's10', fraction: 0.1 },
  { name: '1%', tag: 's1', fraction: 0.01 },
  { name: '0.1%', tag: 's0.1', fraction: 0.001 },
  { name: '0.01%', tag: 's0.01', fraction: 0.0001 },
];

/**
 * Every filter the user-facing (HTTP) section runs: one tag per selectivity, and compound filters whose
 * conditions are not selective alone — brands + price range (≈5%, the shape), category subtree + in
 * stock + tag (≈1.7%) — with their predicate over the generator's products for the ground truth.
 */
interface BenchFilter {
  name: string;
  filter: ProductFilter | null;
  matches: (p: number, cat: Catalog) => boolean;
}
const FIVE_BRANDS = ['brand0', 'brand1', 'brand2', 'brand3', 'brand4'];
const FILTERS: BenchFilter[] = [
  ...SELECTIVITIES.map((s) => ({
    name: s.name,
    filter: s.tag ? { tagsAll: [s.tag] } : null,
    matches: (p: number, cat: Catalog) => !s.tag || cat.productTags[p]!.includes(s.tag),
  })),
  {
    name: '5 brands + price ≤ 250',
    filter: { brands: FIVE_BRANDS, price: { min: null, max: '250', currency: 'USD' } },
    matches: (p) => FIVE_BRANDS.includes(brandOf(p)) && Number(priceOf(p)) <= 250,
  },
  {
    name: 'category c3/* + in stock + tag 50%',
    filter: { category: 'c3', inStock: true, tagsAll: ['s50'] },
    matches: (p, cat) => categoryOf(p).startsWith('c3/') && inStockOf(p) && cat.productTags[p]!.includes('s50'),
  },
];
/** pages the HTTP section follows by cursor (recall over pages 1…PAGES of 10) */
const PAGES = 3;

function generate(): Catalog {
  const rand = mulberry32(SEED);
  const gauss = gaussianSource(rand);
  const sigma = Float32Array.from({ length: D }, (_, d) => (1 + d) ** -ALPHA);
  const centres = new Float32Array(CLUSTERS * D);
  for (let i = 0; i < centres.length; i++) centres[i] = gauss() * sigma[i % D]! * CLUSTER;
  const counts = Array.from({ length: N }, () => 1 + Math.floor(rand() * 4));
  const images = counts.reduce((a, b) => a + b, 0);
  const firstImage = new Int32Array(N + 1);
  for (let p = 0; p < N; p++) firstImage[p + 1] = firstImage[p]! + counts[p]!;
  const vectors = new Float32Array(images * D);
  const imageProduct = new Int32Array(images);
  const productVec = new Float32Array(D);
  const point = (out: Float32Array, off: number) => {
    const c = Math.floor(rand() * CLUSTERS) * D;
    for (let d = 0; d < D; d++) out[off + d] = centres[c + d]! + gauss() * sigma[d]! * PRODUCT;
  };
  let k = 0;
  for (let p = 0; p < N; p++) {
    point(productVec, 0);
    for (let j = 0; j < counts[p]!; j++, k++) {
      const off = k * D;
      for (let d = 0; d < D; d++) vectors[off + d] = productVec[d]! + gauss() * sigma[d]! * IMAGE;
      normaliseHalf(vectors, off);
      imageProduct[k] = p;
    }
  }
  const norms = new Float32Array(images);
  for (let i = 0; i < images; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += vectors[i * D + d]! * vectors[i * D + d]!;
    norms[i] = Math.sqrt(s);
  }
  // tags independent of the vectors: a random permutation of products, prefix sets of each size
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const productTags: string[][] = Array.from({ length: N }, () => []);
  for (const s of SELECTIVITIES) {
    if (!s.tag) continue;
    const n = Math.max(1, Math.round(N * s.fraction));
    for (let r = 0; r < n; r++) productTags[perm[r]!]!.push(s.tag);
  }
  const queries = new Float32Array(Q * D);
  for (let q = 0; q < Q; q++) {
    point(queries, q * D);
    for (let d = 0; d < D; d++) queries[q * D + d] = queries[q * D + d]! + gauss() * sigma[d]! * IMAGE;
    normaliseHalf(queries, q * D);
  }
  const sample = new Float32Array(SAMPLE * D);
  sampleIndexes(images).forEach((i, k) => sample.set(vectors.subarray(i * D, (i + 1) * D), k * D));
  return { images, vectors, sample, norms, imageProduct, firstImage, productTags, queries };
}

// ---------------------------------------------------------------- ground truth
interface Truth {
  images: number[][]; // per query: top-10 image indexes
  products: Record<string, number[][]>; // filter → per query top-10 product indexes
  /** filter → per query the top PAGES × 10 product indexes (recall over pages 1…PAGES) */
  pages: Record<string, number[][]>;
}
function groundTruth(cat: Catalog): Truth {
  const sims = new Float32Array(cat.images);
  const best = new Float32Array(N);
  const truth: Truth = {
    images: [],
    products: Object.fromEntries(FILTERS.map((f) => [f.name, []])),
    pages: Object.fromEntries(FILTERS.map((f) => [f.name, []])),
  };
  const matching = FILTERS.map((f) => Uint8Array.from({ length: N }, (_, p) => (f.matches(p, cat) ? 1 : 0)));
  for (let q = 0; q < Q; q++) {
    const qo = q * D;
    let qn = 0;
    for (let d = 0; d < D; d++) qn += cat.queries[qo + d]! * cat.queries[qo + d]!;
    qn = Math.sqrt(qn);
    best.fill(-Infinity);
    for (let i = 0; i < cat.images; i++) {
      const io = i * D;
      let s = 0;
      for (let d = 0; d < D; d++) s += cat.vectors[io + d]! * cat.queries[qo + d]!;
      s /= cat.norms[i]! * qn;
      sims[i] = s;
      const p = cat.imageProduct[i]!;
      if (s > best[p]!) best[p] = s;
    }
    truth.images.push(
      topK(
        cat.images,
        (i) => sims[i]!,
        () => true,
        10,
      ),
    );
    FILTERS.forEach((f, k) => {
      const top = topK(
        N,
        (p) => best[p]!,
        (p) => matching[k]![p] === 1,
        PAGES * 10,
      );
      truth.pages[f.name]!.push(top);
      truth.products[f.name]!.push(top.slice(0, 10));
    });
  }
  return truth;
}
function topK(n: number, score: (i: number) => number, keep: (i: number) => boolean, k: number): number[] {
  const out: { i: number; s: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (!keep(i)) continue;
    const s = score(i);
    if (out.length < k || s > out[out.length - 1]!.s) {
      out.push({ i, s });
      out.sort((a, b) => b.s - a.s);
      if (out.length > k) out.pop();
    }
  }
  return out.map((x) => x.i);
}
const recall = (got: readonly number[], want: readonly number[]) =>
  want.length ? got.filter((x) => want.includes(x)).length / want.length : 1;

// ---------------------------------------------------------------- stats
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
}
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
function lat(xs: number[]) {
  return { p50: r2(pct(xs, 50)), p95: r2(pct(xs, 95)), p99: r2(pct(xs, 99)) };
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}
/** runs `n` jobs with `clients` workers; per-job latency in ms */
async function concurrent(
  n: number,
  clients: number,
  job: (i: number) => Promise<unknown>,
): Promise<{ ms: number[]; wallMs: number }> {
  const ms: number[] = new Array(n);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const t = performance.now();
        await job(i);
        ms[i] = performance.now() - t;
      }
    }),
  );
  return { ms, wallMs: performance.now() - t0 };
}

// ---------------------------------------------------------------- database
const uuid = (prefix: string, i: number) => `00000000-0000-4000-${prefix}-${i.toString(16).padStart(12, '0')}`;
const qvec = (cat: Catalog, q: number) => cat.queries.subarray(q * D, (q + 1) * D);

/** a new scratch database, or (`--database NAME`) the one a `--keep` run left */
async function scratchDatabase(): Promise<{ db: Database; url: string; drop: () => Promise<void> }> {
  const name = REUSE || `glimpse_bench_${crypto.randomBytes(4).toString('hex')}`;
  if (!REUSE) {
    const admin = new pg.Client({ connectionString: DB_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
  }
  const u = new URL(DB_URL);
  u.pathname = `/${name}`;
  const db = await openDatabase({
    databaseUrl: u.toString(),
    dataDir: '/nonexistent',
    dbPoolSize: CLIENTS + 2,
    dbStatementTimeoutMs: 0,
  });
  return {
    db,
    url: u.toString(),
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: DB_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

const priceOf = (p: number) => (((p * 7919) % 50000) / 100).toFixed(2);
const categoryOf = (p: number) => `c${p % 20}/s${p % 7}`;
/** two products in three are in stock (independent of the category: 20 and 7 are coprime with 3) */
const inStockOf = (p: number) => p % 3 !== 0;
/** keyword vocabulary: a colour matches 10% of products, a style 1%, a colour and a style together 0.1% */
const COLORS = ['red', 'blue', 'green', 'black', 'white', 'grey', 'pink', 'yellow', 'brown', 'purple'];
const descriptionOf = (p: number) => `${COLORS[p % 10]} style${Math.floor(p / 10) % 100}`;
const brandOf = (p: number) => `brand${p % 50}`;
const KEYWORD_QUERIES = [
  { text: 'red', matching: '10%' },
  { text: 'style42', matching: '1%' },
  { text: 'red style42', matching: '0.1%' },
];

/** loads with batched INSERT … unnest (`--load direct`): fast, but not the import code path */
async function loadDirect(db: Database, cat: Catalog): Promise<Record<string, unknown>> {
  const sql = db.sql;
  const t0 = performance.now();
  const B = 2000;
  for (let s = 0; s < N; s += B) {
    const ids: string[] = [],
      skus: string[] = [],
      titles: string[] = [],
      descriptions: string[] = [],
      brands: string[] = [],
      tags: string[] = [],
      cats: string[] = [],
      prices: string[] = [],
      stock: boolean[] = [];
    for (let p = s; p < Math.min(N, s + B); p++) {
      ids.push(uuid('8000', p));
      skus.push(`B${p}`);
      titles.push(`product ${p}`);
      descriptions.push(descriptionOf(p));
      brands.push(brandOf(p));
      tags.push(cat.productTags[p]!.join(','));
      cats.push(categoryOf(p));
      prices.push(priceOf(p));
      stock.push(inStockOf(p));
    }
    await sql.query(
      `INSERT INTO product (id, sku, title, description, brand, category, price, currency, tags, in_stock)
       SELECT id, sku, title, description, brand, category, price, 'USD', string_to_array(nullif(tags, ''), ','), s
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[], $7::text[], $8::text[], $9::bool[]) AS t(id, sku, title, category, price, tags, description, brand, s)`,
      [ids, skus, titles, cats, prices, tags, descriptions, brands, stock],
    );
  }
  const IB = 1000;
  for (let s = 0; s < cat.images; s += IB) {
    const ids: string[] = [],
      pids: string[] = [],
      vecs: string[] = [],
      pos: number[] = [];
    for (let i = s; i < Math.min(cat.images, s + IB); i++) {
      const p = cat.imageProduct[i]!;
      ids.push(uuid('9000', i));
      pids.push(uuid('8000', p));
      vecs.push(vectorToSql(cat.vectors.subarray(i * D, (i + 1) * D)));
      pos.push(i - cat.firstImage[p]!);
    }
    await sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO product_image (id, product_id, sha256, source, content_type, byte_size, width, height, position)
         SELECT id, pid, lpad(to_hex(pos), 64, '0'), 'bench', 'image/jpeg', 1, 1, 1, pos FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS t(id, pid, pos)`,
        [ids, pids, pos],
      );
      await tx.query(
        `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding)
         SELECT id, $4, pid, v::halfvec(768) FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS t(id, pid, v)`,
        [ids, pids, vecs, MODEL],
      );
    });
    if ((s / IB) % 50 === 0) log(`loaded ${s + ids.length}/${cat.images} images`);
  }
  return {
    method: 'batched INSERT … SELECT unnest($arrays) (--load direct)',
    seconds: r2((performance.now() - t0) / 1000),
  };
}

/**
 * Loads through the catalog import code path (`--load import`): writes the catalog as JSON Lines with
 * precomputed embeddings, then runs src/catalog/import's Importer on it — the parser, validation, product
 * upsert, image rows, vector writes and job bookkeeping of `glimpse import`, in its largest batches.
 */
async function loadViaImport(db: Database, cat: Catalog): Promise<Record<string, unknown>> {
  // fp16 has 65,536 values: format each once
  const texts = new Map<number, string>();
  const decimalText = (x: number) => {
    let t = texts.get(x);
    if (t === undefined) texts.set(x, (t = String(decimal(x))));
    return t;
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-bench-'));
  try {
    const file = path.join(dir, 'catalog.jsonl');
    const t0 = performance.now();
    const out = fs.createWriteStream(file);
    for (let p = 0; p < N; p++) {
      const images: string[] = [];
      for (let i = cat.firstImage[p]!; i < cat.firstImage[p + 1]!; i++) {
        let v = '';
        for (let d = 0; d < D; d++) v += (d ? ',' : '') + decimalText(cat.vectors[i * D + d]!);
        images.push(`{"model":"${MODEL}","embedding":[${v}]}`);
      }
      const line = `{"sku":"B${p}","title":"product ${p}","description":"${descriptionOf(p)}","brand":"${brandOf(p)}","category":"${categoryOf(p)}","price":"${priceOf(p)}","currency":"USD","inStock":${inStockOf(p)},"tags":${JSON.stringify(cat.productTags[p])},"images":[${images.join(',')}]}\n`;
      if (!out.write(line)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const writeSeconds = (performance.now() - t0) / 1000;
    const fileMB = fs.statSync(file).size / 2 ** 20;
    log(`wrote ${r2(fileMB)} MB catalog in ${r2(writeSeconds)} s; importing`);
    const importer = new Importer({
      sql: db.sql,
      config: { ...loadConfig({}), imageDir: path.join(dir, 'images') },
      model: { modelId: MODEL, dimension: D },
      embedder: () => Promise.reject(new Error('the benchmark imports precomputed vectors only')),
    });
    let lastLog = 0;
    const summary = await importer.run({
      file,
      batchSize: 1000,
      bulk: false, // the benchmark drops the index before the load and times its own build afterwards
      onProgress: (p) => {
        if (Date.now() - lastLog < 30_000) return;
        lastLog = Date.now();
        log(`import ${p.done}/${p.total} products, ${p.imagesDone} images, ${p.rejected} rejected`);
      },
    });
    if (summary.rejected || summary.images.rejected || summary.imported !== N)
      throw new Error(`import rejected records: ${JSON.stringify(summary)}`);
    return {
      method: 'catalog import code path (Importer, JSON Lines with precomputed embeddings, batch size 1000)',
      seconds: r2(summary.seconds),
      catalogFileMB: r2(fileMB),
      writeFileSeconds: r2(writeSeconds),
      productsPerSecond: r2(summary.productsPerSecond),
      imagesPerSecond: r2(summary.imagesPerSecond),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Maps database ids to the generator's indexes (the import assigns ids; skus are B<index>, positions 0…). */
async function idMaps(db: Database, cat: Catalog): Promise<Ids> {
  const product = new Map<string, number>();
  for (const r of await db.sql.query<{ id: string; sku: string }>(`SELECT id::text AS id, sku FROM product`))
    product.set(r.id, Number(r.sku.slice(1)));
  const image = new Map<string, number>();
  for (const r of await db.sql.query<{ id: string; sku: string; position: number }>(
    `SELECT i.id::text AS id, p.sku, i.position FROM product_image i JOIN product p ON p.id = i.product_id`,
  ))
    image.set(r.id, cat.firstImage[Number(r.sku.slice(1))]! + Number(r.position));
  if (product.size !== N || image.size !== cat.images)
    throw new Error(
      `database holds ${product.size} products / ${image.size} images; expected ${N} / ${cat.images} (same --products and --seed?)`,
    );
  // the stored vectors must be the generator's (ground truth): check a sample
  const byIndex = new Map([...image].map(([id, i]) => [i, id]));
  const wanted = sampleIndexes(cat.images);
  const stored = new Map(
    (
      await db.sql.query<{ id: string; v: unknown }>(
        `SELECT image_id::text AS id, embedding AS v FROM embedding_768 WHERE image_id = ANY($1::uuid[])`,
        [wanted.map((i) => byIndex.get(i))],
      )
    ).map((r) => [r.id, Array.from(vectorFromSql(r.v))]),
  );
  let mismatched = 0;
  wanted.forEach((i, k) => {
    const v = stored.get(byIndex.get(i)!);
    if (!v || v.some((x, d) => Math.fround(x) !== cat.sample[k * D + d])) mismatched++;
  });
  log(
    `id maps: ${product.size} products, ${image.size} images; ${mismatched}/${SAMPLE} sampled vectors differ from the generator`,
  );
  if (mismatched) throw new Error('stored vectors differ from the generated ones: the ground truth would be wrong');
  return { product, image };
}

async function buildIndex(
  db: Database,
  name: string,
  ddl: string,
): Promise<{ name: string; seconds: number; sizeMB: number }> {
  const { ms } = await timed(() =>
    db.sql.transaction(async (tx) => {
      if (!/^\d+(MB|GB)$/.test(MAINTENANCE_WORK_MEM)) throw new Error('--maintenance-work-mem: e.g. 2GB');
      await tx.exec(
        `SET LOCAL maintenance_work_mem = '${MAINTENANCE_WORK_MEM}'; SET LOCAL max_parallel_maintenance_workers = 1;`,
      );
      await tx.exec(ddl);
    }),
  );
  const size = (await db.sql.query<{ b: number }>(`SELECT pg_relation_size($1::regclass)::int8 AS b`, [name]))[0]!.b;
  const out = { name, seconds: r2(ms / 1000), sizeMB: r2(size / 2 ** 20) };
  log('index', out);
  return out;
}

/** raw top-10 image query with settings; returns image indexes */
/** A database kept before products had descriptions and brands (keyword vocabulary): adds them. */
async function backfillText(db: Database): Promise<number> {
  const missing = (
    await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM product WHERE description IS NULL`)
  )[0]!.n;
  if (!missing) return 0;
  const B = 20000;
  for (let s = 0; s < N; s += B) {
    const skus: string[] = [],
      descriptions: string[] = [],
      brands: string[] = [];
    for (let p = s; p < Math.min(N, s + B); p++) {
      skus.push(`B${p}`);
      descriptions.push(descriptionOf(p));
      brands.push(brandOf(p));
    }
    await db.sql.query(
      `UPDATE product p SET description = x.d, brand = x.b FROM unnest($1::text[], $2::text[], $3::text[]) AS x(sku, d, b) WHERE p.sku = x.sku`,
      [skus, descriptions, brands],
    );
  }
  await db.sql.exec('VACUUM ANALYZE product');
  log(`added descriptions and brands to ${missing} products`);
  return missing;
}

/**
 * Brings the vector index and the tables into memory before anything is timed, as on a server that has
 * been up a while: pg_prewarm where this role may create it (superuser, e.g. the compose Postgres),
 * otherwise by reading them (a sequential pass over the tables, every query once at a wide ef_search).
 * The index goes last: when shared_buffers cannot hold everything (1M: 4.9 GB index + 4 GB heap in 6 GB),
 * the index is what should stay.
 */
async function warmUp(db: Database, cat: Catalog): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  try {
    await db.sql.exec(`CREATE EXTENSION IF NOT EXISTS pg_prewarm`);
    const rows = await db.sql.query<{ rel: string; blocks: number }>(
      `SELECT r AS rel, pg_prewarm(r::regclass)::int8 AS blocks FROM unnest(ARRAY['product', 'product_image', 'embedding_768', 'embedding_768_hnsw_idx']) WITH ORDINALITY AS x(r, i) ORDER BY i`,
    );
    return { method: 'pg_prewarm', blocks: rows, seconds: r2((performance.now() - t0) / 1000) };
  } catch {
    await db.sql.exec(
      `SELECT count(*) FROM embedding_768 WHERE embedding IS NOT NULL; SELECT count(*) FROM product WHERE tags IS NOT NULL`,
    );
    for (let q = 0; q < Q; q++)
      await rawQuery(
        db,
        'SET LOCAL hnsw.ef_search = 400',
        `SELECT image_id FROM embedding_768 ORDER BY embedding <=> $1::halfvec(768) LIMIT 10`,
        qvec(cat, q),
      );
    return { method: 'read (pg_prewarm not available to this role)', seconds: r2((performance.now() - t0) / 1000) };
  }
}

let IDS: Ids = { product: new Map(), image: new Map() };
const productIndex = (id: string) => IDS.product.get(id) ?? -1;

async function rawQuery(db: Database, settings: string, text: string, v: Float32Array): Promise<number[]> {
  const rows = await db.sql.transaction(async (tx) => {
    if (settings) await tx.exec(settings);
    return tx.query<{ image_id: string }>(text, [vectorToSql(v)]);
  });
  return rows.map((r) => IDS.image.get(r.image_id) ?? -1);
}

async function rawSweep(db: Database, cat: Catalog, truth: Truth, label: string, settings: string, text: string) {
  const ms: number[] = [];
  const rec: number[] = [];
  for (let q = 0; q < Q; q++) {
    const { ms: t, value } = await timed(() => rawQuery(db, settings, text, qvec(cat, q)));
    ms.push(t);
    rec.push(recall(value, truth.images[q]!));
  }
  const out = { option: label, recallAt10: r3(mean(rec)), ...lat(ms) };
  log(out);
  return out;
}

// ---------------------------------------------------------------- cache
/**
 * Generating 1M products and their ground truth takes ~15 min here. A run that keeps its database
 * (--keep / --load-only) saves everything later --database runs need except the vectors themselves
 * (ids, tags, queries, ground truth, the sample), so they start in seconds. hnswlib needs the vectors:
 * with it in --options the catalog is generated again.
 */
const CACHE_DIR = path.join(
  arg('cache-dir', path.join(os.tmpdir(), 'glimpse-bench-cache')),
  // v2: ground truth over 3 pages and the compound filters
  `v2-n${N}-q${Q}-s${SEED}-a${ALPHA}-c${CLUSTERS}-${CLUSTER}-${PRODUCT}-${IMAGE}`,
);
const ARRAYS = ['sample', 'norms', 'imageProduct', 'firstImage', 'queries'] as const;

function saveCache(cat: Catalog, truth: Truth): void {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  for (const k of ARRAYS)
    fs.writeFileSync(
      path.join(CACHE_DIR, `${k}.bin`),
      Buffer.from(cat[k].buffer, cat[k].byteOffset, cat[k].byteLength),
    );
  fs.writeFileSync(
    path.join(CACHE_DIR, 'meta.json'),
    JSON.stringify({ images: cat.images, productTags: cat.productTags, truth }),
  );
  log(`cached the catalog (without vectors) in ${CACHE_DIR}`);
}

function loadCache(): { cat: Catalog; truth: Truth } | null {
  if (!fs.existsSync(path.join(CACHE_DIR, 'meta.json'))) return null;
  const meta = JSON.parse(fs.readFileSync(path.join(CACHE_DIR, 'meta.json'), 'utf8')) as {
    images: number;
    productTags: string[][];
    truth: Truth;
  };
  const read = (k: string) => {
    const b = fs.readFileSync(path.join(CACHE_DIR, `${k}.bin`));
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  };
  const cat: Catalog = {
    images: meta.images,
    vectors: new Float32Array(0),
    sample: new Float32Array(read('sample')),
    norms: new Float32Array(read('norms')),
    imageProduct: new Int32Array(read('imageProduct')),
    firstImage: new Int32Array(read('firstImage')),
    productTags: meta.productTags,
    queries: new Float32Array(read('queries')),
  };
  return { cat, truth: meta.truth };
}

// ---------------------------------------------------------------- sections
/**
 * One untimed warm-up, then the Q queries one at a time: latency per query, the results, and recall@10
 * (products) against `want` (per query) when given. `before(q)` runs untimed before each query.
 */
async function timeQueries(
  service: SearchService,
  req: (q: number) => SearchRequest,
  want: number[][] | null,
  before: (q: number) => void = () => {},
) {
  before(0);
  await service.search(req(0));
  const ms: number[] = [];
  const rec: number[] = [];
  const results: SearchResult[] = [];
  for (let q = 0; q < Q; q++) {
    before(q);
    const { ms: t, value } = await timed(() => service.search(req(q)));
    ms.push(t);
    results.push(value);
    if (want)
      rec.push(
        recall(
          value.hits.map((h) => productIndex(h.productId)),
          want[q]!,
        ),
      );
  }
  return { ms, rec, results };
}

/** the service per selectivity: recall@10 (products), latency 1 client and CLIENTS concurrent */
async function serviceSection({ cat, truth }: Ctx, svc: SearchService): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const s of SELECTIVITIES) {
    const filter: ProductFilter | null = s.tag ? { tagsAll: [s.tag] } : null;
    const req = (q: number) => ({ vector: Array.from(qvec(cat, q)), filter, first: 10 });
    const { ms, rec, results } = await timeQueries(svc, req, truth.products[s.name]!);
    const strategies = new Map<string, number>();
    let rows = 0;
    let ef = 0;
    let probes = 0;
    for (const value of results) {
      rows += value.hits.length;
      ef = value.plan.efSearch ?? ef;
      probes = value.plan.probes ?? probes;
      const k = value.plan.strategy + (value.plan.fallback ? ` (fallback ${value.plan.fallback})` : '');
      strategies.set(k, (strategies.get(k) ?? 0) + 1);
    }
    const conc = await concurrent(Q, CLIENTS, (q) => svc.search(req(q)));
    const row = {
      selectivity: s.name,
      matchingProducts: s.tag ? Math.max(1, Math.round(N * s.fraction)) : N,
      strategy: [...strategies.entries()].map(([k, v]) => `${k}×${v}`).join(' '),
      efSearch: ef || null,
      ...(probes ? { probes } : {}),
      recallAt10: r3(mean(rec)),
      rowsReturned: r2(rows / Q),
      single: lat(ms),
      [`concurrent${CLIENTS}`]: { ...lat(conc.ms), qps: r2((Q / conc.wallMs) * 1000) },
    };
    log(row);
    out.push(row);
  }
  return out;
}

/** hnswlib-node in-process over the same vectors, image level: the baseline */
async function hnswlibSection(cat: Catalog, truth: Truth): Promise<Record<string, unknown>[]> {
  const hnswlibRows: Record<string, unknown>[] = [];
  if (OPTIONS.has('hnswlib')) {
    const idx = new hnswlib.HierarchicalNSW('cosine', D);
    idx.initIndex({ maxElements: cat.images, m: 16, efConstruction: 64, randomSeed: 100 });
    const { ms: buildMs } = await timed(async () => {
      for (let i = 0; i < cat.images; i++) idx.addPoint(Array.from(cat.vectors.subarray(i * D, (i + 1) * D)), i);
    });
    log(`hnswlib build ${r2(buildMs / 1000)} s`);
    const qs = Array.from({ length: Q }, (_, q) => Array.from(qvec(cat, q)));
    for (const ef of [40, 100, 200, 400]) {
      idx.setEf(ef);
      const ms: number[] = [];
      const rec: number[] = [];
      for (let q = 0; q < Q; q++) {
        const t = performance.now();
        const r = idx.searchKnn(qs[q]!, 10);
        ms.push(performance.now() - t);
        rec.push(recall(r.neighbors, truth.images[q]!));
      }
      const row = {
        option: 'hnswlib-node',
        ef,
        recallAt10: r3(mean(rec)),
        ...lat(ms),
        buildSeconds: r2(buildMs / 1000),
      };
      log(row);
      hnswlibRows.push(row);
    }
    // filtered (product-level recall is not comparable here: hnswlib indexes images); image-level top-10 with a filter callback
    for (const s of SELECTIVITIES.filter((x) => x.tag)) {
      idx.setEf(100);
      const allowed = Uint8Array.from({ length: cat.images }, (_, i) =>
        cat.productTags[cat.imageProduct[i]!]!.includes(s.tag!) ? 1 : 0,
      );
      const ms: number[] = [];
      let returned = 0;
      for (let q = 0; q < Q; q++) {
        const t = performance.now();
        const r = idx.searchKnn(qs[q]!, 10, (label) => allowed[label] === 1);
        ms.push(performance.now() - t);
        returned += r.neighbors.length;
      }
      const row = {
        option: 'hnswlib-node filtered',
        ef: 100,
        selectivity: s.name,
        rowsReturned: r2(returned / Q),
        ...lat(ms),
      };
      log(row);
      hnswlibRows.push(row);
    }
  }
  return hnswlibRows;
}

/** Loads and indexes the catalog into a new scratch database, or describes the reused one. */
async function loadOrReuse(db: Database, cat: Catalog, result: Record<string, unknown>): Promise<IndexInfo[]> {
  let indexes: IndexInfo[];
  if (!REUSE) {
    await db.sql.exec('DROP INDEX embedding_768_hnsw_idx');
    await db.sql.query(`INSERT INTO embedding_model (id, name, dimension, active) VALUES ($1, 'bench', $2, true)`, [
      MODEL,
      D,
    ]);
    result.load = LOADER === 'import' ? await loadViaImport(db, cat) : await loadDirect(db, cat);
    await db.sql.exec('ANALYZE');
    log('loaded', result.load);
    indexes = [
      await buildIndex(
        db,
        'embedding_768_hnsw_idx',
        `CREATE INDEX embedding_768_hnsw_idx ON embedding_768 USING hnsw (embedding halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)`,
      ),
    ];
    await db.sql.exec('ANALYZE');
  } else {
    const size = (await db.sql.query<{ b: number }>(`SELECT pg_relation_size('embedding_768_hnsw_idx')::int8 AS b`))[0]!
      .b;
    indexes = [{ name: 'embedding_768_hnsw_idx', sizeMB: r2(size / 2 ** 20) }];
    result.load = { reused: REUSE, descriptionsAdded: await backfillText(db) };
    log(`reusing database ${REUSE}`);
  }
  return indexes;
}

async function forcedSection({ db, cat, truth, config }: Ctx): Promise<Record<string, unknown>[]> {
  // ---- the two strategies forced, at the selectivities between which the cost rule switches and at the compound
  // filters (near the break-even): what the rule weighs (GLIMPSE_HNSW_TUPLE_COST is the ratio of an
  // index-walked tuple to an exactly scored row). Pages 2…PAGES follow by cursor: a later page walks the
  // earlier ones again on the index (docs/search.md, "Later pages"). `--forced-ef 200,400`: the index at each
  // hnsw.ef_search floor (default: the configured one); `--forced-filters 1%,0.1%`: those filters only (by name).
  const forced: Record<string, unknown>[] = [];
  const only = arg('forced-filters', '').split(',').filter(Boolean);
  const compared = FILTERS.filter((f) =>
    only.length > 0 ? only.includes(f.name) : ['10%', '1%', '0.1%'].includes(f.name) || filterConditionCount(f) > 1,
  );
  const efs = arg('forced-ef', String(config.hnswEfSearch)).split(',').map(Number);
  const variants = [
    { forced: 'exact', config: { ...config, exactScanThreshold: 100_000_000 } },
    ...efs.map((ef) => ({
      forced: 'index',
      efSearch: ef,
      // threshold 1, not 0 (no exact path): the filter is still measured, and sizes the scan's budget as in a
      // real search that chose the index; a scan that runs dry still falls back (counted)
      config: { ...config, exactScanThreshold: 1, hnswEfSearch: ef },
    })),
  ];
  for (const f of compared) {
    const matchingEmbeddings = Array.from({ length: N }, (_, p) => p)
      .filter((p) => f.matches(p, cat))
      .reduce((sum, p) => sum + cat.firstImage[p + 1]! - cat.firstImage[p]!, 0);
    for (const { config: forcedConfig, ...label } of variants) {
      const svc = new SearchService(db.sql, forcedConfig, null);
      const req = (q: number) => ({ vector: Array.from(qvec(cat, q)), filter: f.filter, first: 10 });
      const { ms, rec, results } = await timeQueries(svc, req, truth.products[f.name]!);
      const later = await laterPages(svc, req, results, truth.pages[f.name]!);
      const row = {
        filter: f.name,
        matchingEmbeddings,
        ...label,
        recallAt10: r3(mean(rec)),
        ...lat(ms),
        fallbacks: results.filter((r) => r.plan.fallback).length,
        [`recallPages1to${PAGES}`]: r3(mean(later.recall)),
        [`pages2to${PAGES}`]: lat(later.ms),
      };
      log(row);
      forced.push(row);
    }
  }
  return forced;
}

/** Pages 2…PAGES after each query's first page (`results`), by cursor: their latencies and recall over pages 1…PAGES. */
async function laterPages(
  svc: SearchService,
  req: (q: number) => SearchRequest,
  results: SearchResult[],
  want: number[][],
): Promise<{ ms: number[]; recall: number[] }> {
  const ms: number[] = [];
  const recalls: number[] = [];
  for (let q = 0; q < results.length; q++) {
    const first = results[q]!;
    const pages = await followPages(
      first.hits.map((h) => productIndex(h.productId)),
      first.pageInfo.endCursor,
      async (after) => {
        const { ms: t, value } = await timed(() => svc.search({ ...req(q), after }));
        const ids = value.hits.map((h) => productIndex(h.productId));
        return { ms: t, ids, cursor: value.pageInfo.hasNextPage ? value.pageInfo.endCursor : null };
      },
    );
    ms.push(...pages.ms);
    recalls.push(recall(pages.ids, want[q]!));
  }
  return { ms, recall: recalls };
}

/** Pages 2…PAGES after a first page (its product indexes and end cursor), by cursor: each one's latency, every id. */
async function followPages(
  firstIds: number[],
  firstCursor: string | null,
  next: (cursor: string) => Promise<{ ms: number; ids: number[]; cursor: string | null }>,
): Promise<{ ms: number[]; ids: number[] }> {
  const ms: number[] = [];
  const ids = [...firstIds];
  let cursor = firstCursor;
  for (let k = 1; k < PAGES && cursor; k++) {
    const page = await next(cursor);
    ms.push(page.ms);
    ids.push(...page.ids);
    cursor = page.cursor;
  }
  return { ms, ids };
}

/** how many conditions a benchmark filter has (brands + price: 2; category + stock + tag: 3) */
const filterConditionCount = (f: BenchFilter): number => Object.keys(f.filter ?? {}).length;

async function efSweepSection({ db, cat, truth, config }: Ctx): Promise<Record<string, unknown>[]> {
  // ---- unfiltered service recall/latency against hnsw.ef_search (GLIMPSE_HNSW_EF_SEARCH)
  const efRows: Record<string, unknown>[] = [];
  for (const ef of arg('service-ef', '').split(',').filter(Boolean).map(Number)) {
    const tuned = new SearchService(db.sql, { ...config, hnswEfSearch: ef }, null);
    const { ms, rec } = await timeQueries(
      tuned,
      (q) => ({ vector: Array.from(qvec(cat, q)), first: 10 }),
      truth.products.none!,
    );
    const row = { efSearch: ef, recallAt10: r3(mean(rec)), ...lat(ms) };
    log('service unfiltered', row);
    efRows.push(row);
  }
  return efRows;
}

async function textSection({ db, cat, config }: Ctx): Promise<Record<string, unknown>[]> {
  // ---- KEYWORD, HYBRID and facets (single client): the text side's latency; the query embedding is not
  // part of it (bench:embed measures that), so the "embedder" hands out the benchmark's query vectors
  let current = qvec(cat, 0);
  const textSvc = new SearchService(db.sql, config, () => ({
    modelId: MODEL,
    dimension: D,
    embedText: () => Promise.resolve(current),
  }));
  const other: Record<string, unknown>[] = [];
  const measure = async (label: Record<string, unknown>, req: (q: number) => SearchRequest) => {
    const { ms, results } = await timeQueries(textSvc, req, null, (q) => (current = qvec(cat, q)));
    const rows = results.reduce((n, r) => n + r.hits.length, 0);
    const strategy = results[results.length - 1]?.plan.strategy ?? '';
    const row = { ...label, strategy, rowsReturned: r2(rows / Q), ...lat(ms) };
    log(row);
    other.push(row);
  };
  for (const k of KEYWORD_QUERIES) {
    await measure({ mode: 'KEYWORD', text: k.text, matching: k.matching }, () => ({
      mode: 'KEYWORD',
      text: k.text,
      first: 10,
    }));
    await measure({ mode: 'HYBRID', text: k.text, matching: k.matching }, () => ({
      mode: 'HYBRID',
      text: k.text,
      first: 10,
    }));
  }
  const allFacets: FacetKind[] = ['CATEGORY', 'BRAND', 'IN_STOCK', 'PRICE'];
  for (const s of SELECTIVITIES.filter((x) => ['none', '10%', '1%'].includes(x.name)))
    await measure({ mode: 'SEMANTIC', facets: allFacets.join(','), selectivity: s.name }, (q) => ({
      vector: Array.from(qvec(cat, q)),
      filter: s.tag ? { tagsAll: [s.tag] } : null,
      facets: allFacets,
      first: 10,
    }));
  await measure({ mode: 'KEYWORD', facets: allFacets.join(','), text: 'style42', matching: '1%' }, () => ({
    mode: 'KEYWORD',
    text: 'style42',
    facets: allFacets,
    first: 10,
  }));
  return other;
}

async function plainSection({ db, cat, truth }: Ctx): Promise<Record<string, unknown>[]> {
  // ---- the same, without the exact path and without iterative scan, to show what they buy (10% and 1%)
  const plainRows: Record<string, unknown>[] = [];
  for (const s of SELECTIVITIES.filter((x) => x.name === '10%' || x.name === '1%')) {
    for (const mode of ['off', 'relaxed_order'] as const) {
      const rec: number[] = [];
      const ms: number[] = [];
      let rows = 0;
      for (let q = 0; q < Q; q++) {
        const text = `SELECT e.product_id FROM embedding_768 e JOIN product p ON p.id = e.product_id WHERE p.tags @> $2::text[] ORDER BY e.embedding <=> $1::halfvec(768) LIMIT 10`;
        const { ms: t, value } = await timed(() =>
          db.sql.transaction(async (tx) => {
            await tx.exec(
              `SET LOCAL hnsw.ef_search = 40; SET LOCAL hnsw.iterative_scan = ${mode}; SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off`,
            );
            return tx.query<{ product_id: string }>(text, [vectorToSql(qvec(cat, q)), [s.tag!]]);
          }),
        );
        ms.push(t);
        const got = [...new Set(value.map((r) => productIndex(r.product_id)))];
        rows += value.length;
        rec.push(recall(got, truth.products[s.name]![q]!));
      }
      const row = {
        selectivity: s.name,
        query: `plain ORDER BY … LIMIT 10, ef_search 40, iterative_scan ${mode}`,
        recallAt10: r3(mean(rec)),
        rowsReturned: r2(rows / Q),
        ...lat(ms),
      };
      log(row);
      plainRows.push(row);
    }
  }
  return plainRows;
}

async function optionsSection({ db, cat, truth }: Ctx, indexes: IndexInfo[]): Promise<Record<string, unknown>[]> {
  // ---- index options, raw image level, unfiltered
  const options: Record<string, unknown>[] = [];
  const top = `SELECT image_id FROM embedding_768 ORDER BY embedding <=> $1::halfvec(768) LIMIT 10`;
  if (OPTIONS.has('halfvec'))
    for (const ef of [40, 100, 200, 400])
      options.push({
        ...(await rawSweep(db, cat, truth, 'HNSW halfvec', `SET LOCAL hnsw.ef_search = ${ef}`, top)),
        ef,
      });
  if (OPTIONS.has('fp32')) {
    await db.sql.exec(
      `CREATE TABLE bench_vec32 AS SELECT image_id, embedding::vector(768) AS embedding FROM embedding_768; ANALYZE bench_vec32`,
    );
    indexes.push(
      await buildIndex(
        db,
        'bench_vec32_hnsw',
        `CREATE INDEX bench_vec32_hnsw ON bench_vec32 USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`,
      ),
    );
    for (const ef of [40, 100, 200])
      options.push({
        ...(await rawSweep(
          db,
          cat,
          truth,
          'HNSW vector fp32',
          `SET LOCAL hnsw.ef_search = ${ef}`,
          `SELECT image_id FROM bench_vec32 ORDER BY embedding <=> $1::vector(768) LIMIT 10`,
        )),
        ef,
      });
    await db.sql.exec(`DROP TABLE bench_vec32`);
  }
  if (OPTIONS.has('ivfflat')) {
    const lists = Math.max(10, Math.round(cat.images / 1000));
    await db.sql.exec(`CREATE TABLE bench_ivf AS SELECT image_id, embedding FROM embedding_768; ANALYZE bench_ivf`);
    indexes.push(
      await buildIndex(
        db,
        'bench_ivf_idx',
        `CREATE INDEX bench_ivf_idx ON bench_ivf USING ivfflat (embedding halfvec_cosine_ops) WITH (lists = ${lists})`,
      ),
    );
    for (const probes of [5, 10, 20])
      options.push({
        ...(await rawSweep(
          db,
          cat,
          truth,
          `IVFFlat halfvec (lists ${lists})`,
          `SET LOCAL ivfflat.probes = ${probes}`,
          `SELECT image_id FROM bench_ivf ORDER BY embedding <=> $1::halfvec(768) LIMIT 10`,
        )),
        probes,
      });
    await db.sql.exec(`DROP TABLE bench_ivf`);
  }
  if (OPTIONS.has('bq')) {
    indexes.push(
      await buildIndex(
        db,
        'bench_bq_idx',
        `CREATE INDEX bench_bq_idx ON embedding_768 USING hnsw ((binary_quantize(embedding)::bit(768)) bit_hamming_ops) WITH (m = 16, ef_construction = 64)`,
      ),
    );
    for (const cand of [100, 400, 1000])
      options.push({
        ...(await rawSweep(
          db,
          cat,
          truth,
          'binary quantisation HNSW + exact re-rank',
          `SET LOCAL hnsw.ef_search = ${Math.min(1000, Math.max(40, cand))}; SET LOCAL enable_seqscan = off`,
          `SELECT image_id FROM (SELECT image_id, embedding FROM embedding_768 ORDER BY binary_quantize(embedding)::bit(768) <~> binary_quantize($1::halfvec(768)) LIMIT ${cand}) c ORDER BY embedding <=> $1::halfvec(768) LIMIT 10`,
        )),
        candidates: cand,
      });
    await db.sql.exec(`DROP INDEX bench_bq_idx`);
  }
  return options;
}

async function ivfflatServiceSection(ctx: Ctx): Promise<Record<string, unknown>> {
  const { db } = ctx;
  // ---- the service over an IVFFlat index (`glimpse index rebuild --type ivfflat`, default lists): scratch
  // databases only, since it replaces the table's HNSW index

  const rebuilt = await rebuildIndex(db.sql, {
    dimension: D,
    type: 'ivfflat',
    maintenanceWorkMem: MAINTENANCE_WORK_MEM,
  });
  log('rebuilt as ivfflat', { lists: rebuilt.after.parameters.lists, seconds: r2(rebuilt.buildSeconds) });
  await db.sql.exec('ANALYZE');
  return {
    index: {
      lists: rebuilt.after.parameters.lists,
      buildSeconds: r2(rebuilt.buildSeconds),
      sizeMB: r2(rebuilt.after.bytes / 2 ** 20),
    },
    rows: await serviceSection(ctx, new SearchService(db.sql, ctx.config, null)),
  };
}

function equalRecall(service: Record<string, unknown>[], hnswlibRows: Record<string, unknown>[]) {
  // equal-recall comparison: hnswlib latency interpolated at the service's unfiltered recall
  const unf = service[0] as { recallAt10: number; single: { p50: number; p95: number } } | undefined;
  const lib = hnswlibRows.filter((r) => r.option === 'hnswlib-node') as {
    recallAt10: number;
    p50: number;
    p95: number;
    ef: number;
  }[];
  const atRecall = unf && (lib.find((r) => r.recallAt10 >= unf.recallAt10) ?? lib[lib.length - 1]);
  if (!unf || !atRecall) return undefined;
  return {
    serviceUnfiltered: { recallAt10: unf.recallAt10, p50: unf.single.p50, p95: unf.single.p95 },
    hnswlib: atRecall,
    ratioP50: r2(unf.single.p50 / atRecall.p50),
    note: 'service recall is per product (best image), hnswlib per image; both against exact search over the same vectors',
  };
}

/** The search statement a search runs, alone: after its settings (if any), as the service runs it. */
async function runBuilt(db: Database, q: BuiltQuery): Promise<void> {
  await db.sql.query(q.text, q.params, { settings: q.settings });
}

/**
 * What a storefront sees, beside what the service and PostgreSQL take, in one run. Per filter (every
 * selectivity and the compound filters), query by query and interleaved so that a busy machine slows all three
 * alike: the search statement the service builds, run alone (its settings, statement; "SQL"); the service
 * in-process (`SearchService.search`, its planner estimate included); the real server over HTTP (GraphQL
 * `search(input: {vector, filter}, first: 10)`, admin key, keep-alive loopback), then pages 2…PAGES by cursor
 * for recall over the first PAGES × 10. Overhead = HTTP p50 − SQL p50. Then a cached text query (`text`
 * instead of `vector`), and throughput with 1 and CLIENTS concurrent HTTP clients.
 */
async function httpSection(ctx: Ctx, databaseUrl: string): Promise<Record<string, unknown>> {
  const { db, cat, truth, config } = ctx;
  const svc = new SearchService(db.sql, config, null);
  const key = (await createKey(db.prisma, 'admin', 'bench:search')).key;
  const profileDir = arg('server-cpu-prof', '');
  const server = await startBenchServer({
    databaseUrl,
    queries: cat.queries,
    env: { LOG_LEVEL: arg('server-log-level', 'info'), GLIMPSE_DB_POOL_SIZE: String(CLIENTS + 2) },
    nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  });
  const client = searchClient(server.url, key, CLIENTS);
  const skuIndex = (sku: string) => Number(sku.slice(1));
  const rows: Record<string, unknown>[] = [];
  try {
    const vectorInput = (f: BenchFilter, q: number) => ({ vector: Array.from(qvec(cat, q)), filter: f.filter });
    for (const f of FILTERS) {
      const req = (q: number): SearchRequest => ({ vector: Array.from(qvec(cat, q)), filter: f.filter, first: 10 });
      // warm-up, untimed: each layer once
      await runBuilt(db, (await svc.explain(req(0))).query);
      await svc.search(req(0));
      await client.search(vectorInput(f, 0), 10);
      const sqlMs: number[] = [];
      const serviceMs: number[] = [];
      const httpMs: number[] = [];
      const laterMs: number[] = [];
      const serverDb: number[] = [];
      const serverTotal: number[] = [];
      const rec10: number[] = [];
      const recPages: number[] = [];
      const strategies = new Map<string, number>();
      let fullPages = 0;
      for (let q = 0; q < Q; q++) {
        const built = (await svc.explain(req(q))).query;
        sqlMs.push((await timed(() => runBuilt(db, built))).ms);
        serviceMs.push((await timed(() => svc.search(req(q)))).ms);
        const page = await client.search(vectorInput(f, q), 10);
        httpMs.push(page.ms);
        serverDb.push(page.server.db);
        serverTotal.push(page.server.total);
        strategies.set(page.server.strategy, (strategies.get(page.server.strategy) ?? 0) + 1);
        const firstIds = page.skus.map(skuIndex);
        rec10.push(recall(firstIds, truth.products[f.name]![q]!));
        const later = await followPages(firstIds, page.endCursor, async (after) => {
          const next = await client.search(vectorInput(f, q), 10, after);
          return { ms: next.ms, ids: next.skus.map(skuIndex), cursor: next.hasNextPage ? next.endCursor : null };
        });
        laterMs.push(...later.ms);
        const got = later.ids;
        const want = truth.pages[f.name]![q]!;
        if (got.length >= Math.min(want.length, PAGES * 10) && new Set(got).size === got.length) fullPages++;
        recPages.push(recall(got, want));
      }
      const row = {
        filter: f.name,
        matchingProducts: Array.from({ length: N }, (_, p) => p).filter((p) => f.matches(p, cat)).length,
        strategy: [...strategies.entries()].map(([k, v]) => `${k}×${v}`).join(' '),
        recallAt10: r3(mean(rec10)),
        [`recallPages1to${PAGES}`]: r3(mean(recPages)),
        fullDistinctPages: `${fullPages}/${Q}`,
        sql: lat(sqlMs),
        service: lat(serviceMs),
        http: lat(httpMs),
        overheadP50: r2(pct(httpMs, 50) - pct(sqlMs, 50)),
        serverTimingP50: { db: r2(pct(serverDb, 50)), total: r2(pct(serverTotal, 50)) },
        [`httpPages2to${PAGES}`]: lat(laterMs),
      };
      log(row);
      rows.push(row);
    }

    // a text query whose embedding is cached (the benchmark server's embedder hands out query vector n for
    // "q<n>"), unfiltered: the same statement as the vector search, without the 768 floats in the request
    let current = qvec(cat, 0);
    const textSvc = new SearchService(db.sql, config, () => ({
      modelId: MODEL,
      dimension: D,
      embedText: () => Promise.resolve(current),
    }));
    const textReq = (q: number): SearchRequest => ({ text: `q${q}`, first: 10 });
    await textSvc.search(textReq(0));
    await client.search({ text: 'q0' }, 10);
    const text = { sql: [] as number[], service: [] as number[], http: [] as number[], rec: [] as number[] };
    for (let q = 0; q < Q; q++) {
      current = qvec(cat, q);
      const built = (await textSvc.explain(textReq(q))).query;
      text.sql.push((await timed(() => runBuilt(db, built))).ms);
      text.service.push((await timed(() => textSvc.search(textReq(q)))).ms);
      const page = await client.search({ text: `q${q}` }, 10);
      text.http.push(page.ms);
      text.rec.push(recall(page.skus.map(skuIndex), truth.products.none![q]!));
    }
    const cachedText = {
      query: 'SEMANTIC text, embedding cached, unfiltered',
      recallAt10: r3(mean(text.rec)),
      sql: lat(text.sql),
      service: lat(text.service),
      http: lat(text.http),
      overheadP50: r2(pct(text.http, 50) - pct(text.sql, 50)),
    };
    log(cachedText);

    // what the storefront's extras cost over HTTP, interleaved per query against the plain page (analytics are
    // in every row: each search is recorded, written once a second in the background)
    const EXTRAS: { name: string; extra: string }[] = [
      { name: 'plain page', extra: '' },
      {
        name: '+ all facets',
        extra:
          'facets { categories { value count } brands { value count } inStock { value count } price { min max count } }',
      },
      { name: '+ totalCount', extra: 'totalCount totalCountExact' },
      { name: '+ didYouMean', extra: 'didYouMean' },
    ];
    const extras: Record<string, unknown>[] = [];
    for (const f of [FILTERS[0]!, FILTERS.find((x) => x.name === '10%')!]) {
      const ms = EXTRAS.map(() => [] as number[]);
      for (const e of EXTRAS) await client.search(vectorInput(f, 0), 10, null, e.extra);
      for (let q = 0; q < Q; q++)
        for (const [i, e] of EXTRAS.entries())
          ms[i]!.push((await client.search(vectorInput(f, q), 10, null, e.extra)).ms);
      const base = pct(ms[0]!, 50);
      for (const [i, e] of EXTRAS.entries()) {
        const row = { filter: f.name, selection: e.name, http: lat(ms[i]!), vsPlainP50: r2(pct(ms[i]!, 50) / base) };
        log('http extras', row);
        extras.push(row);
      }
    }

    // the raw vector as a JSON list of numbers vs compact (vectorBase64: float32 LE), interleaved per query
    const compactInput = (input: Record<string, unknown>) => {
      const { vector, ...rest } = input as { vector: number[] };
      return { ...rest, vectorBase64: Buffer.from(Float32Array.from(vector).buffer).toString('base64') };
    };
    const asList: number[] = [];
    const compact: number[] = [];
    await client.search(compactInput(vectorInput(FILTERS[0]!, 0)), 10);
    for (let q = 0; q < Q; q++) {
      asList.push((await client.search(vectorInput(FILTERS[0]!, q), 10)).ms);
      compact.push((await client.search(compactInput(vectorInput(FILTERS[0]!, q)), 10)).ms);
    }
    const vectorEncoding = {
      list: lat(asList),
      base64: lat(compact),
      base64VsListP50: r2(pct(compact, 50) / pct(asList, 50)),
    };
    log('http vector encoding', vectorEncoding);

    // throughput: the unfiltered vector search, 1 client and CLIENTS concurrent (2 × Q requests each)
    const throughput: Record<string, unknown>[] = [];
    for (const clients of [1, CLIENTS]) {
      const run = await concurrent(2 * Q, clients, (i) => client.search(vectorInput(FILTERS[0]!, i % Q), 10));
      const row = { clients, ...lat(run.ms), qps: r2((2 * Q * 1000) / run.wallMs) };
      log('http throughput', row);
      throughput.push(row);
    }
    const single = throughput[0]!.qps as number;
    return {
      server:
        'bench/search-server.ts (startServer of src/server.ts, real schema/resolvers/stack; LOG_LEVEL ' +
        `${arg('server-log-level', 'info')}; embedder = the benchmark's query vectors)`,
      rows,
      cachedText,
      extras,
      vectorEncoding,
      throughput,
      concurrencyGain: r2((throughput[1]!.qps as number) / single),
    };
  } finally {
    client.close();
    await server.stop();
  }
}

interface IndexInfo {
  name: string;
  seconds?: number;
  sizeMB: number;
}

/** What the sections share: the database, the generated catalog, its ground truth and the service settings. */
interface Ctx {
  db: Database;
  cat: Catalog;
  truth: Truth;
  config: SearchConfig;
}

/** Sections to run (`--sections`, comma-separated; `--options-only` = options): all by default. */
const ALL_SECTIONS = ['service', 'forced', 'ef', 'text', 'plain', 'options', 'ivfflat-service', 'http'] as const;
const SECTIONS = new Set(
  flag('options-only') ? ['options'] : arg('sections', ALL_SECTIONS.join(',')).split(',').filter(Boolean),
);
for (const s of SECTIONS)
  if (!(ALL_SECTIONS as readonly string[]).includes(s))
    throw new Error(`--sections: one of ${ALL_SECTIONS.join(', ')}`);

/** The generated catalog and its ground truth: from the cache for --database runs, else generated. */
function catalogAndTruth(): { cat: Catalog; truth: Truth } | null {
  log(`generating ${N} products (alpha ${ALPHA}, ${CLUSTERS} clusters)`);
  const cached = REUSE && !OPTIONS.has('hnswlib') ? loadCache() : null;
  if (cached) {
    log(`catalog and ground truth from ${CACHE_DIR}`);
    return cached;
  }
  const cat = generate();
  log(`${cat.images} images; ground truth for ${Q} queries`);
  const truth = groundTruth(cat);
  if (flag('keep') || flag('load-only') || flag('cache-only') || REUSE) saveCache(cat, truth);
  return flag('cache-only') ? null : { cat, truth };
}

/** The service's settings: its defaults, GLIMPSE_* search settings in the environment override them. */
function searchConfig(): SearchConfig {
  const base = loadConfig(
    Object.fromEntries(Object.entries(process.env).filter(([k]) => /^GLIMPSE_(HNSW|EXACT|SEARCH|IVFFLAT)_/.test(k))),
  );
  return {
    maxFirst: base.maxFirst,
    hnswEfSearch: base.hnswEfSearch,
    hnswMaxScanTuples: base.hnswMaxScanTuples,
    exactScanThreshold: base.exactScanThreshold,
    hnswTupleCost: base.hnswTupleCost,
    rrfK: base.rrfK,
    textSearchConfig: base.textSearchConfig,
    searchCandidateWindow: base.searchCandidateWindow,
    ivfflatProbes: base.ivfflatProbes,
  };
}

// ---------------------------------------------------------------- main
async function main() {
  const started = new Date();
  const generated = catalogAndTruth();
  if (!generated) return;
  const { cat, truth } = generated;
  const result: Record<string, unknown> = {
    command: `npm run bench:search -- ${process.argv.slice(2).join(' ')}`.trim(),
    date: started.toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGB: Math.round(os.totalmem() / 2 ** 30) },
    catalog: {
      products: N,
      images: cat.images,
      queries: Q,
      generator: {
        alpha: ALPHA,
        clusters: CLUSTERS,
        clusterSpread: CLUSTER,
        productSpread: PRODUCT,
        imageSpread: IMAGE,
        seed: SEED,
      },
    },
  };
  const hnswlibRows = await hnswlibSection(cat, truth);
  result.hnswlib = hnswlibRows;
  if (flag('calibrate')) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }

  const scratch = await scratchDatabase();
  const db = scratch.db;
  try {
    const versions = (
      await db.sql.query<{ pg: string; vector: string }>(
        `SELECT current_setting('server_version') AS pg, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS vector`,
      )
    )[0]!;
    (result.machine as Record<string, unknown>).postgres = versions.pg;
    (result.machine as Record<string, unknown>).pgvector = versions.vector;
    const indexes = await loadOrReuse(db, cat, result);
    const tableMB =
      (await db.sql.query<{ b: number }>(`SELECT pg_table_size('embedding_768')::int8 AS b`))[0]!.b / 2 ** 20;
    IDS = await idMaps(db, cat);
    result.indexes = indexes;
    result.tableMB = r2(tableMB);
    if (flag('load-only')) {
      log(`--load-only: database ${scratch.url} is ready for --database runs`);
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    result.warmUp = await warmUp(db, cat);
    const ctx: Ctx = { db, cat, truth, config: searchConfig() };
    result.serviceConfig = ctx.config;
    const service = SECTIONS.has('service')
      ? await serviceSection(ctx, new SearchService(db.sql, ctx.config, null))
      : [];
    if (service.length) result.service = service;
    if (SECTIONS.has('http')) result.http = await httpSection(ctx, scratch.url);
    if (SECTIONS.has('forced')) result.strategiesForced = await forcedSection(ctx);
    if (SECTIONS.has('ef')) {
      const efRows = await efSweepSection(ctx);
      if (efRows.length) result.serviceEfSweep = efRows;
    }
    if (SECTIONS.has('text')) result.textAndFacets = await textSection(ctx);
    if (SECTIONS.has('plain')) result.withoutGlimpseStrategy = await plainSection(ctx);
    if (SECTIONS.has('options')) result.indexOptions = await optionsSection(ctx, indexes);
    // the service over an IVFFlat index replaces the table's HNSW index: scratch databases only
    if (SECTIONS.has('ivfflat-service') && OPTIONS.has('ivfflat-service') && !REUSE && !flag('keep'))
      result.serviceIvfflat = await ivfflatServiceSection(ctx);
    const equal = equalRecall(service, hnswlibRows);
    if (equal) result.equalRecall = equal;
  } finally {
    if (REUSE) await db.close();
    else if (!flag('keep')) await scratch.drop();
    else log(`kept scratch database ${scratch.url}`);
  }
  result.totalSeconds = r2((Date.now() - started.getTime()) / 1000);
  const json = JSON.stringify(result, null, 2);
  console.log(json);
  const dir = arg('results-dir', fileURLToPath(new URL('./results', import.meta.url)));
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `search-${started.toISOString().slice(0, 19).replace(/:/g, '')}-${N}.json`);
  fs.writeFileSync(file, json + '\n');
  log(`wrote ${file}`);
  console.error('\n' + renderReport(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
