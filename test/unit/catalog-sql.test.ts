/**
 * The catalog store's committed SQL (src/catalog/store/queries/*.sql) is what the store sends: regenerated from
 * the store functions and compared, so a change of a statement shows in review.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderAnalyticsQueries } from '../../src/analytics/shapes.js';
import { renderCatalogQueries } from '../../src/catalog/store/shapes.js';

const QUERIES_DIR = fileURLToPath(new URL('../../src/catalog/store/queries', import.meta.url));

describe('catalog store SQL', () => {
  it('committed src/catalog/store/queries/*.sql are current (run `npm run sql:shapes`)', async () => {
    const want = await renderCatalogQueries();
    const have = fs.readdirSync(QUERIES_DIR).filter((f) => f.endsWith('.sql'));
    expect(have.sort()).toEqual(Object.keys(want).sort());
    for (const [name, text] of Object.entries(want))
      expect(fs.readFileSync(path.join(QUERIES_DIR, name), 'utf8'), name).toBe(text);
  });

  it('committed src/analytics/queries/*.sql are current (run `npm run sql:shapes`)', async () => {
    const dir = fileURLToPath(new URL('../../src/analytics/queries', import.meta.url));
    const want = await renderAnalyticsQueries();
    expect(
      fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.sql'))
        .sort(),
    ).toEqual(Object.keys(want).sort());
    for (const [name, text] of Object.entries(want))
      expect(fs.readFileSync(path.join(dir, name), 'utf8'), name).toBe(text);
  });

  it('every shape sends at least one statement, each with its parameters numbered from $1', async () => {
    for (const [name, text] of Object.entries(await renderCatalogQueries())) {
      expect(text, name).toMatch(/\b(SELECT|INSERT|UPDATE|DELETE|ANALYZE)\b/);
      expect(text, name).not.toContain('undefined');
    }
  });
});
