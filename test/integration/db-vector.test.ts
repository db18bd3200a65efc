/**
 * Vectors through the one db module (src/db/vector.ts, the pgvector package) on PostgreSQL and PGlite alike:
 * a parameter goes in as pgvector's text, vector and halfvec columns come back as numbers (the registered
 * parsers), the text form still reads, and values that pgvector cannot hold are refused before SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vectorFromSql, vectorToSql } from '../../src/db/vector.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';

const v = Float32Array.from([0.5, -0.25, 2 ** -7, 0.125, -1]); // exact in float32 and in fp16

describe.each(DB_KINDS)('pgvector values (%s)', (kind) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(kind, 3);
  });
  afterAll(() => db?.drop());

  it('vector and halfvec columns arrive parsed as numbers, on every connection', async () => {
    // several statements at once: on PostgreSQL they spread over the pool's connections
    const rows = await Promise.all(
      Array.from({ length: 6 }, () =>
        db.sql.query<{ f: unknown; h: unknown }>(`SELECT $1::vector(5) AS f, $1::halfvec(5) AS h`, [vectorToSql(v)]),
      ),
    );
    for (const [row] of rows) {
      expect(Array.isArray(row!.f), `vector column came back as ${typeof row!.f}`).toBe(true);
      expect(Array.isArray(row!.h), `halfvec column came back as ${typeof row!.h}`).toBe(true);
      expect(Array.from(vectorFromSql(row!.f))).toEqual(Array.from(v));
      expect(Array.from(vectorFromSql(row!.h))).toEqual(Array.from(v));
    }
  });

  it('the text form (a cast to text, or a connection without the parsers) reads the same', async () => {
    const [row] = await db.sql.query<{ t: string }>(`SELECT $1::halfvec(5)::text AS t`, [vectorToSql(v)]);
    expect(typeof row!.t).toBe('string');
    expect(Array.from(vectorFromSql(row!.t))).toEqual(Array.from(v));
  });

  it('aggregates (avg over halfvec as vector) come back parsed', async () => {
    const [row] = await db.sql.query<{ m: unknown }>(
      `SELECT avg(x::vector) AS m FROM (VALUES ($1::halfvec(2)), ($2::halfvec(2))) t(x)`,
      [vectorToSql([1, 0]), vectorToSql([0, 1])],
    );
    expect(Array.from(vectorFromSql(row!.m))).toEqual([0.5, 0.5]);
  });
});

describe('vectorToSql / vectorFromSql', () => {
  it('formats as pgvector text and refuses non-finite components with their index', () => {
    expect(vectorToSql([1, -0.5, 0])).toBe('[1,-0.5,0]');
    expect(() => vectorToSql([0, Number.NaN])).toThrow(/component 1 is not finite/);
    expect(() => vectorToSql([Number.POSITIVE_INFINITY])).toThrow(RangeError);
  });

  it('refuses what is not a pgvector value', () => {
    expect(() => vectorFromSql(null)).toThrow(/got null/);
    expect(() => vectorFromSql(42)).toThrow(TypeError);
  });
});
