/**
 * Writes the SQL of every statement shape for review (`npm run sql:shapes`): the search room's to
 * src/search/queries/*.sql, the catalog store's to src/catalog/store/queries/*.sql, analytics' to
 * src/analytics/queries/*.sql. test/unit/search-sql.test.ts
 * and test/unit/catalog-sql.test.ts fail when these files are stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderAnalyticsQueries } from '../src/analytics/shapes.js';
import { renderCatalogQueries } from '../src/catalog/store/shapes.js';
import { renderSearchQueries } from '../src/search/dump.js';

function write(relative: string, files: Record<string, string>): void {
  const dir = fileURLToPath(new URL(`../${relative}`, import.meta.url));
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.sql') && !(f in files)) fs.rmSync(path.join(dir, f));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  console.log(`wrote ${Object.keys(files).length} files to ${relative}`);
}

write('src/search/queries', renderSearchQueries());
write('src/catalog/store/queries', await renderCatalogQueries());
write('src/analytics/queries', await renderAnalyticsQueries());
