/**
 * Queries in the shopper's language, end to end: a real server over HTTP with the generated test CLIP model and
 * the generated multilingual text tower paired with it (GLIMPSE_TEXT_MODELS=test-multilingual), on PostgreSQL and
 * PGlite. Products get real PNG pictures through addProductImages, embedded by the image tower; Chinese queries are
 * routed to the multilingual tower and must rank the products of their colour first, over the unchanged image index.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const PRODUCTS = [
  { sku: 'RED-DRESS', title: 'Summer dress', rgb: [210, 25, 30] },
  { sku: 'RED-SHOE', title: 'Running shoe', rgb: [190, 10, 20] },
  { sku: 'BLUE-SHOE', title: 'Trainer', rgb: [20, 40, 200] },
  { sku: 'BLUE-DRESS', title: 'Evening dress', rgb: [10, 20, 160] },
  { sku: 'GREEN-BAG', title: 'Tote bag', rgb: [20, 150, 30] },
  { sku: 'YELLOW-HAT', title: 'Sun hat', rgb: [230, 220, 20] },
] as const;

interface SearchData {
  search: { model: string | null; textModel: string | null; edges: Array<{ score: number; node: { sku: string } }> };
}
const SEARCH = `query($input: SearchInput!) { search(input: $input, first: 6) { model textModel edges { score node { sku } } } }`;

describe.each(DB_KINDS)('multilingual text tower on %s', (kind) => {
  let srv: TestServer;
  let admin: string;
  const search = async (input: Record<string, unknown>) => {
    const res = await srv.gql<SearchData>(SEARCH, { input }, { key: admin });
    return res;
  };
  const skus = (r: { body: { data?: SearchData | null } }) => r.body.data!.search.edges.map((e) => e.node.sku);

  beforeAll(async () => {
    srv = await startTestServer({ db: kind, config: { rateLimitPerMinute: 0, textModels: ['test-multilingual'] } });
    admin = await srv.createKey('admin');
    for (const p of PRODUCTS) {
      const created = await srv.gql<{ createProduct: { id: string } }>(
        `mutation($input: ProductInput!) { createProduct(input: $input) { id } }`,
        { input: { sku: p.sku, title: p.title } },
        { key: admin },
      );
      const id = created.body.data!.createProduct.id;
      const [r, g, b] = p.rgb;
      const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } })
        .png()
        .toBuffer();
      const form = new FormData();
      form.append(
        'operations',
        JSON.stringify({
          query: `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id } } }`,
          variables: { id, files: [null] },
        }),
      );
      form.append('map', JSON.stringify({ 0: ['variables.files.0'] }));
      form.append('0', new Blob([new Uint8Array(png)], { type: 'image/png' }), `${p.sku}.png`);
      const res = await fetch(srv.graphqlUrl, {
        method: 'POST',
        body: form,
        headers: { 'apollo-require-preflight': 'true', authorization: `Bearer ${admin}` },
      });
      const body = (await res.json()) as { errors?: unknown };
      expect(body.errors).toBeUndefined();
    }
  }, 300_000);
  afterAll(async () => {
    await srv?.close();
  });

  it('models shows the image model with its own and its paired text tower', async () => {
    const res = await srv.gql<{ models: Array<{ id: string; textModels: Array<Record<string, unknown>> }> }>(
      `{ models { id textModels { id dimension paired device isTest } } }`,
      {},
      { key: admin },
    );
    expect(res.body.errors).toBeUndefined();
    const loaded = res.body.data!.models.find((m) => m.textModels.length > 0)!;
    expect(loaded.id).toBe('test');
    expect(loaded.textModels).toEqual([
      { id: 'test', dimension: 768, paired: false, device: 'cpu', isTest: true },
      { id: 'test-multilingual', dimension: 768, paired: true, device: 'cpu', isTest: true },
    ]);
  });

  it('"红色连衣裙" is embedded by the multilingual tower and ranks the red products first', async () => {
    const res = await search({ text: '红色连衣裙' });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.search.textModel).toBe('test-multilingual');
    expect(res.body.data!.search.model).toBe('test'); // compared with the image model's vectors
    expect(skus(res).slice(0, 2).sort()).toEqual(['RED-DRESS', 'RED-SHOE']);
  });

  it('"蓝色运动鞋" ranks the blue products first', async () => {
    const res = await search({ text: '蓝色运动鞋' });
    expect(res.body.data!.search.textModel).toBe('test-multilingual');
    expect(skus(res).slice(0, 2).sort()).toEqual(['BLUE-DRESS', 'BLUE-SHOE']);
  });

  it('French, German, Japanese and Korean colour words, by language or by script', async () => {
    const rouge = await search({ text: 'robe rouge', language: 'fr' });
    expect(rouge.body.data!.search.textModel).toBe('test-multilingual');
    expect(skus(rouge).slice(0, 2).sort()).toEqual(['RED-DRESS', 'RED-SHOE']);
    const blau = await search({ text: 'blau', textModel: 'test-multilingual' });
    expect(skus(blau).slice(0, 2).sort()).toEqual(['BLUE-DRESS', 'BLUE-SHOE']);
    const ja = await search({ text: '赤いワンピース' });
    expect(ja.body.data!.search.textModel).toBe('test-multilingual');
    expect(skus(ja).slice(0, 2).sort()).toEqual(['RED-DRESS', 'RED-SHOE']);
    const ko = await search({ text: '파란 운동화' });
    expect(skus(ko).slice(0, 2).sort()).toEqual(['BLUE-DRESS', 'BLUE-SHOE']);
  });

  it("Latin text stays on the image model's own tower unless asked; the CLIP tower does not read Chinese", async () => {
    const en = await search({ text: 'green' });
    expect(en.body.data!.search.textModel).toBe('test');
    expect(skus(en)[0]).toBe('GREEN-BAG');
    const forced = await search({ text: '红色连衣裙', textModel: 'test' });
    expect(forced.body.data!.search.textModel).toBe('test');
    // the test CLIP tower knows no Chinese: its ranking is not the red products first
    expect(skus(forced).slice(0, 2).sort()).not.toEqual(['RED-DRESS', 'RED-SHOE']);
    const image = await search({ productId: undefined, text: 'yellow', language: 'en' });
    expect(image.body.data!.search.textModel).toBe('test');
    expect(skus(image)[0]).toBe('YELLOW-HAT');
  });

  it('HYBRID and KEYWORD: the text model is reported only when text was embedded', async () => {
    const hybrid = await search({ text: '红色', mode: 'HYBRID' });
    expect(hybrid.body.data!.search.textModel).toBe('test-multilingual');
    expect(skus(hybrid).slice(0, 2).sort()).toEqual(['RED-DRESS', 'RED-SHOE']);
    const keyword = await search({ text: 'dress', mode: 'KEYWORD' });
    expect(keyword.body.data!.search.textModel).toBeNull();
  });

  it('a bad textModel or language is BAD_USER_INPUT', async () => {
    const unknown = await search({ text: 'red', textModel: 'nope/nothing' });
    expect(unknown.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    expect(unknown.body.errors![0]!.message).toContain('test-multilingual');
    const lang = await search({ text: 'red', language: 'not a language!' });
    expect(lang.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    const long = await search({ text: 'red', language: 'zh-' + 'a'.repeat(100) });
    expect(long.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });
});
