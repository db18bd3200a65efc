import { describe, expect, it } from 'vitest';
import { compareVersions, PGVECTOR_MIN_RECOMMENDED, pgvectorWarning } from '../../src/db/pgvector-version.js';

describe('pgvector version check', () => {
  it('compares dotted versions numerically', () => {
    expect(compareVersions('0.8.10', '0.8.3')).toBe(1);
    expect(compareVersions('0.8.0', '0.8.3')).toBe(-1);
    expect(compareVersions('0.8.3', '0.8.3')).toBe(0);
    expect(compareVersions('0.9', '0.8.7')).toBe(1);
    expect(compareVersions('1.0.0', '0.8.7')).toBe(1);
  });

  it('warns below 0.8.3, naming the vacuum fix and the upgrade steps, and not from 0.8.3 on', () => {
    expect(PGVECTOR_MIN_RECOMMENDED).toBe('0.8.3');
    const w = pgvectorWarning('0.8.0')!;
    expect(w).toMatch(/pgvector 0\.8\.0 is older than 0\.8\.3/);
    expect(w).toMatch(/VACUUM .* corrupt an HNSW index/);
    expect(w).toMatch(/ALTER EXTENSION vector UPDATE.*REINDEX.*docs\/migrations\.md/);
    for (const v of ['0.8.3', '0.8.7', '0.9.0']) expect(pgvectorWarning(v)).toBeNull();
    expect(pgvectorWarning(null)).toMatch(/not installed/);
  });
});
