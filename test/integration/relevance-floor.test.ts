/**
 * The calibrated relevance floor of SEMANTIC text search through the real API on PostgreSQL and PGlite, with the
 * real ONNX test model embedding real uploaded images (solid colours) and the queries: the floor is measured from
 * nonsense probe queries over this catalog, so "red" finds the red dress while "xyzzy plugh" has no results and
 * says why (`noResults`), with a KEYWORD fallback when the words are in titles. (The test model's scores are
 * synthetic: this shows the mechanism, not a calibration of real CLIP scores — docs/search.md.)
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS } from '../helpers/db.js';
import { postMultipart, startTestServer, type TestServer } from '../helpers/server.js';

const PRODUCTS: { sku: string; title: string; rgb: [number, number, number] }[] = [
  { sku: 'F-RED', title: 'Red summer dress', rgb: [220, 20, 30] },
  { sku: 'F-BLUE', title: 'Blue denim jacket', rgb: [20, 40, 210] },
  { sku: 'F-GREEN', title: 'Green wool scarf', rgb: [20, 150, 40] },
  { sku: 'F-YELLOW', title: 'Yellow raincoat', rgb: [240, 230, 30] },
  { sku: 'F-BLACK', title: 'Black leather boots', rgb: [10, 10, 10] },
  { sku: 'F-WHITE', title: 'White linen shirt', rgb: [245, 245, 245] },
];

interface Conn {
  totalCount: number;
  edges: { score: number; node: { sku: string } }[];
  noResults: {
    reason: string;
    bestScore: number | null;
    floor: number | null;
    fallback: { mode: string; text: string; totalCount: number } | null;
  } | null;
}
const SEARCH = `query($input: SearchInput!) {
  search(input: $input, first: 5) {
    totalCount edges { score node { sku } }
    noResults { reason bestScore floor fallback { mode text totalCount } }
  } }`;

describe.each(DB_KINDS)('relevance floor on %s', (kind) => {
  let srv: TestServer;
  const search = async (input: Record<string, unknown>) => {
    const res = await srv.gql<{ search: Conn }>(SEARCH, { input });
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    return res.body.data!.search;
  };

  beforeAll(async () => {
    srv = await startTestServer({ db: kind, config: { rateLimitPerMinute: 0, semanticFloor: 'auto' } });
    const admin = await srv.createKey('admin');
    for (const p of PRODUCTS) {
      const created = await srv.gql<{ createProduct: { id: string } }>(
        `mutation($input: ProductInput!) { createProduct(input: $input) { id } }`,
        { input: { sku: p.sku, title: p.title } },
        { key: admin },
      );
      expect(created.body.errors).toBeUndefined();
      const [r, g, b] = p.rgb;
      const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } })
        .png()
        .toBuffer();
      const res = await postMultipart(
        srv.graphqlUrl,
        `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id } } }`,
        { id: created.body.data!.createProduct.id, files: [null] },
        [{ at: 'files.0', name: `${p.sku}.png`, bytes: png, type: 'image/png' }],
        { key: admin },
      );
      expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    }
  }, 300_000);
  afterAll(async () => {
    await srv?.close();
  });

  it('real queries keep their results; nonsense has none, and the answer says why', async () => {
    const red = await search({ text: 'red' });
    expect(red.edges[0]!.node.sku).toBe('F-RED');
    expect(red.noResults).toBeNull();
    expect((await search({ text: 'blue' })).edges[0]!.node.sku).toBe('F-BLUE');
    const nonsense = await search({ text: 'xyzzy plugh' });
    expect(nonsense).toMatchObject({ edges: [], totalCount: 0 });
    const nr = nonsense.noResults!;
    expect(nr).toMatchObject({ reason: 'BELOW_RELEVANCE_FLOOR', fallback: null });
    // the floor is measured (above the nonsense query, far below a real match) and the same for every query
    expect(nr.bestScore!).toBeLessThanOrEqual(nr.floor!);
    expect(nr.floor!).toBeGreaterThan(0.1);
    expect(nr.floor!).toBeLessThan(red.edges[0]!.score);
    expect((await search({ text: 'asdfgh' })).noResults).toMatchObject({ floor: nr.floor });
  });

  it('a query below the floor whose words are in titles gets the KEYWORD search as its fallback', async () => {
    const r = await search({ text: 'lether bots' });
    expect(r.edges).toEqual([]);
    expect(r.noResults).toMatchObject({
      reason: 'BELOW_RELEVANCE_FLOOR',
      fallback: { mode: 'KEYWORD', text: 'leather boots', totalCount: 1 },
    });
    const fallback = await search({ text: r.noResults!.fallback!.text, mode: 'KEYWORD' });
    expect(fallback.edges.map((e) => e.node.sku)).toEqual(['F-BLACK']);
  });

  it('only text SEMANTIC queries are judged; a KEYWORD search that finds nothing says NO_MATCH', async () => {
    const keyword = await search({ text: 'xyzzy plugh', mode: 'KEYWORD' });
    expect(keyword).toMatchObject({ edges: [], noResults: { reason: 'NO_MATCH', floor: null, fallback: null } });
    const hybrid = await search({ text: 'xyzzy plugh', mode: 'HYBRID' });
    expect(hybrid.noResults).toBeNull();
    const red = await search({ text: 'red' });
    const id = await srv.gql<{ product: { id: string } }>(`{ product(sku: "F-GREEN") { id } }`);
    const like = await search({ productId: id.body.data!.product.id });
    expect(like.noResults).toBeNull();
    expect(like.edges.length).toBe(PRODUCTS.length - 1);
    expect(red.edges.length).toBe(5);
  });
});
