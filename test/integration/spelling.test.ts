/**
 * "Did you mean" and typo-tolerant keywords through the real API on PostgreSQL and PGlite: unknown words are
 * corrected from the catalog's vocabulary, a KEYWORD search that finds nothing answers for the corrected text
 * (and says so), and `didYouMean` is offered on any text search that selects it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { editDistance } from '../../src/search/spelling.js';
import { DB_KINDS } from '../helpers/db.js';
import { seedProducts, startTestServer, type TestServer } from '../helpers/server.js';

type Conn = {
  edges: { node: { sku: string } }[];
  didYouMean: string | null;
  correctedQuery: string | null;
};
const SEARCH = `query($input: SearchInput!) {
  search(input: $input, first: 5) { edges { node { sku } } didYouMean correctedQuery } }`;

describe('edit distance (optimal string alignment)', () => {
  it('counts a swap of neighbours as one edit and stops past the bound', () => {
    expect(editDistance('rde', 'red', 2)).toBe(1);
    expect(editDistance('dres', 'dress', 2)).toBe(1);
    expect(editDistance('jackte', 'jacket', 2)).toBe(1);
    expect(editDistance('kitten', 'sitting', 3)).toBe(3);
    expect(editDistance('xyzzy', 'dress', 2)).toBe(3);
    expect(editDistance('same', 'same', 1)).toBe(0);
  });
});

describe.each(DB_KINDS)('did you mean on %s', (kind) => {
  let srv: TestServer;
  const search = async (input: Record<string, unknown>) => {
    const res = await srv.gql<{ search: Conn }>(SEARCH, { input });
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return res.body.data!.search;
  };

  beforeAll(async () => {
    srv = await startTestServer({ db: kind, config: { rateLimitPerMinute: 0 } });
    const admin = await srv.createKey('admin');
    await seedProducts(srv, admin, [
      { sku: 'S-1', title: 'Red summer dress', brand: 'Acme' },
      { sku: 'S-2', title: 'Blue denim jacket', brand: 'Northwind' },
      { sku: 'S-3', title: 'Green wool scarf', brand: 'Acme' },
      { sku: 'S-4', title: 'Red leather boots', brand: 'Contoso' },
    ]);
  }, 300_000);
  afterAll(async () => {
    await srv?.close();
  });

  it('a KEYWORD search with typos that finds nothing answers for the corrected text, and says so', async () => {
    const r = await search({ text: 'rde dres', mode: 'KEYWORD' });
    expect(r.correctedQuery).toBe('red dress');
    expect(r.didYouMean).toBe('red dress');
    expect(r.edges[0]!.node.sku).toBe('S-1');
    // a brand is in the vocabulary too
    const brand = await search({ text: 'nortwind', mode: 'KEYWORD' });
    expect(brand).toMatchObject({ correctedQuery: 'northwind', edges: [{ node: { sku: 'S-2' } }] });
  });

  it('known words are left alone; nonsense gets no correction and no results', async () => {
    const known = await search({ text: 'red dress', mode: 'KEYWORD' });
    expect(known).toMatchObject({ didYouMean: null, correctedQuery: null });
    expect(known.edges.map((e) => e.node.sku)).toContain('S-1');
    const nonsense = await search({ text: 'xyzzy plugh', mode: 'KEYWORD' });
    expect(nonsense).toEqual({ edges: [], didYouMean: null, correctedQuery: null });
  });

  it('a SEMANTIC or HYBRID search offers didYouMean when selected and never swaps its query', async () => {
    const r = await search({ text: 'blue jackte' });
    expect(r).toMatchObject({ didYouMean: 'blue jacket', correctedQuery: null });
    const hybrid = await search({ text: 'grene scarf', mode: 'HYBRID' });
    expect(hybrid).toMatchObject({ didYouMean: 'green scarf', correctedQuery: null });
    // these products have no images: HYBRID's keyword list finds them (docs/search.md "Products without images")
    expect((await search({ text: 'green scarf', mode: 'HYBRID' })).edges.map((e) => e.node.sku)).toContain('S-3');
  });
});
