/**
 * A statement with its settings (`Sql.query(text, params, { settings })`, src/db/sql.ts), as every vector-index
 * search runs on PostgreSQL and PGlite: the settings apply to that statement and end with it (also when it
 * fails), and on PostgreSQL — where the parameters are written in as literals so that settings and statement go in
 * one message of the simple protocol — every kind of value arrives exactly as a bound parameter does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withLiterals } from '../../src/db/postgres.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

const EF = {
  text: "SELECT set_config('hnsw.ef_search', $1, true), set_config('enable_seqscan', $2, true)",
  params: ['77', 'off'],
};
// missing_ok: hnsw.* exists only once pgvector's library is loaded into the backend (a rolled-back set_config
// leaves no placeholder behind)
const CURRENT = "SELECT current_setting('hnsw.ef_search', true) AS ef, current_setting('enable_seqscan') AS seq";
const notApplied = { ef: expect.not.stringMatching(/^77$/) as unknown, seq: 'on' };

describe.each(DB_KINDS)('a statement after its settings (%s)', (kind) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(kind, 1); // one connection: what one statement leaves behind, the next one sees
  });
  afterAll(() => db?.drop());

  it('applies them to the statement and to nothing after it', async () => {
    expect(await db.sql.query(CURRENT, [], { settings: EF })).toEqual([{ ef: '77', seq: 'off' }]);
    expect(await db.sql.query(CURRENT)).toEqual([notApplied]);
  });

  it('rolls them back with a failing statement and leaves the connection usable', async () => {
    await expect(db.sql.query('SELECT 1 / $1::int AS x', [0], { settings: EF })).rejects.toMatchObject({
      code: '22012',
    });
    expect(await db.sql.query(CURRENT)).toEqual([notApplied]);
    expect(await db.sql.query('SELECT 1 / $1::int AS x', [1], { settings: EF })).toEqual([{ x: 1 }]);
  });

  it('passes every kind of parameter as a bound one', async () => {
    const params = [
      "it's \\ a 'quote'; DROP TABLE product; --",
      ['a', 'b"c', null, "d'e", 'f\\g', '{x}', ''],
      new Date('2026-12-02T10:11:12.345Z'),
      12.5,
      -3,
      true,
      null,
      '[0.5,-0.25,1]',
      '红色连衣裙',
      ['00000000-0000-4000-8000-000000000001'],
    ];
    const text = `SELECT $1::text AS s, $2::text[] AS arr, $3::timestamptz AS at, $4::numeric::text AS n,
      $5::int AS i, $6::boolean AS b, $7::text AS nothing, $8::halfvec(3)::text AS h, $9 AS cjk,
      $10::uuid[] AS ids`;
    const bound = await db.sql.query(text, params);
    expect(await db.sql.query(text, params, { settings: EF })).toEqual(bound);
    expect(bound[0]).toMatchObject({ s: params[0], arr: params[1], i: -3, b: true, nothing: null, cjk: '红色连衣裙' });
  });
});

describe('parameters written in as literals', () => {
  it('refuses a placeholder without its parameter and a binary value', () => {
    expect(() => withLiterals('SELECT $2', ['a'])).toThrow(RangeError);
    expect(() => withLiterals('SELECT $1', [Buffer.from('x')])).toThrow(TypeError);
  });

  it('replaces $10 as a whole, not as $1 followed by 0', () => {
    const params = Array.from({ length: 10 }, (_, i) => `p${i + 1}`);
    expect(withLiterals('SELECT $1, $10', params)).toBe("SELECT 'p1', 'p10'");
  });
});
