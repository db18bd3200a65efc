/**
 * Highlighted snippets (SearchEdge.highlight) through the real API on PostgreSQL and PGlite: ts_headline marks
 * the matched words of KEYWORD and HYBRID hits (stemmed, synonyms and corrected queries included) as <mark>,
 * and everything else is HTML-escaped — markup in a product's own text, and the sentinels ts_headline marks
 * with, cannot reach the page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS } from '../helpers/db.js';
import { seedProducts, startTestServer, type TestServer } from '../helpers/server.js';

interface Edge {
  node: { sku: string };
  highlight: { title: string; description: string | null } | null;
}
const SEARCH = `query($input: SearchInput!) {
  search(input: $input, first: 10) { correctedQuery edges { node { sku } highlight { title description } } } }`;

describe.each(DB_KINDS)('highlights on %s', (kind) => {
  let srv: TestServer;
  let admin: string;
  const edges = async (input: Record<string, unknown>) => {
    const res = await srv.gql<{ search: { edges: Edge[]; correctedQuery: string | null } }>(SEARCH, { input });
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return res.body.data!.search;
  };
  const of = (list: Edge[], sku: string) => list.find((e) => e.node.sku === sku)!.highlight;

  beforeAll(async () => {
    srv = await startTestServer({ db: kind, config: { rateLimitPerMinute: 0 } });
    admin = await srv.createKey('admin');
    await seedProducts(srv, admin, [
      {
        sku: 'H-1',
        title: 'Red <b>summer</b> dress & co',
        description:
          'A light dress for hot days, cut loose and long. Made of linen from Portugal. <script>alert(1)</script> Machine washable at thirty degrees, dries in an hour, packs small for travel and never needs ironing at all. Our best summer dresses.',
      },
      { sku: 'H-2', title: 'Fake \uE000mark\uE001 dress' },
      { sku: 'H-3', title: 'Blue denim jacket', description: 'Sturdy "classic" jacket' },
    ]);
  }, 300_000);
  afterAll(async () => {
    await srv?.close();
  });

  it('marks the matched words and escapes everything else', async () => {
    const { edges: r } = await edges({ text: 'dress', mode: 'KEYWORD' });
    expect(of(r, 'H-1')!.title).toBe('Red &lt;b&gt;summer&lt;/b&gt; <mark>dress</mark> &amp; co');
    const d = of(r, 'H-1')!.description!;
    expect(d).toContain('<mark>dress</mark>');
    expect(d).toContain('<mark>dresses</mark>'); // stemmed: the english configuration
    expect(d).not.toContain('<script>');
    expect(d.replace(/<\/?mark>/g, '')).not.toMatch(/[<>]/);
    // a title cannot forge a mark: the sentinels are removed before ts_headline runs
    expect(of(r, 'H-2')).toEqual({ title: 'Fake mark <mark>dress</mark>', description: null });
  });

  it('HYBRID hits are highlighted, SEMANTIC ones are not; quotes in text are escaped', async () => {
    const hybrid = await edges({ text: 'jacket', mode: 'HYBRID' });
    expect(of(hybrid.edges, 'H-3')).toEqual({
      title: 'Blue denim <mark>jacket</mark>',
      description: 'Sturdy &quot;classic&quot; <mark>jacket</mark>',
    });
    const semantic = await edges({ text: 'jacket', mode: 'SEMANTIC' });
    expect(semantic.edges.every((e) => e.highlight === null)).toBe(true);
  });

  it('marks what answered: the corrected query, and synonyms', async () => {
    const corrected = await edges({ text: 'jackte', mode: 'KEYWORD' });
    expect(corrected.correctedQuery).toBe('jacket');
    expect(of(corrected.edges, 'H-3')!.title).toBe('Blue denim <mark>jacket</mark>');
    const set = await srv.gql(`mutation { setSynonyms(terms: ["dress", "gown"]) { id } }`, {}, { key: admin });
    expect(set.body.errors).toBeUndefined();
    const gown = await edges({ text: 'red gown', mode: 'KEYWORD' });
    expect(of(gown.edges, 'H-1')!.title).toBe('<mark>Red</mark> &lt;b&gt;summer&lt;/b&gt; <mark>dress</mark> &amp; co');
  });
});
