import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, migrationStatus, readMigrations } from '../../src/db/migrate.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

describe.each(DB_KINDS)('migrations on %s', (kind) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('applies every migration with Prisma checksums and is idempotent', async () => {
    const files = readMigrations();
    const status = await migrationStatus(db.sql);
    expect(status).toEqual({ applied: files.map((f) => f.name), pending: [], modified: [], failed: [] });
    const rows = await db.sql.query<{ migration_name: string; checksum: string; applied_steps_count: number }>(
      'SELECT migration_name, checksum, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name',
    );
    expect(rows).toEqual(files.map((f) => ({ migration_name: f.name, checksum: f.checksum, applied_steps_count: 1 })));
    expect(await migrate(db.sql)).toEqual([]);
  });

  it('creates pgvector HNSW indexes and the generated full-text column', async () => {
    const idx = await db.sql.query<{ indexname: string; indexdef: string }>(
      `SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'embedding_%_hnsw_idx' ORDER BY indexname`,
    );
    expect(idx.map((i) => i.indexname)).toEqual([
      'embedding_1024_hnsw_idx',
      'embedding_512_hnsw_idx',
      'embedding_768_hnsw_idx',
    ]);
    expect(idx[2]!.indexdef).toMatch(/USING hnsw \(embedding halfvec_cosine_ops\)/);
    await db.sql.query(
      `INSERT INTO product (sku, title, brand, description) VALUES ('m-1', 'Red summer dresses', 'Acme', 'light cotton')`,
    );
    const [row] = await db.sql.query<{ hit: boolean }>(
      `SELECT search_tsv @@ websearch_to_tsquery('english', 'dress cotton') AS hit FROM product WHERE sku = 'm-1'`,
    );
    expect(row!.hit).toBe(true);
  });

  it('keeps at most one active model', async () => {
    await db.sql.query(`INSERT INTO embedding_model (id, name, dimension, active) VALUES ('a', 'a', 768, true)`);
    await expect(
      db.sql.query(`INSERT INTO embedding_model (id, name, dimension, active) VALUES ('b', 'b', 768, true)`),
    ).rejects.toThrow(/embedding_model_one_active_idx/);
  });

  it('prisma client works over the same connection', async () => {
    const p = await db.prisma.product.create({ data: { sku: 'prisma-1', title: 'Blue jacket', tags: ['outer'] } });
    expect(p.tags).toEqual(['outer']);
    const found = await db.prisma.product.findUnique({ where: { sku: 'prisma-1' } });
    expect(found?.title).toBe('Blue jacket');
  });
});
