/**
 * The analytics tables (search_event, search_click) and every statement on them: set-based writes of buffered
 * events and clicks, the retention purge, and the reports (top queries, zero-result queries, click-through).
 */
import type { Sql } from '../db/sql.js';

export interface SearchEventRow {
  id: string;
  at: Date;
  query: string | null;
  mode: string;
  kinds: string[];
  filters: object;
  resultCount: number;
  latencyMs: number;
}

export interface ClickRow {
  searchId: string;
  productId: string;
  position: number;
  at: Date;
}

/** Writes events in one statement (an id seen before is skipped: a retried flush writes nothing twice). */
export async function insertSearchEvents(sql: Sql, events: readonly SearchEventRow[]): Promise<void> {
  if (!events.length) return;
  const col = <T>(f: (e: SearchEventRow) => T) => events.map(f);
  await sql.query(
    `INSERT INTO search_event (id, at, query, mode, kinds, filters, result_count, latency_ms)
     SELECT e.id, e.at, e.query, e.mode, string_to_array(e.kinds, ','), e.filters::jsonb, e.result_count, e.latency_ms
     FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::float8[])
       AS e(id, at, query, mode, kinds, filters, result_count, latency_ms)
     ON CONFLICT (id) DO NOTHING`,
    [
      col((e) => e.id),
      col((e) => e.at.toISOString()),
      col((e) => e.query),
      col((e) => e.mode),
      col((e) => e.kinds.join(',')),
      col((e) => JSON.stringify(e.filters)),
      col((e) => e.resultCount),
      col((e) => e.latencyMs),
    ],
  );
}

/** Writes clicks in one statement; a click on a search that is not (or no longer) recorded is dropped. */
export async function insertClicks(sql: Sql, clicks: readonly ClickRow[]): Promise<void> {
  if (!clicks.length) return;
  await sql.query(
    `INSERT INTO search_click (search_id, product_id, position, at)
     SELECT c.search_id, c.product_id, c.position, c.at
     FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[]) AS c(search_id, product_id, position, at)
     WHERE EXISTS (SELECT 1 FROM search_event e WHERE e.id = c.search_id)`,
    [
      clicks.map((c) => c.searchId),
      clicks.map((c) => c.productId),
      clicks.map((c) => c.position),
      clicks.map((c) => c.at.toISOString()),
    ],
  );
}

/** Deletes events (and their clicks) older than `days`; returns how many events. */
export async function purgeSearchEvents(sql: Sql, days: number): Promise<number> {
  const rows = await sql.query(`DELETE FROM search_event WHERE at < now() - make_interval(days => $1) RETURNING id`, [
    days,
  ]);
  return rows.length;
}

export interface AnalyticsTotals {
  searches: number;
  zeroResultSearches: number;
  /** searches with at least one click */
  clickedSearches: number;
  clicks: number;
}

export async function analyticsTotals(sql: Sql, since: Date): Promise<AnalyticsTotals> {
  const [row] = await sql.query<AnalyticsTotals>(
    `SELECT count(*)::int AS searches,
            count(*) FILTER (WHERE e.result_count = 0)::int AS "zeroResultSearches",
            count(*) FILTER (WHERE EXISTS (SELECT 1 FROM search_click c WHERE c.search_id = e.id))::int AS "clickedSearches",
            (SELECT count(*)::int FROM search_click c JOIN search_event s ON s.id = c.search_id WHERE s.at >= $1) AS clicks
     FROM search_event e WHERE e.at >= $1`,
    [since.toISOString()],
  );
  return {
    searches: Number(row?.searches ?? 0),
    zeroResultSearches: Number(row?.zeroResultSearches ?? 0),
    clickedSearches: Number(row?.clickedSearches ?? 0),
    clicks: Number(row?.clicks ?? 0),
  };
}

export interface QueryStats {
  query: string;
  searches: number;
  /** mean result count */
  averageResults: number;
  /** searches of this query with at least one click */
  clickedSearches: number;
}

/**
 * Text queries since `since`, most searched first (case and spacing folded: "Red  Dress" and "red dress" are
 * one query); `zeroResults`: only searches that found nothing.
 */
export async function topQueries(
  sql: Sql,
  opts: { since: Date; limit: number; zeroResults?: boolean },
): Promise<QueryStats[]> {
  const rows = await sql.query<QueryStats>(
    `SELECT lower(regexp_replace(e.query, '\\s+', ' ', 'g')) AS query,
            count(*)::int AS searches,
            avg(e.result_count)::float8 AS "averageResults",
            count(*) FILTER (WHERE EXISTS (SELECT 1 FROM search_click c WHERE c.search_id = e.id))::int AS "clickedSearches"
     FROM search_event e
     WHERE e.at >= $1 AND e.query IS NOT NULL${opts.zeroResults ? ' AND e.result_count = 0' : ''}
     GROUP BY 1
     ORDER BY searches DESC, query
     LIMIT $2`,
    [opts.since.toISOString(), opts.limit],
  );
  return rows.map((r) => ({
    query: r.query,
    searches: Number(r.searches),
    averageResults: Number(r.averageResults),
    clickedSearches: Number(r.clickedSearches),
  }));
}
