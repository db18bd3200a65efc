/**
 * What a vector-index search's settings cost in round trips (`npm run bench:round-trips -- <database> [queries]`),
 * on a database kept by `npm run bench:search -- --load-only --keep`. The service sends the settings and the
 * statement in one message of the simple protocol (src/db/postgres.ts, parameters written in as literals); the
 * alternative is three round trips on one connection: BEGIN with the settings, the statement with bound
 * parameters, COMMIT. Both run the same statements, interleaved query by query: the index-path search statement
 * per filter, and `SELECT 1` after the same settings (the round trips alone). One connection each. JSON to stdout
 * and bench/results/round-trips-<date and time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { withLiterals } from '../src/db/postgres.js';
import type { BuiltQuery } from '../src/search/sql.js';
import { openKeptDatabase } from './kept-database.js';

const Q = Number(process.argv[3] ?? 100);
const {
  db,
  url,
  svc,
  vectors: vecs,
} = await openKeptDatabase(process.argv[2], 'npm run bench:round-trips -- <kept bench database> [queries]', Q, 1);
// the same session defaults as the service's pool (src/db/postgres.ts)
const threeTrips = new pg.Client({
  connectionString: url.toString(),
  options: '-c jit=off -c max_parallel_workers_per_gather=0',
});
await threeTrips.connect();

const filters: Record<string, unknown> = {
  none: null,
  '50%': { tagsAll: ['s50'] },
  '10%': { tagsAll: ['s10'] },
  '5 brands + price ≤ 250': {
    brands: ['brand0', 'brand1', 'brand2', 'brand3', 'brand4'],
    price: { min: null, max: '250', currency: 'USD' },
  },
};
const SELECT_1: Pick<BuiltQuery, 'text' | 'params'> = { text: 'SELECT $1::int AS one', params: [1] };

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}
type Settings = NonNullable<BuiltQuery['settings']>;
const oneMessage = (settings: Settings, q: Pick<BuiltQuery, 'text' | 'params'>) =>
  timed(() => db.sql.query(q.text, q.params, { settings }));
const threeRoundTrips = (settings: Settings, q: Pick<BuiltQuery, 'text' | 'params'>) =>
  timed(async () => {
    await threeTrips.query(`BEGIN; ${withLiterals(settings.text, settings.params)}`);
    await threeTrips.query(q.text, q.params as unknown[]);
    await threeTrips.query('COMMIT');
  });

const pct = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]!;
const stat = (a: number[]) => ({ p50: +pct(a, 0.5).toFixed(3), p95: +pct(a, 0.95).toFixed(3) });
const rows: Record<string, unknown>[] = [];
for (const [name, filter] of Object.entries(filters)) {
  const search = { one: [] as number[], three: [] as number[] };
  const alone = { one: [] as number[], three: [] as number[] };
  for (let i = 0; i < Q; i++) {
    const { query, plan } = await svc.explain({ vector: vecs[i]!, filter: filter as never, first: 10 });
    if (!query.settings)
      throw new Error(`${name}: strategy ${plan.strategy} has no settings (an index path is needed)`);
    const settings = query.settings;
    const pairs: [number[], () => Promise<number>][] = [
      [search.one, () => oneMessage(settings, query)],
      [search.three, () => threeRoundTrips(settings, query)],
      [alone.one, () => oneMessage(settings, SELECT_1)],
      [alone.three, () => threeRoundTrips(settings, SELECT_1)],
    ];
    // each form first as often as the other
    for (const [times, run] of i % 2 ? pairs : [pairs[1]!, pairs[0]!, pairs[3]!, pairs[2]!]) times.push(await run());
  }
  const row = {
    filter: name,
    search: { oneMessage: stat(search.one), threeRoundTrips: stat(search.three) },
    select1AfterSettings: { oneMessage: stat(alone.one), threeRoundTrips: stat(alone.three) },
    savedP50Ms: +(pct(search.three, 0.5) - pct(search.one, 0.5)).toFixed(3),
    savedP50MsSelect1: +(pct(alone.three, 0.5) - pct(alone.one, 0.5)).toFixed(3),
  };
  console.log(JSON.stringify(row));
  rows.push(row);
}
await threeTrips.end();
await db.close();
const result = {
  command: `npm run bench:round-trips -- ${process.argv.slice(2).join(' ')}`,
  date: new Date().toISOString(),
  load: os.loadavg(),
  rows,
};
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const file = path.join(dir, `round-trips-${result.date.slice(0, 16).replace(/:/g, '')}.json`);
fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
console.error(`wrote ${path.relative(process.cwd(), file)}`);
