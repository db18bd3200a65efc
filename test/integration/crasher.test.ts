/**
 * The short crasher run (bench/crasher.ts): 40 s of concurrent admin writes and searches against the real
 * server with random SIGKILLs and one immediate PostgreSQL restart on a private cluster, then one clean
 * restart: zero lost acknowledged writes, rows ↔ vectors ↔ files consistent, zero orphan files, no INTERNAL.
 * The 10-minute run is `npm run bench:crasher` (docs/reliability.md).
 */
import { describe, expect, it } from 'vitest';
import { runCrasher } from '../../bench/crasher.js';

describe('crasher (short)', () => {
  it('SIGKILLs and a PostgreSQL crash lose nothing acknowledged and leave no orphan', async () => {
    const report = await runCrasher({
      seconds: 40,
      clients: 4,
      minKillMs: 4_000,
      maxKillMs: 8_000,
      minServerKills: 3,
      log: (line) => console.log(line),
    });
    console.log('[crasher]', JSON.stringify(report));
    // the chaos really happened, with writes acknowledged around it
    expect(report.serverKills).toBeGreaterThanOrEqual(3);
    expect(report.postgresRestarts).toBe(1);
    expect(report.acknowledged.products).toBeGreaterThan(10);
    expect(report.acknowledged.images).toBeGreaterThan(0);
    expect(report.checks).toEqual({
      lostProducts: 0,
      lostImages: 0,
      deletedButPresent: 0,
      rowsWithoutFile: 0,
      damagedFiles: 0,
      imagesWithoutVector: 0,
      vectorsWithoutImage: 0,
      imagesWithoutProduct: 0,
      badPositions: 0,
      orphanFiles: 0,
      tempFiles: 0,
      internalErrors: 0,
    });
    expect(report.pass).toBe(true);
  }, 240_000);
});
