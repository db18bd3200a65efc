/**
 * Dynamic micro-batching: concurrent requests are coalesced into one inference run.
 *
 * A batch is dispatched as soon as `maxBatchSize` items wait, or `maxWaitMs` after the first item arrived and a
 * worker is free. While every worker is busy, items keep accumulating (up to `maxBatchSize`) so a loaded
 * service runs fewer, bigger batches instead of queueing many small ones.
 */

export interface BatcherOptions<I, O> {
  maxBatchSize: number;
  maxWaitMs: number;
  /** Runs one batch; must return one output per input, in order. */
  run: (items: I[]) => Promise<O[]>;
  /** Whether a partial batch may be dispatched now (e.g. a worker is idle). Default: always. */
  canRun?: () => boolean;
}

interface Entry<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class Batcher<I, O> {
  private queue: Array<Entry<I, O>> = [];
  private timer: NodeJS.Timeout | undefined;
  private expired = false;
  /** Sizes of the batches dispatched so far (last 1000), for tests and metrics. */
  readonly batchSizes: number[] = [];

  constructor(private readonly opts: BatcherOptions<I, O>) {
    if (opts.maxBatchSize < 1) throw new Error('maxBatchSize must be >= 1');
  }

  get waiting(): number {
    return this.queue.length;
  }

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.opts.maxBatchSize) this.drain();
      else if (!this.timer && !this.expired) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.expired = true;
          this.drain();
        }, this.opts.maxWaitMs);
      }
    });
  }

  /** Dispatch what can be dispatched now; call when capacity frees up. */
  drain(): void {
    const canRun = this.opts.canRun ?? (() => true);
    while (this.queue.length >= this.opts.maxBatchSize || (this.expired && this.queue.length > 0 && canRun())) {
      this.dispatch(this.queue.splice(0, this.opts.maxBatchSize));
    }
    if (this.queue.length === 0) {
      this.expired = false;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private dispatch(batch: Array<Entry<I, O>>): void {
    this.batchSizes.push(batch.length);
    if (this.batchSizes.length > 1000) this.batchSizes.shift();
    let p: Promise<O[]>;
    try {
      p = this.opts.run(batch.map((e) => e.item));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (out) => {
        if (out.length !== batch.length)
          throw new Error(`batch returned ${out.length} results for ${batch.length} inputs`);
        batch.forEach((e, i) => e.resolve(out[i]!));
      },
      (err: unknown) => batch.forEach((e) => e.reject(err)),
    ).catch((err: unknown) => batch.forEach((e) => e.reject(err)));
  }

  /** Reject everything still waiting. */
  cancel(err: Error): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.expired = false;
    for (const e of this.queue.splice(0)) e.reject(err);
  }
}
