/**
 * Vectors through the one db module (src/db/vector.ts, the pgvector package) on PostgreSQL and PGlite alike:
 * a parameter goes in as pgvector's text, vector and halfvec columns come back as numbers (the registered
 * parsers), the text form still reads, and values that pgvector cannot hold are refused before SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { halfvecToSql, vectorFromSql, vectorToSql } from '../../src/db/vector.js';
import { fromHalfBits } from '../../src/embedding/fp16.js';
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

  it('halfvecToSql stores the same half as the full float text, for every finite half', async () => {
    const halves = Array.from({ length: 0x10000 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00);
    // the exact value of each half in full (a dyadic fraction: String() round-trips it exactly)
    const full = (h: number) => (h === 0x8000 ? '-0' : String(fromHalfBits(h)));
    for (let i = 0; i < halves.length; i += 16_000) {
      const chunk = halves.slice(i, i + 16_000);
      const [row] = await db.sql.query<{ short: string; exact: string }>(
        `SELECT $1::halfvec::text AS short, $2::halfvec::text AS exact`,
        [halfvecToSql(chunk.map(fromHalfBits)), `[${chunk.map(full).join(',')}]`],
      );
      const short = row!.short.slice(1, -1).split(',');
      const exact = row!.exact.slice(1, -1).split(',');
      const differing = chunk.filter((_, k) => short[k] !== exact[k]);
      expect(
        differing.map((h) => h.toString(16)),
        'halves stored differently',
      ).toEqual([]);
    }
    // float32 inputs between halves round to the nearest one, as the server rounds the full text
    const floats = Array.from({ length: 2000 }, (_, k) => Math.fround(Math.sin(k * 7.1) * 1.7));
    const [row] = await db.sql.query<{ same: boolean }>(`SELECT $1::halfvec = $2::halfvec AS same`, [
      halfvecToSql(floats),
      vectorToSql(floats),
    ]);
    expect(row!.same).toBe(true);
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

  it('halfvecToSql writes each component in its shortest half text, and refuses what a halfvec cannot hold', () => {
    expect(halfvecToSql([1, -0.5, 0, 0.1, Math.fround(0.0123456789)])).toBe('[1,-0.5,0,0.1,0.012344]');
    expect(() => halfvecToSql([0, Number.NaN])).toThrow(/component 1 is not finite/);
    expect(() => halfvecToSql([70_000])).toThrow(/component 0 \(70000\) is out of range for halfvec/);
    const unit = Float32Array.from({ length: 768 }, (_, k) => Math.sin(k) / Math.sqrt(384));
    expect(halfvecToSql(unit).length).toBeLessThan(vectorToSql(unit).length / 2);
  });

  it('refuses what is not a pgvector value', () => {
    expect(() => vectorFromSql(null)).toThrow(/got null/);
    expect(() => vectorFromSql(42)).toThrow(TypeError);
  });
});
