import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder, type EmbedderConfig, type EmbeddingLogger } from '../../../src/embedding/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-embedder-'));
const base: EmbedderConfig = {
  model: 'test',
  modelDir: tmp,
  modelDtype: 'fp32',
  executionProvider: 'cpu',
  cudaDeviceId: 0,
  inferenceWorkers: 2,
  intraOpThreads: 0,
  maxBatchSize: 16,
  maxBatchWaitMs: 5,
  textCacheSize: 100,
};

function capture(): EmbeddingLogger & { lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  const at = (level: string) => (_o: object, msg?: string) => void lines.push({ level, msg: msg ?? '' });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}
const solid = (r: number, g: number, b: number, w = 96, h = 64) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Float32Array) => Math.sqrt(dot(a, a));

let e: Embedder;
let log: ReturnType<typeof capture>;
beforeAll(async () => {
  log = capture();
  e = await Embedder.load(base, log);
});
afterAll(async () => {
  await e?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('Embedder on the test model', () => {
  it('reports model, dimension, device and says loudly that it is the TEST model', () => {
    expect(e.modelId).toBe('test');
    expect(e.dimension).toBe(768);
    expect(e.device).toBe('cpu');
    expect(e.isTestModel).toBe(true);
    expect(log.lines.some((l) => l.level === 'warn' && /TEST model/.test(l.msg))).toBe(true);
  });

  it('ranks a red image above a blue one for "red", and colour queries follow colours', async () => {
    const [red, blue, green] = await Promise.all(
      [solid(230, 20, 20), solid(20, 20, 230), solid(20, 160, 20)].map(async (p) => e.embedImage(await p)),
    );
    for (const v of [red!, blue!, green!]) {
      expect(v.length).toBe(768);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
    const q = async (t: string) => e.embedText(t);
    expect(dot(await q('red'), red!)).toBeGreaterThan(dot(await q('red'), blue!));
    expect(dot(await q('blue'), blue!)).toBeGreaterThan(dot(await q('blue'), red!));
    expect(dot(await q('green'), green!)).toBeGreaterThan(dot(await q('green'), red!));
    expect(dot(await q('red dress'), red!)).toBeGreaterThan(dot(await q('blue dress'), red!));
    expect(dot(await q('Navy blue swimsuit'), blue!)).toBeGreaterThan(dot(await q('Navy blue swimsuit'), red!));
  });

  it('a padded batch gives the same vectors as single queries', async () => {
    const solo = await Embedder.load({ ...base, textCacheSize: 0, inferenceWorkers: 1 });
    try {
      const single = await solo.embedText('red dress');
      const batch = await solo.embedTexts([
        'red dress',
        'an extremely long query about a handmade ceramic coffee mug with a glossy teal glaze and gold rim',
      ]);
      expect(solo.stats().textBatches).toContain(2);
      for (let i = 0; i < 768; i++) expect(batch[0]![i]).toBeCloseTo(single[i]!, 6);
    } finally {
      await solo.close();
    }
  });

  it('coalesces concurrent requests into batches', async () => {
    const before = e.stats().textBatches.length;
    const texts = Array.from({ length: 40 }, (_, i) => `concurrent query number ${i}`);
    const out = await Promise.all(texts.map((t) => e.embedText(t)));
    expect(out).toHaveLength(40);
    const sizes = e.stats().textBatches.slice(before);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(40);
    // images that are ready at the same moment share a run (decoded files finish at scheduling-dependent
    // times on a busy machine, so this uses preprocessed pixels to make the arrival simultaneous)
    const pixels = Array.from({ length: 6 }, (_, i) => new Float32Array(3 * 224 * 224).fill(i / 6 - 0.5));
    const before2 = e.stats().imageBatches.length;
    await Promise.all(pixels.map((p) => e.embedImagePixels(p)));
    const imageSizes = e.stats().imageBatches.slice(before2);
    expect(Math.max(...imageSizes)).toBeGreaterThan(1);
    expect(imageSizes.reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('serves repeated texts from the cache (normalised key)', async () => {
    const a = await e.embedText('Cache me please');
    const hits = e.stats().cache.hits;
    const batches = e.stats().worker.batches;
    const b = await e.embedText('  cache   ME please ');
    expect(e.stats().cache.hits).toBe(hits + 1);
    expect(e.stats().worker.batches).toBe(batches);
    expect(Array.from(b)).toEqual(Array.from(a));
    b[0] = 42; // callers get copies
    expect((await e.embedText('cache me please'))[0]).not.toBe(42);
  });

  it('keeps the event loop responsive during a big inference load', async () => {
    // Event-loop utilisation is the share of wall time this thread spent running code rather than waiting
    // for events: inference or decoding on this thread pushes it towards 1, work in the worker threads
    // leaves it low. Unlike a timer's largest gap it does not count time the OS took the CPU away from an
    // idle process, which a busy 2-core CI machine does; the best of three attempts counts.
    // photos reduced less than 4x (896x672 -> 224): decoded in full and resampled by the JavaScript resampler,
    // the heaviest per-image path (bigger photos are resized by libvips with shrink-on-load, much cheaper)
    const photo = await sharp({
      create: {
        width: 896,
        height: 672,
        channels: 3,
        background: { r: 0, g: 0, b: 0 },
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .jpeg()
      .toBuffer();
    const attempts: string[] = [];
    let best = Infinity;
    for (let attempt = 0; attempt < 3 && best >= 0.5; attempt++) {
      let ticks = 0;
      const timer = setInterval(() => void ticks++, 5);
      const pixels = Array.from({ length: 64 }, (_, i) => new Float32Array(3 * 224 * 224).fill((i % 7) / 7 - 0.5));
      // distinct texts per attempt: cached vectors would skip the work
      const texts = Array.from({ length: 200 }, (_, i) => `responsive check ${attempt} ${i} ${'word '.repeat(i % 60)}`);
      const elu0 = performance.eventLoopUtilization();
      const t0 = performance.now();
      // big files: decoding and the (JavaScript) resampler must not run on this thread
      await Promise.all([
        ...pixels.map((p) => e.embedImagePixels(p)),
        e.embedTexts(texts),
        ...Array.from({ length: 16 }, () => e.embedImage(photo)),
      ]);
      const elapsed = performance.now() - t0;
      const elu = performance.eventLoopUtilization(elu0).utilization;
      clearInterval(timer);
      attempts.push(`elu ${elu.toFixed(2)} over ${elapsed.toFixed(0)} ms, ${ticks} timer ticks`);
      expect(ticks, 'the timer must keep ticking while the batch runs').toBeGreaterThan(5);
      best = Math.min(best, elu);
    }
    expect(best, attempts.join('; ')).toBeLessThan(0.5);
  });

  it('rejects bad input clearly', async () => {
    await expect(e.embedImage(Buffer.from('definitely not an image'))).rejects.toMatchObject({ name: 'ImageError' });
    await expect(e.embedImagePixels(new Float32Array(10))).rejects.toThrow(/3x224x224/);
  });

  it('fp16 weights give nearly the same vectors', async () => {
    const h = await Embedder.load({ ...base, modelDtype: 'fp16', inferenceWorkers: 1 });
    try {
      const red = await solid(230, 20, 20);
      expect(dot(await h.embedImage(red), await e.embedImage(red))).toBeGreaterThan(0.999);
      expect(dot(await h.embedText('red dress'), await e.embedText('red dress'))).toBeGreaterThan(0.999);
    } finally {
      await h.close();
    }
  });

  it('CUDA requested without CUDA: falls back to CPU with exactly one warning', async () => {
    const l = capture();
    const c = await Embedder.load({ ...base, executionProvider: 'cuda', inferenceWorkers: 2 }, l);
    try {
      expect(c.device).toBe('cpu');
      const cuda = l.lines.filter((x) => x.level === 'warn' && /CUDA/.test(x.msg));
      expect(cuda).toHaveLength(1);
      expect(cuda[0]!.msg).toMatch(/falling back to CPU/);
      expect((await c.embedText('red')).length).toBe(768);
    } finally {
      await c.close();
    }
  });

  it('fails with a clear error when the ONNX file is corrupt', async () => {
    const dir = path.join(tmp, 'broken');
    fs.cpSync(path.join(tmp, 'glimpse-test-clip'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'onnx/vision_model.onnx'), Buffer.alloc(4096, 7));
    await expect(Embedder.load({ ...base, model: dir, inferenceWorkers: 1 })).rejects.toMatchObject({
      code: 'MODEL_CORRUPT',
      message: expect.stringContaining(path.join(dir, 'onnx/vision_model.onnx')),
    });
    fs.rmSync(path.join(dir, 'onnx/text_model.onnx'));
    await expect(Embedder.load({ ...base, model: dir })).rejects.toMatchObject({
      code: 'MODEL_FILES_MISSING',
      message: expect.stringContaining('onnx/text_model.onnx'),
    });
    fs.writeFileSync(path.join(dir, 'onnx/text_model.onnx'), Buffer.alloc(4096, 7));
    fs.writeFileSync(path.join(dir, 'config.json'), '{"projection_dim": 7');
    await expect(Embedder.load({ ...base, model: dir })).rejects.toMatchObject({
      code: 'MODEL_FILES_CORRUPT',
      message: expect.stringContaining('config.json'),
    });
  });

  it('closes cleanly and rejects later calls', async () => {
    const c = await Embedder.load({ ...base, inferenceWorkers: 1 });
    await c.close();
    await expect(c.embedText('x')).rejects.toThrow(/closed/);
  });
});
