/**
 * Embedding throughput: texts/s (one at a time and micro-batched; short and 77-token queries), images/s
 * (decode + preprocess alone, inference alone, end to end), and the latency of one query through the image model's
 * own text tower beside the paired text tower (`--text-model`, e.g. M-CLIP's XLM-R; Chinese queries). Default: the
 * generated TEST model and TEST multilingual tower on CPU.
 *
 *   npm run bench:embed -- [--model test|DIR|REPO] [--text-model test-multilingual|DIR|REPO|none] [--ep cpu|cuda]
 *                          [--dtype fp32|fp16] [--workers N] [--decode-workers N] [--batch N] [--seconds S]
 *                          [--no-write]
 * Prints JSON and writes bench/results/embed-<date>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import sharp from 'sharp';
import { loadConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { preprocessImage } from '../src/embedding/image-preprocess.js';
import { TextTower } from '../src/embedding/text-tower.js';

const program = new Command()
  .option('--model <name>', 'model (folder, repo id in the cache, or "test")', 'test')
  .option(
    '--text-model <name>',
    'paired text tower (default: test-multilingual with --model test, else GLIMPSE_TEXT_MODELS[0])',
  )
  .addOption(new Option('--ep <provider>', 'execution provider').choices(['cpu', 'cuda']).default('cpu'))
  .addOption(new Option('--dtype <dtype>', 'weights').choices(['fp32', 'fp16']).default('fp32'))
  .option('--workers <n>', 'inference workers (default: GLIMPSE_INFERENCE_WORKERS)')
  .option('--decode-workers <n>', 'image decode workers (default: GLIMPSE_DECODE_WORKERS)')
  .option('--batch <n>', 'max batch size (default: GLIMPSE_MAX_BATCH)')
  .option('--seconds <s>', 'time per measurement', '3')
  .option('--no-write', 'do not write bench/results')
  .parse();
const opts = program.opts<{
  model: string;
  textModel?: string;
  ep: 'cpu' | 'cuda';
  dtype: 'fp32' | 'fp16';
  workers?: string;
  decodeWorkers?: string;
  batch?: string;
  seconds: string;
  write: boolean;
}>();
const seconds = Number(opts.seconds);

const config = loadConfig(process.env, {
  model: opts.model,
  executionProvider: opts.ep,
  modelDtype: opts.dtype,
  textCacheSize: 0, // measure inference, not the cache
  ...(opts.workers ? { inferenceWorkers: Number(opts.workers) } : {}),
  ...(opts.decodeWorkers ? { decodeWorkers: Number(opts.decodeWorkers) } : {}),
  ...(opts.batch ? { maxBatchSize: Number(opts.batch) } : {}),
});
const warnings: string[] = [];
const logger = {
  info() {},
  debug() {},
  error: (_: object, m?: string) => void warnings.push(m ?? ''),
  warn: (_: object, m?: string) => void warnings.push(m ?? ''),
};
const embedder = await Embedder.load(config, logger);

let counter = 0;
const WORDS =
  'red blue green leather cotton wool linen dress shirt jacket coat boots sneakers handbag wallet scarf hat ceramic mug vase lamp chair table sofa pillow blanket watch ring necklace bracelet earrings'.split(
    ' ',
  );
const shortQuery = () => `${WORDS[counter % WORDS.length]} ${WORDS[(counter * 7 + 3) % WORDS.length]} ${counter++}`;
const longQuery = () =>
  Array.from({ length: 90 }, (_, i) => WORDS[(counter + i * 5) % WORDS.length]).join(' ') + ` ${counter++}`;

/**
 * Run `step` (which handles `n` items) repeatedly for `seconds`; returns items/s of wall time and per core
 * (items per second of this process's CPU time, all its threads: what one core would do alone, whatever the
 * machine's load).
 */
async function rate(
  step: () => Promise<number>,
): Promise<{ perSec: number; perCoreSec: number; items: number; ms: number; cpuMs: number }> {
  await step(); // warm-up
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let items = 0;
  while (performance.now() - t0 < seconds * 1000) items += await step();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    perSec: round((items / ms) * 1000),
    perCoreSec: round((items / cpuMs) * 1000),
    items,
    ms: Math.round(ms),
    cpuMs: Math.round(cpuMs),
  };
}

const batch = config.maxBatchSize * config.inferenceWorkers * 2;
const tok = (await import('../src/embedding/tokenizer.js')).ClipTokenizer;
const tokenizer = await tok.fromFile(embedder.model.tokenizerPath);
const longTokens = tokenizer.encode(longQuery()).length;

// a realistic product photo: 1200x900 JPEG with detail (noise over a gradient)
const W = 1200;
const H = 900;
const raw = Buffer.alloc(W * H * 3);
let seed = 1;
for (let i = 0; i < raw.length; i++) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  raw[i] = ((i / 3) % W) / (W / 200) + (seed % 56);
}
const jpeg = await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
  .jpeg({ quality: 85 })
  .toBuffer();
const concurrency = Math.max(2, os.availableParallelism());

// one request at a time without the micro-batching wait (a lone request otherwise waits maxBatchWaitMs)
const noWait = await Embedder.load({ ...config, maxBatchWaitMs: 0 }, logger);
const shortBatch1NoWait = await rate(async () => (await noWait.embedText(shortQuery()), 1));
const longBatch1NoWait = await rate(async () => (await noWait.embedText(longQuery()), 1));

/** Latency of one query at a time (no batching wait): p50 / p95 / mean in ms over `seconds`. */
async function latency(embed: (text: string) => Promise<unknown>, query: () => string) {
  await embed(query()); // warm-up
  const ms: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const t = performance.now();
    await embed(query());
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]! * 100) / 100;
  const mean = Math.round((ms.reduce((a, b) => a + b, 0) / ms.length) * 100) / 100;
  return { p50Ms: at(0.5), p95Ms: at(0.95), meanMs: mean, queries: ms.length };
}
const ZH = '红色 蓝色 连衣裙 运动鞋 皮革 棉 羊毛 衬衫 夹克 靴子 手提包 钱包 围巾 帽子 陶瓷 杯子'.split(' ');
const zhQuery = () => `${ZH[counter % ZH.length]}${ZH[(counter * 7 + 3) % ZH.length]} ${counter++}`;
const textModelName = opts.textModel ?? (opts.model === 'test' ? 'test-multilingual' : config.textModels[0]);
let textTowers: Record<string, unknown> | null = null;
if (textModelName && textModelName !== 'none') {
  const tower = await TextTower.load(textModelName, { ...config, maxBatchWaitMs: 0 }, logger);
  textTowers = {
    [embedder.modelId]: { query: 'English, 3 words', ...(await latency((t) => noWait.embedText(t), shortQuery)) },
    [tower.modelId]: { query: 'Chinese, 2 words', ...(await latency((t) => tower.embedText(t), zhQuery)) },
    [`${tower.modelId} (English)`]: {
      query: 'English, 3 words',
      ...(await latency((t) => tower.embedText(t), shortQuery)),
    },
  };
  await tower.close();
}
await noWait.close();

const results = {
  text: {
    shortBatch1NoWait,
    longBatch1NoWait,
    shortBatch1: await rate(async () => (await embedder.embedText(shortQuery()), 1)),
    longBatch1: await rate(async () => (await embedder.embedText(longQuery()), 1)),
    shortBatched: await rate(async () => (await embedder.embedTexts(Array.from({ length: batch }, shortQuery))).length),
    longBatched: await rate(async () => (await embedder.embedTexts(Array.from({ length: batch }, longQuery))).length),
  },
  image: {
    decodePreprocess1: await rate(
      async () => (await preprocessImage(jpeg, { config: embedder.model.preprocessor }), 1),
    ),
    decodePreprocessConcurrent: await rate(
      async () =>
        (
          await Promise.all(
            Array.from({ length: concurrency }, () => preprocessImage(jpeg, { config: embedder.model.preprocessor })),
          )
        ).length,
    ),
    inferenceBatched: await rate(async () => {
      const px = await preprocessImage(jpeg, { config: embedder.model.preprocessor });
      return (await Promise.all(Array.from({ length: batch }, () => embedder.embedImagePixels(px.pixels.slice()))))
        .length;
    }),
    endToEnd1: await rate(async () => (await embedder.embedImage(jpeg), 1)),
    endToEndConcurrent: await rate(
      async () => (await Promise.all(Array.from({ length: batch }, () => embedder.embedImage(jpeg)))).length,
    ),
  },
};
const stats = embedder.stats();
await embedder.close();

const report = {
  bench: 'embed',
  date: new Date().toISOString(),
  model: embedder.modelId,
  testModel: embedder.isTestModel,
  dtype: config.modelDtype,
  requestedEp: opts.ep,
  device: embedder.device,
  workers: config.inferenceWorkers,
  decodeWorkers: config.decodeWorkers,
  intraOpThreads: config.intraOpThreads,
  maxBatchSize: config.maxBatchSize,
  maxBatchWaitMs: config.maxBatchWaitMs,
  batchedRequestsPerStep: batch,
  longQueryTokens: longTokens,
  imageInput: { format: 'jpeg', width: W, height: H, bytes: jpeg.length },
  machine: {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadavg: os.loadavg().map((x) => Math.round(x * 10) / 10),
  },
  unit: 'items per second (perSec: wall time; perCoreSec: per second of the process CPU time)',
  results,
  /** one query at a time through each text tower (latency, not throughput) */
  textTowers,
  observedBatches: { maxText: Math.max(0, ...stats.textBatches), maxImage: Math.max(0, ...stats.imageBatches) },
  warnings,
};
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
if (opts.write) {
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `embed-${report.date.slice(0, 10)}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  process.stderr.write(`wrote ${file}\n`);
}
