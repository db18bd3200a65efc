/**
 * Autocomplete (`suggest`) through the real API on PostgreSQL and PGlite: the last word completed from the
 * catalog's vocabulary (QUERY), then product titles containing the text (PRODUCT, pg_trgm's index; LIKE
 * wildcards in the text are literal), limits and typed errors for bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS } from '../helpers/db.js';
import { seedProducts, startTestServer, type TestServer } from '../helpers/server.js';

interface S {
  text: string;
  kind: 'QUERY' | 'PRODUCT';
  product: { sku: string } | null;
}
const SUGGEST = `query($prefix: String!, $first: Int) { suggest(prefix: $prefix, first: $first) { text kind product { sku } } }`;

describe.each(DB_KINDS)('suggest on %s', (kind) => {
  let srv: TestServer;
  const suggest = async (prefix: string, first?: number) => {
    const res = await srv.gql<{ suggest: S[] }>(SUGGEST, { prefix, first });
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return res.body.data!.suggest;
  };
  const of = (list: S[], k: S['kind']) => list.filter((s) => s.kind === k).map((s) => s.text);

  beforeAll(async () => {
    srv = await startTestServer({ db: kind, config: { rateLimitPerMinute: 0 }, models: 'none' });
    const admin = await srv.createKey('admin');
    await seedProducts(srv, admin, [
      { sku: 'A-1', title: 'Red summer dress', brand: 'Acme' },
      { sku: 'A-2', title: 'Red dress classic', brand: 'Acme' },
      { sku: 'A-3', title: 'Red leather boots', brand: 'Contoso' },
      { sku: 'A-4', title: 'Redwood side table', brand: 'Northwind' },
      { sku: 'A-5', title: 'Blue denim jacket', brand: 'Northwind' },
      { sku: 'A-6', title: 'White dress shirt', brand: 'Acme' },
      { sku: 'A-7', title: '50% wool_blend scarf', brand: 'Fjord' },
      { sku: 'A-8', title: '红色连衣裙', brand: 'Fjord' },
      { sku: 'A-9', title: 'Tired old armchair', brand: 'Fjord' },
    ]);
  }, 300_000);
  afterAll(async () => {
    await srv?.close();
  });

  it('completes the last word from the vocabulary and lists titles containing the text', async () => {
    const r = await suggest('Red dr');
    expect(of(r, 'QUERY')[0]).toBe('red dress');
    expect(r.find((s) => s.kind === 'PRODUCT')).toEqual({
      text: 'Red dress classic',
      kind: 'PRODUCT',
      product: { sku: 'A-2' },
    });
    // queries first (most used words first), then titles: those starting with the text before the others
    const re = await suggest('red', 10);
    expect(of(re, 'QUERY')).toEqual(['red', 'redwood']);
    const titles = of(re, 'PRODUCT');
    expect(titles.slice(0, 4).every((t) => t.toLowerCase().startsWith('red'))).toBe(true);
    expect(titles).toContain('Tired old armchair');
    expect(re.findIndex((s) => s.kind === 'PRODUCT')).toBeGreaterThan(re.findLastIndex((s) => s.kind === 'QUERY'));
    // a finished word (trailing space) is not completed; brands are in the vocabulary
    expect(of(await suggest('red '), 'QUERY')).toEqual([]);
    expect(of(await suggest('north'), 'QUERY')).toEqual(['northwind']);
  });

  it('limits: `first` suggestions at most; under 3 characters, words are completed but titles not read', async () => {
    expect(await suggest('red', 3)).toHaveLength(3);
    for (const short of ['r', 're']) {
      const r = await suggest(short, 5);
      expect(of(r, 'QUERY')).toEqual(['red', 'redwood']);
      expect(of(r, 'PRODUCT')).toEqual([]);
    }
    expect(await suggest('xyzzy')).toEqual([]);
  });

  it('LIKE wildcards are literal; CJK titles are found by their characters', async () => {
    expect(of(await suggest('l_b'), 'PRODUCT')).toEqual(['50% wool_blend scarf']);
    expect(of(await suggest('50%'), 'PRODUCT')).toEqual(['50% wool_blend scarf']);
    expect(of(await suggest('e_t'), 'PRODUCT'), '_ is no wildcard').toEqual([]);
    expect(await suggest('色连衣')).toEqual([{ text: '红色连衣裙', kind: 'PRODUCT', product: { sku: 'A-8' } }]);
  });

  it('bad input is BAD_USER_INPUT naming the argument', async () => {
    for (const [prefix, first, field] of [
      ['', 5, 'prefix'],
      ['   ', 5, 'prefix'],
      ['%%', 5, 'prefix'],
      ['a'.repeat(101), 5, 'prefix'],
      ['re', 0, 'first'],
      ['re', 21, 'first'],
    ] as const) {
      const res = await srv.gql(SUGGEST, { prefix, first });
      expect(res.status).toBeLessThan(500);
      expect(res.body.errors?.[0]?.extensions, JSON.stringify([prefix.slice(0, 5), first])).toMatchObject({
        code: 'BAD_USER_INPUT',
        field,
      });
      expect(res.body.data?.suggest ?? null).toBeNull();
    }
  });
});
