/**
 * Products: validated create / update / delete / upsert-by-sku (each one transaction), reads by id and sku
 * (batched, for DataLoaders), keyset-paginated listings and the category tree. Every function takes the
 * `Sql` to run on, so callers (the importer) can compose them into their own transaction.
 */
import type { Sql } from '../db/index.js';
import { badInput, notFound } from '../errors.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { Params } from '../db/sql.js';
import { filterConditions, type ProductFilter } from './filter.js';
import {
  LIMITS,
  validateProductInput,
  validateProductPatch,
  type ProductFields,
  type ProductInput,
  type ProductPatch,
} from './validation.js';

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

export type ProductOrder = 'NEWEST' | 'OLDEST' | 'PRICE_ASC' | 'PRICE_DESC' | 'TITLE' | 'UPDATED';

/** Sort key expression, its SQL type, direction, and how to read it from a row (for the cursor). */
const ORDERS: Record<ProductOrder, { expr: string; type: string; desc: boolean; key: (r: ProductRow) => string }> = {
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

export interface ListOptions {
  filter: ProductFilter;
  first: number;
  after?: string | null;
  orderBy?: ProductOrder | null;
}

export interface ProductPage {
  rows: ProductRow[];
  cursors: string[];
  hasNextPage: boolean;
}

export interface CategoryNode {
  path: string;
  name: string;
  depth: number;
  parentPath: string | null;
  productCount: number;
  directProductCount: number;
  children: CategoryNode[];
}

/** Postgres unique violation (node-postgres and PGlite both expose SQLSTATE as `code`). */
function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown; message?: unknown };
  if (e?.code !== '23505') return false;
  return !constraint || e.constraint === constraint || String(e.message ?? '').includes(constraint);
}

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
const INSERT_VALUES = (lang: number) =>
  `$1, $2, $3, $4, $5, $6::numeric, $7, $8, $9::text[], $10::jsonb, $${lang}::regconfig`;

export async function createProduct(sql: Sql, input: ProductInput, textSearchConfig: string): Promise<ProductRow> {
  const f = validateProductInput(input);
  const rows = await sql.query<ProductRow>(
    `INSERT INTO product AS p (${INSERT_COLUMNS}) VALUES (${INSERT_VALUES(11)})
     ON CONFLICT (sku) DO NOTHING RETURNING ${PRODUCT_COLUMNS}`,
    [...fieldParams(f), textSearchConfig],
  );
  if (!rows[0])
    throw badInput(`sku: a product with sku ${JSON.stringify(f.sku)} exists already`, { field: 'sku', sku: f.sku });
  return rows[0];
}

export async function updateProduct(sql: Sql, id: string, patch: ProductPatch): Promise<ProductRow> {
  const f = validateProductPatch(patch);
  const sets: string[] = [];
  const params: unknown[] = [id];
  const set = (col: string, v: unknown, cast = '') => {
    params.push(v);
    sets.push(`${col} = $${params.length}${cast}`);
  };
  if (f.sku !== undefined) set('sku', f.sku);
  if (f.title !== undefined) set('title', f.title);
  if (f.description !== undefined) set('description', f.description);
  if (f.brand !== undefined) set('brand', f.brand);
  if (f.category !== undefined) set('category', f.category);
  if (f.price !== undefined) {
    set('price', f.price?.amount ?? null, '::numeric');
    set('currency', f.price?.currency ?? null);
  }
  if (f.inStock !== undefined) set('in_stock', f.inStock);
  if (f.tags !== undefined) set('tags', f.tags, '::text[]');
  if (f.attributes !== undefined) set('attributes', JSON.stringify(f.attributes), '::jsonb');
  sets.push('updated_at = now()');
  let rows: ProductRow[];
  try {
    rows = await sql.query<ProductRow>(
      `UPDATE product AS p SET ${sets.join(', ')} WHERE p.id = $1::uuid RETURNING ${PRODUCT_COLUMNS}`,
      params,
    );
  } catch (err) {
    if (isUniqueViolation(err))
      throw badInput(`sku: a product with sku ${JSON.stringify(f.sku)} exists already`, { field: 'sku', sku: f.sku });
    throw err;
  }
  if (!rows[0]) throw notFound('product', id);
  return rows[0];
}

/** Deletes the product (images and vectors cascade); returns the sha256 of its images, for file cleanup. */
export async function deleteProduct(sql: Sql, id: string): Promise<string[]> {
  return sql.transaction(async (tx) => {
    const images = await tx.query<{ sha256: string }>('SELECT sha256 FROM product_image WHERE product_id = $1::uuid', [
      id,
    ]);
    const rows = await tx.query<{ id: string }>('DELETE FROM product WHERE id = $1::uuid RETURNING id', [id]);
    if (!rows[0]) throw notFound('product', id);
    return [...new Set(images.map((r) => r.sha256.trim()))];
  });
}

export interface UpsertResult {
  created: number;
  updated: number;
  products: ProductRow[];
}

/** Creates or replaces products by sku in one transaction: all or nothing. */
export async function upsertProducts(
  sql: Sql,
  inputs: readonly ProductInput[],
  textSearchConfig: string,
): Promise<UpsertResult> {
  if (inputs.length > LIMITS.upsertBatchMax) {
    throw badInput(`inputs: at most ${LIMITS.upsertBatchMax} products per call`, {
      field: 'inputs',
      max: LIMITS.upsertBatchMax,
    });
  }
  const fields = inputs.map((input, i) => validateProductInput(input, `inputs[${i}].`));
  const seen = new Map<string, number>();
  fields.forEach((f, i) => {
    const j = seen.get(f.sku);
    if (j !== undefined)
      throw badInput(`inputs[${i}].sku: ${JSON.stringify(f.sku)} is also given at inputs[${j}]`, {
        field: `inputs[${i}].sku`,
        index: i,
      });
    seen.set(f.sku, i);
  });
  if (!fields.length) return { created: 0, updated: 0, products: [] };
  return sql.transaction(async (tx) => {
    const out: ProductRow[] = [];
    let created = 0;
    for (const f of fields) {
      const rows = await tx.query<ProductRow & { inserted: boolean }>(
        `INSERT INTO product AS p (${INSERT_COLUMNS}) VALUES (${INSERT_VALUES(11)})
         ON CONFLICT (sku) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description, brand = EXCLUDED.brand,
           category = EXCLUDED.category, price = EXCLUDED.price, currency = EXCLUDED.currency, in_stock = EXCLUDED.in_stock,
           tags = EXCLUDED.tags, attributes = EXCLUDED.attributes, updated_at = now()
         RETURNING ${PRODUCT_COLUMNS}, (p.xmax = 0) AS inserted`,
        [...fieldParams(f), textSearchConfig],
      );
      const row = rows[0]!;
      if (row.inserted) created++;
      delete (row as Partial<typeof row>).inserted;
      out.push(row);
    }
    return { created, updated: out.length - created, products: out };
  });
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

/** One page of the catalog in a stable order (sort key, then id). */
export async function listProducts(sql: Sql, opts: ListOptions): Promise<ProductPage> {
  const orderBy = opts.orderBy ?? 'NEWEST';
  const order = ORDERS[orderBy];
  if (!order) throw badInput(`orderBy: unknown ordering ${String(orderBy)}`, { field: 'orderBy' });
  const params = new Params();
  const conds = filterConditions(opts.filter, params);
  if (opts.after) {
    const [key, id] = decodeCursor(opts.after, orderBy, 2);
    if (typeof key !== 'string' || typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) {
      throw badInput('after: malformed cursor', { field: 'after' });
    }
    if (order.type === 'timestamptz' && Number.isNaN(Date.parse(key)))
      throw badInput('after: malformed cursor', { field: 'after' });
    if (order.type === 'numeric' && !/^-?\d+(\.\d+)?$/.test(key))
      throw badInput('after: malformed cursor', { field: 'after' });
    conds.push(
      `(${order.expr}, p.id) ${order.desc ? '<' : '>'} (${params.add(key, order.type)}, ${params.add(id, 'uuid')})`,
    );
  }
  const dir = order.desc ? 'DESC' : 'ASC';
  const rows = await sql.query<ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM product p WHERE ${conds.length ? conds.join(' AND ') : 'TRUE'}
     ORDER BY ${order.expr} ${dir}, p.id ${dir} LIMIT ${params.add(opts.first + 1, 'int')}`,
    params.values,
  );
  const hasNextPage = rows.length > opts.first;
  const page = rows.slice(0, opts.first);
  return { rows: page, hasNextPage, cursors: page.map((r) => encodeCursor(orderBy, [order.key(r), r.id])) };
}

/** The category tree: every path and its ancestors, with direct and cumulative product counts. */
export async function categoryTree(sql: Sql): Promise<CategoryNode[]> {
  const rows = await sql.query<{ category: string; n: number }>(
    'SELECT category, count(*)::int AS n FROM product WHERE category IS NOT NULL GROUP BY category',
  );
  const nodes = new Map<string, CategoryNode>();
  const node = (path: string): CategoryNode => {
    let n = nodes.get(path);
    if (!n) {
      const cut = path.lastIndexOf('/');
      n = {
        path,
        name: cut < 0 ? path : path.slice(cut + 1),
        depth: path.split('/').length,
        parentPath: cut < 0 ? null : path.slice(0, cut),
        productCount: 0,
        directProductCount: 0,
        children: [],
      };
      nodes.set(path, n);
      if (n.parentPath !== null) node(n.parentPath).children.push(n);
    }
    return n;
  };
  for (const r of rows) {
    node(r.category).directProductCount += Number(r.n);
    let p: string | null = r.category;
    while (p !== null) {
      const n: CategoryNode = node(p);
      n.productCount += Number(r.n);
      p = n.parentPath;
    }
  }
  const byPath = (a: CategoryNode, b: CategoryNode) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  for (const n of nodes.values()) n.children.sort(byPath);
  return [...nodes.values()].filter((n) => n.depth === 1).sort(byPath);
}

/** The children of the category at `parent` (a normalised path) in a tree; [] when there is none. */
export function categoryChildren(roots: readonly CategoryNode[], parent: string): CategoryNode[] {
  for (const n of roots) {
    if (n.path === parent) return n.children;
    if (parent.startsWith(n.path + '/')) return categoryChildren(n.children, parent);
  }
  return [];
}

/** Flattens a tree (depth-first, ordered by path). */
export function flattenCategories(roots: readonly CategoryNode[]): CategoryNode[] {
  const out: CategoryNode[] = [];
  const walk = (ns: readonly CategoryNode[]) => {
    for (const n of ns) {
      out.push(n);
      walk(n.children);
    }
  };
  walk(roots);
  return out;
}
