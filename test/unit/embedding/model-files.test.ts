import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fetchModel,
  ModelFilesError,
  ModelManager,
  ModelUnavailableError,
  parseModelName,
  resolveModel,
  type ModelManagerConfig,
} from '../../../src/embedding/index.js';
import protobuf from 'protobufjs';
import { buildTestModelFiles, clipBpeText } from '../../../src/embedding/test-model.js';
import { buildTestTextTowerFiles } from '../../../src/embedding/test-text-tower.js';
import { fetchTextTower, resolveTextTower } from '../../../src/embedding/text-tower-files.js';
import { buildClipTokenizerJson } from '../../../src/embedding/tokenizer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-fetch-'));

/** A fake Hugging Face hub: /<owner>/<name>/resolve/main/<file>; .onnx files are "LFS" (302 to /cdn with x-linked-*). */
interface Repo {
  files: Record<string, Buffer>;
  /** Files whose first full GET breaks off half way. */
  interrupt?: Set<string>;
  /** Files served with flipped bytes (but announced with the right sha256). */
  corrupt?: Set<string>;
}
const repos: Record<string, Repo> = {};
const requests: Array<{ method: string; url: string; range?: string }> = [];
let server: http.Server;
let endpoint: string;

function serveBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
  interrupt: boolean,
  headers: Record<string, string>,
) {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  if (start > body.length) {
    res.writeHead(416).end();
    return;
  }
  const slice = body.subarray(start);
  res.writeHead(range ? 206 : 200, {
    ...headers,
    'content-length': String(slice.length),
    ...(range ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    'accept-ranges': 'bytes',
  });
  if (req.method === 'HEAD') return void res.end();
  if (interrupt) {
    // cut the connection once the client has saved part of the body, so that it must resume with Range
    // (a fixed delay is not enough on a loaded machine: the client may not have written anything yet)
    const partName = `${path.basename(req.url ?? '')}.part`;
    const deadline = Date.now() + 5000;
    const cut = () => {
      const saved = (fs.readdirSync(tmp, { recursive: true }) as string[]).some(
        (f) => path.basename(f) === partName && fs.statSync(path.join(tmp, f)).size > 0,
      );
      if (saved || Date.now() > deadline) res.socket?.destroy();
      else setTimeout(cut, 10);
    };
    res.write(slice.subarray(0, Math.floor(slice.length / 2)), () => setTimeout(cut, 10));
    return;
  }
  res.end(slice);
}

beforeAll(async () => {
  const model = buildTestModelFiles();
  const files: Record<string, Buffer> = {
    'config.json': model['config.json']!,
    'preprocessor_config.json': model['preprocessor_config.json']!,
    'tokenizer.json': Buffer.from(JSON.stringify(buildClipTokenizerJson(clipBpeText()))),
    'onnx/text_model.onnx': model['onnx/text_model.onnx']!,
    'onnx/vision_model.onnx': model['onnx/vision_model.onnx']!,
  };
  repos['fake/clip'] = { files, interrupt: new Set(['onnx/text_model.onnx', 'config.json']) };
  repos['fake/corrupt'] = { files, corrupt: new Set(['onnx/vision_model.onnx']) };
  repos['fake/auto'] = { files };
  // a text tower in Immich's layout whose graph keeps its weights in an external file (as XLM-R large must)
  const tower = buildTestTextTowerFiles();
  const withExternal = protobuf.Root.fromJSON({
    nested: {
      M: { fields: { graph: { type: 'G', id: 7 } } },
      G: { fields: { initializer: { rule: 'repeated', type: 'T', id: 5 } } },
      T: {
        fields: {
          name: { type: 'string', id: 8 },
          externalData: { rule: 'repeated', type: 'E', id: 13 },
          dataLocation: { type: 'int32', id: 14 },
        },
      },
      E: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    },
  }).lookupType('M');
  const graph = withExternal.encode(
    withExternal.fromObject({
      graph: {
        initializer: [
          { name: 'w', externalData: [{ key: 'location', value: 'xlmr.weights' }], dataLocation: 1 },
          { name: 'b', externalData: [{ key: 'location', value: 'xlmr.weights' }], dataLocation: 1 },
        ],
      },
    }),
  );
  repos['fake/mclip'] = {
    files: {
      'config.json': tower['config.json']!,
      'textual/model.onnx': Buffer.from(graph.finish()),
      'textual/tokenizer.json': tower['textual/tokenizer.json']!,
      'textual/tokenizer_config.json': tower['textual/tokenizer_config.json']!,
      'textual/xlmr.weights': Buffer.alloc(300_000, 7),
    },
    interrupt: new Set(['textual/xlmr.weights']),
  };
  server = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const m = /^\/(cdn\/)?([^/]+\/[^/]+)\/(?:resolve\/main\/)?(.+)$/.exec(req.url!);
    const repo = m && repos[m[2]!];
    const file = m?.[3];
    const body = repo && file ? repo.files[file] : undefined;
    if (!m || !repo || !file || !body) return void res.writeHead(404).end();
    const lfs = file.endsWith('.onnx');
    if (lfs && !m[1]) {
      const sha = createHash('sha256').update(body).digest('hex');
      res.writeHead(302, {
        location: `/cdn/${m[2]}/${file}`,
        'x-linked-size': String(body.length),
        'x-linked-etag': `"${sha}"`,
        etag: `"${sha}"`,
      });
      return void res.end();
    }
    let served = body;
    if (repo.corrupt?.has(file)) {
      served = Buffer.from(body);
      served[100] = served[100]! ^ 0xff;
    }
    const key = `${m[2]}/${file}`;
    const interrupt =
      req.method === 'GET' && !req.headers.range && repo.interrupt?.has(file) === true && !interrupted.has(key);
    if (interrupt) interrupted.add(key);
    const gitSha = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
    serveBody(req, res, served, interrupt, lfs ? { etag: '"cdn-etag"' } : { etag: `"${gitSha}"` });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
const interrupted = new Set<string>();
afterAll(async () => {
  await new Promise((r) => server.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('model fetch', () => {
  it('text tower: the Immich layout, then the external weight files its model.onnx names (resumed, verified)', async () => {
    const modelDir = path.join(tmp, 'cache-text');
    const r = await fetchTextTower({ repo: 'fake/mclip', modelDir, endpoint });
    expect(r.dir).toBe(path.join(modelDir, 'fake', 'mclip'));
    for (const [f, body] of Object.entries(repos['fake/mclip']!.files))
      expect(fs.readFileSync(path.join(r.dir, f)).equals(body), f).toBe(true);
    expect(requests.some((q) => q.range && q.url.endsWith('textual/xlmr.weights'))).toBe(true); // resumed
    expect(requests.some((q) => q.url.endsWith('textual/special_tokens_map.json'))).toBe(true); // optional: 404
    const resolved = await resolveTextTower('fake/mclip', modelDir);
    expect(resolved).toMatchObject({ id: 'fake/mclip', dimension: 768, contextLength: 77, isTestModel: true });
  });

  it('downloads, resumes interrupted transfers with Range, verifies and renames atomically', async () => {
    const modelDir = path.join(tmp, 'cache1');
    const progress: number[] = [];
    const done: Record<string, string> = {};
    const r = await fetchModel({
      repo: 'fake/clip',
      dtype: 'fp32',
      modelDir,
      endpoint,
      onProgress: (p) => progress.push(p.received),
      onFileDone: (f, i) => void (done[f] = i.verified),
    });
    expect(r.dir).toBe(path.join(modelDir, 'fake', 'clip'));
    for (const [f, body] of Object.entries(repos['fake/clip']!.files)) {
      expect(fs.readFileSync(path.join(r.dir, f)).equals(body)).toBe(true);
      expect(fs.existsSync(path.join(r.dir, `${f}.part`))).toBe(false);
    }
    expect(r.files.map((f) => f.path)).not.toContain('tokenizer_config.json'); // optional, 404
    expect(done['onnx/text_model.onnx']).toBe('sha256');
    expect(done['config.json']).toBe('git-sha1');
    const ranges = requests.filter((q) => q.range && q.url.includes('fake/clip'));
    expect(ranges.some((q) => q.url.endsWith('onnx/text_model.onnx'))).toBe(true);
    expect(ranges.some((q) => q.url.endsWith('config.json'))).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    // second run: everything present, nothing downloaded
    const before = requests.filter((q) => q.method === 'GET').length;
    const again = await fetchModel({ repo: 'fake/clip', dtype: 'fp32', modelDir, endpoint });
    expect(again.files.every((f) => f.skipped)).toBe(true);
    expect(requests.filter((q) => q.method === 'GET').length).toBe(before);
    // and the fetched model loads and resolves
    const m = await resolveModel({ model: 'fake/clip', modelDir, modelDtype: 'fp32' });
    expect(m.dimension).toBe(768);
    expect(m.tokenizerPath.endsWith('tokenizer.json')).toBe(true);
  });

  it('resumes from a .part file left by an earlier run', async () => {
    const modelDir = path.join(tmp, 'cache-part');
    const body = repos['fake/auto']!.files['onnx/vision_model.onnx']!;
    const dest = path.join(modelDir, 'fake', 'auto', 'onnx', 'vision_model.onnx');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(`${dest}.part`, body.subarray(0, 1000));
    await fetchModel({ repo: 'fake/auto', dtype: 'fp32', modelDir, endpoint });
    expect(fs.readFileSync(dest).equals(body)).toBe(true);
    expect(requests.some((q) => q.range === 'bytes=1000-' && q.url.includes('fake/auto/onnx/vision_model.onnx'))).toBe(
      true,
    );
  });

  it('rejects a corrupted download (sha256 mismatch) and leaves no file behind', async () => {
    const modelDir = path.join(tmp, 'cache2');
    const err = await fetchModel({ repo: 'fake/corrupt', dtype: 'fp32', modelDir, endpoint }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFilesError);
    expect(err).toMatchObject({
      code: 'MODEL_INTEGRITY',
      message: expect.stringMatching(/vision_model\.onnx: sha256 mismatch/),
    });
    const dest = path.join(modelDir, 'fake', 'corrupt', 'onnx', 'vision_model.onnx');
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
  });

  it('offline: fails with the exact files to download and where to put them', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const modelDir = path.join(tmp, 'cache3');
    const err = (await fetchModel({
      repo: 'Xenova/clip-vit-large-patch14',
      dtype: 'fp16',
      modelDir,
      endpoint: `http://127.0.0.1:${port}`,
    }).catch((e: unknown) => e)) as ModelFilesError;
    expect(err.code).toBe('MODEL_OFFLINE');
    expect(err.message).toContain(
      `http://127.0.0.1:${port}/Xenova/clip-vit-large-patch14/resolve/main/onnx/vision_model_fp16.onnx`,
    );
    expect(err.message).toContain(path.join(modelDir, 'Xenova', 'clip-vit-large-patch14'));
    expect(err.details.files).toEqual([
      'config.json',
      'preprocessor_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'onnx/text_model_fp16.onnx',
      'onnx/vision_model_fp16.onnx',
    ]);
  });
});

describe('model resolution', () => {
  it('parses names', () => {
    expect(parseModelName('test', '/m')).toMatchObject({ kind: 'test', dir: '/m/glimpse-test-clip' });
    expect(parseModelName('Xenova/clip-vit-large-patch14', '/m')).toMatchObject({
      kind: 'hub',
      dir: '/m/Xenova/clip-vit-large-patch14',
    });
    expect(parseModelName('./some/dir', '/m')).toMatchObject({ kind: 'dir', dir: path.resolve('some/dir') });
    expect(() => parseModelName('not a model', '/m')).toThrow(/neither/);
  });

  it('missing hub model: clear error naming the fetch command', async () => {
    await expect(
      resolveModel({ model: 'nobody/nothing', modelDir: path.join(tmp, 'empty'), modelDtype: 'fp32' }),
    ).rejects.toMatchObject({
      code: 'MODEL_FILES_MISSING',
      message: expect.stringContaining('glimpse model fetch nobody/nothing'),
    });
  });
});

describe('ModelManager', () => {
  const cfg = (over: Partial<ModelManagerConfig>): ModelManagerConfig => ({
    model: 'fake/auto',
    modelDir: path.join(tmp, 'manager'),
    modelDtype: 'fp32',
    executionProvider: 'cpu',
    cudaDeviceId: 0,
    inferenceWorkers: 1,
    intraOpThreads: 1,
    maxBatchSize: 8,
    maxBatchWaitMs: 2,
    textCacheSize: 10,
    modelAutoFetch: false,
    hfEndpoint: endpoint,
    ...over,
  });

  it('without auto-fetch: unavailable with the reason, get() throws MODEL_UNAVAILABLE', async () => {
    const m = new ModelManager(cfg({ modelDir: path.join(tmp, 'manager-off') }));
    expect(() => m.get()).toThrow(ModelUnavailableError);
    await m.start();
    const s = m.status();
    expect(s.ready).toBe(false);
    expect(s.state).toBe('failed');
    expect(s.reason).toMatch(/MODEL_FILES_MISSING.*glimpse model fetch fake\/auto/);
    expect(() => m.get()).toThrow(expect.objectContaining({ code: 'MODEL_UNAVAILABLE' }));
    await m.close();
  });

  it('with auto-fetch: fetches in the background, then serves embeddings', async () => {
    const lines: string[] = [];
    const logger = { info: (_: object, msg?: string) => void lines.push(msg ?? ''), warn() {}, error() {}, debug() {} };
    const m = new ModelManager(cfg({ modelAutoFetch: true }), logger);
    const started = m.start();
    await new Promise((r) => setTimeout(r, 5));
    expect(['loading', 'fetching']).toContain(m.status().state);
    expect(() => m.get()).toThrow(ModelUnavailableError);
    await started;
    expect(m.status()).toMatchObject({ ready: true, state: 'ready', modelId: 'fake/auto', isTestModel: true });
    expect((await m.get().embedText('red')).length).toBe(768);
    expect(lines.some((l) => /fetching it in the background/.test(l))).toBe(true);
    expect(lines.some((l) => /model fetch: onnx\/text_model\.onnx/.test(l))).toBe(true);
    await m.close();
    expect(() => m.get()).toThrow(ModelUnavailableError);
  });
});
