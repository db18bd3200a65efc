/**
 * The search benchmark end to end at a tiny size (npm run bench:search): generator → catalog import code path →
 * index build → the service per selectivity (HNSW, then IVFFlat) → the real server over HTTP beside the service and
 * the search statement (simple and compound filters, pages 1–3 by cursor, a cached text query, 1 vs 2 clients) →
 * KEYWORD/HYBRID/facets → index options.
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
        { env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL }, maxBuffer: 64 << 20, timeout: 420_000 },
      );
      const result = JSON.parse(stdout) as {
        load: { method: string };
        service: ServiceRow[];
        serviceIvfflat: { rows: ServiceRow[] };
        textAndFacets: { mode: string; matching?: string; rowsReturned: number }[];
        indexOptions: { recallAt10: number }[];
        http: {
          rows: (Record<string, unknown> & { filter: string; strategy: string; recallAt10: number })[];
          cachedText: { recallAt10: number; overheadP50: number };
          throughput: { clients: number; qps: number }[];
        };
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
      // the storefront's view: every filter over HTTP, pages 1–3 full and distinct, exact where exact
      expect(result.http.rows.map((r) => r.filter)).toEqual([
        'none',
        '50%',
        '10%',
        '1%',
        '0.1%',
        '0.01%',
        '5 brands + price ≤ 250',
        'category c3/* + in stock + tag 50%',
      ]);
      for (const r of result.http.rows) {
        expect(r.fullDistinctPages).toBe('5/5');
        if (/^exact×\d+$/.test(r.strategy)) expect([r.recallAt10, r.recallPages1to3]).toEqual([1, 1]);
        expect(r.recallPages1to3).toBeGreaterThan(0.8);
        for (const layer of ['sql', 'service', 'http'] as const)
          expect((r[layer] as { p50: number }).p50).toBeGreaterThan(0);
        expect(typeof r.overheadP50).toBe('number');
      }
      expect(result.http.cachedText.recallAt10).toBeGreaterThan(0.8);
      expect(result.http.throughput.map((t) => t.clients)).toEqual([1, 2]);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('-3000.json'))).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 480_000);
});
