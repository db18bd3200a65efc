/**
 * Synonyms managed by admins through the real API on PostgreSQL and PGlite: groups are set, replaced and deleted
 * by admin mutations (validated, limited, one group per term), expand KEYWORD and HYBRID queries at once (the
 * query's websearch syntax kept: quotes, -words), are cached by the service and re-read after a write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Synonyms, MAX_GROUPS } from '../../src/search/synonyms.js';
import { DB_KINDS } from '../helpers/db.js';
import { seedProducts, startTestServer, type TestServer } from '../helpers/server.js';

const SET = `mutation($id: ID, $terms: [String!]!) { setSynonyms(id: $id, terms: $terms) { id terms } }`;
const DELETE = `mutation($id: ID!) { deleteSynonyms(id: $id) }`;
const SEARCH = `query($input: SearchInput!) { search(input: $input, first: 10) { edges { keywordRank node { sku } } } }`;

describe.each(DB_KINDS)('synonyms on %s', (kind) => {
  let srv: TestServer;
  let admin: string;
  let reader: string;
  const skus = async (text: string, mode = 'KEYWORD') => {
    const res = await srv.gql<{ search: { edges: { node: { sku: string } }[] } }>(SEARCH, { input: { text, mode } });
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return res.body.data!.search.edges.map((e) => e.node.sku).sort();
  };
  const set = (terms: unknown, id?: string) =>
    srv.gql<{ setSynonyms: { id: string; terms: string[] } }>(SET, { id, terms }, { key: admin });

  beforeAll(async () => {
    srv = await startTestServer({ db: kind, config: { rateLimitPerMinute: 0 } });
    admin = await srv.createKey('admin');
    reader = await srv.createKey('read');
    await seedProducts(srv, admin, [
      { sku: 'Y-GOWN', title: 'Red evening gown' },
      { sku: 'Y-DRESS', title: 'Blue summer dress' },
      { sku: 'Y-SWEATER', title: 'Green wool sweater' },
      { sku: 'Y-JUMPER', title: 'Grey jumper' },
      { sku: 'Y-FROCK', title: 'Yellow frock' },
    ]);
  }, 300_000);
  afterAll(async () => {
    await srv?.close();
  });

  it('a group expands KEYWORD and HYBRID queries at once, keeping quotes and -words', async () => {
    expect(await skus('dress')).toEqual(['Y-DRESS']);
    const created = await set(['Dress', 'gown', '  Evening   Dress ']);
    expect(created.body.errors).toBeUndefined();
    expect(created.body.data!.setSynonyms.terms).toEqual(['dress', 'gown', 'evening dress']);
    expect(await skus('dress')).toEqual(['Y-DRESS', 'Y-GOWN']);
    expect(await skus('gown')).toEqual(['Y-DRESS', 'Y-GOWN']);
    expect(await skus('red dress')).toEqual(['Y-GOWN']);
    expect(await skus('"dress" -red')).toEqual(['Y-DRESS']);
    expect(await skus('dress', 'HYBRID')).toEqual(['Y-DRESS', 'Y-GOWN']);
    const list = await srv.gql<{ synonyms: { terms: string[] }[] }>(
      `{ synonyms { id terms createdAt updatedAt } }`,
      {},
      { key: admin },
    );
    expect(list.body.data!.synonyms.map((g) => g.terms)).toEqual([['dress', 'gown', 'evening dress']]);
  });

  it('replacing and deleting a group changes searches at once; a term is in one group only', async () => {
    const g = (await set(['dress', 'gown'])).body;
    expect(g.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'terms' });
    expect(g.errors?.[0]?.message).toContain('dress');
    expect((await set(['sweater', 'jumper'])).body.errors).toBeUndefined();
    expect(await skus('jumper')).toEqual(['Y-JUMPER', 'Y-SWEATER']);
    const dress = (
      await srv.gql<{ synonyms: { id: string; terms: string[] }[] }>(`{ synonyms { id terms } }`, {}, { key: admin })
    ).body.data!.synonyms.find((s) => s.terms.includes('gown'))!;
    const replaced = await set(['dress', 'frock'], dress.id);
    expect(replaced.body.data!.setSynonyms).toEqual({ id: dress.id, terms: ['dress', 'frock'] });
    expect(await skus('gown')).toEqual(['Y-GOWN']);
    expect(await skus('frock')).toEqual(['Y-DRESS', 'Y-FROCK']);
    const del = await srv.gql<{ deleteSynonyms: boolean }>(DELETE, { id: dress.id }, { key: admin });
    expect(del.body.data!.deleteSynonyms).toBe(true);
    expect(await skus('frock')).toEqual(['Y-FROCK']);
    const again = await srv.gql(DELETE, { id: dress.id }, { key: admin });
    expect(again.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const missing = await set(['a1', 'b1'], '00000000-0000-4000-8000-00000000abcd');
    expect(missing.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('bad input is BAD_USER_INPUT naming the field; nothing is written; keys are checked', async () => {
    const before = await srv.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM search_synonym`);
    for (const terms of [
      ['only'],
      ['x'.repeat(51), 'y'],
      ['<b>', 'bold'],
      ['a b  ', ''],
      Array.from({ length: 21 }, (_, i) => `t${i}`),
      ['same', 'SAME'],
    ]) {
      const r = await set(terms);
      expect(r.status).toBeLessThan(500);
      expect(r.body.errors?.[0]?.extensions, JSON.stringify(terms).slice(0, 60)).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'terms',
      });
    }
    const badId = await set(['a1', 'b1'], 'nope');
    expect(badId.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect((await srv.gql(SET, { terms: ['a1', 'b1'] })).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await srv.gql(SET, { terms: ['a1', 'b1'] }, { key: reader })).body.errors?.[0]?.extensions?.code).toBe(
      'FORBIDDEN',
    );
    expect((await srv.gql(`{ synonyms { id } }`, {}, { key: reader })).body.errors?.[0]?.extensions?.code).toBe(
      'FORBIDDEN',
    );
    const after = await srv.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM search_synonym`);
    expect(after).toEqual(before);
  });

  it('the groups are cached, and a write through the service reads them again', async () => {
    const own = new Synonyms(srv.db.sql);
    expect(await own.expand('hat')).toEqual([]);
    await srv.db.sql.query(`INSERT INTO search_synonym (terms) VALUES (ARRAY['hat', 'cap'])`);
    expect(await own.expand('red hat'), 'served from the cache').toEqual([]);
    await own.set(null, ['scarf', 'shawl']);
    expect(await own.expand('red hat')).toEqual(['red cap']);
    expect(await own.expand('Red Hat, scarf')).toEqual(['Red Hat, shawl', 'Red cap, scarf', 'Red cap, shawl']);
  });

  it(`at most ${MAX_GROUPS} groups`, async () => {
    const [{ n }] = (await srv.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM search_synonym`)) as [
      { n: number },
    ];
    await srv.db.sql.query(
      `INSERT INTO search_synonym (terms) SELECT ARRAY['fill' || i, 'filler' || i] FROM generate_series(1, $1::int) i`,
      [MAX_GROUPS - n],
    );
    const r = await set(['last1', 'last2']);
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', max: MAX_GROUPS });
  });
});
