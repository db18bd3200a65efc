/**
 * OrderedWrites (src/catalog/import/ordered-writes.ts): batches written side by side commit in submit order,
 * never more than the limit at once, never two that share a key together, and the first failure stops the
 * rest (they roll back) and is the error drain() throws.
 */
import { describe, expect, it } from 'vitest';
import { EarlierBatchFailed, OrderedWrites } from '../../../src/catalog/import/ordered-writes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('OrderedWrites', () => {
  it('commits in submit order however fast each batch does its work, at most `limit` at once', async () => {
    const writes = new OrderedWrites(3);
    const committed: number[] = [];
    let active = 0;
    let maxActive = 0;
    for (let k = 0; k < 12; k++) {
      await writes.submit(new Set([`sku:${k}`]), async (turn) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(((12 - k) % 4) * 5); // later batches often finish their work first
        await turn();
        committed.push(k);
        active--;
      });
    }
    await writes.drain();
    expect(committed).toEqual(Array.from({ length: 12 }, (_, k) => k));
    expect(maxActive).toBe(3);
  });

  it('never runs two batches that share a key at the same time', async () => {
    const writes = new OrderedWrites(4);
    const running = new Set<string>();
    const overlaps: string[] = [];
    const keysOf = (k: number) => new Set([`sku:${k % 3}`, ...(k % 5 === 0 ? ['file:abc'] : [])]);
    for (let k = 0; k < 15; k++) {
      const keys = keysOf(k);
      await writes.submit(keys, async (turn) => {
        for (const key of keys) if (running.has(key)) overlaps.push(`${k}:${key}`);
        for (const key of keys) running.add(key);
        await sleep(2);
        await turn();
        for (const key of keys) running.delete(key);
      });
    }
    await writes.drain();
    expect(overlaps).toEqual([]);
  });

  it('a failed batch stops the later ones before they commit; drain and submit throw its error', async () => {
    const writes = new OrderedWrites(4);
    const committed: number[] = [];
    const turnErrors: unknown[] = [];
    for (let k = 0; k < 4; k++) {
      await writes.submit(new Set([`sku:${k}`]), async (turn) => {
        await sleep(k === 1 ? 10 : 1);
        if (k === 1) throw new Error('disk on fire');
        try {
          await turn();
        } catch (err) {
          turnErrors.push(err);
          throw err;
        }
        committed.push(k);
      });
    }
    await expect(writes.drain()).rejects.toThrow('disk on fire');
    expect(committed).toEqual([0]);
    expect(turnErrors).toHaveLength(2);
    expect(turnErrors.every((e) => e instanceof EarlierBatchFailed)).toBe(true);
    await expect(writes.submit(new Set(['sku:9']), async () => {})).rejects.toThrow('disk on fire');
  });

  it('after the signal is aborted, a batch waiting for a writer is not started', async () => {
    const writes = new OrderedWrites(1);
    const abort = new AbortController();
    const started: number[] = [];
    expect(
      await writes.submit(new Set(['sku:0']), async (turn) => {
        started.push(0);
        await sleep(5);
        abort.abort();
        await turn();
      }),
    ).toBe(true);
    expect(await writes.submit(new Set(['sku:1']), async () => void started.push(1), abort.signal)).toBe(false);
    await writes.drain();
    expect(started).toEqual([0]);
  });
});
