/**
 * The SQL of every analytics statement, for review (`npm run sql:shapes` writes src/analytics/queries/*.sql;
 * test/unit/catalog-sql.test.ts fails when they are stale), recorded by src/db/sql-shapes.ts.
 */
import { renderShapes, type Shapes } from '../db/sql-shapes.js';
import * as store from './store.js';

const SEARCH = '2d9e6f4a-1c3b-4e5f-8a7b-9c0d1e2f3a4b';
const PRODUCT = '6f1c1a52-3b8e-4c1e-9a57-0f2f4b7a9d10';
const AT = new Date('2026-12-01T12:00:00.000Z');

const SHAPES: Shapes = {
  'events-insert': (sql) =>
    store.insertSearchEvents(sql, [
      {
        id: SEARCH,
        at: AT,
        query: 'red dress',
        mode: 'SEMANTIC',
        kinds: ['text'],
        filters: { category: 'women' },
        resultCount: 20,
        latencyMs: 12.5,
      },
    ]),
  'clicks-insert': (sql) => store.insertClicks(sql, [{ searchId: SEARCH, productId: PRODUCT, position: 3, at: AT }]),
  'events-purge': (sql) => store.purgeSearchEvents(sql, 90),
  'report-totals': (sql) => store.analyticsTotals(sql, AT),
  'report-top-queries': (sql) => store.topQueries(sql, { since: AT, limit: 20 }),
  'report-zero-result-queries': (sql) => store.topQueries(sql, { since: AT, limit: 20, zeroResults: true }),
};

/** file name → contents */
export function renderAnalyticsQueries(): Promise<Record<string, string>> {
  return renderShapes(SHAPES, 'src/analytics/store.ts (src/analytics/shapes.ts)');
}
