/**
 * What the statement-level benchmarks (bench:filter-source, bench:round-trips) share: a database that
 * `npm run bench:search -- --load-only --keep` left, opened by its name on DATABASE_URL's server, with the search
 * service over it and query vectors taken from its own rows (a repeatable sample; each search's nearest
 * neighbour is itself, which changes nothing in what is timed).
 */
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/db/index.js';
import { SearchService } from '../src/search/service.js';

export interface KeptDatabase {
  db: Database;
  url: URL;
  svc: SearchService;
  vectors: number[][];
}

export async function openKeptDatabase(
  name: string | undefined,
  usage: string,
  queries: number,
  poolSize: number,
): Promise<KeptDatabase> {
  if (!name) throw new Error(`usage: ${usage}`);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = '/' + name;
  const config = loadConfig({ ...process.env, DATABASE_URL: url.toString() } as NodeJS.ProcessEnv);
  const db = await openDatabase({
    databaseUrl: url.toString(),
    dataDir: '/nonexistent',
    dbPoolSize: poolSize,
    dbStatementTimeoutMs: 0,
  });
  const rows = await db.sql.query<{ v: string }>(
    `SELECT embedding::text AS v FROM embedding_768 ORDER BY image_id LIMIT ${Math.trunc(queries)}`,
  );
  return {
    db,
    url,
    svc: new SearchService(db.sql, config, null),
    vectors: rows.map((r) => JSON.parse(r.v) as number[]),
  };
}
