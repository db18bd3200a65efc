/**
 * Search analytics: every storefront search is recorded (query text, mode, what the query was made of, filters,
 * result count, latency — no API key, no address, nothing personal) and shoppers' clicks on results come in
 * through `recordClick`. Recording stays off the request path: events wait in a bounded buffer and are written
 * set-based once a second (./store.ts); a full buffer drops the oldest rather than hold memory. Admins read
 * top queries, zero-result queries and click-through (`searchAnalytics`). Rows older than
 * GLIMPSE_ANALYTICS_RETENTION_DAYS are purged at start and hourly; 0 days turns recording off.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { Sql } from '../db/sql.js';
import { badInput } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SearchRequest, SearchResult } from '../search/types.js';
import {
  analyticsTotals,
  insertClicks,
  insertSearchEvents,
  purgeSearchEvents,
  topQueries,
  type ClickRow,
  type QueryStats,
  type SearchEventRow,
} from './store.js';

/** Events (and clicks) held for the next write at most; older ones are dropped first when it is full. */
export const MAX_PENDING = 10_000;
const FLUSH_INTERVAL_MS = 1000;
const PURGE_INTERVAL_MS = 3_600_000;
/** the longest report window and list */
export const MAX_REPORT_DAYS = 366;
export const MAX_REPORT_ROWS = 100;
/** query text kept per event (the API allows 1,000 characters per text field) */
const MAX_QUERY_CHARS = 2000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type SearchEvent = Omit<SearchEventRow, 'id' | 'at'>;

/** A query in the report, with its click-through (its searches with a click ÷ its searches). */
export type QueryReport = QueryStats & { clickThroughRate: number };

/**
 * What is recorded of a search: its text (the negative text as `-words`), mode, what the query was made of, the
 * filters, the first page's result count (the match count when the total was counted) and the latency.
 */
export function searchEvent(req: SearchRequest, result: SearchResult, latencyMs: number): SearchEvent {
  const kinds: string[] = [];
  if (req.text) kinds.push('text');
  if (req.image) kinds.push('image');
  if (req.vector) kinds.push('vector');
  if (req.productId || req.imageId) kinds.push('product');
  return {
    query: [req.text, req.negativeText && `-${req.negativeText}`].filter(Boolean).join(' ') || null,
    mode: req.mode ?? 'SEMANTIC',
    kinds,
    filters: req.filter ?? {},
    resultCount: result.totalCount ?? result.hits.length,
    latencyMs,
  };
}

export interface AnalyticsReport {
  since: Date;
  searches: number;
  zeroResultSearches: number;
  clicks: number;
  /** searches with a click ÷ searches (null without searches) */
  clickThroughRate: number | null;
  topQueries: QueryReport[];
  zeroResultQueries: QueryReport[];
}

export class AnalyticsService {
  private events: SearchEventRow[] = [];
  private clicks: ClickRow[] = [];
  private dropped = 0;
  private flushing: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private purging: Promise<void> = Promise.resolve();

  constructor(
    private readonly sql: Sql,
    private readonly config: Pick<Config, 'analyticsRetentionDays'>,
    private readonly log?: Logger,
  ) {}

  get enabled(): boolean {
    return this.config.analyticsRetentionDays > 0;
  }

  /** Starts the periodic write and purge (timers do not keep the process alive). */
  start(): this {
    if (!this.enabled || this.timers.length) return this;
    const flush = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    const purge = setInterval(() => void this.purge(), PURGE_INTERVAL_MS);
    for (const t of [flush, purge]) t.unref();
    this.timers.push(flush, purge);
    void this.purge();
    return this;
  }

  /** Records a search; returns its id (for recordClick), or null when analytics are off. */
  recordSearch(event: SearchEvent): string | null {
    if (!this.enabled) return null;
    const id = randomUUID();
    const query = event.query ? event.query.slice(0, MAX_QUERY_CHARS) : null;
    this.push(this.events, { ...event, query, id, at: new Date() });
    return id;
  }

  /** A shopper clicked the result at `position` (1-based) of search `searchId`; BAD_USER_INPUT for bad ids. */
  recordClick(click: { searchId: string; productId: string; position: number }): void {
    const field = !UUID_RE.test(String(click.searchId))
      ? 'searchId'
      : !UUID_RE.test(String(click.productId))
        ? 'productId'
        : null;
    if (field) throw badInput(`${field}: not a valid id`, { field });
    if (!Number.isInteger(click.position) || click.position < 1 || click.position > 10_000)
      throw badInput('position: must be an integer from 1 to 10000', { field: 'position', min: 1, max: 10_000 });
    if (!this.enabled) return;
    this.push(this.clicks, { ...click, at: new Date() });
  }

  private push<T>(buffer: T[], item: T): void {
    if (buffer.length >= MAX_PENDING) {
      buffer.shift();
      this.dropped++;
    }
    buffer.push(item);
  }

  /** Writes what is buffered: events first, so that the clicks find their search. Never throws. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const events = this.events;
      const clicks = this.clicks;
      if (!events.length && !clicks.length) return;
      this.events = [];
      this.clicks = [];
      try {
        await insertSearchEvents(this.sql, events);
        await insertClicks(this.sql, clicks);
      } catch (err) {
        // the database is away: keep them for the next write (the buffer's bound still holds)
        this.events = [...events, ...this.events].slice(-MAX_PENDING);
        this.clicks = [...clicks, ...this.clicks].slice(-MAX_PENDING);
        this.log?.warn({ err, pending: this.events.length }, 'search analytics: write failed, will retry');
      }
      if (this.dropped) {
        this.log?.warn({ dropped: this.dropped }, 'search analytics: buffer full, oldest events dropped');
        this.dropped = 0;
      }
    });
    return this.flushing;
  }

  private purge(): Promise<void> {
    this.purging = this.purging.then(async () => {
      try {
        const n = await purgeSearchEvents(this.sql, this.config.analyticsRetentionDays);
        if (n) this.log?.info({ removed: n }, 'search analytics: old events purged');
      } catch (err) {
        this.log?.warn({ err }, 'search analytics: purge failed');
      }
    });
    return this.purging;
  }

  /** Top queries, zero-result queries and click-through over the last `days` days (what is written so far). */
  async report(opts: { days?: number | null; first?: number | null } = {}): Promise<AnalyticsReport> {
    const days = opts.days ?? 7;
    const first = opts.first ?? 20;
    if (!Number.isInteger(days) || days < 1 || days > MAX_REPORT_DAYS)
      throw badInput(`days: must be an integer from 1 to ${MAX_REPORT_DAYS}`, {
        field: 'days',
        min: 1,
        max: MAX_REPORT_DAYS,
      });
    if (!Number.isInteger(first) || first < 1 || first > MAX_REPORT_ROWS)
      throw badInput(`first: must be an integer from 1 to ${MAX_REPORT_ROWS}`, {
        field: 'first',
        min: 1,
        max: MAX_REPORT_ROWS,
      });
    await this.flush();
    const since = new Date(Date.now() - days * 86_400_000);
    const [totals, top, zero] = await Promise.all([
      analyticsTotals(this.sql, since),
      topQueries(this.sql, { since, limit: first }),
      topQueries(this.sql, { since, limit: first, zeroResults: true }),
    ]);
    const withRate = (q: QueryStats): QueryReport => ({
      ...q,
      clickThroughRate: q.searches ? q.clickedSearches / q.searches : 0,
    });
    return {
      since,
      searches: totals.searches,
      zeroResultSearches: totals.zeroResultSearches,
      clicks: totals.clicks,
      clickThroughRate: totals.searches ? totals.clickedSearches / totals.searches : null,
      topQueries: top.map(withRate),
      zeroResultQueries: zero.map(withRate),
    };
  }

  /** Stops the timers and writes what is left. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.purging;
    await this.flush();
  }
}
