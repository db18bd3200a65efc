/**
 * Inference worker thread: owns the text and vision ONNX sessions of one model (or the text session alone, for
 * a text tower paired with another model's images) and runs batches sent by worker-pool.ts. Inputs and outputs are found from the sessions' own metadata (names, element types, shapes),
 * not constants. Results are L2-normalised float32 [batch, dim], transferred back without a copy.
 *
 * Started through worker-bootstrap.mjs (loads this TypeScript file in any host: tsx, vitest, node).
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { fromHalfBits, toHalfBits } from './fp16.js';
import { preprocessImage, type PreprocessorConfig } from './image-preprocess.js';
import { normaliseRowsInPlace } from './vector.js';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface ValueInfo {
  name: string;
  type: string;
  shape: Array<number | string>;
}
export interface SessionInfo {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** The input fed (input_ids / pixel_values or the first fitting one). */
  input: string;
  /** attention_mask input, when the model has one. */
  attentionMask?: string;
  /** The embedding output used (text_embeds / image_embeds or the first rank-2 float output). */
  output: string;
}

export interface InitMessage {
  type: 'init';
  textModelPath: string;
  /** absent: a text-only worker (a text tower) */
  visionModelPath?: string;
  executionProvider: ExecutionProvider;
  cudaDeviceId: number;
  intraOpThreads: number;
}
export interface TextRunMessage {
  type: 'run';
  id: number;
  kind: 'text';
  ids: BigInt64Array;
  attentionMask: BigInt64Array;
  batch: number;
  seqLen: number;
}
export interface ImageRunMessage {
  type: 'run';
  id: number;
  kind: 'image';
  pixels: Float32Array;
  batch: number;
  /** [channels, height, width] of one image. */
  chw: [number, number, number];
}
/** Decode + preprocess an image file in this thread (runs while this worker's inference runs natively). */
export interface PreprocessMessage {
  type: 'preprocess';
  id: number;
  data: Uint8Array;
  config: PreprocessorConfig;
  maxBytes?: number;
  maxPixels?: number;
  maxAspectRatio?: number;
}
export type ToWorker = InitMessage | TextRunMessage | ImageRunMessage | PreprocessMessage | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; device: ExecutionProvider; warning?: string; text: SessionInfo; vision?: SessionInfo }
  | { type: 'init-error'; message: string; file?: string }
  | { type: 'result'; id: number; data: Float32Array; batch: number; dim: number; ms: number }
  | {
      type: 'pixels';
      id: number;
      pixels: Float32Array;
      dims: [number, number, number];
      width: number;
      height: number;
      format: string;
    }
  | { type: 'error'; id: number; message: string; name?: string; code?: string };

function describe(session: ort.InferenceSession, kind: 'text' | 'image'): SessionInfo {
  const meta = (list: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] =>
    list.map((m) =>
      m.isTensor
        ? { name: m.name, type: m.type, shape: [...m.shape] }
        : { name: m.name, type: 'non-tensor', shape: [] },
    );
  const inputs = meta(session.inputMetadata);
  const outputs = meta(session.outputMetadata);
  const wantIn = kind === 'text' ? 'input_ids' : 'pixel_values';
  // text_embeds: transformers.js / Optimum CLIP exports; embedding: Immich's text towers (M-CLIP)
  const wantOut = kind === 'text' ? ['text_embeds', 'embedding'] : ['image_embeds'];
  const input =
    inputs.find((i) => i.name === wantIn) ??
    inputs.find((i) =>
      kind === 'text'
        ? i.type === 'int64' || i.type === 'int32'
        : (i.type === 'float32' || i.type === 'float16') && i.shape.length === 4,
    );
  const output =
    outputs.find((o) => wantOut.includes(o.name)) ??
    outputs.find((o) => (o.type === 'float32' || o.type === 'float16') && o.shape.length === 2);
  if (!input)
    throw new Error(
      `${kind} model has no ${wantIn}-like input (inputs: ${inputs.map((i) => `${i.name}:${i.type}`).join(', ')})`,
    );
  if (!output)
    throw new Error(
      `${kind} model has no ${wantOut}-like output (outputs: ${outputs.map((o) => `${o.name}:${o.type}[${o.shape.join(',')}]`).join(', ')})`,
    );
  const mask = inputs.find((i) => i.name === 'attention_mask');
  const other = inputs.filter((i) => i.name !== input.name && i.name !== mask?.name);
  if (other.length)
    throw new Error(`${kind} model needs inputs Glimpse does not provide: ${other.map((i) => i.name).join(', ')}`);
  return { inputs, outputs, input: input.name, output: output.name, ...(mask ? { attentionMask: mask.name } : {}) };
}

let textSession: ort.InferenceSession | undefined;
let visionSession: ort.InferenceSession | undefined;
let textInfo: SessionInfo | undefined;
let visionInfo: SessionInfo | undefined;

async function createSession(file: string, opts: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(file, opts);
  } catch (err) {
    const e = new Error(`cannot load ONNX model ${file}: ${(err as Error).message}`);
    (e as Error & { file?: string }).file = file;
    throw e;
  }
}

async function init(msg: InitMessage): Promise<FromWorker> {
  const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  if (msg.intraOpThreads > 0) base.intraOpNumThreads = msg.intraOpThreads;
  let device: ExecutionProvider = 'cpu';
  let warning: string | undefined;
  if (msg.executionProvider === 'cuda') {
    // ORT prints its own native error when the CUDA provider library is missing; the pool logs one clear warning
    const level = ort.env.logLevel;
    ort.env.logLevel = 'fatal';
    try {
      // logSeverityLevel 4: keep ORT's own native error print quiet; the pool logs one clear warning instead
      const cuda = {
        ...base,
        executionProviders: [{ name: 'cuda', deviceId: msg.cudaDeviceId }],
        logSeverityLevel: 4 as const,
      };
      textSession = await ort.InferenceSession.create(msg.textModelPath, cuda);
      if (msg.visionModelPath) visionSession = await ort.InferenceSession.create(msg.visionModelPath, cuda);
      device = 'cuda';
    } catch (err) {
      await textSession?.release().catch(() => undefined);
      textSession = undefined;
      warning = `CUDA execution provider unavailable (${(err as Error).message.split('\n')[0]}); falling back to CPU`;
    } finally {
      ort.env.logLevel = level ?? 'warning';
    }
  }
  if (device === 'cpu') {
    const cpu = { ...base, executionProviders: ['cpu'] };
    textSession = await createSession(msg.textModelPath, cpu);
    if (msg.visionModelPath) visionSession = await createSession(msg.visionModelPath, cpu);
  }
  textInfo = describe(textSession!, 'text');
  visionInfo = visionSession ? describe(visionSession, 'image') : undefined;
  return {
    type: 'ready',
    device,
    ...(warning ? { warning } : {}),
    text: textInfo,
    ...(visionInfo ? { vision: visionInfo } : {}),
  };
}

function typeOf(info: SessionInfo, name: string): string {
  return info.inputs.find((i) => i.name === name)?.type ?? 'float32';
}

function toFloat32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') {
    const src = t.data as unknown as ArrayLike<number>;
    const out = new Float32Array(src.length);
    // Uint16Array of half bits (or a Float16Array where the runtime has one)
    if (src instanceof Uint16Array) for (let i = 0; i < src.length; i++) out[i] = fromHalfBits(src[i]!);
    else for (let i = 0; i < src.length; i++) out[i] = src[i]!;
    return out;
  }
  throw new Error(`unsupported output type ${t.type}`);
}

async function run(msg: TextRunMessage | ImageRunMessage): Promise<FromWorker> {
  const t0 = performance.now();
  let result: ort.InferenceSession.ReturnType;
  let info: SessionInfo;
  if (msg.kind === 'text') {
    if (!textSession || !textInfo) throw new Error('worker not initialised');
    info = textInfo;
    const dims = [msg.batch, msg.seqLen];
    const asType = (a: BigInt64Array, type: string) =>
      type === 'int32' ? new ort.Tensor('int32', Int32Array.from(a, Number), dims) : new ort.Tensor('int64', a, dims);
    const feeds: Record<string, ort.Tensor> = { [info.input]: asType(msg.ids, typeOf(info, info.input)) };
    if (info.attentionMask) feeds[info.attentionMask] = asType(msg.attentionMask, typeOf(info, info.attentionMask));
    result = await textSession.run(feeds, [info.output]);
  } else {
    if (!visionSession || !visionInfo) throw new Error('worker not initialised');
    info = visionInfo;
    const dims = [msg.batch, ...msg.chw];
    let tensor: ort.Tensor;
    if (typeOf(info, info.input) === 'float16') {
      const h = new Uint16Array(msg.pixels.length);
      for (let i = 0; i < h.length; i++) h[i] = toHalfBits(msg.pixels[i]!);
      tensor = new ort.Tensor('float16', h, dims);
    } else tensor = new ort.Tensor('float32', msg.pixels, dims);
    result = await visionSession.run({ [info.input]: tensor }, [info.output]);
  }
  const out = result[info.output];
  if (!out) throw new Error(`model returned no ${info.output}`);
  // normalised in a copy when the tensor's own buffer came back (it is disposed below; ours is transferred)
  const raw = toFloat32(out);
  const data = raw === out.data ? Float32Array.from(raw) : raw;
  const dim = normaliseRowsInPlace(data, msg.batch);
  for (const t of Object.values(result)) t.dispose?.();
  return { type: 'result', id: msg.id, data, batch: msg.batch, dim, ms: performance.now() - t0 };
}

const port = parentPort;
if (port) {
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'init') {
      init(msg).then(
        (r) => port.postMessage(r),
        (err: Error & { file?: string }) =>
          port.postMessage({
            type: 'init-error',
            message: err.message,
            ...(err.file ? { file: err.file } : {}),
          } satisfies FromWorker),
      );
    } else if (msg.type === 'run') {
      run(msg).then(
        (r) => port.postMessage(r, r.type === 'result' ? [r.data.buffer as ArrayBuffer] : []),
        (err: Error) => port.postMessage({ type: 'error', id: msg.id, message: err.message } satisfies FromWorker),
      );
    } else if (msg.type === 'preprocess') {
      const limits = {
        ...(msg.maxBytes !== undefined ? { maxBytes: msg.maxBytes } : {}),
        ...(msg.maxPixels !== undefined ? { maxPixels: msg.maxPixels } : {}),
        ...(msg.maxAspectRatio !== undefined ? { maxAspectRatio: msg.maxAspectRatio } : {}),
      };
      preprocessImage(msg.data, { config: msg.config, ...limits }).then(
        (r) =>
          port.postMessage(
            {
              type: 'pixels',
              id: msg.id,
              pixels: r.pixels,
              dims: r.dims,
              width: r.width,
              height: r.height,
              format: r.format,
            } satisfies FromWorker,
            [r.pixels.buffer as ArrayBuffer],
          ),
        (err: Error & { code?: string }) =>
          port.postMessage({
            type: 'error',
            id: msg.id,
            message: err.message,
            name: err.name,
            ...(typeof err.code === 'string' ? { code: err.code } : {}),
          } satisfies FromWorker),
      );
    } else if (msg.type === 'close') {
      void Promise.all([textSession?.release(), visionSession?.release()]).finally(() => port.close());
    }
  });
}
