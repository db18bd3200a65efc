/**
 * Writes the SQL of every search query shape to src/search/queries/*.sql (`npm run search:sql`), so that
 * reviewers read the SQL. test/unit/search-sql.test.ts fails when these files are stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSearchQueries } from '../src/search/dump.js';

const dir = fileURLToPath(new URL('../src/search/queries', import.meta.url));
fs.mkdirSync(dir, { recursive: true });
const files = renderSearchQueries();
for (const f of fs.readdirSync(dir)) if (f.endsWith('.sql') && !(f in files)) fs.rmSync(path.join(dir, f));
for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
console.log(`wrote ${Object.keys(files).length} files to ${path.relative(process.cwd(), dir)}`);
