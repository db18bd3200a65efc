import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildTestModelFiles,
  digestFiles,
  ensureTestModel,
  isTestModelDir,
  TEST_COLOURS,
} from '../../../src/embedding/test-model.js';
import { ClipTokenizer } from '../../../src/embedding/tokenizer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-testmodel-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('Glimpse TEST model generation', () => {
  it('is deterministic, small and marked as the test model', async () => {
    const a = digestFiles(buildTestModelFiles());
    const b = digestFiles(buildTestModelFiles());
    expect(a).toEqual(b);
    const { dir, generated } = await ensureTestModel(tmp);
    expect(generated).toBe(true);
    const onDisk = Object.fromEntries(Object.keys(a).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
    expect(digestFiles(onDisk)).toEqual(a);
    const total = Object.values(onDisk).reduce((s, buf) => s + buf.length, 0);
    expect(total).toBeLessThan(8 * 1024 * 1024);
    expect(isTestModelDir(dir)).toBe(true);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(config.projection_dim).toBe(768);
    expect(config.glimpse_test_model).toBe(true);
    // cached: second call does not regenerate
    expect((await ensureTestModel(tmp)).generated).toBe(false);
    // altered file: regenerated
    fs.writeFileSync(path.join(dir, 'onnx/text_model.onnx'), 'garbage');
    expect((await ensureTestModel(tmp)).generated).toBe(true);
    expect(digestFiles({ x: fs.readFileSync(path.join(dir, 'onnx/text_model.onnx')) }).x).toBe(
      a['onnx/text_model.onnx'],
    );
  });

  it('exposes input/output names, types and shapes through session metadata', async () => {
    const { dir } = await ensureTestModel(tmp);
    const cases = [
      ['text_model.onnx', 'input_ids', 'int64', ['batch_size', 'sequence_length'], 'text_embeds', 'float32'],
      ['vision_model.onnx', 'pixel_values', 'float32', ['batch_size', 3, 224, 224], 'image_embeds', 'float32'],
      ['text_model_fp16.onnx', 'input_ids', 'int64', ['batch_size', 'sequence_length'], 'text_embeds', 'float16'],
      ['vision_model_fp16.onnx', 'pixel_values', 'float16', ['batch_size', 3, 224, 224], 'image_embeds', 'float16'],
    ] as const;
    for (const [file, inName, inType, inShape, outName, outType] of cases) {
      const s = await ort.InferenceSession.create(path.join(dir, 'onnx', file));
      expect(s.inputNames).toEqual([inName]);
      expect(s.outputNames).toEqual([outName]);
      const i = s.inputMetadata[0]!;
      const o = s.outputMetadata[0]!;
      expect(i.isTensor && i.type).toBe(inType);
      expect(i.isTensor && i.shape).toEqual(inShape);
      expect(o.isTensor && o.type).toBe(outType);
      expect(o.isTensor && o.shape).toEqual(['batch_size', 768]);
      await s.release();
    }
  });

  it('pools up to the end token like CLIP: padding does not change the output', async () => {
    const { dir } = await ensureTestModel(tmp);
    const s = await ort.InferenceSession.create(path.join(dir, 'onnx/text_model.onnx'));
    const tok = await ClipTokenizer.fromFile(path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
    const single = tok.encodeBatch(['red dress']);
    const padded = tok.encodeBatch(['red dress', 'a much longer product description query'], { padTo: 77 });
    const run = async (e: { ids: BigInt64Array; batch: number; seqLen: number }) =>
      (await s.run({ input_ids: new ort.Tensor('int64', e.ids, [e.batch, e.seqLen]) })).text_embeds!
        .data as Float32Array;
    const a = await run(single);
    const b = (await run(padded)).slice(0, 768);
    for (let i = 0; i < 768; i++) expect(b[i]).toBeCloseTo(a[i]!, 6);
    // not normalised
    expect(Math.hypot(...a)).not.toBeCloseTo(1, 2);
    await s.release();
  });

  it('colour words are single CLIP tokens with colour rows', async () => {
    const { dir } = await ensureTestModel(tmp);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const tok = await ClipTokenizer.default();
    for (const word of ['red', 'blue', 'green', 'navy', 'teal', 'beige']) {
      expect(word in TEST_COLOURS).toBe(true);
      expect(tok.encode(word)).toEqual([49406, config.colour_token_ids[word], 49407]);
    }
  });
});
