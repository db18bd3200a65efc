import { describe, expect, it } from 'vitest';
import { Batcher } from '../../../src/embedding/batcher.js';
import { LruCache, normaliseQueryText } from '../../../src/embedding/cache.js';

describe('Batcher', () => {
  it('coalesces concurrent pushes, caps the batch size and keeps order', async () => {
    const runs: number[][] = [];
    const b = new Batcher<number, number>({
      maxBatchSize: 4,
      maxWaitMs: 5,
      run: async (xs) => (runs.push(xs), xs.map((x) => x * 10)),
    });
    const out = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => b.push(x)));
    expect(out).toEqual([10, 20, 30, 40, 50, 60]);
    expect(runs).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
  });

  it('waits for capacity before running a partial batch, accumulating meanwhile', async () => {
    let free = false;
    const runs: number[][] = [];
    const b = new Batcher<number, number>({
      maxBatchSize: 8,
      maxWaitMs: 1,
      canRun: () => free,
      run: async (xs) => (runs.push(xs), xs),
    });
    const p = [b.push(1), b.push(2)];
    await new Promise((r) => setTimeout(r, 20));
    p.push(b.push(3));
    expect(runs).toEqual([]);
    free = true;
    b.drain();
    await Promise.all(p);
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it('rejects every item of a failed batch', async () => {
    const b = new Batcher<number, number>({
      maxBatchSize: 2,
      maxWaitMs: 0,
      run: async () => {
        throw new Error('boom');
      },
    });
    await expect(Promise.all([b.push(1), b.push(2)])).rejects.toThrow('boom');
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry', () => {
    const c = new LruCache<number>(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1);
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.hits).toBe(3);
    expect(c.misses).toBe(1);
  });
  it('normalises query text', () => {
    expect(normaliseQueryText('  Red   DRESS \n')).toBe('red dress');
  });
});
