/**
 * The one SQL interface the services use, over either a PostgreSQL pool (node-postgres) or embedded
 * PGlite. Both speak the same PostgreSQL dialect, so the search SQL, migrations and catalog queries run
 * unchanged on either. Results are normalised: numeric → string, int8 → number, timestamptz → Date.
 */
export type DatabaseKind = 'postgres' | 'pglite';

export interface Sql {
  readonly kind: DatabaseKind;
  /** One parameterised statement ($1, $2, …). */
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when it
   * throws. `SET LOCAL` inside applies to this transaction only (used to tune pgvector per search).
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on one connection, outside a transaction (session `SET`s, then statements that cannot run in a
   * transaction block, e.g. CREATE INDEX CONCURRENTLY). Session settings are reset before the connection
   * goes back to the pool.
   */
  session<T>(fn: (s: Sql) => Promise<T>): Promise<T>;
}

/** Formats a vector as pgvector's text input ('[0.1,0.2,…]'), for a `$n::halfvec(d)` / `::vector(d)` parameter. */
export function vectorLiteral(v: ArrayLike<number>): string {
  let s = '[';
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) throw new RangeError(`vector component ${i} is not finite`);
    s += (i ? ',' : '') + x;
  }
  return s + ']';
}

/** Parses pgvector's text output back into numbers. */
export function parseVector(text: string): Float32Array {
  const inner = text.trim().replace(/^\[/, '').replace(/\]$/, '');
  return Float32Array.from(inner.length ? inner.split(',').map(Number) : []);
}
