/**
 * Vectors in and out of the database, through the `pgvector` npm package for PostgreSQL and PGlite alike:
 * its `toSql` formats a query parameter; its type registration (`pgvector/pg` registerTypes: find the OIDs of
 * vector / halfvec, install their parsers) makes such columns arrive as numbers — into a node-postgres pool's
 * `types` (every connection, no per-connection round trip) or PGlite's parser table; its `fromSql` reads the
 * text form where a value still arrives as text (a cast to text, or a query before the extension existed).
 * Nothing else in Glimpse formats or parses pgvector's text. Vectors written to halfvec columns go as
 * halfvecToSql's short text instead (a third of the bytes to send and parse, the same stored halves).
 */
import pg from 'pg';
import pgvector from 'pgvector';
import { registerTypes } from 'pgvector/pg';
import { fromHalfBits, halfBitsOfFloat32Bits, toHalfBits } from '../embedding/fp16.js';

/** A vector as a `$n::halfvec(d)` / `$n::vector(d)` parameter. Non-finite components are refused here (pgvector would). */
export function vectorToSql(v: ArrayLike<number>): string {
  const arr = Array.from(v);
  const bad = arr.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new RangeError(`vector component ${bad} is not finite`);
  return pgvector.toSql(arr) as string;
}

/**
 * The shortest decimal text of each finite IEEE half (by its bits) that reads back as that half: pgvector's
 * halfvec input parses a float and rounds it to the nearest half, so the float32 printed in full (up to 17
 * digits, what vectorToSql sends) and this text (at most 5 significant digits) store the same value. Built on
 * first use (65,536 strings); test/integration/db-vector.test.ts checks every one against the server.
 */
let halfTexts: string[] | undefined;

function buildHalfTexts(): string[] {
  const texts = new Array<string>(0x10000);
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00) continue; // infinities and NaNs: refused before formatting
    const value = fromHalfBits(h);
    let text = h === 0x8000 ? '-0' : String(value);
    for (let digits = 1; digits <= 5; digits++) {
      const short = String(Number(value.toPrecision(digits)));
      if (toHalfBits(Number(short)) === h) {
        if (short.length < text.length) text = short;
        break;
      }
    }
    texts[h] = text;
  }
  return texts;
}

/**
 * A vector as a `$n::halfvec(d)` parameter: each component rounded to the nearest half (as pgvector does) and
 * written in its shortest text. Non-finite components and components beyond halfvec's range are refused.
 */
export function halfvecToSql(v: ArrayLike<number>): string {
  const texts = (halfTexts ??= buildHalfTexts());
  // the float32 bits of each component (a vector read or normalised here is a Float32Array already)
  const f32 = v instanceof Float32Array ? v : Float32Array.from(v);
  const bits = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  const parts = new Array<string>(f32.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7f800000) === 0x7f800000) throw new RangeError(`vector component ${i} is not finite`);
    const h = halfBitsOfFloat32Bits(x);
    if ((h & 0x7c00) === 0x7c00) throw new RangeError(`vector component ${i} (${f32[i]}) is out of range for halfvec`);
    parts[i] = texts[h]!;
  }
  return `[${parts.join(',')}]`;
}

/** A `vector` / `halfvec` result column as numbers: already parsed by the registered type, or pgvector's text. */
export function vectorFromSql(value: unknown): Float32Array {
  if (Array.isArray(value)) return Float32Array.from(value as number[]);
  if (typeof value === 'string') return Float32Array.from(pgvector.fromSql(value) as number[]);
  throw new TypeError(`expected a pgvector value, got ${value === null ? 'null' : typeof value}`);
}

type Parse = (text: string) => unknown;
type Query = (text: string, params?: unknown[]) => Promise<{ rows: unknown[] }>;

/** Runs pgvector's registration against `query`, handing each parser to `install`. */
export async function registerVectorTypes(query: Query, install: (oid: number, parse: Parse) => void): Promise<void> {
  await registerTypes({
    query,
    setTypeParser: (oid: number, _format: string, parse: Parse) => install(oid, parse),
  });
}

/** A node-postgres `types` config (pool-wide): pgvector's parsers once registered, pg's own for everything else. */
export interface VectorTypeParsers extends pg.CustomTypesConfig {
  install(oid: number, parse: Parse): void;
}

export function vectorTypeParsers(): VectorTypeParsers {
  const parsers = new Map<number, Parse>();
  const getTypeParser = ((oid: number, format?: 'text' | 'binary') =>
    (format !== 'binary' && parsers.get(oid)) ||
    pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser;
  return { getTypeParser, install: (oid, parse) => parsers.set(oid, parse) };
}

/**
 * Registers pgvector's parsers on a pool's `types` (after the migrations, which create the extension). A
 * database without the extension (migrations off, not yet migrated) keeps text values, which vectorFromSql reads.
 */
export async function registerPoolVectorTypes(pool: pg.Pool, types: VectorTypeParsers): Promise<void> {
  try {
    await registerVectorTypes((text, params) => pool.query(text, params), types.install);
  } catch (err) {
    if (!(err instanceof Error && /vector type not found/.test(err.message))) throw err;
  }
}

/** The part of PGlite that type registration needs (its public per-OID parser table). */
export interface PGliteTypeTarget {
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
  parsers: Record<number | string, (value: string, typeId?: number) => unknown>;
}

/** Registers pgvector's parsers on PGlite's one backend (after CREATE EXTENSION vector). */
export async function registerPGliteVectorTypes(db: PGliteTypeTarget): Promise<void> {
  await registerVectorTypes(
    (text, params) => db.query(text, params),
    (oid, parse) => {
      db.parsers[oid] = parse;
    },
  );
}
