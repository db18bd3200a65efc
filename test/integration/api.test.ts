/**
 * The GraphQL API end to end: real HTTP against a real server (test/helpers/server.ts) on a scratch
 * PostgreSQL database with the generated test model. Catalog CRUD, pagination, categories, multipart image
 * uploads (GraphQL multipart request spec), stored and served images, vectors, near-duplicates, every invalid
 * fixture image, URL fetch refusal, auth on every mutation, and a storefront query through @apollo/client.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloClient, HttpLink, InMemoryCache, gql as apolloGql } from '@apollo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagePath } from '../../src/catalog/image-store-paths.js';
import { CatalogService } from '../../src/catalog/index.js';
import { readFixture, readFixtureJson } from '../helpers/fixtures.js';
import {
  startTestServer,
  type GqlResponse,
  type TestServer,
  errorCodes,
  rowCount,
  storedFiles,
  postMultipart,
  type UploadPart,
} from '../helpers/server.js';

interface Cases {
  invalid: { file: string; why: string }[];
}

const EXPECTED_CODE: Record<string, string> = {
  'not_an_image.jpg': 'UNSUPPORTED_IMAGE',
  'empty.png': 'CORRUPT_IMAGE',
  'bomb_20000x20000.png': 'IMAGE_TOO_LARGE',
  'external_entity.svg': 'UNSUPPORTED_IMAGE',
  'truncated.jpg': 'CORRUPT_IMAGE',
};

const PRODUCT_FIELDS = `id sku title description brand category price { amount currency } inStock tags attributes createdAt updatedAt
  images { id url width height position sha256 contentType byteSize }`;

let srv: TestServer;
let admin: string;
let reader: string;
/** id of the loaded (generated test) model */
let MODEL: string;

type Upload = UploadPart;

function multipart<T = Record<string, unknown>>(
  query: string,
  variables: Record<string, unknown>,
  uploads: Upload[],
  opts: { key?: string; preflight?: boolean } = {},
): Promise<GqlResponse<T>> {
  return postMultipart<T>(srv.graphqlUrl, query, variables, uploads, opts);
}

const codes = errorCodes;

const count = (table: string) => rowCount(srv, table);

const files = () => storedFiles(srv);

async function snapshot() {
  return {
    products: await count('product'),
    images: await count('product_image'),
    vectors: await count('embedding_768'),
    jobs: await count('job'),
    files: files(),
  };
}

const CREATE = `mutation($input: ProductInput!) { createProduct(input: $input) { ${PRODUCT_FIELDS} } }`;
const ADD_IMAGES = `mutation($id: ID!, $files: [Upload!], $urls: [String!]) {
  addProductImages(productId: $id, files: $files, urls: $urls) {
    product { id images { id } }
    images { id url sha256 width height position contentType byteSize }
    nearDuplicates { image { id } of { id product { sku } } similarity }
  } }`;

async function createProduct(input: Record<string, unknown>): Promise<{ id: string; sku: string }> {
  const res = await srv.gql<{ createProduct: { id: string; sku: string } }>(CREATE, { input }, { key: admin });
  expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
  return res.body.data!.createProduct;
}

beforeAll(async () => {
  srv = await startTestServer({ config: { rateLimitPerMinute: 0 } });
  admin = await srv.createKey('admin');
  reader = await srv.createKey('read');
  MODEL = srv.models.status().modelId!;
});

afterAll(async () => {
  await srv?.close();
});

describe('products', () => {
  it('creates a product with normalised fields', async () => {
    const res = await srv.gql<{ createProduct: Record<string, unknown> }>(
      CREATE,
      {
        input: {
          sku: 'DRESS-001',
          title: '  Red summer dress ',
          brand: 'Acme',
          category: ' Women / Dresses//Summer ',
          price: { amount: '49.9', currency: 'EUR' },
          tags: ['summer', 'red', 'summer'],
          attributes: { color: 'red', size: ['S', 'M'] },
        },
      },
      { key: admin },
    );
    expect(res.body.errors).toBeUndefined();
    const p = res.body.data!.createProduct;
    expect(p).toMatchObject({
      sku: 'DRESS-001',
      title: 'Red summer dress',
      category: 'women/dresses/summer',
      price: { amount: '49.90', currency: 'EUR' },
      inStock: true,
      tags: ['summer', 'red'],
      attributes: { color: 'red', size: ['S', 'M'] },
      images: [],
      description: null,
    });
    expect(new Date(p.createdAt as string).toISOString()).toBe(p.createdAt);
  });

  it('rejects invalid input with BAD_USER_INPUT and writes nothing', async () => {
    const before = await count('product');
    const bad: Record<string, unknown>[] = [
      { sku: 'DRESS-001', title: 'duplicate sku' },
      { sku: 'has space', title: 'x' },
      { sku: 'x'.repeat(101), title: 'x' },
      { sku: 'OK-1', title: '' },
      { sku: 'OK-1', title: 't'.repeat(501) },
      { sku: 'OK-1', title: 'x', price: { amount: '1.999', currency: 'EUR' } },
      { sku: 'OK-1', title: 'x', price: { amount: '-1', currency: 'EUR' } },
      { sku: 'OK-1', title: 'x', price: { amount: '10', currency: 'eur' } },
      { sku: 'OK-1', title: 'x', price: { amount: '10', currency: 'ABC' } },
      { sku: 'OK-1', title: 'x', tags: Array.from({ length: 51 }, (_, i) => `t${i}`) },
      { sku: 'OK-1', title: 'x', attributes: { nested: { a: 1 } } },
      { sku: 'OK-1', title: 'x', attributes: [1, 2] },
      { sku: 'OK-1', title: 'x', category: Array.from({ length: 11 }, (_, i) => `c${i}`).join('/') },
    ];
    for (const input of bad) {
      const res = await srv.gql(CREATE, { input }, { key: admin });
      expect(codes(res), JSON.stringify(input)).toEqual(['BAD_USER_INPUT']);
      expect(res.body.errors![0]!.message).not.toMatch(/SELECT|INSERT|at .*\.ts/);
    }
    expect(await count('product')).toBe(before);
  });

  it('updates, clears and deletes', async () => {
    const p = await createProduct({
      sku: 'UPD-1',
      title: 'Old',
      description: 'desc',
      price: { amount: '5', currency: 'USD' },
    });
    const UPDATE = `mutation($id: ID!, $input: ProductPatch!) { updateProduct(id: $id, input: $input) { ${PRODUCT_FIELDS} } }`;
    let res = await srv.gql<{ updateProduct: Record<string, unknown> }>(
      UPDATE,
      { id: p.id, input: { title: 'New', description: null, price: null, inStock: false } },
      { key: admin },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.updateProduct).toMatchObject({
      title: 'New',
      description: null,
      price: null,
      inStock: false,
      sku: 'UPD-1',
    });
    res = await srv.gql(UPDATE, { id: p.id, input: { title: null } }, { key: admin });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    res = await srv.gql(UPDATE, { id: p.id, input: { sku: 'DRESS-001' } }, { key: admin });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    res = await srv.gql(UPDATE, { id: '00000000-0000-4000-8000-000000000000', input: { title: 'x' } }, { key: admin });
    expect(codes(res)).toEqual(['NOT_FOUND']);
    res = await srv.gql(UPDATE, { id: 'not-an-id', input: { title: 'x' } }, { key: admin });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);

    const DELETE = `mutation($id: ID!) { deleteProduct(id: $id) }`;
    expect((await srv.gql(DELETE, { id: p.id }, { key: admin })).body.data).toEqual({ deleteProduct: true });
    expect(codes(await srv.gql(DELETE, { id: p.id }, { key: admin }))).toEqual(['NOT_FOUND']);
    const q = await srv.gql<{ product: unknown }>(`query($id: ID) { product(id: $id) { id } }`, { id: p.id });
    expect(q.body.data!.product).toBeNull();
  });

  it('upserts a batch by sku, all or nothing', async () => {
    const UPSERT = `mutation($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created updated products { sku title price { amount } } } }`;
    let res = await srv.gql<{
      upsertProducts: { created: number; updated: number; products: { sku: string; title: string }[] };
    }>(
      UPSERT,
      {
        inputs: [
          {
            sku: 'DRESS-001',
            title: 'Red summer dress v2',
            category: 'women/dresses/summer',
            price: { amount: '39.00', currency: 'EUR' },
          },
          { sku: 'UP-A', title: 'Blue shirt', category: 'men/shirts' },
          { sku: 'UP-B', title: 'Green hat', category: 'accessories' },
        ],
      },
      { key: admin },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.upsertProducts).toMatchObject({ created: 2, updated: 1 });
    expect(res.body.data!.upsertProducts.products.map((p) => p.sku)).toEqual(['DRESS-001', 'UP-A', 'UP-B']);

    const before = await count('product');
    res = await srv.gql(
      UPSERT,
      {
        inputs: [
          { sku: 'UP-C', title: 'fine' },
          { sku: 'UP-D', title: 'x', price: { amount: '1', currency: 'XXX1' } },
        ],
      },
      { key: admin },
    );
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    res = await srv.gql(
      UPSERT,
      {
        inputs: [
          { sku: 'UP-C', title: 'a' },
          { sku: 'UP-C', title: 'b' },
        ],
      },
      { key: admin },
    );
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(await count('product')).toBe(before);
  });

  it('"more like this" of a product without images: an empty answer from search and similarProducts alike', async () => {
    const made = await srv.gql<{ createProduct: { id: string } }>(
      `mutation { createProduct(input: { sku: "NO-IMG-1", title: "Imageless lamp" }) { id } }`,
      {},
      { key: admin },
    );
    const id = made.body.data!.createProduct.id;
    type Conn = { edges: { node: { id: string } }[]; totalCount: number };
    const search = await srv.gql<{ search: Conn }>(
      `query($id: ID!) { search(input: { productId: $id }) { edges { node { id } } totalCount } }`,
      { id },
    );
    expect(search.body.errors).toBeUndefined();
    expect(search.body.data!.search).toEqual({ edges: [], totalCount: 0 });
    const similar = await srv.gql<{ similarProducts: Conn }>(
      `query($id: ID!) { similarProducts(id: $id) { edges { node { id } } totalCount } }`,
      { id },
    );
    expect(similar.body.data!.similarProducts).toEqual({ edges: [], totalCount: 0 });
    // a product that does not exist is NOT_FOUND for both
    const gone = '00000000-0000-4000-8000-000000000000';
    expect(
      codes(await srv.gql(`query($id: ID!) { search(input: { productId: $id }) { edges { cursor } } }`, { id: gone })),
    ).toEqual(['NOT_FOUND']);
    expect(
      codes(await srv.gql(`query($id: ID!) { similarProducts(id: $id) { edges { cursor } } }`, { id: gone })),
    ).toEqual(['NOT_FOUND']);
  });

  it('an upsert that changes nothing writes nothing: unchanged, updatedAt kept; a real change moves it', async () => {
    const UPSERT = `mutation($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created updated unchanged products { sku updatedAt } } }`;
    type Res = {
      upsertProducts: { created: number; updated: number; unchanged: number; products: { updatedAt: string }[] };
    };
    const items = [
      {
        sku: 'NOOP-A',
        title: 'Plain mug',
        price: { amount: '9.9', currency: 'EUR' },
        tags: ['kitchen'],
        attributes: { c: 1 },
      },
      { sku: 'NOOP-B', title: 'Plain plate' },
    ];
    const first = await srv.gql<Res>(UPSERT, { inputs: items }, { key: admin });
    expect(first.body.data!.upsertProducts).toMatchObject({ created: 2, updated: 0, unchanged: 0 });
    const stamps = first.body.data!.upsertProducts.products.map((p) => p.updatedAt);
    // the same fields again ('9.9' is stored as 9.90: equal): nothing written
    const again = await srv.gql<Res>(UPSERT, { inputs: items }, { key: admin });
    expect(again.body.data!.upsertProducts).toMatchObject({ created: 0, updated: 0, unchanged: 2 });
    expect(again.body.data!.upsertProducts.products.map((p) => p.updatedAt)).toEqual(stamps);
    // one field changed on one product: that one is updated, its updatedAt moves
    const changed = await srv.gql<Res>(
      UPSERT,
      { inputs: [{ ...items[0], title: 'Plain mug, blue' }, items[1]] },
      { key: admin },
    );
    expect(changed.body.data!.upsertProducts).toMatchObject({ created: 0, updated: 1, unchanged: 1 });
    const after = changed.body.data!.upsertProducts.products.map((p) => p.updatedAt);
    expect(after[0]).not.toBe(stamps[0]);
    expect(after[1]).toBe(stamps[1]);
  });

  it('finds a product by id or sku', async () => {
    const bySku = await srv.gql<{ product: { id: string; title: string } }>(
      `{ product(sku: "DRESS-001") { id title } }`,
    );
    expect(bySku.body.data!.product.title).toBe('Red summer dress v2');
    const byId = await srv.gql<{ product: { sku: string } }>(`query($id: ID) { product(id: $id) { sku } }`, {
      id: bySku.body.data!.product.id,
    });
    expect(byId.body.data!.product.sku).toBe('DRESS-001');
    expect((await srv.gql<{ product: unknown }>(`{ product(sku: "NOPE") { id } }`)).body.data!.product).toBeNull();
    expect(codes(await srv.gql(`{ product { id } }`))).toEqual(['BAD_USER_INPUT']);
  });

  it('pages through every ordering without duplicates or gaps', async () => {
    const inputs = Array.from({ length: 23 }, (_, i) => ({
      sku: `PAGE-${String(i).padStart(2, '0')}`,
      title: `Item ${i % 5}`, // repeated titles: the id tiebreak keeps paging stable
      category: i % 2 ? 'home/kitchen' : 'home/garden',
      ...(i % 4 ? { price: { amount: String(i % 6), currency: 'EUR' } } : {}),
    }));
    const up = await srv.gql(
      `mutation($inputs: [ProductInput!]!) { upsertProducts(inputs: $inputs) { created } }`,
      { inputs },
      { key: admin },
    );
    expect(up.body.errors).toBeUndefined();
    const total = await count('product');
    const LIST = `query($first: Int, $after: String, $orderBy: ProductOrder, $filter: ProductFilter) {
      products(first: $first, after: $after, orderBy: $orderBy, filter: $filter) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`;
    type Page = {
      products: {
        edges: { cursor: string; node: { id: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      };
    };
    for (const orderBy of ['NEWEST', 'OLDEST', 'PRICE_ASC', 'PRICE_DESC', 'TITLE', 'UPDATED']) {
      const seen: string[] = [];
      let after: string | null = null;
      for (let guard = 0; guard < 50; guard++) {
        const res: GqlResponse<Page> = await srv.gql<Page>(LIST, { first: 4, after, orderBy });
        expect(res.body.errors, orderBy).toBeUndefined();
        const page: Page['products'] = res.body.data!.products;
        seen.push(...page.edges.map((e) => e.node.id));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(new Set(seen).size, orderBy).toBe(seen.length);
      expect(seen.length, orderBy).toBe(total);
    }
    // filter + pagination
    const kitchen = await srv.gql<Page>(LIST, { first: 100, filter: { category: 'Home/Kitchen' } });
    expect(kitchen.body.data!.products.edges).toHaveLength(11);
    const cheap = await srv.gql<Page>(LIST, {
      first: 100,
      filter: { price: { max: '1', currency: 'EUR' }, category: 'home' },
    });
    expect(cheap.body.data!.products.edges.length).toBeGreaterThan(0);
    // limits and cursors
    expect(codes(await srv.gql(LIST, { first: srv.config.maxFirst + 1 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await srv.gql(LIST, { first: 2, after: 'garbage!' }))).toEqual(['BAD_USER_INPUT']);
    const first = await srv.gql<Page>(LIST, { first: 2, orderBy: 'TITLE' });
    expect(
      codes(await srv.gql(LIST, { first: 2, after: first.body.data!.products.pageInfo.endCursor, orderBy: 'NEWEST' })),
    ).toEqual(['BAD_USER_INPUT']);
  });

  it('lists the category tree with counts', async () => {
    type C = {
      path: string;
      name: string;
      depth: number;
      productCount: number;
      directProductCount: number;
      children: { path: string; productCount: number }[];
    };
    const res = await srv.gql<{ categories: C[] }>(
      `{ categories { path name depth productCount directProductCount children { path productCount } } }`,
    );
    expect(res.body.errors).toBeUndefined();
    const home = res.body.data!.categories.find((c) => c.path === 'home')!;
    expect(home).toMatchObject({ name: 'home', depth: 1, productCount: 23, directProductCount: 0 });
    expect(home.children).toEqual([
      { path: 'home/garden', productCount: 12 },
      { path: 'home/kitchen', productCount: 11 },
    ]);
    const flat = await srv.gql<{ categories: { path: string }[] }>(
      `{ categories(parent: "women", flat: true) { path } }`,
    );
    expect(flat.body.data!.categories.map((c) => c.path)).toEqual(['women/dresses', 'women/dresses/summer']);
  });
});

describe('images', () => {
  let productId: string;
  let imageId: string;
  let sha: string;

  beforeAll(async () => {
    productId = (await createProduct({ sku: 'IMG-1', title: 'Astronaut poster', category: 'art/posters' })).id;
  });

  it('stores, serves and embeds an uploaded image (multipart)', async () => {
    const bytes = readFixture('images', 'astronaut.png');
    const res = await multipart<{
      addProductImages: {
        images: {
          id: string;
          url: string;
          sha256: string;
          width: number;
          height: number;
          position: number;
          contentType: string;
        }[];
        product: { images: { id: string }[] };
        nearDuplicates: unknown[];
      };
    }>(
      ADD_IMAGES,
      { id: productId, files: [null] },
      [{ at: 'files.0', name: 'astronaut.png', bytes, type: 'image/png' }],
      { key: admin },
    );
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    const payload = res.body.data!.addProductImages;
    const img = payload.images[0]!;
    expect(img).toMatchObject({ width: 512, height: 512, position: 0, contentType: 'image/png' });
    expect(payload.product.images.map((i) => i.id)).toEqual([img.id]);
    expect(payload.nearDuplicates).toEqual([]);
    imageId = img.id;
    sha = img.sha256;
    // stored content-addressed
    expect(fs.readFileSync(imagePath(srv.config.imageDir, sha)).equals(bytes)).toBe(true);
    // served at its URL
    expect(img.url).toBe(`${srv.url}/images/${sha}`);
    const served = await fetch(img.url);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);
    // vector stored for the active (test) model
    const vec = await srv.db.sql.query<{ model_id: string }>('SELECT model_id FROM embedding_768 WHERE image_id = $1', [
      imageId,
    ]);
    expect(vec.map((v) => v.model_id)).toEqual([MODEL]);
    const models = await srv.gql<{
      models: {
        id: string;
        active: boolean;
        loaded: boolean;
        dimension: number;
        isTest: boolean;
        embeddedImageCount: number;
      }[];
    }>(`{ models { id active loaded dimension isTest embeddedImageCount } }`);
    expect(models.body.data!.models).toEqual([
      { id: MODEL, active: true, loaded: true, dimension: 768, isTest: true, embeddedImageCount: 1 },
    ]);
  });

  it('returns the existing image when the same bytes are added again', async () => {
    const before = await snapshot();
    const res = await multipart<{ addProductImages: { images: { id: string }[] } }>(
      ADD_IMAGES,
      { id: productId, files: [null] },
      [{ at: 'files.0', name: 'again.png', bytes: readFixture('images', 'astronaut.png') }],
      { key: admin },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.addProductImages.images.map((i) => i.id)).toEqual([imageId]);
    expect(await snapshot()).toEqual(before);
  });

  it('reports a near-duplicate when the same picture is re-encoded', async () => {
    const other = await createProduct({ sku: 'IMG-2', title: 'Astronaut again' });
    const res = await multipart<{
      addProductImages: {
        images: { id: string }[];
        nearDuplicates: { image: { id: string }; of: { id: string; product: { sku: string } }; similarity: number }[];
      };
    }>(
      ADD_IMAGES,
      { id: other.id, files: [null, null] },
      [
        { at: 'files.0', name: 'astronaut.webp', bytes: readFixture('images', 'astronaut.webp') },
        { at: 'files.1', name: 'camera.png', bytes: readFixture('images', 'camera.png') },
      ],
      { key: admin },
    );
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    const { images, nearDuplicates } = res.body.data!.addProductImages;
    expect(images).toHaveLength(2);
    const dup = nearDuplicates.find((d) => d.image.id === images[0]!.id && d.of.id === imageId);
    expect(dup, JSON.stringify(nearDuplicates)).toBeDefined();
    expect(dup!.of.product.sku).toBe('IMG-1');
    expect(dup!.similarity).toBeGreaterThanOrEqual(srv.config.nearDuplicateThreshold);
    expect(nearDuplicates.some((d) => d.image.id === images[1]!.id && d.of.id === imageId)).toBe(false);
  });

  it('rejects every invalid fixture image with its code, leaving no rows or files', async () => {
    const cases = readFixtureJson<Cases>('images', 'cases.json');
    expect(cases.invalid.length).toBeGreaterThan(0);
    const before = await snapshot();
    for (const c of cases.invalid) {
      const res = await multipart(
        ADD_IMAGES,
        { id: productId, files: [null] },
        [{ at: 'files.0', name: c.file, bytes: readFixture('images', c.file) }],
        { key: admin },
      );
      const expected =
        EXPECTED_CODE[c.file] ?? expect.stringMatching(/^(UNSUPPORTED_IMAGE|CORRUPT_IMAGE|IMAGE_TOO_LARGE)$/);
      expect(codes(res), `${c.file}: ${JSON.stringify(res.body.errors)}`).toEqual([expected]);
      expect(res.body.errors![0]!.message).toContain('files[0]');
      // with a valid image before it in the same request: still nothing written
      const mixed = await multipart(
        ADD_IMAGES,
        { id: productId, files: [null, null] },
        [
          { at: 'files.0', name: 'coffee.png', bytes: readFixture('images', 'coffee.png') },
          { at: 'files.1', name: c.file, bytes: readFixture('images', c.file) },
        ],
        { key: admin },
      );
      expect(codes(mixed), c.file).toEqual([expected]);
      expect(await snapshot(), c.file).toEqual(before);
    }
  });

  it('refuses image URLs on private addresses and too many images', async () => {
    const before = await snapshot();
    const res = await srv.gql(ADD_IMAGES, { id: productId, urls: [`${srv.url}/images/${sha}`] }, { key: admin });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0]!.message).toMatch(/private|loopback/);
    for (const url of [
      'file:///etc/passwd',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/x.png',
      'not a url',
    ]) {
      expect(codes(await srv.gql(ADD_IMAGES, { id: productId, urls: [url] }, { key: admin })), url).toEqual([
        'BAD_USER_INPUT',
      ]);
    }
    const many = Array.from({ length: srv.config.maxFilesPerRequest + 1 }, (_, i) => `https://example.com/${i}.png`);
    expect(codes(await srv.gql(ADD_IMAGES, { id: productId, urls: many }, { key: admin }))).toEqual([
      'PAYLOAD_TOO_LARGE',
    ]);
    expect(
      codes(
        await srv.gql(
          ADD_IMAGES,
          { id: '00000000-0000-4000-8000-000000000000', urls: ['https://example.com/a.png'] },
          { key: admin },
        ),
      ),
    ).toEqual(['NOT_FOUND']);
    expect(await snapshot()).toEqual(before);
  });

  it('searches by an uploaded image (never stored)', async () => {
    const before = await snapshot();
    const res = await multipart<{
      search: { edges: { score: number; node: { sku: string }; matchedImage: { id: string } | null }[]; model: string };
    }>(
      `query($input: SearchInput!) { search(input: $input, first: 3) { model edges { score node { sku } matchedImage { id } } } }`,
      { input: { image: null } },
      [{ at: 'input.image', name: 'q.png', bytes: readFixture('images', 'astronaut.png') }],
    );
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    expect(res.body.data!.search.model).toBe(MODEL);
    expect(res.body.data!.search.edges[0]).toMatchObject({ node: { sku: 'IMG-1' }, matchedImage: { id: imageId } });
    expect(await snapshot()).toEqual(before);
    // multipart without the preflight header is refused (CSRF prevention)
    const csrf = await multipart(
      `query($input: SearchInput!) { search(input: $input) { model } }`,
      { input: { image: null } },
      [{ at: 'input.image', name: 'q.png', bytes: readFixture('images', 'red_1x1.png') }],
      { preflight: false },
    );
    expect(codes(csrf)).toEqual(['BAD_USER_INPUT']);
  });

  it('reorders and removes images; files go when no image uses them', async () => {
    const p = (await createProduct({ sku: 'IMG-3', title: 'Cups' })).id;
    const add = await multipart<{ addProductImages: { images: { id: string; sha256: string }[] } }>(
      ADD_IMAGES,
      { id: p, files: [null, null] },
      [
        { at: 'files.0', name: 'coffee.png', bytes: readFixture('images', 'coffee.png') },
        { at: 'files.1', name: 'astronaut.png', bytes: readFixture('images', 'astronaut.png') },
      ],
      { key: admin },
    );
    expect(add.body.errors).toBeUndefined();
    const [coffee, astro] = add.body.data!.addProductImages.images;
    const REORDER = `mutation($p: ID!, $ids: [ID!]!) { reorderProductImages(productId: $p, imageIds: $ids) { images { id position } } }`;
    const re = await srv.gql<{ reorderProductImages: { images: { id: string; position: number }[] } }>(
      REORDER,
      { p, ids: [astro!.id, coffee!.id] },
      { key: admin },
    );
    expect(re.body.data!.reorderProductImages.images).toEqual([
      { id: astro!.id, position: 0 },
      { id: coffee!.id, position: 1 },
    ]);
    expect(codes(await srv.gql(REORDER, { p, ids: [astro!.id] }, { key: admin }))).toEqual(['BAD_USER_INPUT']);

    const REMOVE = `mutation($id: ID!) { removeProductImage(imageId: $id) }`;
    const coffeeFile = imagePath(srv.config.imageDir, coffee!.sha256);
    const astroFile = imagePath(srv.config.imageDir, astro!.sha256);
    expect((await srv.gql(REMOVE, { id: coffee!.id }, { key: admin })).body.data).toEqual({ removeProductImage: true });
    expect(fs.existsSync(coffeeFile)).toBe(false); // no other image uses it
    expect((await srv.gql(REMOVE, { id: astro!.id }, { key: admin })).body.data).toEqual({ removeProductImage: true });
    expect(fs.existsSync(astroFile)).toBe(true); // IMG-1 still uses it
    expect(codes(await srv.gql(REMOVE, { id: astro!.id }, { key: admin }))).toEqual(['NOT_FOUND']);

    // deleting a product takes its images, vectors and unreferenced files with it
    const d = (await createProduct({ sku: 'IMG-4', title: 'Chelsea' })).id;
    const added = await multipart<{ addProductImages: { images: { id: string; sha256: string }[] } }>(
      ADD_IMAGES,
      { id: d, files: [null] },
      [{ at: 'files.0', name: 'chelsea.png', bytes: readFixture('images', 'chelsea.png') }],
      { key: admin },
    );
    const chelsea = added.body.data!.addProductImages.images[0]!;
    expect(fs.existsSync(imagePath(srv.config.imageDir, chelsea.sha256))).toBe(true);
    await srv.gql(`mutation($id: ID!) { deleteProduct(id: $id) }`, { id: d }, { key: admin });
    expect(fs.existsSync(imagePath(srv.config.imageDir, chelsea.sha256))).toBe(false);
    expect(await srv.db.sql.query('SELECT 1 FROM embedding_768 WHERE image_id = $1', [chelsea.id])).toEqual([]);
  });

  it('deletes the file it stored when the transaction fails after writing it', async () => {
    // an embedder whose vectors do not fit the table: the INSERT fails after the file was written
    const broken = new CatalogService({
      db: srv.db,
      config: srv.config,
      embedder: () => ({
        modelId: MODEL,
        dimension: 768,
        isTestModel: true,
        embedImage: async () => new Float32Array(767).fill(0.1),
      }),
    });
    const before = await snapshot();
    const bytes = readFixture('images', 'rocket.jpg');
    await expect(broken.addImages(productId, [{ kind: 'bytes', label: 'files[0]', bytes }])).rejects.toThrow();
    expect(await snapshot()).toEqual(before);
  });

  it('loads a page of products with images in a constant number of queries', async () => {
    const statements: string[] = [];
    const orig = srv.db.sql.query.bind(srv.db.sql);
    srv.db.sql.query = (async (text: string, params?: readonly unknown[]) => {
      statements.push(text);
      return orig(text, params);
    }) as typeof srv.db.sql.query;
    try {
      const res = await srv.gql<{ products: { edges: unknown[] } }>(
        `{ products(first: 100) { edges { node { id sku images { id url } primaryImage { id } } } } }`,
      );
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.products.edges.length).toBeGreaterThan(25);
    } finally {
      srv.db.sql.query = orig;
    }
    expect(statements.length).toBeLessThanOrEqual(2);
  });
});

describe('auth', () => {
  const MUTATIONS: { name: string; query: string; variables: () => Record<string, unknown> }[] = [
    { name: 'createProduct', query: CREATE, variables: () => ({ input: { sku: 'AUTH-1', title: 'x' } }) },
    {
      name: 'updateProduct',
      query: `mutation($id: ID!) { updateProduct(id: $id, input: { title: "hacked" }) { id } }`,
      variables: () => ({ id: ids.product }),
    },
    {
      name: 'deleteProduct',
      query: `mutation($id: ID!) { deleteProduct(id: $id) }`,
      variables: () => ({ id: ids.product }),
    },
    {
      name: 'upsertProducts',
      query: `mutation { upsertProducts(inputs: [{ sku: "AUTH-2", title: "x" }]) { created } }`,
      variables: () => ({}),
    },
    {
      name: 'addProductImages(urls)',
      query: ADD_IMAGES,
      variables: () => ({ id: ids.product, urls: ['https://example.com/a.png'] }),
    },
    {
      name: 'removeProductImage',
      query: `mutation($id: ID!) { removeProductImage(imageId: $id) }`,
      variables: () => ({ id: ids.image }),
    },
    {
      name: 'reorderProductImages',
      query: `mutation($p: ID!, $i: ID!) { reorderProductImages(productId: $p, imageIds: [$i]) { id } }`,
      variables: () => ({ p: ids.product, i: ids.image }),
    },
    {
      name: 'startReembed',
      query: `mutation { startReembed(model: "Xenova/clip-vit-base-patch32") { id } }`,
      variables: () => ({}),
    },
  ];
  const ids = { product: '', image: '' };

  beforeAll(async () => {
    const r = await srv.gql<{ product: { id: string; images: { id: string }[] } }>(
      `{ product(sku: "IMG-1") { id images { id } } }`,
    );
    ids.product = r.body.data!.product.id;
    ids.image = r.body.data!.product.images[0]!.id;
  });

  it('every mutation: no key → UNAUTHENTICATED, read key → FORBIDDEN, nothing written', async () => {
    const before = await snapshot();
    const title = (await srv.gql<{ product: { title: string } }>(`{ product(sku: "IMG-1") { title } }`)).body.data!
      .product.title;
    for (const m of MUTATIONS) {
      expect(codes(await srv.gql(m.query, m.variables())), `${m.name} without key`).toEqual(['UNAUTHENTICATED']);
      expect(codes(await srv.gql(m.query, m.variables(), { key: reader })), `${m.name} with read key`).toEqual([
        'FORBIDDEN',
      ]);
      expect(
        codes(await srv.gql(m.query, m.variables(), { key: 'glimpse_wrong_key_0000000000000000' })),
        `${m.name} with a wrong key`,
      ).toEqual(['UNAUTHENTICATED']);
    }
    // multipart upload too
    const up = (key?: string) =>
      multipart(
        ADD_IMAGES,
        { id: ids.product, files: [null] },
        [{ at: 'files.0', name: 'red_1x1.png', bytes: readFixture('images', 'red_1x1.png') }],
        key ? { key } : {},
      );
    expect(codes(await up())).toEqual(['UNAUTHENTICATED']);
    expect(codes(await up(reader))).toEqual(['FORBIDDEN']);
    expect(await snapshot()).toEqual(before);
    expect(
      (await srv.gql<{ product: { title: string } }>(`{ product(sku: "IMG-1") { title } }`)).body.data!.product.title,
    ).toBe(title);
  });

  it('re-embeds in a background job that admins can watch', async () => {
    expect(codes(await srv.gql(`{ job(id: "00000000-0000-4000-8000-000000000000") { id } }`))).toEqual([
      'UNAUTHENTICATED',
    ]);
    expect(
      codes(await srv.gql(`{ job(id: "00000000-0000-4000-8000-000000000000") { id } }`, {}, { key: reader })),
    ).toEqual(['FORBIDDEN']);
    const none = await srv.gql<{ job: unknown }>(
      `{ job(id: "00000000-0000-4000-8000-000000000000") { id state } }`,
      {},
      { key: admin },
    );
    expect(none.body.data!.job).toBeNull();

    type J = {
      id: string;
      kind: string;
      state: string;
      model: string | null;
      done: number;
      total: number;
      failed: number;
      progress: number | null;
      error: string | null;
    };
    const JOB = `query($id: ID!) { job(id: $id) { id kind state model done total failed progress error } }`;
    const waitFor = async (id: string): Promise<J> => {
      for (let i = 0; i < 200; i++) {
        const j = (await srv.gql<{ job: J }>(JOB, { id }, { key: admin })).body.data!.job;
        if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(j.state)) return j;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('job did not finish');
    };
    // the loaded model: every image already has its vector
    const started = await srv.gql<{ startReembed: J }>(
      `mutation($m: ID!) { startReembed(model: $m) { id kind state } }`,
      { m: MODEL },
      { key: admin },
    );
    expect(started.body.errors, JSON.stringify(started.body.errors)).toBeUndefined();
    expect(started.body.data!.startReembed.kind).toBe('reembed');
    expect(['QUEUED', 'RUNNING', 'SUCCEEDED']).toContain(started.body.data!.startReembed.state);
    const done = await waitFor(started.body.data!.startReembed.id);
    expect(done).toMatchObject({ state: 'SUCCEEDED', failed: 0 });
    // a model this server does not have: the job fails with a reason
    const missing = await srv.gql<{ startReembed: J }>(
      `mutation { startReembed(model: "Xenova/clip-vit-base-patch32") { id model } }`,
      {},
      { key: admin },
    );
    expect(missing.body.errors).toBeUndefined();
    // the job names the model it embeds with before that model is registered
    expect(missing.body.data!.startReembed.model).toBe('Xenova/clip-vit-base-patch32');
    const failed = await waitFor(missing.body.data!.startReembed.id);
    expect(failed.state).toBe('FAILED');
    expect(failed.error).toMatch(/not installed|clip-vit-base-patch32/);
    expect(codes(await srv.gql(`mutation { startReembed(model: "") { id } }`, {}, { key: admin }))).toEqual([
      'BAD_USER_INPUT',
    ]);
  });
});

describe('storefront', () => {
  it('runs a search page through @apollo/client against the live server', async () => {
    const client = new ApolloClient({ link: new HttpLink({ uri: srv.graphqlUrl, fetch }), cache: new InMemoryCache() });
    const SEARCH = apolloGql`
      query SearchPage($input: SearchInput!, $first: Int, $after: String) {
        search(input: $input, first: $first, after: $after) {
          model
          edges { cursor score node { id sku title price { amount currency } primaryImage { url } } matchedImage { id url } }
          pageInfo { hasNextPage endCursor }
          facets { categories { value count } brands { value count } inStock { value count } }
        }
        categories { path productCount }
      }`;
    type Res = {
      search: {
        model: string;
        edges: { node: { sku: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
        facets: { categories: { value: string; count: number }[] };
      };
    };
    const { data, error } = await client.query<Res>({
      query: SEARCH,
      variables: { input: { text: 'red', mode: 'SEMANTIC', facets: ['CATEGORY', 'BRAND', 'IN_STOCK'] }, first: 2 },
    });
    expect(error).toBeUndefined();
    expect(data!.search.model).toBe(MODEL);
    expect(data!.search.edges.length).toBeGreaterThan(0);
    expect(Array.isArray(data!.search.facets.categories)).toBe(true);
    if (data!.search.pageInfo.hasNextPage) {
      const next = await client.query<Res>({
        query: SEARCH,
        variables: { input: { text: 'red', mode: 'SEMANTIC' }, first: 2, after: data!.search.pageInfo.endCursor },
      });
      const firstSkus = new Set(data!.search.edges.map((e) => e.node.sku));
      expect(next.data!.search.edges.some((e) => firstSkus.has(e.node.sku))).toBe(false);
    }
    const kw = await client.query<Res>({
      query: SEARCH,
      variables: { input: { text: 'dress', mode: 'KEYWORD' }, first: 5 },
    });
    expect(kw.data!.search.edges.map((e) => e.node.sku)).toContain('DRESS-001');
    const sim = await client.query<{ similarProducts: { edges: { node: { sku: string } }[] } }>({
      query: apolloGql`query($id: ID!) { similarProducts(id: $id, first: 3) { edges { node { sku } score } } }`,
      variables: {
        id: (await srv.gql<{ product: { id: string } }>(`{ product(sku: "IMG-2") { id } }`)).body.data!.product.id,
      },
    });
    expect(sim.data!.similarProducts.edges[0]!.node.sku).toBe('IMG-1');
  });
});

describe('without a model', () => {
  let bare: TestServer;
  beforeAll(async () => {
    bare = await startTestServer({ models: 'none', config: { rateLimitPerMinute: 0 } });
  });
  afterAll(async () => {
    await bare?.close();
  });

  it('adding images is MODEL_UNAVAILABLE and writes nothing; keyword search and reads still work', async () => {
    const key = await bare.createKey('admin');
    const p = await bare.gql<{ createProduct: { id: string } }>(
      CREATE,
      { input: { sku: 'NM-1', title: 'Plain mug' } },
      { key },
    );
    const id = p.body.data!.createProduct.id;
    const res = await bare.gql(ADD_IMAGES, { id, urls: ['https://example.com/a.png'] }, { key });
    expect(codes(res)).toEqual(['MODEL_UNAVAILABLE']);
    expect(await bare.db.sql.query('SELECT 1 FROM product_image')).toEqual([]);
    const kw = await bare.gql<{ search: { edges: { node: { sku: string } }[] } }>(
      `{ search(input: { text: "mug", mode: KEYWORD }) { edges { node { sku } } } }`,
    );
    expect(kw.body.data!.search.edges.map((e) => e.node.sku)).toEqual(['NM-1']);
    expect(codes(await bare.gql(`{ search(input: { text: "mug" }) { model } }`))).toEqual(['MODEL_UNAVAILABLE']);
  });
});

describe('url fetch (local server, private addresses allowed)', () => {
  let local: http.Server;
  let base: string;
  let open: TestServer;

  beforeAll(async () => {
    const png = readFixture('images', 'coffee.png');
    local = http.createServer((req, res) => {
      if (req.url === '/coffee.png') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(png);
      } else if (req.url?.startsWith('/hop/')) {
        const n = Number(req.url.slice(5));
        res.writeHead(302, { location: n > 0 ? `/hop/${n - 1}` : '/coffee.png' });
        res.end();
      } else if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(Buffer.alloc(3 * 1024 * 1024));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
    open = await startTestServer({
      config: { rateLimitPerMinute: 0, fetchAllowPrivate: true, fetchMaxRedirects: 2, maxImageBytes: 2 * 1024 * 1024 },
    });
  });
  afterAll(async () => {
    await open?.close();
    local?.close();
  });

  it('fetches by URL, follows a few redirects, obeys the size limit', async () => {
    const key = await open.createKey('admin');
    const id = (
      await open.gql<{ createProduct: { id: string } }>(CREATE, { input: { sku: 'URL-1', title: 'Coffee' } }, { key })
    ).body.data!.createProduct.id;
    const ok = await open.gql<{ addProductImages: { images: { sha256: string }[] } }>(
      ADD_IMAGES,
      { id, urls: [`${base}/hop/1`] },
      { key },
    );
    expect(ok.body.errors, JSON.stringify(ok.body.errors)).toBeUndefined();
    const rows = await open.db.sql.query<{ source: string; source_url: string }>(
      'SELECT source, source_url FROM product_image',
    );
    expect(rows).toEqual([{ source: 'url', source_url: `${base}/hop/1` }]);
    expect(codes(await open.gql(ADD_IMAGES, { id, urls: [`${base}/hop/5`] }, { key }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await open.gql(ADD_IMAGES, { id, urls: [`${base}/missing.png`] }, { key }))).toEqual([
      'BAD_USER_INPUT',
    ]);
    const big = await open.gql(ADD_IMAGES, { id, urls: [`${base}/big`] }, { key });
    expect(codes(big), JSON.stringify(big.body.errors)).toEqual(['IMAGE_TOO_LARGE']);
    expect(await open.db.sql.query('SELECT count(*)::int AS n FROM product_image')).toEqual([{ n: 1 }]);
  });
});

describe('observability', () => {
  it('records search latency by mode and strategy, and embedding batches, in /metrics', async () => {
    const metric = async (name: string, labels: string): Promise<number> => {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      // summed over the series that carry these labels (e.g. both strategies of SEMANTIC)
      return text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && labels.split(',').every((x) => l.includes(x)))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    };
    const kwBefore = await metric('glimpse_search_duration_seconds_count', 'mode="KEYWORD",kind="keyword"');
    const semBefore = await metric('glimpse_search_duration_seconds_count', 'mode="SEMANTIC"');
    const textBatchesBefore = await metric('glimpse_embedding_batch_size_count', 'kind="text"');
    const kw = await srv.gql(`{ search(input: { text: "summer", mode: KEYWORD }) { edges { score } } }`);
    expect(kw.body.errors).toBeUndefined();
    const sem = await srv.gql(`{ search(input: { text: "metrics probe crimson ${Date.now()}" }) { edges { score } } }`);
    expect(sem.body.errors).toBeUndefined();
    expect(await metric('glimpse_search_duration_seconds_count', 'mode="KEYWORD",kind="keyword"')).toBe(kwBefore + 1);
    expect(await metric('glimpse_search_duration_seconds_count', 'mode="SEMANTIC"')).toBeGreaterThan(semBefore);
    expect(await metric('glimpse_embedding_batch_size_count', 'kind="text"')).toBeGreaterThan(textBatchesBefore);
  });
});
