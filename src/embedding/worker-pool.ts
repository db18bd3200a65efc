/**
 * A pool of inference worker threads (onnx-worker.ts), each owning its own text and vision sessions.
 * Jobs go to an idle worker or wait in a FIFO queue; input and output buffers are transferred, not copied.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  ImageError,
  type ImageErrorCode,
  type PreprocessedImage,
  type PreprocessorConfig,
} from './image-preprocess.js';
import type {
  ExecutionProvider,
  FromWorker,
  ImageRunMessage,
  InitMessage,
  SessionInfo,
  TextRunMessage,
} from './onnx-worker.js';

export interface WorkerPoolOptions {
  size: number;
  textModelPath: string;
  /** absent: text-only workers (a text tower) and no image threads */
  visionModelPath?: string;
  executionProvider: ExecutionProvider;
  cudaDeviceId: number;
  /** ONNX intra-op threads per worker; 0 splits the machine's cores between the workers. */
  intraOpThreads: number;
  /** Threads that decode and preprocess image files (default: `size`). */
  preprocessWorkers?: number;
  /** Called once (not once per worker) when CUDA was requested but the sessions fell back to CPU. */
  onFallback?: (warning: string) => void;
}

export interface PoolInfo {
  device: ExecutionProvider;
  text: SessionInfo;
  /** absent for a text-only pool */
  vision?: SessionInfo;
}

export type TextJob = Omit<TextRunMessage, 'type' | 'id'>;
export type ImageJob = Omit<ImageRunMessage, 'type' | 'id'>;
export interface JobResult {
  /** Row-major [batch, dim], each row L2-normalised. */
  data: Float32Array;
  batch: number;
  dim: number;
  ms: number;
}

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  readonly code = 'MODEL_CORRUPT';
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
  }
}

interface Slot {
  worker: Worker;
  busy: boolean;
  /** Preprocessing jobs in flight on this worker. */
  preprocessing: number;
}
interface PendingPre {
  resolve: (r: PreprocessedImage) => void;
  reject: (e: Error) => void;
  slot: Slot;
}
interface Pending {
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
}
interface Queued {
  job: TextJob | ImageJob;
  pending: Pending;
}

const BOOTSTRAP = new URL('./worker-bootstrap.mjs', import.meta.url);
// the worker module next to this one (.ts from sources, .js from a compiled build)
const WORKER_ENTRY = new URL(import.meta.url.endsWith('.ts') ? './onnx-worker.ts' : './onnx-worker.js', import.meta.url)
  .href;

export class WorkerPool {
  private readonly slots: Slot[] = [];
  /** Image decode/preprocess threads: separate from the inference threads because ORT's run() blocks its thread. */
  private readonly preSlots: Slot[] = [];
  private readonly queue: Queued[] = [];
  private readonly pending = new Map<number, Pending & { slot: Slot }>();
  private readonly pendingPre = new Map<number, PendingPre>();
  private readonly idleListeners = new Set<() => void>();
  private nextId = 1;
  private closed = false;
  /** Batches run so far, for metrics and tests. */
  readonly stats = { batches: 0, items: 0, maxBatch: 0 };

  private constructor(readonly info: PoolInfo) {}

  static async start(opts: WorkerPoolOptions): Promise<WorkerPool> {
    const size = Math.max(1, opts.size);
    const threads =
      opts.intraOpThreads > 0 ? opts.intraOpThreads : Math.max(1, Math.floor(os.availableParallelism() / size));
    const init: InitMessage = {
      type: 'init',
      textModelPath: opts.textModelPath,
      ...(opts.visionModelPath ? { visionModelPath: opts.visionModelPath } : {}),
      executionProvider: opts.executionProvider,
      cudaDeviceId: opts.cudaDeviceId,
      intraOpThreads: threads,
    };
    const workers = Array.from({ length: size }, () => new Worker(BOOTSTRAP, { workerData: { entry: WORKER_ENTRY } }));
    const ready = (w: Worker) =>
      new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
        const onMsg = (m: FromWorker) => {
          if (m.type === 'ready') resolve(m);
          else if (m.type === 'init-error') reject(new ModelLoadError(m.message, m.file));
          cleanup();
        };
        const onErr = (e: Error) => (cleanup(), reject(e));
        const onExit = (code: number) => (
          cleanup(),
          reject(new Error(`inference worker exited during start (code ${code})`))
        );
        const cleanup = () => {
          w.off('message', onMsg);
          w.off('error', onErr);
          w.off('exit', onExit);
        };
        w.on('message', onMsg);
        w.on('error', onErr);
        w.on('exit', onExit);
        w.postMessage(init);
      });
    let results: Array<Extract<FromWorker, { type: 'ready' }>>;
    try {
      results = await Promise.all(workers.map(ready));
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    const first = results[0]!;
    const warning = results.find((r) => r.warning)?.warning;
    if (warning) opts.onFallback?.(warning);
    const device: ExecutionProvider = results.every((r) => r.device === 'cuda') ? 'cuda' : 'cpu';
    const pool = new WorkerPool({ device, text: first.text, ...(first.vision ? { vision: first.vision } : {}) });
    for (const w of workers) pool.adopt(w);
    const preSize = opts.visionModelPath ? Math.max(1, opts.preprocessWorkers ?? size) : 0;
    for (let i = 0; i < preSize; i++)
      pool.adoptPreprocessor(new Worker(BOOTSTRAP, { workerData: { entry: WORKER_ENTRY } }));
    return pool;
  }

  private adopt(worker: Worker): void {
    const slot: Slot = { worker, busy: false, preprocessing: 0 };
    worker.on('message', (m: FromWorker) => {
      if (m.type !== 'result' && m.type !== 'error') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      slot.busy = false;
      if (m.type === 'result') p.resolve({ data: m.data, batch: m.batch, dim: m.dim, ms: m.ms });
      else p.reject(new Error(`inference failed: ${m.message}`));
      this.pump();
    });
    const fail = (err: Error) => {
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(err);
      }
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (!this.closed && this.slots.length === 0) for (const q of this.queue.splice(0)) q.pending.reject(err);
      this.pump();
    };
    worker.on('error', (err) => fail(new Error(`inference worker crashed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`inference worker exited (code ${code})`));
    });
    this.slots.push(slot);
  }

  private adoptPreprocessor(worker: Worker): void {
    const slot: Slot = { worker, busy: false, preprocessing: 0 };
    worker.on('message', (m: FromWorker) => {
      if ((m.type !== 'pixels' && m.type !== 'error') || !this.pendingPre.has(m.id)) return;
      const pre = this.pendingPre.get(m.id)!;
      this.pendingPre.delete(m.id);
      slot.preprocessing--;
      if (m.type === 'pixels')
        pre.resolve({
          pixels: m.pixels,
          dims: m.dims,
          width: m.width,
          height: m.height,
          format: m.format as PreprocessedImage['format'],
        });
      else
        pre.reject(
          m.name === 'ImageError' && m.code
            ? new ImageError(m.code as ImageErrorCode, m.message)
            : new Error(m.message),
        );
    });
    const fail = (err: Error) => {
      for (const [id, p] of this.pendingPre) {
        if (p.slot !== slot) continue;
        this.pendingPre.delete(id);
        p.reject(err);
      }
      const i = this.preSlots.indexOf(slot);
      if (i >= 0) this.preSlots.splice(i, 1);
    };
    worker.on('error', (err) => fail(new Error(`image worker crashed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`image worker exited (code ${code})`));
    });
    this.preSlots.push(slot);
  }

  get size(): number {
    return this.slots.length;
  }
  idleCount(): number {
    return this.slots.filter((s) => !s.busy).length - this.queue.length;
  }
  /** Called whenever a worker becomes free (the batcher uses it to flush waiting requests). */
  onIdle(listener: () => void): () => void {
    this.idleListeners.add(listener);
    return () => this.idleListeners.delete(listener);
  }

  run(job: TextJob | ImageJob): Promise<JobResult> {
    if (this.closed) return Promise.reject(new Error('embedder is closed'));
    if (this.slots.length === 0) return Promise.reject(new Error('no inference worker is running'));
    return new Promise<JobResult>((resolve, reject) => {
      this.queue.push({ job, pending: { resolve, reject } });
      this.pump();
    });
  }

  /**
   * Decode and preprocess an image file in an image thread (the least loaded one), off the main thread's event
   * loop and concurrently with inference. The bytes are copied, so the caller's buffer stays usable.
   */
  preprocess(
    data: Uint8Array,
    opts: { config: PreprocessorConfig; maxBytes?: number; maxPixels?: number; maxAspectRatio?: number },
  ): Promise<PreprocessedImage> {
    if (this.closed) return Promise.reject(new Error('embedder is closed'));
    const slot = this.preSlots.reduce<Slot | undefined>(
      (best, s) => (!best || s.preprocessing < best.preprocessing ? s : best),
      undefined,
    );
    if (!slot) return Promise.reject(new Error('no image worker is running'));
    const copy = new Uint8Array(data); // a Buffer may be a view into a shared pool: never transfer the caller's memory
    const id = this.nextId++;
    slot.preprocessing++;
    return new Promise<PreprocessedImage>((resolve, reject) => {
      this.pendingPre.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ type: 'preprocess', id, data: copy, ...opts }, [copy.buffer]);
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.busy) continue;
      const q = this.queue.shift();
      if (!q) break;
      const id = this.nextId++;
      slot.busy = true;
      this.pending.set(id, { ...q.pending, slot });
      this.stats.batches++;
      this.stats.items += q.job.batch;
      this.stats.maxBatch = Math.max(this.stats.maxBatch, q.job.batch);
      const transfer = q.job.kind === 'text' ? [q.job.ids.buffer, q.job.attentionMask.buffer] : [q.job.pixels.buffer];
      slot.worker.postMessage({ type: 'run', id, ...q.job }, transfer as ArrayBuffer[]);
    }
    if (this.idleCount() > 0) for (const l of this.idleListeners) l();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('embedder is closed');
    for (const q of this.queue.splice(0)) q.pending.reject(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const p of this.pendingPre.values()) p.reject(err);
    this.pendingPre.clear();
    await Promise.all(
      [...this.slots, ...this.preSlots].map(
        (s) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => void s.worker.terminate().then(() => resolve()), 2000);
            s.worker.once('exit', () => (clearTimeout(t), resolve()));
            s.worker.postMessage({ type: 'close' });
          }),
      ),
    );
  }
}
