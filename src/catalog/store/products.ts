/**
 * The product table: its row type, the columns every product read selects, the listing orders and every
 * statement on it. Inputs arrive validated (../products.ts validates, then calls these); a unique violation
 * on sku surfaces as the database error for the caller to name.
 */
import type { Sql } from '../../db/index.js';
import { Assignments, Params } from '../../db/sql.js';
import { filterConditions, type ProductFilter } from '../filter.js';
import type { ProductFields } from '../validation.js';

export interface ProductRow {
  id: string;
  sku: string;
  title: string;
  description: string | null;
  brand: string | null;
  category: string | null;
  /** decimal string, e.g. '19.90' */
  price: string | null;
  currency: string | null;
  inStock: boolean;
  tags: string[];
  attributes: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

export const PRODUCT_COLUMNS = `p.id::text AS id, p.sku, p.title, p.description, p.brand, p.category, p.price::text AS price,
  p.currency::text AS currency, p.in_stock AS "inStock", p.tags, p.attributes, p.created_at AS "createdAt", p.updated_at AS "updatedAt"`;

/** The names PRODUCT_COLUMNS selects (every ProductRow field: checked at compile time below). */
const PRODUCT_FIELDS = [
  'id',
  'sku',
  'title',
  'description',
  'brand',
  'category',
  'price',
  'currency',
  'inStock',
  'tags',
  'attributes',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof ProductRow)[];
type MissingProductField = Exclude<keyof ProductRow, (typeof PRODUCT_FIELDS)[number]>;
const everyProductField: MissingProductField extends never ? true : never = true;
void everyProductField;

/**
 * The product in a wider row that selected PRODUCT_COLUMNS beside its own (a search page reads its products
 * in the same statement); null when the row has none (an empty page, or a product deleted meanwhile).
 */
export function productFromRow(row: object): ProductRow | null {
  const columns = row as Record<string, unknown>;
  if (columns.id == null) return null;
  return Object.fromEntries(PRODUCT_FIELDS.map((f) => [f, columns[f]])) as unknown as ProductRow;
}

export type ProductOrder = 'NEWEST' | 'OLDEST' | 'PRICE_ASC' | 'PRICE_DESC' | 'TITLE' | 'UPDATED';

/** Sort key expression, its SQL type, direction, and how to read it from a row (for the cursor). */
export const PRODUCT_ORDERS: Record<
  ProductOrder,
  { expr: string; type: 'timestamptz' | 'text' | 'numeric'; desc: boolean; key: (r: ProductRow) => string }
> = {
  NEWEST: { expr: 'p.created_at', type: 'timestamptz', desc: true, key: (r) => r.createdAt.toISOString() },
  OLDEST: { expr: 'p.created_at', type: 'timestamptz', desc: false, key: (r) => r.createdAt.toISOString() },
  UPDATED: { expr: 'p.updated_at', type: 'timestamptz', desc: true, key: (r) => r.updatedAt.toISOString() },
  TITLE: { expr: 'p.title', type: 'text', desc: false, key: (r) => r.title },
  // products without a price last: a sentinel above numeric(12,2)'s range ascending, below 0 descending
  PRICE_ASC: {
    expr: 'COALESCE(p.price, 100000000000)',
    type: 'numeric',
    desc: false,
    key: (r) => r.price ?? '100000000000',
  },
  PRICE_DESC: { expr: 'COALESCE(p.price, -1)', type: 'numeric', desc: true, key: (r) => r.price ?? '-1' },
};

/** The parameters $1–$10 of INSERT_VALUES. */
function fieldParams(f: ProductFields): unknown[] {
  return [
    f.sku,
    f.title,
    f.description,
    f.brand,
    f.category,
    f.price?.amount ?? null,
    f.price?.currency ?? null,
    f.inStock,
    f.tags,
    JSON.stringify(f.attributes),
  ];
}

const INSERT_COLUMNS =
  'sku, title, description, brand, category, price, currency, in_stock, tags, attributes, language';
const INSERT_VALUES = '$1, $2, $3, $4, $5, $6::numeric, $7, $8, $9::text[], $10::jsonb, $11::regconfig';
/** The columns an upsert replaces (sku is the key; language stays as created). */
const REPLACED = ['title', 'description', 'brand', 'category', 'price', 'currency', 'in_stock', 'tags', 'attributes'];

/** Inserts a product; null when its sku exists already. */
export async function insertProduct(sql: Sql, f: ProductFields, textSearchConfig: string): Promise<ProductRow | null> {
  const rows = await sql.query<ProductRow>(
    `INSERT INTO product AS p (${INSERT_COLUMNS}) VALUES (${INSERT_VALUES})
     ON CONFLICT (sku) DO NOTHING RETURNING ${PRODUCT_COLUMNS}`,
    [...fieldParams(f), textSearchConfig],
  );
  return rows[0] ?? null;
}

/** Sets the given fields (and updated_at); null when there is no such product. */
export async function updateProductFields(sql: Sql, id: string, f: Partial<ProductFields>): Promise<ProductRow | null> {
  const params = new Params();
  const idParam = params.add(id, 'uuid');
  const sets = new Assignments(params);
  if (f.sku !== undefined) sets.set('sku', f.sku);
  if (f.title !== undefined) sets.set('title', f.title);
  if (f.description !== undefined) sets.set('description', f.description);
  if (f.brand !== undefined) sets.set('brand', f.brand);
  if (f.category !== undefined) sets.set('category', f.category);
  if (f.price !== undefined) {
    sets.set('price', f.price?.amount ?? null, 'numeric');
    sets.set('currency', f.price?.currency ?? null);
  }
  if (f.inStock !== undefined) sets.set('in_stock', f.inStock);
  if (f.tags !== undefined) sets.set('tags', f.tags, 'text[]');
  if (f.attributes !== undefined) sets.set('attributes', JSON.stringify(f.attributes), 'jsonb');
  sets.raw('updated_at = now()');
  const rows = await sql.query<ProductRow>(
    `UPDATE product AS p SET ${sets} WHERE p.id = ${idParam} RETURNING ${PRODUCT_COLUMNS}`,
    params.values,
  );
  return rows[0] ?? null;
}

/** Deletes a product (images and vectors cascade); false when there was none. */
export async function deleteProductRow(sql: Sql, id: string): Promise<boolean> {
  const rows = await sql.query('DELETE FROM product WHERE id = $1::uuid RETURNING id', [id]);
  return rows.length > 0;
}

export type UpsertOutcome = 'created' | 'updated' | 'unchanged';

/** The upsert's input columns, one array per column (unnest zips them back into rows). */
const UPSERT_INPUT = `unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::text[],
       $8::boolean[], $9::jsonb[], $10::jsonb[])
       AS u(sku, title, description, brand, category, price, currency, in_stock, tags, attributes)`;

/**
 * Creates or replaces products by sku, set-based: ONE statement for the whole list (an import batch writes a
 * hundred products in one round trip instead of a hundred). The skus must be distinct (ON CONFLICT cannot
 * touch a row twice; callers check). A product sent exactly as it is stored is not written (its updated_at
 * stays, so `orderBy: UPDATED` shows real changes only): the statement returns no row for it and the stored
 * rows are read in one more statement. Returns one result per input, in input order.
 */
export async function upsertProductRows(
  sql: Sql,
  fields: readonly ProductFields[],
  textSearchConfig: string,
): Promise<{ row: ProductRow; outcome: UpsertOutcome }[]> {
  if (!fields.length) return [];
  const column = <T>(pick: (f: ProductFields) => T) => fields.map(pick);
  const rows = await sql.query<ProductRow & { inserted: boolean }>(
    `INSERT INTO product AS p (${INSERT_COLUMNS})
     SELECT u.sku, u.title, u.description, u.brand, u.category, u.price, u.currency, u.in_stock,
            ARRAY(SELECT t FROM jsonb_array_elements_text(u.tags) WITH ORDINALITY AS e(t, k) ORDER BY k), u.attributes, $11::regconfig
     FROM ${UPSERT_INPUT}
     ON CONFLICT (sku) DO UPDATE SET ${REPLACED.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()
       WHERE (${REPLACED.map((c) => `p.${c}`).join(', ')}) IS DISTINCT FROM (${REPLACED.map((c) => `EXCLUDED.${c}`).join(', ')})
     RETURNING ${PRODUCT_COLUMNS}, (p.xmax = 0) AS inserted`,
    [
      column((f) => f.sku),
      column((f) => f.title),
      column((f) => f.description),
      column((f) => f.brand),
      column((f) => f.category),
      column((f) => f.price?.amount ?? null),
      column((f) => f.price?.currency ?? null),
      column((f) => f.inStock),
      column((f) => JSON.stringify(f.tags)),
      column((f) => JSON.stringify(f.attributes)),
      textSearchConfig,
    ],
  );
  const written = new Map<string, { row: ProductRow; outcome: UpsertOutcome }>();
  for (const { inserted, ...row } of rows) written.set(row.sku, { row, outcome: inserted ? 'created' : 'updated' });
  const unchanged = fields.filter((f) => !written.has(f.sku)).map((f) => f.sku);
  for (const row of await productsBySkus(sql, unchanged)) written.set(row.sku, { row, outcome: 'unchanged' });
  return fields.map((f) => written.get(f.sku)!);
}

export async function productsByIds(sql: Sql, ids: readonly string[]): Promise<ProductRow[]> {
  if (!ids.length) return [];
  return sql.query<ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM product p WHERE p.id = ANY($1::uuid[])`, [ids]);
}

export async function productsBySkus(sql: Sql, skus: readonly string[]): Promise<ProductRow[]> {
  if (!skus.length) return [];
  return sql.query<ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM product p WHERE p.sku = ANY($1::text[])`, [skus]);
}

export async function productExists(sql: Sql, id: string): Promise<boolean> {
  const rows = await sql.query('SELECT 1 FROM product WHERE id = $1::uuid', [id]);
  return rows.length > 0;
}

/** Locks the product's row for the caller's transaction (image writes serialise on it); false when absent. */
export async function lockProduct(tx: Sql, id: string): Promise<boolean> {
  const rows = await tx.query('SELECT 1 FROM product WHERE id = $1::uuid FOR UPDATE', [id]);
  return rows.length > 0;
}

/**
 * Up to `limit` products passing the filter in `order` (sort key, then id), after the keyset position
 * `after` (the sort key as text and the id) when given.
 */
export async function listProductRows(
  sql: Sql,
  opts: { filter: ProductFilter; order: ProductOrder; after: { key: string; id: string } | null; limit: number },
): Promise<ProductRow[]> {
  const order = PRODUCT_ORDERS[opts.order];
  const params = new Params();
  const conds = filterConditions(opts.filter, params);
  if (opts.after)
    conds.push(
      `(${order.expr}, p.id) ${order.desc ? '<' : '>'} (${params.add(opts.after.key, order.type)}, ${params.add(opts.after.id, 'uuid')})`,
    );
  const dir = order.desc ? 'DESC' : 'ASC';
  return sql.query<ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM product p WHERE ${conds.length ? conds.join(' AND ') : 'TRUE'}
     ORDER BY ${order.expr} ${dir}, p.id ${dir} LIMIT ${params.add(opts.limit, 'int')}`,
    params.values,
  );
}

/** Products per category (only categories that have products). */
export async function productsPerCategory(sql: Sql): Promise<{ category: string; n: number }[]> {
  const rows = await sql.query<{ category: string; n: number }>(
    'SELECT category, count(*)::int AS n FROM product WHERE category IS NOT NULL GROUP BY category',
  );
  return rows.map((r) => ({ category: r.category, n: Number(r.n) }));
}
