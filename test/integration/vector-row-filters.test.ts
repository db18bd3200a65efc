/**
 * The filter columns on the vector rows (migration vector_row_filters: category, brand, currency, price, stock,
 * tags and creation time copied from the product by triggers) equal their product's after every kind of write,
 * on PostgreSQL and PGlite: a vector written for a product, a product created, updated (field by field),
 * upserted in a batch, its vectors deleted with it; an update that changes no filter column leaves the vector
 * rows alone; vectors that existed before the migration are filled by it (and their vector index rebuilt). On
 * PostgreSQL also under concurrent transactions: a vector written while the product is being updated, either
 * way round. The importer and the re-embed job are checked in their own tests (import*.test.ts,
 * reembed.test.ts) with the same vectorRowMismatches.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteProduct, updateProduct, upsertProducts } from '../../src/catalog/products.js';
import { insertEmbeddings } from '../../src/catalog/store/embeddings.js';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/index.js';
import type { Sql } from '../../src/db/sql.js';
import {
  createScratchDatabase,
  createTestDatabase,
  DB_KINDS,
  vectorRowMismatches,
  type TestDatabase,
} from '../helpers/db.js';

const MODEL = { modelId: 'filters-768', dimension: 768 };
const unit = (k: number) => Array.from({ length: 768 }, (_, i) => (i === k % 768 ? 1 : 0));

async function addImage(sql: Sql, productId: string, n: number): Promise<string> {
  const rows = await sql.query<{ id: string }>(
    `INSERT INTO product_image (product_id, sha256, source, content_type, byte_size, width, height, position)
     VALUES ($1, lpad(to_hex($2::int), 64, '0'), 'test', 'image/png', 1, 1, 1, $2) RETURNING id::text AS id`,
    [productId, n],
  );
  return rows[0]!.id;
}

async function rowsOf(sql: Sql, productId: string) {
  return sql.query<{
    category: string | null;
    brand: string | null;
    price: string | null;
    in_stock: boolean;
    tags: string[];
  }>(
    `SELECT category, brand, price::text AS price, in_stock, tags FROM embedding_768 WHERE product_id = $1::uuid ORDER BY image_id`,
    [productId],
  );
}

describe.each(DB_KINDS)('filter columns on the vector rows on %s', (kind) => {
  let db: TestDatabase;
  let productId: string;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    await db.sql.query(
      `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, 'f', 768, true, true)`,
      [MODEL.modelId],
    );
    const up = await upsertProducts(
      db.sql,
      [
        {
          sku: 'F1',
          title: 'Linen dress',
          brand: 'Acme',
          category: 'women/dresses',
          price: { amount: '40', currency: 'USD' },
          tags: ['summer'],
        },
      ],
      'english',
    );
    productId = up.products[0]!.id;
    const images = [await addImage(db.sql, productId, 1), await addImage(db.sql, productId, 2)];
    await insertEmbeddings(
      db.sql,
      MODEL,
      images.map((imageId, k) => ({ imageId, vector: unit(k) })),
    );
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('a written vector takes its product’s values', async () => {
    const rows = await rowsOf(db.sql, productId);
    expect(rows).toHaveLength(2);
    for (const r of rows)
      expect(r).toEqual({ category: 'women/dresses', brand: 'Acme', price: '40.00', in_stock: true, tags: ['summer'] });
    expect(await vectorRowMismatches(db.sql)).toBe(0);
  });

  it('an update of each filter column reaches every vector row of the product', async () => {
    const patches = [
      { brand: 'Fjord' },
      { category: 'women/skirts' },
      { price: { amount: '35.5', currency: 'EUR' } },
      { inStock: false },
      { tags: ['sale', 'linen'] },
      { brand: null, price: null, tags: [] },
    ];
    for (const patch of patches) {
      await updateProduct(db.sql, productId, patch);
      expect(await vectorRowMismatches(db.sql), JSON.stringify(patch)).toBe(0);
    }
    const rows = await rowsOf(db.sql, productId);
    expect(rows[0]).toEqual({ category: 'women/skirts', brand: null, price: null, in_stock: false, tags: [] });
  });

  it('an upsert of a batch keeps them equal, and one that changes no filter column leaves the vector rows alone', async () => {
    const xmins = async () =>
      (await db.sql.query<{ x: string }>(`SELECT xmin::text AS x FROM embedding_768 ORDER BY image_id`)).map(
        (r) => r.x,
      );
    await upsertProducts(
      db.sql,
      [
        {
          sku: 'F1',
          title: 'Linen dress',
          brand: 'Acme',
          category: 'women/dresses',
          price: { amount: '42', currency: 'USD' },
          tags: ['summer'],
        },
      ],
      'english',
    );
    expect(await vectorRowMismatches(db.sql)).toBe(0);
    expect((await rowsOf(db.sql, productId))[0]!.price).toBe('42.00');
    const before = await xmins();
    await updateProduct(db.sql, productId, { title: 'Linen summer dress', description: 'Light.' });
    expect(await xmins()).toEqual(before);
  });

  it('deleting the product deletes its vector rows', async () => {
    const other = (await upsertProducts(db.sql, [{ sku: 'F2', title: 'Wool coat', tags: ['winter'] }], 'english'))
      .products[0]!.id;
    await insertEmbeddings(db.sql, MODEL, [{ imageId: await addImage(db.sql, other, 3), vector: unit(5) }]);
    expect(await rowsOf(db.sql, other)).toHaveLength(1);
    await deleteProduct(db.sql, other);
    expect(await rowsOf(db.sql, other)).toHaveLength(0);
    expect(await vectorRowMismatches(db.sql)).toBe(0);
  });
});

describe('vectors that existed before the migration', () => {
  it(
    'are filled by it, and their HNSW index is built again from its own definition',
    { timeout: 180_000 },
    async () => {
      const scratch = await createScratchDatabase();
      const db = await openDatabase({
        databaseUrl: scratch.url,
        dataDir: '/nonexistent',
        dbPoolSize: 2,
        dbStatementTimeoutMs: 0,
      });
      try {
        const all = readMigrations();
        const at = all.findIndex((m) => m.name.endsWith('_vector_row_filters'));
        expect(at).toBeGreaterThan(0);
        await migrate(db.sql, all.slice(0, at));
        await db.sql.query(
          `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ('old', 'o', 768, true, true)`,
        );
        await db.sql.query(
          `INSERT INTO product (sku, title, brand, category, price, currency, tags) VALUES ('OLD', 'Old', 'Acme', 'a/b', 9.5, 'USD', '{x}')`,
        );
        const id = (await db.sql.query<{ id: string }>(`SELECT id::text AS id FROM product`))[0]!.id;
        const image = await addImage(db.sql, id, 1);
        await db.sql.query(
          `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding) VALUES ($1, 'old', $2, $3::halfvec(768))`,
          [image, id, `[${unit(1).join(',')}]`],
        );
        await migrate(db.sql, all);
        expect(await vectorRowMismatches(db.sql)).toBe(0);
        expect((await rowsOf(db.sql, id))[0]).toMatchObject({ brand: 'Acme', category: 'a/b', tags: ['x'] });
        const defs = await db.sql.query<{ def: string }>(
          `SELECT indexdef AS def FROM pg_indexes WHERE tablename = 'embedding_768' AND indexname = 'embedding_768_hnsw_idx'`,
        );
        expect(defs[0]?.def).toMatch(
          /USING hnsw \(embedding halfvec_cosine_ops\) WITH \(m='16', ef_construction='64'\)/,
        );
      } finally {
        await db.close();
        await scratch.drop();
      }
    },
  );
});

describe('concurrent writes on PostgreSQL', () => {
  let db: TestDatabase;
  let a: pg.Client;
  let b: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    await db.sql.query(
      `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ($1, 'f', 768, true, true)`,
      [MODEL.modelId],
    );
    a = new pg.Client({ connectionString: db.url });
    b = new pg.Client({ connectionString: db.url });
    await a.connect();
    await b.connect();
  }, 60_000);
  afterAll(async () => {
    await a?.end();
    await b?.end();
    await db?.drop();
  });

  async function product(sku: string): Promise<{ id: string; image: string }> {
    const id = (
      await upsertProducts(db.sql, [{ sku, title: sku, price: { amount: '10', currency: 'USD' } }], 'english')
    ).products[0]!.id;
    return { id, image: await addImage(db.sql, id, Number(sku.replace(/\D/g, ''))) };
  }
  const insertVector = (c: pg.Client, p: { id: string; image: string }) =>
    c.query(
      `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding) VALUES ($1, $2, $3, $4::halfvec(768))`,
      [p.image, MODEL.modelId, p.id, `[${unit(3).join(',')}]`],
    );
  const waiting = async (c: pg.Client) => {
    const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    return async () => {
      const r = await db.sql.query<{ w: string | null }>(
        `SELECT wait_event_type AS w FROM pg_stat_activity WHERE pid = $1`,
        [pid],
      );
      return r[0]?.w === 'Lock';
    };
  };
  async function until(cond: () => Promise<boolean>) {
    for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 25));
    expect(await cond()).toBe(true);
  }

  it('a vector written while its product’s update is uncommitted waits for it and takes the new values', async () => {
    const p = await product('C11');
    const bWaits = await waiting(b);
    await a.query('BEGIN');
    await a.query(`UPDATE product SET price = 77, tags = '{late}' WHERE id = $1`, [p.id]);
    await b.query('BEGIN');
    const inserted = insertVector(b, p);
    await until(bWaits);
    await a.query('COMMIT');
    await inserted;
    await b.query('COMMIT');
    expect(await rowsOf(db.sql, p.id)).toEqual([
      { category: null, brand: null, price: '77.00', in_stock: true, tags: ['late'] },
    ]);
    expect(await vectorRowMismatches(db.sql)).toBe(0);
  });

  it('a product update while a new vector of it is uncommitted waits for it and rewrites it', async () => {
    const p = await product('C12');
    const bWaits = await waiting(b);
    await a.query('BEGIN');
    await insertVector(a, p);
    await b.query('BEGIN');
    const updated = b.query(`UPDATE product SET price = 88, brand = 'Later' WHERE id = $1`, [p.id]);
    await until(bWaits);
    await a.query('COMMIT');
    await updated;
    await b.query('COMMIT');
    expect(await rowsOf(db.sql, p.id)).toEqual([
      { category: null, brand: 'Later', price: '88.00', in_stock: true, tags: [] },
    ]);
    expect(await vectorRowMismatches(db.sql)).toBe(0);
  });
});
