/**
 * A text tower paired with the image model (e.g. M-CLIP's XLM-R for queries in 100 languages): its own ONNX session
 * in text-only inference threads, its own tokenizer, batcher and cache (keyed by its id), the same vectors as the
 * image model's text tower would give — L2-normalised, in the image model's space. Fixed-shape exports (Immich's:
 * batch 1, 77 tokens) are fed as their shapes say.
 */
import { Batcher } from './batcher.js';
import { CachedTextEmbeddings } from './cache.js';
import type { EmbedderConfig, EmbeddingLogger } from './embedder.js';
import { embeddingBatchSize, embeddingDuration } from '../observability/metrics.js';
import { TextTowerTokenizer } from './text-tokenizer.js';
import { resolveTextTower, type ResolvedTextTower } from './text-tower-files.js';
import { WorkerPool } from './worker-pool.js';

export class TextTower {
  readonly modelId: string;
  readonly dimension: number;
  readonly device: 'cpu' | 'cuda';
  readonly isTestModel: boolean;
  private readonly batcher: Batcher<string, Float32Array>;
  private readonly texts: CachedTextEmbeddings;
  private readonly offIdle: () => void;
  private readonly padTo: number | undefined;
  private closed = false;

  private constructor(
    readonly files: ResolvedTextTower,
    private readonly tokenizer: TextTowerTokenizer,
    private readonly pool: WorkerPool,
    config: EmbedderConfig,
    fixed: { batch?: number; seqLen?: number },
  ) {
    this.modelId = files.id;
    this.isTestModel = files.isTestModel;
    this.device = pool.info.device;
    const out = pool.info.text.outputs.find((o) => o.name === pool.info.text.output)?.shape ?? [];
    const outDim = out[out.length - 1];
    this.dimension = typeof outDim === 'number' ? outDim : files.dimension;
    this.padTo = fixed.seqLen;
    this.texts = new CachedTextEmbeddings(config.textCacheSize, this.modelId, (text) => this.batcher.push(text));
    this.batcher = new Batcher({
      maxBatchSize: fixed.batch ?? config.maxBatchSize,
      maxWaitMs: config.maxBatchWaitMs,
      canRun: () => pool.idleCount() > 0,
      run: (texts) => this.run(texts),
    });
    this.offIdle = pool.onIdle(() => this.batcher.drain());
  }

  static async load(name: string, config: EmbedderConfig, logger: EmbeddingLogger): Promise<TextTower> {
    const files = await resolveTextTower(name, config.modelDir, logger);
    const pool = await WorkerPool.start({
      size: config.inferenceWorkers,
      textModelPath: files.modelPath,
      executionProvider: config.executionProvider,
      cudaDeviceId: config.cudaDeviceId,
      intraOpThreads: config.intraOpThreads,
      onFallback: (warning) => logger.warn({ textModel: files.id, device: 'cpu' }, warning),
    });
    try {
      const shape = pool.info.text.inputs.find((i) => i.name === pool.info.text.input)?.shape ?? [];
      const fixed = {
        ...(typeof shape[0] === 'number' ? { batch: shape[0] } : {}),
        ...(typeof shape[1] === 'number' ? { seqLen: shape[1] } : {}),
      };
      const maxLength = Math.min(files.contextLength, fixed.seqLen ?? files.contextLength);
      const tokenizer = await TextTowerTokenizer.fromFiles(files.tokenizerPath, files.tokenizerConfigPath, maxLength);
      const tower = new TextTower(files, tokenizer, pool, config, fixed);
      logger.info(
        { textModel: tower.modelId, device: tower.device, dimension: tower.dimension, maxTokens: tokenizer.maxLength },
        `text model loaded${tower.isTestModel ? ' (Glimpse TEST text tower)' : ''}`,
      );
      return tower;
    } catch (err) {
      await pool.close();
      throw Object.assign(new Error(`text model "${files.id}": ${(err as Error).message}`), { code: 'MODEL_CORRUPT' });
    }
  }

  /** The ids this tower feeds its graph for a text (tests, docs). */
  tokenize(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  async embedText(text: string): Promise<Float32Array> {
    if (this.closed) throw new Error('text model is closed');
    return this.texts.embed(text);
  }

  private async run(texts: string[]): Promise<Float32Array[]> {
    const enc = this.tokenizer.encodeBatch(texts, this.padTo);
    embeddingBatchSize.observe({ kind: 'text' }, texts.length);
    const end = embeddingDuration.startTimer({ kind: 'text' });
    const r = await this.pool
      .run({ kind: 'text', ids: enc.ids, attentionMask: enc.attentionMask, batch: enc.batch, seqLen: enc.seqLen })
      .finally(end);
    return Array.from({ length: r.batch }, (_, i) => r.data.slice(i * r.dim, (i + 1) * r.dim));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.offIdle();
    this.batcher.cancel(new Error('text model is closed'));
    await this.pool.close();
  }
}
