/**
 * Keyword search in Chinese, Japanese and Korean on both databases: PostgreSQL's text search sees "红色连衣裙" as
 * one token, so these queries only match through the CJK n-gram column (prisma/migrations/*_cjk_keyword_search).
 * Also: the same migration's pg_trgm trigram index serves similarity over titles, on PostgreSQL and PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildSearch, explainText } from '../../src/search/sql.js';
import { SearchService } from '../../src/search/service.js';
import type { SearchResult } from '../../src/search/types.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

const pid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

const PRODUCTS: Array<{ title: string; brand?: string; description?: string }> = [
  /* 0 */ { title: '红色连衣裙', description: '夏季新款' },
  /* 1 */ { title: '女士红色修身连衣裙' },
  /* 2 */ { title: '蓝色连衣裙' },
  /* 3 */ { title: '蓝色运动鞋', brand: '飞跃' },
  /* 4 */ { title: '男士黑色跑步运动鞋' },
  /* 5 */ { title: 'Red summer dress', description: 'cotton' },
  /* 6 */ { title: '赤いワンピース' },
  /* 7 */ { title: '빨간 원피스' },
  /* 8 */ { title: '红色运动鞋', description: '不是裙子' },
];

// the server's defaults: nothing here depends on search tuning
const config = loadConfig({});

const ids = (r: SearchResult) => r.hits.map((h) => PRODUCTS[Number.parseInt(h.productId.slice(-12), 16)]!.title);

describe.each(DB_KINDS)('CJK keyword search on %s', (kind) => {
  let db: TestDatabase;
  let svc: SearchService;
  const keyword = (text: string, negativeText?: string) =>
    svc.search({ mode: 'KEYWORD', text, first: 20, ...(negativeText ? { negativeText } : {}) });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    for (const [i, p] of PRODUCTS.entries())
      await db.sql.query(`INSERT INTO product (id, sku, title, brand, description) VALUES ($1::uuid, $2, $3, $4, $5)`, [
        pid(i),
        `SKU-${i}`,
        p.title,
        p.brand ?? null,
        p.description ?? null,
      ]);
    svc = new SearchService(db.sql, config, () => {
      throw new Error('KEYWORD needs no model');
    });
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('full-text alone cannot match inside a CJK run (why the n-gram column exists)', async () => {
    const rows = await db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM product WHERE search_tsv @@ websearch_to_tsquery('english', '连衣裙')`,
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('a Chinese query ranks the titles containing its words first', async () => {
    const r = await keyword('红色连衣裙');
    const titles = ids(r);
    // exact title first, then the other red dress (红色 + 连衣裙 apart), then dresses / red things
    expect(titles.slice(0, 2)).toEqual(['红色连衣裙', '女士红色修身连衣裙']);
    expect(titles).toContain('蓝色连衣裙');
    expect(titles).not.toContain('Red summer dress');
    expect(titles).not.toContain('男士黑色跑步运动鞋');
    for (const h of r.hits) expect(h.score).toBeGreaterThan(0);
    expect(r.hits[0]!.score).toBeLessThan(1);
    expect(r.hits[0]!.score).toBeGreaterThan(r.hits[2]!.score);
  });

  it('matches a word in the middle of a title, single characters and the brand', async () => {
    expect(
      ids(await keyword('运动鞋'))
        .slice(0, 3)
        .sort(),
    ).toEqual(['男士黑色跑步运动鞋', '红色运动鞋', '蓝色运动鞋'].sort());
    expect(ids(await keyword('裙'))).toEqual(
      expect.arrayContaining(['红色连衣裙', '女士红色修身连衣裙', '蓝色连衣裙']),
    );
    expect(ids(await keyword('飞跃'))).toEqual(['蓝色运动鞋']);
  });

  it('Japanese and Korean titles', async () => {
    expect(ids(await keyword('ワンピース'))).toEqual(['赤いワンピース']);
    expect(ids(await keyword('원피스'))).toEqual(['빨간 원피스']);
  });

  it('Latin queries still use the full-text column only; mixed queries use both', async () => {
    expect(ids(await keyword('dress'))).toEqual(['Red summer dress']);
    expect(ids(await keyword('no such thing'))).toEqual([]);
    const mixed = ids(await keyword('red 运动鞋'));
    expect(mixed).toContain('蓝色运动鞋');
  });

  it('negativeText excludes CJK matches too', async () => {
    const titles = ids(await keyword('连衣裙', '蓝色'));
    expect(titles).toContain('红色连衣裙');
    expect(titles).not.toContain('蓝色连衣裙');
    expect(ids(await keyword('运动鞋', '裙子'))).not.toContain('红色运动鞋');
  });

  it('the n-gram column is served by its GIN index', async () => {
    const q = buildSearch({ mode: 'KEYWORD', text: '红色连衣裙', first: 10, textSearchConfig: 'english' });
    const plan = await db.sql.transaction(async (tx) => {
      await tx.query(`SET LOCAL enable_seqscan = off`);
      const rows = await tx.query<{ 'QUERY PLAN': string }>(explainText(q), q.params);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('product_search_cjk_idx');
  });

  it('pg_trgm is installed and its title index serves similarity', async () => {
    const plan = await db.sql.transaction(async (tx) => {
      await tx.query(`SET LOCAL enable_seqscan = off`);
      const rows = await tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (COSTS OFF) SELECT id FROM product WHERE title % $1`,
        ['Red sumer dres'],
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('product_title_trgm_idx');
    const rows = await db.sql.query<{ title: string }>(`SELECT title FROM product WHERE title % $1`, [
      'Red sumer dres',
    ]);
    expect(rows.map((r) => r.title)).toEqual(['Red summer dress']);
  });
});
