/**
 * The one SQL interface the services use, over either a PostgreSQL pool (node-postgres) or embedded
 * PGlite. Both speak the same PostgreSQL dialect, so the search SQL, migrations and catalog queries run
 * unchanged on either. Results are normalised: numeric → string, int8 → number, timestamptz → Date.
 */
export type DatabaseKind = 'postgres' | 'pglite';

export interface QueryOptions {
  /**
   * A statement run first, in one transaction with the statement, so that what it sets applies to that statement
   * alone (a search's `set_config(…, true)` calls: BuiltQuery.settings); on a PostgreSQL server in the same round
   * trip (./postgres.ts). null: none.
   */
  settings?: { text: string; params: readonly unknown[] } | null;
}

export interface Sql {
  readonly kind: DatabaseKind;
  /** One parameterised statement ($1, $2, …), with `settings` before it in its transaction. */
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[], opts?: QueryOptions): Promise<T[]>;
  /** Several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when it
   * throws. `SET LOCAL` inside applies to this transaction only.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on one connection, outside a transaction (session `SET`s, then statements that cannot run in a
   * transaction block, e.g. CREATE INDEX CONCURRENTLY). Session settings are reset before the connection
   * goes back to the pool.
   */
  session<T>(fn: (s: Sql) => Promise<T>): Promise<T>;
}

/** A statement built for running and for review (its shape's SQL is committed: src/search/queries/). */
export interface BuiltQuery {
  /** name of the shape (file under src/search/queries/) */
  shape: string;
  /** run first, in the same transaction: one statement of set_config(..., true) calls, or null */
  settings: { text: string; params: unknown[] } | null;
  text: string;
  params: unknown[];
}

/** Collects parameters; `add` returns the placeholder ($n). The same value object is never deduplicated. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return `$${this.values.length}${cast ? `::${cast}` : ''}`;
  }
}

/**
 * The SET list of an UPDATE: `set` adds `column = $n` with its parameter (after those already in `params`, e.g.
 * the row's id as $1); `raw` adds an assignment without one (`updated_at = now()`).
 */
export class Assignments {
  readonly list: string[] = [];
  constructor(readonly params: Params) {}
  set(column: string, value: unknown, cast?: string): this {
    this.list.push(`${column} = ${this.params.add(value, cast)}`);
    return this;
  }
  raw(assignment: string): this {
    this.list.push(assignment);
    return this;
  }
  toString(): string {
    return this.list.join(', ');
  }
}
