/**
 * Where a vector search reads its filter (`npm run bench:filter-source -- <database> [queries]`), on a database kept
 * by `npm run bench:search -- --load-only --keep` (its tags s50…s0.01, brands, prices, categories): per filter, the
 * service's statement (the filter read from the vector rows' copies, docs/search.md "Filter columns on the vector
 * rows") against the same statement with the filter read from `product` through a join (the shape before they
 * existed), on the same data, interleaved query by query so that a busy machine slows both alike. An exact scan of a
 * compound filter (which joins `product` itself) is also run with the matching product ids collected first
 * (`e.product_id = ANY(ARRAY(SELECT id FROM product WHERE …))`). Statement only, its settings round trip included. JSON to stdout and bench/results/filter-source-<date and time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { BuiltQuery } from '../src/search/sql.js';
import { openKeptDatabase } from './kept-database.js';
const Q = Number(process.argv[3] ?? 50);
const {
  db,
  svc,
  vectors: vecs,
} = await openKeptDatabase(process.argv[2], 'npm run bench:filter-source -- <kept bench database> [queries]', Q, 2);
const filters: Record<string, unknown> = {
  none: null,
  '50%': { tagsAll: ['s50'] },
  '10%': { tagsAll: ['s10'] },
  '1%': { tagsAll: ['s1'] },
  '0.1%': { tagsAll: ['s0.1'] },
  '0.01%': { tagsAll: ['s0.01'] },
  '5 brands + price ≤ 250': {
    brands: ['brand0', 'brand1', 'brand2', 'brand3', 'brand4'],
    price: { min: null, max: '250', currency: 'USD' },
  },
  'category c3/* + in stock + tag 50%': { category: 'c3', inStock: true, tagsAll: ['s50'] },
  'brand1 + in stock': { brands: ['brand1'], inStock: true },
};
/** the statement with its vector-row filter conditions read from a joined product instead */
function joined(q: BuiltQuery): BuiltQuery {
  const text = q.text
    .replace(
      /FROM embedding_768 e\n(\s+)WHERE/g,
      'FROM embedding_768 e\n$1JOIN product p ON p.id = e.product_id\n$1WHERE',
    )
    .replace(/\be\.(category|brand|currency|price|in_stock|tags)\b/g, 'p.$1')
    .replace(/\be\.product_created_at\b/g, 'p.created_at');
  return { ...q, text };
}
/** an exact compound statement's join replaced by the array of the matching product ids; null for other shapes */
function idArray(q: BuiltQuery): BuiltQuery | null {
  const join = /JOIN product p ON p\.id = e\.product_id\n(\s+)WHERE (e\.model_id = \$\d+)\n([\s\S]*?)\n(\s+)LIMIT/;
  const m = join.exec(q.text);
  if (!m || !q.text.startsWith('WITH scored AS')) return null;
  const [, indent, model, conds, limitIndent] = m as unknown as [string, string, string, string, string];
  const ids = `e.product_id = ANY(ARRAY(SELECT p.id FROM product p WHERE ${conds.trim().replace(/^AND /, '')}))`;
  return { ...q, text: q.text.replace(join, () => `WHERE ${model}\n${indent}AND ${ids}\n${limitIndent}LIMIT`) };
}
async function run(q: BuiltQuery): Promise<number> {
  const t0 = performance.now();
  await db.sql.query(q.text, q.params, { settings: q.settings });
  return performance.now() - t0;
}
const pct = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]!;
const out: Record<string, unknown>[] = [];
for (const [name, filter] of Object.entries(filters)) {
  const rowsTable: number[] = [];
  const rowsJoin: number[] = [];
  const rowsIds: number[] = [];
  let strategy = '';
  for (let i = 0; i < Q; i++) {
    const { query, plan } = await svc.explain({ vector: vecs[i]!, filter: filter as never, first: 10 });
    strategy = plan.strategy;
    const j = joined(query);
    const ids = idArray(query);
    // the forms in turn, each one first as often as the others
    const forms: [number[], BuiltQuery][] = [
      [rowsTable, query],
      [rowsJoin, j],
      ...(ids ? [[rowsIds, ids] as [number[], BuiltQuery]] : []),
    ];
    for (let k = 0; k < forms.length; k++) {
      const [times, statement] = forms[(i + k) % forms.length]!;
      times.push(await run(statement));
    }
  }
  const r = (a: number[]) => ({ p50: +pct(a, 0.5).toFixed(2), p95: +pct(a, 0.95).toFixed(2) });
  const row = {
    filter: name,
    strategy,
    joinProduct: r(rowsJoin),
    vectorRows: r(rowsTable),
    ratioP50: +(pct(rowsJoin, 0.5) / pct(rowsTable, 0.5)).toFixed(2),
    ...(rowsIds.length && {
      productIdArray: r(rowsIds),
      idArrayRatioP50: +(pct(rowsTable, 0.5) / pct(rowsIds, 0.5)).toFixed(2),
    }),
  };
  console.log(JSON.stringify(row));
  out.push(row);
}
await db.close();
const result = {
  command: `npm run bench:filter-source -- ${process.argv.slice(2).join(' ')}`,
  date: new Date().toISOString(),
  load: os.loadavg(),
  rows: out,
};
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const file = path.join(dir, `filter-source-${result.date.slice(0, 16).replace(/:/g, '')}.json`);
fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
console.error(`wrote ${path.relative(process.cwd(), file)}`);
