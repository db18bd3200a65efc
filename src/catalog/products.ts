/**
 * Products: validated create / update / delete / upsert-by-sku (each one transaction), reads by id and sku
 * (batched, for DataLoaders), keyset-paginated listings and the category tree. The rules live here (validation,
 * cursors, errors); the statements in ./store/products.ts. Every function takes the `Sql` to run on, so callers
 * (the importer) can compose them into their own transaction.
 */
import type { Sql } from '../db/index.js';
import { badInput, notFound } from '../errors.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { ProductFilter } from './filter.js';
import { imageFilesOfProduct } from './store/images.js';
import {
  PRODUCT_ORDERS,
  deleteProductRow,
  insertProduct,
  listProductRows,
  productsPerCategory,
  updateProductFields,
  upsertProductRows,
  type ProductOrder,
  type ProductRow,
} from './store/products.js';
import {
  LIMITS,
  validateProductInput,
  validateProductPatch,
  type ProductInput,
  type ProductPatch,
} from './validation.js';

export { productExists, productsByIds, productsBySkus } from './store/products.js';
export type { ProductOrder, ProductRow } from './store/products.js';

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
const skuTaken = (sku: string | undefined) =>
  badInput(`sku: a product with sku ${JSON.stringify(sku)} exists already`, { field: 'sku', sku });

function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown; message?: unknown };
  if (e?.code !== '23505') return false;
  return !constraint || e.constraint === constraint || String(e.message ?? '').includes(constraint);
}

export async function createProduct(sql: Sql, input: ProductInput, textSearchConfig: string): Promise<ProductRow> {
  const f = validateProductInput(input);
  const row = await insertProduct(sql, f, textSearchConfig);
  if (!row) throw skuTaken(f.sku);
  return row;
}

export async function updateProduct(sql: Sql, id: string, patch: ProductPatch): Promise<ProductRow> {
  const f = validateProductPatch(patch);
  let row: ProductRow | null;
  try {
    row = await updateProductFields(sql, id, f);
  } catch (err) {
    if (isUniqueViolation(err)) throw skuTaken(f.sku);
    throw err;
  }
  if (!row) throw notFound('product', id);
  return row;
}

/** Deletes the product (images and vectors cascade); returns the sha256 of its images, for file cleanup. */
export async function deleteProduct(sql: Sql, id: string): Promise<string[]> {
  return sql.transaction(async (tx) => {
    const files = await imageFilesOfProduct(tx, id);
    if (!(await deleteProductRow(tx, id))) throw notFound('product', id);
    return files;
  });
}

export interface UpsertResult {
  created: number;
  /** existing skus whose fields changed */
  updated: number;
  /** existing skus sent as they are stored: not written (updatedAt kept) */
  unchanged: number;
  products: ProductRow[];
}

/** Creates or replaces products by sku in one statement: all or nothing. */
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
  const result: UpsertResult = { created: 0, updated: 0, unchanged: 0, products: [] };
  if (!fields.length) return result;
  for (const { row, outcome } of await upsertProductRows(sql, fields, textSearchConfig)) {
    result[outcome]++;
    result.products.push(row);
  }
  return result;
}

/** One page of the catalog in a stable order (sort key, then id). */
export async function listProducts(sql: Sql, opts: ListOptions): Promise<ProductPage> {
  const orderBy = opts.orderBy ?? 'NEWEST';
  const order = PRODUCT_ORDERS[orderBy];
  if (!order) throw badInput(`orderBy: unknown ordering ${String(orderBy)}`, { field: 'orderBy' });
  let after: { key: string; id: string } | null = null;
  if (opts.after) {
    const [key, id] = decodeCursor(opts.after, orderBy, 2);
    if (typeof key !== 'string' || typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) {
      throw badInput('after: malformed cursor', { field: 'after' });
    }
    if (order.type === 'timestamptz' && Number.isNaN(Date.parse(key)))
      throw badInput('after: malformed cursor', { field: 'after' });
    if (order.type === 'numeric' && !/^-?\d+(\.\d+)?$/.test(key))
      throw badInput('after: malformed cursor', { field: 'after' });
    after = { key, id };
  }
  const rows = await listProductRows(sql, { filter: opts.filter, order: orderBy, after, limit: opts.first + 1 });
  const hasNextPage = rows.length > opts.first;
  const page = rows.slice(0, opts.first);
  return { rows: page, hasNextPage, cursors: page.map((r) => encodeCursor(orderBy, [order.key(r), r.id])) };
}

/** The category tree: every path and its ancestors, with direct and cumulative product counts. */
export async function categoryTree(sql: Sql): Promise<CategoryNode[]> {
  const rows = await productsPerCategory(sql);
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
    node(r.category).directProductCount += r.n;
    let p: string | null = r.category;
    while (p !== null) {
      const n: CategoryNode = node(p);
      n.productCount += r.n;
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
