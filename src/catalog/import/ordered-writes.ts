/**
 * Several import batches written at once, committed in order. Maintaining an HNSW index costs a graph walk per
 * vector inside the INSERT, so one connection leaves the other cores idle; `limit` transactions run their
 * statements side by side. The resume cursor still means "every record up to here is committed": each batch
 * does its work, then waits for its TURN (every earlier batch committed) before it moves the job's cursor and
 * commits. A kill -9 therefore leaves a committed prefix of batches, as with one writer.
 *
 * Waiting for a turn inside an open transaction deadlocks if an earlier batch needs a lock this one holds, and
 * PostgreSQL cannot see that wait. So batches that share a key (a sku: the product row and its images; a file's
 * sha256: the image lock) never run together: a batch starts after every in-flight batch it shares a key with
 * has finished. Disjoint batches touch disjoint rows (index pages are latched, not locked until commit).
 *
 * A batch that fails stops the import: the batches after it find their turn failed (EarlierBatchFailed) and roll
 * back; drain() throws the first real error.
 */

/** The turn of a batch failed because an earlier batch failed (the import stops; its error is the one to show). */
export class EarlierBatchFailed extends Error {
  constructor() {
    super('an earlier batch failed');
  }
}

interface InFlight {
  keys: ReadonlySet<string>;
  /** resolves when the batch and every batch before it have finished (never rejects) */
  settled: Promise<void>;
}

export class OrderedWrites {
  private readonly inFlight = new Set<InFlight>();
  /** resolves when every batch submitted so far has committed; rejects with EarlierBatchFailed when one failed */
  private previous: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  /**
   * Waits for a free writer and for the in-flight batches that share a key with this one, then starts
   * `write` and returns true (a failure surfaces in a later submit or in drain); returns false without
   * starting it when `signal` was aborted meanwhile (a stopped import writes nothing new). `write` must call
   * `turn()` and await it before its commit: it resolves when every earlier batch has committed.
   */
  async submit(
    keys: ReadonlySet<string>,
    write: (turn: () => Promise<void>) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<boolean> {
    this.throwIfFailed();
    while (this.inFlight.size >= this.limit) await Promise.race([...this.inFlight].map((f) => f.settled));
    const sharing = [...this.inFlight].filter((f) => [...keys].some((k) => f.keys.has(k)));
    await Promise.all(sharing.map((f) => f.settled));
    this.throwIfFailed();
    if (signal?.aborted) return false;

    const earlier = this.previous;
    earlier.catch(() => {});
    const run = write(() => earlier).catch((err: unknown) => {
      if (!(err instanceof EarlierBatchFailed)) this.failure ??= { error: err };
      throw err;
    });
    // done = this batch and all before it; a batch never counts as finished before an earlier one
    const done = Promise.all([earlier, run]).then(
      () => undefined,
      () => {
        throw new EarlierBatchFailed();
      },
    );
    this.previous = done;
    const entry: InFlight = {
      keys,
      settled: done.then(
        () => undefined,
        () => undefined,
      ),
    };
    this.inFlight.add(entry);
    void entry.settled.then(() => this.inFlight.delete(entry));
    return true;
  }

  /** Waits for every submitted batch; throws the first real error of a failed one. */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight].map((f) => f.settled));
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
