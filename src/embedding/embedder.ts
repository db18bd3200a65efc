/**
 * The embedding API: texts and images in, L2-normalised vectors of the model's dimension out.
 *
 * Tokenising runs on the main thread; image decoding/preprocessing (sharp + a JavaScript Pillow-exact resampler)
 * runs in image threads and ONNX inference in inference threads (worker-pool.ts), so the event loop stays free and
 * the next images are preprocessed while a batch runs (ORT's run() blocks the thread it is called on).
 * Concurrent requests are coalesced into batches (batcher.ts); text results are cached (cache.ts).
 */
import type { Config } from '../config.js';
import { Batcher } from './batcher.js';
import { CachedTextEmbeddings } from './cache.js';
import { resolveModel, type ResolvedModel } from './model-files.js';
import { embeddingBatchSize, embeddingDuration, recordCacheLookup } from '../observability/metrics.js';
import { embeddingSpace } from './spaces.js';
import { chooseTextModel, type TextRoute, type TextRoutingPolicy } from './text-routing.js';
import type { TextTower } from './text-tower.js';
import type { ResolvedTextTower } from './text-tower-files.js';
import { ClipTokenizer } from './tokenizer.js';
import { WorkerPool, type JobResult } from './worker-pool.js';

export type EmbedderConfig = Pick<
  Config,
  | 'model'
  | 'modelDir'
  | 'modelDtype'
  | 'executionProvider'
  | 'cudaDeviceId'
  | 'inferenceWorkers'
  | 'intraOpThreads'
  | 'maxBatchSize'
  | 'maxBatchWaitMs'
  | 'textCacheSize'
> &
  Partial<Pick<Config, 'maxImageBytes' | 'maxImagePixels' | 'maxImageAspectRatio' | 'decodeWorkers'>>;

/** The logging this module does (a pino logger fits). */
export interface EmbeddingLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
export const silentLogger: EmbeddingLogger = { info() {}, warn() {}, error() {}, debug() {} };

export interface EmbedderStats {
  textBatches: number[];
  imageBatches: number[];
  cache: { size: number; hits: number; misses: number; capacity: number };
  worker: { batches: number; items: number; maxBatch: number };
}

/** A text tower that does not share the image model's space or dimension (refused at start). */
export class ModelPairingError extends Error {
  override name = 'ModelPairingError';
  readonly code = 'MODEL_PAIRING';
}

/** A text model this embedder can embed queries with. */
export interface TextModelInfo {
  id: string;
  dimension: number;
  device: 'cpu' | 'cuda';
  isTestModel: boolean;
  /** the image model's own text tower, or a paired one */
  kind: 'image-model' | 'paired';
}

export class Embedder {
  readonly modelId: string;
  /** The image space its vectors live in (spaces.ts), if known: paired text towers must share it. */
  readonly space: string | undefined;
  private towers: TextTower[] = [];
  private routing: TextRoutingPolicy = 'auto';
  readonly dimension: number;
  readonly device: 'cpu' | 'cuda';
  readonly isTestModel: boolean;
  /** [channels, height, width] the vision model takes. */
  readonly imageDims: [number, number, number];

  private readonly textBatcher: Batcher<string, Float32Array>;
  private readonly imageBatcher: Batcher<Float32Array, Float32Array>;
  private readonly texts: CachedTextEmbeddings;
  private readonly offIdle: () => void;
  private closed = false;

  private constructor(
    readonly model: ResolvedModel,
    private readonly config: EmbedderConfig,
    private readonly tokenizer: ClipTokenizer,
    private readonly pool: WorkerPool,
  ) {
    this.modelId = model.id;
    this.space = embeddingSpace(model.id, model.config);
    this.isTestModel = model.isTestModel;
    this.device = pool.info.device;
    const outShape = pool.info.text.outputs.find((o) => o.name === pool.info.text.output)?.shape ?? [];
    const outDim = outShape[outShape.length - 1];
    this.dimension = typeof outDim === 'number' ? outDim : model.dimension;
    const vision = pool.info.vision;
    const inShape = vision?.inputs.find((i) => i.name === vision.input)?.shape ?? [];
    const dim = (i: number, d: number) => (typeof inShape[i] === 'number' ? (inShape[i] as number) : d);
    this.imageDims = [dim(1, 3), dim(2, 224), dim(3, 224)];
    this.texts = new CachedTextEmbeddings(
      config.textCacheSize,
      this.modelId,
      (text) => this.textBatcher.push(text),
      (hit) => recordCacheLookup('text_embedding', hit),
    );
    const canRun = () => pool.idleCount() > 0;
    this.textBatcher = new Batcher({
      maxBatchSize: config.maxBatchSize,
      maxWaitMs: config.maxBatchWaitMs,
      canRun,
      run: (t) => this.runText(t),
    });
    this.imageBatcher = new Batcher({
      maxBatchSize: config.maxBatchSize,
      maxWaitMs: config.maxBatchWaitMs,
      canRun,
      run: (p) => this.runImages(p),
    });
    this.offIdle = pool.onIdle(() => {
      this.textBatcher.drain();
      this.imageBatcher.drain();
    });
  }

  /** Resolve the configured model (generating the test model if asked), start the workers, check the model. */
  static async load(config: EmbedderConfig, logger: EmbeddingLogger = silentLogger): Promise<Embedder> {
    const model = await resolveModel(
      { model: config.model, modelDir: config.modelDir, modelDtype: config.modelDtype },
      logger,
    );
    if (model.isTestModel) {
      logger.warn(
        { model: model.id, dir: model.dir },
        'using the Glimpse TEST model: generated, NOT CLIP; search results are meaningless beyond colour words (tests and demos only)',
      );
    }
    let tokenizer: ClipTokenizer;
    try {
      tokenizer = await ClipTokenizer.fromFile(model.tokenizerPath);
    } catch (err) {
      throw Object.assign(
        new Error(`model "${model.id}": cannot load tokenizer ${model.tokenizerPath}: ${(err as Error).message}`),
        { code: 'MODEL_CORRUPT' },
      );
    }
    const pool = await WorkerPool.start({
      size: config.inferenceWorkers,
      preprocessWorkers: config.decodeWorkers,
      textModelPath: model.textModelPath,
      visionModelPath: model.visionModelPath,
      executionProvider: config.executionProvider,
      cudaDeviceId: config.cudaDeviceId,
      intraOpThreads: config.intraOpThreads,
      onFallback: (warning) =>
        logger.warn({ requested: 'cuda', device: 'cpu', cudaDeviceId: config.cudaDeviceId }, warning),
    });
    const e = new Embedder(model, config, tokenizer, pool);
    if (e.dimension !== model.dimension) {
      await pool.close();
      throw Object.assign(
        new Error(
          `model "${model.id}": text_embeds has ${e.dimension} dimensions but config.json projection_dim is ${model.dimension}`,
        ),
        { code: 'MODEL_CORRUPT' },
      );
    }
    logger.info(
      {
        model: e.modelId,
        dtype: model.dtype,
        device: e.device,
        dimension: e.dimension,
        workers: pool.size,
        testModel: e.isTestModel,
      },
      `embedding model loaded${e.isTestModel ? ' (Glimpse TEST model)' : ''}`,
    );
    return e;
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error('embedder is closed');
  }

  /** Throws ModelPairingError unless a text tower's files say it shares this model's space and dimension. */
  checkPairing(tower: Pick<ResolvedTextTower, 'id' | 'space' | 'dimension'>): void {
    if (tower.dimension !== this.dimension)
      throw new ModelPairingError(
        `text model "${tower.id}" makes ${tower.dimension}-d vectors but the image model "${this.modelId}" makes ${this.dimension}-d ones; pair it with an image model of its space`,
      );
    if (!tower.space || !this.space || tower.space !== this.space)
      throw new ModelPairingError(
        `text model "${tower.id}" embeds into ${tower.space ? `the space of "${tower.space}"` : 'an unknown space'}, the image model "${this.modelId}" into ${this.space ? `that of "${this.space}"` : 'an unknown space'}: their vectors cannot be compared. Remove it from GLIMPSE_TEXT_MODELS, or set "glimpse_space" in its config.json if you know it was trained into this image space`,
      );
  }

  /** Pairs text towers (checked with checkPairing) with this model; queries are routed by `policy` (text-routing.ts). */
  attachTextTowers(towers: TextTower[], policy: TextRoutingPolicy): void {
    for (const t of towers) this.checkPairing({ id: t.modelId, space: t.files.space, dimension: t.dimension });
    this.towers = towers;
    this.routing = policy;
  }

  /** The text models a query can be embedded with: this model's own tower first, then the paired ones. */
  textModels(): TextModelInfo[] {
    const own: TextModelInfo = {
      id: this.modelId,
      dimension: this.dimension,
      device: this.device,
      isTestModel: this.isTestModel,
      kind: 'image-model',
    };
    return [
      own,
      ...this.towers.map((t) => ({
        id: t.modelId,
        dimension: t.dimension,
        device: t.device,
        isTestModel: t.isTestModel,
        kind: 'paired' as const,
      })),
    ];
  }

  /** Which text model embeds `text` for this route (throws TextRouteError for a bad choice). */
  textModelFor(text: string, route: TextRoute = {}): string {
    const ids = this.towers.map((t) => t.modelId);
    return chooseTextModel(text, route, this.modelId, ids, this.routing);
  }

  /** A query text's vector, from the text model the route chooses (this model's own tower by default for Latin text). */
  async embedText(text: string, route: TextRoute = {}): Promise<Float32Array> {
    this.ensureOpen();
    const chosen = this.textModelFor(text, route);
    const tower = this.towers.find((t) => t.modelId === chosen);
    if (tower) return tower.embedText(text);
    return this.texts.embed(text);
  }

  embedTexts(texts: string[], route: TextRoute = {}): Promise<Float32Array[]> {
    return Promise.all(texts.map((t) => this.embedText(t, route)));
  }

  /** Embed an image file's bytes (JPEG, PNG, WebP, AVIF, GIF, TIFF). Throws ImageError for bad input. */
  async embedImage(buf: Buffer | Uint8Array): Promise<Float32Array> {
    this.ensureOpen();
    const limits: { maxBytes?: number; maxPixels?: number; maxAspectRatio?: number } = {};
    if (this.config.maxImageBytes !== undefined) limits.maxBytes = this.config.maxImageBytes;
    if (this.config.maxImagePixels !== undefined) limits.maxPixels = this.config.maxImagePixels;
    if (this.config.maxImageAspectRatio !== undefined) limits.maxAspectRatio = this.config.maxImageAspectRatio;
    // decode + resize run in an image thread: the resampler is JavaScript (Pillow-exact) and would block the event loop
    const pre = await this.pool.preprocess(buf, { config: this.model.preprocessor, ...limits });
    return this.embedImagePixels(pre.pixels);
  }

  /** Embed an already preprocessed image: float32 CHW of the model's input size ([3, 224, 224] for CLIP). */
  embedImagePixels(pixels: Float32Array): Promise<Float32Array> {
    this.ensureOpen();
    const [c, h, w] = this.imageDims;
    if (pixels.length !== c * h * w)
      return Promise.reject(
        new RangeError(`expected ${c}x${h}x${w} = ${c * h * w} pixel values, got ${pixels.length}`),
      );
    return this.imageBatcher.push(pixels);
  }

  private split(r: JobResult): Float32Array[] {
    return Array.from({ length: r.batch }, (_, i) => r.data.slice(i * r.dim, (i + 1) * r.dim));
  }

  private async runText(texts: string[]): Promise<Float32Array[]> {
    const enc = this.tokenizer.encodeBatch(texts, { padTo: 'longest' });
    embeddingBatchSize.observe({ kind: 'text' }, texts.length);
    const end = embeddingDuration.startTimer({ kind: 'text' });
    const r = await this.pool
      .run({
        kind: 'text',
        ids: enc.ids,
        attentionMask: enc.attentionMask,
        batch: enc.batch,
        seqLen: enc.seqLen,
      })
      .finally(end);
    return this.split(r);
  }

  private async runImages(images: Float32Array[]): Promise<Float32Array[]> {
    const size = this.imageDims[0] * this.imageDims[1] * this.imageDims[2];
    const pixels = new Float32Array(images.length * size);
    images.forEach((p, i) => pixels.set(p, i * size));
    embeddingBatchSize.observe({ kind: 'image' }, images.length);
    const end = embeddingDuration.startTimer({ kind: 'image' });
    const r = await this.pool.run({ kind: 'image', pixels, batch: images.length, chw: this.imageDims }).finally(end);
    return this.split(r);
  }

  stats(): EmbedderStats {
    return {
      textBatches: [...this.textBatcher.batchSizes],
      imageBatches: [...this.imageBatcher.batchSizes],
      cache: this.texts.stats,
      worker: { ...this.pool.stats },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.offIdle();
    const err = new Error('embedder is closed');
    this.textBatcher.cancel(err);
    this.imageBatcher.cancel(err);
    await Promise.all([this.pool.close(), ...this.towers.map((t) => t.close())]);
  }
}
