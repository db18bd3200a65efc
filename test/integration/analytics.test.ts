/**
 * Search analytics through the real API on PostgreSQL and PGlite: a storefront search gets an id (page 1 only),
 * its query, result count and latency are recorded off the request path, `recordClick` (public) adds clicks,
 * and an admin reads top queries, zero-result queries and click-through. Nothing personal is stored; with
 * GLIMPSE_ANALYTICS_RETENTION_DAYS=0 nothing at all; rows past the retention are purged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyticsService } from '../../src/analytics/service.js';
import { DB_KINDS } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Conn = { edges: { node: { id: string } }[]; pageInfo: { endCursor: string | null }; searchId: string | null };
const SEARCH = `query($input: SearchInput!, $first: Int, $after: String) {
  search(input: $input, first: $first, after: $after) { edges { node { id } } pageInfo { endCursor } searchId } }`;
const REPORT = `query($days: Int, $first: Int) { searchAnalytics(days: $days, first: $first) {
  since searches zeroResultSearches clicks clickThroughRate
  topQueries { query searches averageResults clickThroughRate } zeroResultQueries { query searches } } }`;
const CLICK = `mutation($s: ID!, $p: ID!, $n: Int!) { recordClick(searchId: $s, productId: $p, position: $n) }`;
const codes = (r: { body: { errors?: { extensions?: { code?: string } }[] } }) =>
  (r.body.errors ?? []).map((e) => e.extensions?.code);

describe.each(DB_KINDS)('search analytics on %s', (kind) => {
  let srv: TestServer;
  let off: TestServer;
  let admin: string;
  let reader: string;

  beforeAll(async () => {
    [srv, off] = await Promise.all([
      startTestServer({ db: kind, config: { rateLimitPerMinute: 0 } }),
      startTestServer({ db: kind, models: 'none', config: { rateLimitPerMinute: 0, analyticsRetentionDays: 0 } }),
    ]);
    admin = await srv.createKey('admin');
    reader = await srv.createKey('read');
    const res = await srv.gql(
      `mutation ($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created } }`,
      {
        inputs: Array.from({ length: 6 }, (_, i) => ({ sku: `A-${i}`, title: `Red summer dress ${i}` })),
      },
      { key: admin },
    );
    expect(res.body.errors).toBeUndefined();
  }, 300_000);
  afterAll(async () => {
    await Promise.all([srv?.close(), off?.close()]);
  });

  it('records searches, clicks and zero-result queries; an admin reads them back', async () => {
    const keyword = (text: string, first = 2, after?: string) =>
      srv.gql<{ search: Conn }>(SEARCH, { input: { text, mode: 'KEYWORD' }, first, after });
    const page1 = await keyword('Red  Dress');
    expect(page1.body.errors).toBeUndefined();
    const { searchId, edges, pageInfo } = page1.body.data!.search;
    expect(searchId).toMatch(/^[0-9a-f-]{36}$/);
    // page 2 belongs to the same search: no new id, not counted again
    const page2 = await keyword('Red  Dress', 2, pageInfo.endCursor!);
    expect(page2.body.data!.search.searchId).toBeNull();
    await keyword('red dress', 20);
    const nothing = await keyword('xyzzy');
    expect(nothing.body.data!.search.edges).toEqual([]);
    // a shopper clicks the second result of page 1, anonymously
    const click = await srv.gql(CLICK, { s: searchId, p: edges[1]!.node.id, n: 2 });
    expect(click.body).toEqual({ data: { recordClick: true } });

    const report = await srv.gql<{
      searchAnalytics: {
        searches: number;
        zeroResultSearches: number;
        clicks: number;
        clickThroughRate: number;
        topQueries: { query: string; searches: number; averageResults: number; clickThroughRate: number }[];
        zeroResultQueries: { query: string; searches: number }[];
      };
    }>(REPORT, { days: 1 }, { key: admin });
    expect(report.body.errors).toBeUndefined();
    const a = report.body.data!.searchAnalytics;
    expect(a).toMatchObject({ searches: 3, zeroResultSearches: 1, clicks: 1 });
    expect(a.clickThroughRate).toBeCloseTo(1 / 3);
    // case and spacing folded: one query, searched twice (first pages of 2 and 6 results: 4 on average), one of
    // the two searches clicked
    expect(a.topQueries[0]).toEqual({ query: 'red dress', searches: 2, averageResults: 4, clickThroughRate: 0.5 });
    expect(a.zeroResultQueries).toEqual([{ query: 'xyzzy', searches: 1 }]);
  });

  it('stores nothing personal: no key, no address, no user agent', async () => {
    const cols = await srv.db.sql.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_name IN ('search_event', 'search_click')`,
    );
    const names = cols.map((c) => c.column_name);
    for (const personal of ['key_id', 'api_key', 'ip', 'address', 'user_agent', 'user_id', 'session'])
      expect(names).not.toContain(personal);
  });

  it('typed errors: bad ids and positions, a read key on the report, bad report windows', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    expect(codes(await srv.gql(CLICK, { s: 'nope', p: id, n: 1 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await srv.gql(CLICK, { s: id, p: 'x', n: 1 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await srv.gql(CLICK, { s: id, p: id, n: 0 }))).toEqual(['BAD_USER_INPUT']);
    // a click on a search that is not recorded is accepted and dropped
    expect((await srv.gql(CLICK, { s: id, p: id, n: 1 })).body).toEqual({ data: { recordClick: true } });
    expect(codes(await srv.gql(REPORT, {}, { key: reader }))).toEqual(['FORBIDDEN']);
    expect(codes(await srv.gql(REPORT, {}))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await srv.gql(REPORT, { days: 0 }, { key: admin }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await srv.gql(REPORT, { first: 101 }, { key: admin }))).toEqual(['BAD_USER_INPUT']);
  });

  it('GLIMPSE_ANALYTICS_RETENTION_DAYS=0: no id, nothing recorded', async () => {
    const res = await off.gql<{ search: Conn }>(SEARCH, { input: { text: 'red', mode: 'KEYWORD' } });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.search.searchId).toBeNull();
    const key = await off.createKey('admin');
    const report = await off.gql<{ searchAnalytics: { searches: number } }>(REPORT, {}, { key });
    expect(report.body.data!.searchAnalytics.searches).toBe(0);
  });

  it('rows older than the retention are purged (with their clicks); newer ones stay', async () => {
    const service = new AnalyticsService(srv.db.sql, { analyticsRetentionDays: 30 });
    const id = service.recordSearch({
      query: 'old query',
      mode: 'KEYWORD',
      kinds: ['text'],
      filters: {},
      resultCount: 1,
      latencyMs: 1,
    })!;
    await service.flush();
    await srv.db.sql.query(`UPDATE search_event SET at = now() - interval '31 days' WHERE id = $1`, [id]);
    const before = await srv.db.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM search_event');
    service.start(); // purges at start
    await service.close();
    const left = await srv.db.sql.query<{ id: string }>('SELECT id::text FROM search_event');
    expect(left.map((r) => r.id)).not.toContain(id);
    expect(left.length).toBe(Number(before[0]!.n) - 1);
  });
});
