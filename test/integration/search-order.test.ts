/**
 * `orderBy` and `boost` of search through the real API on PostgreSQL and PGlite, on every strategy (the HNSW
 * index for unfiltered vector searches, then IVFFlat, the exact scan for filtered ones, keyword): the relevant list is decided
 * first, then ordered by the key; paging with small pages gives exactly the list one large page gives (no
 * product repeated or skipped, ties on the key broken by id, products without a price last); the list is every
 * KEYWORD match and the top GLIMPSE_SEARCH_CANDIDATES (here 60) products by relevance for SEMANTIC / HYBRID;
 * boosts order by score + boosts; cursors of one ordering are refused by another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildIndex } from '../../src/catalog/store/vector-index.js';
import { DB_KINDS } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const N = 600;
const LIST = 60;

interface Hit {
  score: number;
  node: {
    id: string;
    inStock: boolean;
    createdAt: string;
    price: { amount: string } | null;
    attributes: { rating?: number };
  };
}
interface Page {
  edges: (Hit & { cursor: string })[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

const SEARCH = `query ($input: SearchInput!, $first: Int, $after: String, $orderBy: SearchOrder) {
  search(input: $input, first: $first, after: $after, orderBy: $orderBy) {
    totalCount
    edges { cursor score node { id inStock createdAt price { amount } attributes } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** product i: price null when i % 11 = 0 (else repeating values: ties), created in 50 distinct minutes (ties),
 *  in stock unless i % 3 = 0, rating i % 6; one image unless i % 10 = 9, its vector pseudo-random from i (a hash,
 *  the same on every run and engine: a random() catalog left the top 60 without a priceless product now and then) */
async function loadCatalog(srv: TestServer): Promise<void> {
  const sql = srv.db.sql;
  const model = srv.models.status().modelId!;
  await sql.query(
    `INSERT INTO product (id, sku, title, brand, category, price, currency, in_stock, attributes, created_at)
     SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'OR-' || i,
       (ARRAY['red', 'blue', 'green', 'navy'])[1 + i % 4] || ' ' || (ARRAY['dress', 'shirt', 'skirt', 'bag'])[1 + (i / 4) % 4],
       'Acme', 'women/dresses',
       CASE WHEN i % 11 = 0 THEN NULL ELSE (5 + (i * 37) % 40)::numeric + 0.5 END,
       CASE WHEN i % 11 = 0 THEN NULL ELSE 'EUR' END,
       i % 3 <> 0, jsonb_build_object('rating', i % 6), timestamptz '2026-01-01' + (i % 50) * interval '1 minute'
     FROM generate_series(0, $1::int - 1) i`,
    [N],
  );
  await sql.query(
    `INSERT INTO product_image (id, product_id, sha256, source, content_type, byte_size, width, height, position)
     SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0'))::uuid,
       ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, lpad(to_hex(i), 64, '0'), 'upload', 'image/png', 100, 10, 10, 0
     FROM generate_series(0, $1::int - 1) i WHERE i % 10 <> 9`,
    [N],
  );
  await sql.query(
    `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding)
     SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0'))::uuid, $2,
       ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       l2_normalize((SELECT array_agg(x - floor(x) - 0.5) FROM generate_series(1, 768) d,
         LATERAL (SELECT sin(i * 12.9898 + d * 78.233) * 43758.5453 AS x) h)::vector(768))::halfvec(768)
     FROM generate_series(0, $1::int - 1) i WHERE i % 10 <> 9`,
    [N, model],
  );
  await sql.query(`ANALYZE`);
}

const cents = (h: Hit) => (h.node.price ? Math.round(Number(h.node.price.amount) * 100) : null);
const millis = (h: Hit) => Date.parse(h.node.createdAt);

/** Whether consecutive hits are in the order's (key, id) order, NULL keys last. */
function inOrder(hits: Hit[], key: (h: Hit) => number | null, desc: boolean): boolean {
  for (let i = 1; i < hits.length; i++) {
    const a = key(hits[i - 1]!);
    const b = key(hits[i]!);
    const idUp = hits[i - 1]!.node.id < hits[i]!.node.id;
    if (a === null && b !== null) return false;
    if (a === null || b === null) {
      if (a === null && b === null && !idUp) return false;
      continue;
    }
    if (a === b ? !idUp : desc ? a < b : a > b) return false;
  }
  return true;
}

describe.each(DB_KINDS)('search orderBy and boost on %s', (kind) => {
  let srv: TestServer;

  const gql = async (vars: Record<string, unknown>) => {
    const res = await srv.gql<{ search: Page }>(SEARCH, vars);
    return { res, errors: res.body.errors, page: res.body.data?.search ?? null };
  };
  const page = async (vars: Record<string, unknown>) => {
    const r = await gql(vars);
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    return { page: r.page!, strategy: r.res.headers.get('server-timing') ?? '' };
  };
  /** every hit, in pages of `first` */
  const pageThrough = async (vars: Record<string, unknown>, first: number) => {
    const hits: Hit[] = [];
    let after: string | null = null;
    let total = -1;
    for (let guard = 0; guard < 200; guard++) {
      const { page: p } = await page({ ...vars, first, after });
      total = p.totalCount;
      hits.push(...p.edges);
      if (!p.pageInfo.hasNextPage) return { hits, total };
      after = p.pageInfo.endCursor;
    }
    throw new Error('paging did not end');
  };

  beforeAll(async () => {
    srv = await startTestServer({ db: kind, config: { rateLimitPerMinute: 0, searchCandidateWindow: LIST } });
    await loadCatalog(srv);
  }, 300_000);
  afterAll(async () => {
    await srv?.close();
  });

  const SEARCHES = [
    { name: 'SEMANTIC on the HNSW index', input: { text: 'red dress' }, strategy: 'hnsw-iterative' },
    { name: 'SEMANTIC, exact scan', input: { text: 'red dress', filter: { inStock: true } }, strategy: 'exact' },
    { name: 'HYBRID on the HNSW index', input: { text: 'red dress', mode: 'HYBRID' }, strategy: 'hnsw-iterative' },
    {
      name: 'HYBRID, exact scan',
      input: { text: 'red dress', mode: 'HYBRID', filter: { inStock: true } },
      strategy: 'exact',
    },
    { name: 'KEYWORD', input: { text: 'dress', mode: 'KEYWORD' }, strategy: 'keyword' },
    {
      name: 'KEYWORD, filtered',
      input: { text: 'dress', mode: 'KEYWORD', filter: { inStock: false } },
      strategy: 'keyword',
    },
  ];
  const ORDERS = [
    { orderBy: 'PRICE_ASC', key: cents, desc: false },
    { orderBy: 'PRICE_DESC', key: cents, desc: true },
    { orderBy: 'NEWEST', key: millis, desc: true },
  ];

  it.each(SEARCHES)(
    '$name: each order pages through one fixed, sorted list of the relevant products',
    async ({ input, strategy }) => {
      // the reference: the relevance order (all of it for KEYWORD, the top of the list's size for vector modes)
      const relevance =
        input.mode === 'KEYWORD'
          ? await pageThrough({ input }, 100)
          : { hits: (await page({ input, first: LIST })).page.edges };
      for (const o of ORDERS) {
        const vars = { input, orderBy: o.orderBy };
        const one = await page({ ...vars, first: 3 });
        expect(one.strategy, o.orderBy).toContain(`strategy;desc="${strategy}`);
        const whole = await pageThrough(vars, 100);
        const list = whole.hits;
        expect(list.length).toBeGreaterThan(10);
        expect(whole.total).toBe(list.length);
        expect(one.page.totalCount).toBe(list.length);
        expect(inOrder(list, o.key, o.desc), o.orderBy).toBe(true);
        if (o.orderBy !== 'NEWEST') expect(list.at(-1)!.node.price, 'no price: last').toBeNull();
        // small pages give exactly the same list: nothing repeated or skipped across 7-hit pages
        const paged = await pageThrough(vars, 7);
        expect(paged.hits.map((h) => h.node.id)).toEqual(list.map((h) => h.node.id));
        expect(paged.total).toBe(list.length);
        // the relevant list: every keyword match; the top LIST products by relevance for vector modes
        const ids = new Set(list.map((h) => h.node.id));
        if (input.mode === 'KEYWORD') {
          expect(ids).toEqual(new Set(relevance.hits.map((h) => h.node.id)));
          if (!('filter' in input)) expect(list.length).toBeGreaterThan(LIST);
        } else {
          expect(list.length).toBeLessThanOrEqual(LIST);
          const top = relevance.hits.slice(0, list.length).map((h) => h.node.id);
          const shared = top.filter((id) => ids.has(id)).length;
          // the exact scan ranks exactly; the HNSW scan of the sorted list reads a smaller window (recall < 1 allowed)
          if (strategy === 'exact') expect(shared).toBe(list.length);
          else expect(shared).toBeGreaterThanOrEqual(Math.floor(list.length * 0.9));
        }
      }
    },
    120_000,
  );

  it('the relevance floor of the list: minScore applies before sorting', async () => {
    const all = await pageThrough({ input: { text: 'dress', mode: 'KEYWORD' } }, 100);
    const scores = all.hits.map((e) => e.score).sort((a, b) => a - b);
    const cut = scores[Math.floor(scores.length / 2)]!;
    const cutList = await page({
      input: { text: 'dress', mode: 'KEYWORD', minScore: cut },
      orderBy: 'PRICE_ASC',
      first: 100,
    });
    expect(cutList.page.edges.length).toBeGreaterThan(0);
    expect(cutList.page.edges.length).toBeLessThan(all.hits.length);
    expect(cutList.page.edges.every((e) => e.score >= cut)).toBe(true);
  });

  it('boost: inStock puts products in stock first; an attribute lifts by weight × value ÷ max', async () => {
    for (const input of [
      { text: 'red dress', boost: { inStock: 1 } },
      { text: 'dress', mode: 'KEYWORD', boost: { inStock: 1 } },
      { text: 'red dress', mode: 'HYBRID', boost: { inStock: 1 } },
    ]) {
      const { hits } = await pageThrough({ input }, 9);
      const stock = hits.map((h) => h.node.inStock);
      expect(stock.indexOf(false), JSON.stringify(input)).toBeGreaterThan(0);
      expect(
        stock.slice(stock.indexOf(false)).every((s) => !s),
        'in stock first',
      ).toBe(true);
      expect(new Set(hits.map((h) => h.node.id)).size).toBe(hits.length);
      // within each group, by score
      for (const group of [true, false]) {
        const s = hits.filter((h) => h.node.inStock === group).map((h) => h.score);
        expect(s).toEqual([...s].sort((a, b) => b - a));
      }
    }
    const boosted = await pageThrough(
      { input: { text: 'dress', mode: 'KEYWORD', boost: { attribute: { key: 'rating', weight: 1, max: 4 } } } },
      9,
    );
    const key = (h: Hit) => h.score + Math.min(1, (h.node.attributes.rating ?? 0) / 4);
    const keys = boosted.hits.map(key);
    for (let i = 1; i < keys.length; i++) expect(keys[i]!).toBeLessThanOrEqual(keys[i - 1]! + 1e-9);
    // rating ≥ 4 earns the whole weight: all of them before the rest for this text (every score < 1)
    expect(boosted.hits.slice(0, 5).every((h) => (h.node.attributes.rating ?? 0) >= 4)).toBe(true);
  });

  it('on an IVFFlat index too: the same fixed, sorted list page by page (it replaces the index: the tests after it are KEYWORD only)', async () => {
    await rebuildIndex(srv.db.sql, { dimension: 768, type: 'ivfflat', maintenanceWorkMem: '64MB' });
    for (const input of [{ text: 'red dress' }, { text: 'red dress', mode: 'HYBRID' }]) {
      const vars = { input, orderBy: 'PRICE_DESC' };
      expect((await page({ ...vars, first: 3 })).strategy).toContain('strategy;desc="ivfflat-iterative');
      const whole = await pageThrough(vars, 100);
      expect(whole.hits.length).toBeGreaterThan(10);
      expect(whole.hits.length).toBeLessThanOrEqual(LIST);
      expect(inOrder(whole.hits, cents, true)).toBe(true);
      const paged = await pageThrough(vars, 7);
      expect(paged.hits.map((h) => h.node.id)).toEqual(whole.hits.map((h) => h.node.id));
    }
  });

  it('refuses a cursor of another ordering, and a boost beside another orderBy', async () => {
    const input = { text: 'dress', mode: 'KEYWORD' };
    const first = await page({ input, orderBy: 'PRICE_ASC', first: 3 });
    for (const other of [
      { input, orderBy: 'PRICE_DESC' },
      { input, orderBy: 'RELEVANCE' },
      { input: { ...input, boost: { inStock: 0.5 } } },
    ]) {
      const r = await gql({ ...other, first: 3, after: first.page.pageInfo.endCursor });
      expect(r.errors?.[0]?.extensions?.code, JSON.stringify(other)).toBe('BAD_USER_INPUT');
      expect(r.errors?.[0]?.extensions?.field).toBe('after');
    }
    const both = await gql({ input: { ...input, boost: { inStock: 0.5 } }, orderBy: 'NEWEST' });
    expect(both.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'boost' });
    const badKey = await gql({ input: { ...input, boost: { attribute: { key: ' ', weight: 1, max: 1 } } } });
    expect(badKey.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'boost.attribute.key' });
    const badOrder = await gql({ input, orderBy: 'CHEAPEST' });
    expect(badOrder.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
