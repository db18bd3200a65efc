/**
 * The multilingual text tower on its own: the generated Unigram tokenizer through @huggingface/tokenizers
 * (truncation, padding, attention mask), the generated ONNX tower in real ONNX Runtime sessions (same space as the
 * test CLIP image tower), routing, the pairing check (another space or dimension is refused), the cache keyed by
 * model, and the external-data file names read from an ONNX graph (what `fetchTextTower` downloads).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder, type EmbedderConfig } from '../../../src/embedding/embedder.js';
import { ModelManager } from '../../../src/embedding/model-manager.js';
import { encodeModel, floatTensor, node, valueInfo, DT } from '../../../src/embedding/test-model.js';
import { buildTestTextTowerFiles, ensureTestTextTower } from '../../../src/embedding/test-text-tower.js';
import { TextTowerTokenizer } from '../../../src/embedding/text-tokenizer.js';
import { externalDataFiles, resolveTextTower } from '../../../src/embedding/text-tower-files.js';
import { chooseTextModel, hasNonLatinLetters } from '../../../src/embedding/text-routing.js';
import { TextTower } from '../../../src/embedding/text-tower.js';
import { silentLogger } from '../../../src/embedding/embedder.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-text-tower-'));
const base: EmbedderConfig = {
  model: 'test',
  modelDir: tmp,
  modelDtype: 'fp32',
  executionProvider: 'cpu',
  cudaDeviceId: 0,
  inferenceWorkers: 1,
  intraOpThreads: 1,
  maxBatchSize: 8,
  maxBatchWaitMs: 2,
  textCacheSize: 50,
};
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('text tower tokenizer (generated SentencePiece Unigram)', () => {
  let tok: TextTowerTokenizer;
  beforeAll(async () => {
    const dir = await ensureTestTextTower(tmp);
    tok = await TextTowerTokenizer.fromFiles(
      path.join(dir, 'textual/tokenizer.json'),
      path.join(dir, 'textual/tokenizer_config.json'),
      77,
    );
  });

  it('splits words by the Unigram vocabulary inside <s> … </s>, an unknown run to one <unk>', () => {
    expect(tok.tokens('红色连衣裙')).toEqual(['<s>', '▁', '红', '色', '连衣裙', '</s>']);
    expect(tok.encode('红色连衣裙').slice(-2)).toEqual([3, 2]); // <unk> </s>
    expect(tok.tokens('Robe ROUGE')).toEqual(['<s>', '▁', 'r', 'o', 'b', 'e', '▁rouge', '</s>']);
    expect(tok.encode('blau')).toEqual([0, tok.encode('blau')[1], 2]);
  });

  it('truncates to the maximum length keeping </s>, pads with <pad> and masks the padding', () => {
    const long = 'red '.repeat(200);
    const ids = tok.encode(long);
    expect(ids).toHaveLength(77);
    expect(ids[0]).toBe(0);
    expect(ids[76]).toBe(2);
    const batch = tok.encodeBatch(['red', long], 77);
    expect(batch.seqLen).toBe(77);
    expect(Number(batch.ids[2])).toBe(2); // <s> ▁red </s> then padding
    expect(Number(batch.ids[3])).toBe(tok.padId);
    expect(Array.from(batch.attentionMask.slice(0, 5), Number)).toEqual([1, 1, 1, 0, 0]);
    expect(Array.from(batch.attentionMask.slice(77), Number).every((m) => m === 1)).toBe(true);
  });
});

describe('text tower in ONNX Runtime, paired with the test CLIP model', () => {
  let image: Embedder;
  let tower: TextTower;
  beforeAll(async () => {
    image = await Embedder.load(base);
    tower = await TextTower.load('test-multilingual', base, silentLogger);
    image.attachTextTowers([tower], 'auto');
  }, 120_000);
  afterAll(async () => {
    await image?.close();
  });

  it('colour words of several languages land where the image tower puts that colour', async () => {
    const red = await image.embedImage(
      await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 220, g: 20, b: 20 } } })
        .png()
        .toBuffer(),
    );
    const blue = await image.embedImage(
      await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 20, g: 20, b: 220 } } })
        .png()
        .toBuffer(),
    );
    for (const q of ['红色连衣裙', 'robe rouge', 'rot', '赤いワンピース', '빨간 원피스']) {
      const v = await tower.embedText(q);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5); // normalised inside the graph
      expect(dot(v, red), q).toBeGreaterThan(dot(v, blue) + 0.2);
    }
    for (const q of ['蓝色运动鞋', 'bleu', 'blau', 'azul', '파란']) {
      const v = await tower.embedText(q);
      expect(dot(v, blue), q).toBeGreaterThan(dot(v, red) + 0.2);
    }
  });

  it('routes by script and request, and caches per model (the same text, two towers, two vectors)', async () => {
    expect(image.textModelFor('红色连衣裙')).toBe('test-multilingual');
    expect(image.textModelFor('red dress')).toBe('test');
    expect(image.textModelFor('red dress', { language: 'de' })).toBe('test-multilingual');
    const viaClip = await image.embedText('红', { textModel: 'test' });
    const viaTower = await image.embedText('红', { textModel: 'test-multilingual' });
    expect(dot(viaClip, viaTower)).toBeLessThan(0.99);
    expect(await image.embedText('红', { textModel: 'test' })).toEqual(viaClip);
    expect(await image.embedText('红')).toEqual(viaTower);
    expect(image.textModels().map((t) => [t.id, t.kind])).toEqual([
      ['test', 'image-model'],
      ['test-multilingual', 'paired'],
    ]);
  });

  it('padding is invisible: batch-1, fixed-length graph gives one vector per text whatever else is queued', async () => {
    const [a, b] = await Promise.all([tower.embedText('rouge'), tower.embedText('bleu')]);
    const again = await tower.embedText('ROUGE'); // cache hit after normalisation
    expect(again).toEqual(a);
    expect(dot(a!, b!)).toBeLessThan(0.5);
  });
});

describe('routing policy', () => {
  it('auto: non-Latin letters go to the first tower; Latin (accents included) stays on the image model', () => {
    expect(hasNonLatinLetters('Crème brûlée façon')).toBe(false);
    for (const t of ['红色', 'красное платье', 'فستان', 'ชุด', 'ドレス']) expect(hasNonLatinLetters(t), t).toBe(true);
    expect(chooseTextModel('платье', {}, 'clip', ['ml'], 'auto')).toBe('ml');
    expect(chooseTextModel('dress', {}, 'clip', ['ml'], 'multilingual')).toBe('ml');
    expect(chooseTextModel('платье', {}, 'clip', ['ml'], 'image-model')).toBe('clip');
    expect(chooseTextModel('платье', {}, 'clip', [], 'auto')).toBe('clip');
    expect(chooseTextModel('dress', { language: 'en-GB' }, 'clip', ['ml'], 'multilingual')).toBe('clip');
    expect(() => chooseTextModel('x', { textModel: 'other' }, 'clip', ['ml'], 'auto')).toThrow(/unknown textModel/);
  });
});

describe('pairing is refused for another space or dimension', () => {
  async function towerFolder(name: string, config: Record<string, unknown>): Promise<string> {
    const dir = path.join(tmp, name);
    for (const [rel, buf] of Object.entries(buildTestTextTowerFiles())) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), buf);
    }
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, ...config }));
    return dir;
  }

  it('fails start-up with a clear reason, before loading the tower', async () => {
    const otherSpace = await towerFolder('other-space', { glimpse_space: 'openai/clip-vit-large-patch14' });
    const otherDim = await towerFolder('other-dim', { embed_dim: 512 });
    const unknown = await towerFolder('unknown-space', { glimpse_space: undefined });
    const cases: Array<[string, RegExp]> = [
      [otherSpace, /embeds into the space of "openai\/clip-vit-large-patch14".*cannot be compared/],
      [otherDim, /makes 512-d vectors but the image model "test" makes 768-d ones/],
      [unknown, /an unknown space/],
    ];
    for (const [dir, reason] of cases) {
      const mm = new ModelManager({
        ...base,
        modelAutoFetch: false,
        hfEndpoint: 'http://127.0.0.1:9',
        textModels: [dir],
      });
      expect(await mm.startupOutcome()).toBe('failed');
      expect(mm.status().reason).toMatch(reason);
      expect(mm.status().reason).toContain('MODEL_PAIRING');
      await mm.close();
    }
  }, 120_000);

  it('a missing text tower folder names the files it lacks', async () => {
    await expect(resolveTextTower(path.join(tmp, 'nothing-here'), tmp)).rejects.toThrow(
      /lacks config.json, textual\/model.onnx/,
    );
  });
});

describe('external data of an ONNX graph', () => {
  it('lists the weight files the graph names (what fetchTextTower downloads after model.onnx)', async () => {
    const w = floatTensor('w', [2, 2], new Float32Array(4), false) as unknown as Record<string, unknown>;
    const file = path.join(tmp, 'external.onnx');
    const tensor = (name: string, location: string) => ({
      name,
      dims: [2, 2],
      dataType: DT.FLOAT,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: '0' },
      ],
      dataLocation: 1,
    });
    // encodeModel's schema has no externalData field: write a graph and patch the initializer entries in
    const plain = encodeModel(
      'g',
      [node('MatMul', ['x', 'w'], ['y'])],
      [w as never],
      [valueInfo('x', DT.FLOAT, [1, 2])],
      [valueInfo('y', DT.FLOAT, [1, 2])],
      '',
    );
    fs.writeFileSync(file, plain);
    expect(await externalDataFiles(file)).toEqual([]);
    const protobuf = (await import('protobufjs')).default;
    const M = protobuf.Root.fromJSON({
      nested: {
        M: { fields: { graph: { type: 'G', id: 7 } } },
        G: { fields: { initializer: { rule: 'repeated', type: 'T', id: 5 } } },
        T: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            externalData: { rule: 'repeated', type: 'E', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        E: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
      },
    }).lookupType('M');
    const msg = M.fromObject({
      graph: {
        initializer: [
          tensor('a', 'weights.bin'),
          tensor('b', 'weights.bin'),
          tensor('c', 'layer.0.bias'),
          tensor('d', '../escape'),
        ],
      },
    });
    fs.writeFileSync(file, M.encode(msg).finish());
    expect(await externalDataFiles(file)).toEqual(['layer.0.bias', 'weights.bin']);
  });
});
