/**
 * The search benchmark end to end at a tiny size (npm run bench:search): generator → catalog import code path →
 * index build → the service per selectivity (HNSW, then IVFFlat) → KEYWORD/HYBRID/facets → index options.
 * Keeps the benchmark working; its numbers at real sizes live in docs/performance.md.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from '../helpers/db.js';

const run = promisify(execFile);

interface ServiceRow {
  selectivity: string;
  matchingProducts: number;
  strategy: string;
  recallAt10: number;
  rowsReturned: number;
}

describe('bench:search', () => {
  it('runs through the import path and reports recall, latency and plans', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-bench-test-'));
    try {
      const { stdout } = await run(
        process.execPath,
        [
          '--import',
          'tsx',
          'bench/search.ts',
          '--products',
          '3000',
          '--queries',
          '5',
          '--clients',
          '2',
          '--options',
          'halfvec,ivfflat-service',
          '--results-dir',
          dir,
        ],
        { env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL }, maxBuffer: 64 << 20, timeout: 240_000 },
      );
      const result = JSON.parse(stdout) as {
        load: { method: string };
        service: ServiceRow[];
        serviceIvfflat: { rows: ServiceRow[] };
        textAndFacets: { mode: string; matching?: string; rowsReturned: number }[];
        indexOptions: { recallAt10: number }[];
      };
      expect(result.load.method).toMatch(/import code path/);
      for (const rows of [result.service, result.serviceIvfflat.rows]) {
        expect(rows.map((r) => r.selectivity)).toEqual(['none', '50%', '10%', '1%', '0.1%', '0.01%']);
        for (const r of rows) {
          // a full page whenever that many products match; exact scans are exact
          expect(r.rowsReturned).toBe(Math.min(10, r.matchingProducts));
          if (/^exact/.test(r.strategy)) expect(r.recallAt10).toBe(1);
          expect(r.recallAt10).toBeGreaterThan(0.8);
        }
      }
      expect(result.service[0]!.strategy).toMatch(/^hnsw-iterative/);
      expect(result.serviceIvfflat.rows[0]!.strategy).toMatch(/^ivfflat-iterative/);
      expect(result.textAndFacets.length).toBeGreaterThanOrEqual(9);
      for (const t of result.textAndFacets) {
        // a keyword query returns what matches (0.1% of 3,000 = 3); HYBRID and SEMANTIC fill the page
        const keywordMatches = t.matching ? (3000 * parseFloat(t.matching)) / 100 : Infinity;
        expect(t.rowsReturned).toBe(t.mode === 'KEYWORD' ? Math.min(10, keywordMatches) : 10);
      }
      expect(result.indexOptions.length).toBe(4);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('-3000.json'))).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
