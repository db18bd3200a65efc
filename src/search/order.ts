/**
 * Search orderings other than plain relevance, and relevance boosts (docs/search.md "Ordering and boosts").
 *
 * Why "decide the relevant set, then sort": sorting every product with a vector by price would list the
 * cheapest product of the catalog for any query. So a re-ordered search first takes its relevant list — every
 * KEYWORD match; for SEMANTIC / HYBRID the top GLIMPSE_SEARCH_CANDIDATES products by relevance above the score
 * cuts (minScore, relativeCutoff, the model's relevance floor) — and orders that fixed list by a key. The list
 * does not depend on the page (the vector scan starts at the top on every page), so a keyset cursor over
 * (key, product id) neither repeats nor skips a product.
 *
 * Every key is a float8 that holds its value exactly: price in cents (numeric(12,2) × 100 < 2^53), the
 * creation instant in epoch milliseconds (timestamptz(3)), the boosted relevance (score + boosts). Products
 * without a price sort last in both price orders (a NULL key).
 */
import { badInput } from '../errors.js';
import type { Params } from '../db/sql.js';

export type SearchOrder = 'RELEVANCE' | 'PRICE_ASC' | 'PRICE_DESC' | 'NEWEST';
export const SEARCH_ORDERS: readonly SearchOrder[] = ['RELEVANCE', 'PRICE_ASC', 'PRICE_DESC', 'NEWEST'];

/** A numeric attribute that lifts relevance: weight × clamp(value ÷ max, 0, 1). */
export interface AttributeBoost {
  key: string;
  weight: number;
  max: number;
}

/** Additions to the relevance score that order a RELEVANCE search (GraphQL SearchBoost). */
export interface SearchBoost {
  /** added to the score of products in stock (0..1) */
  inStock?: number | null;
  attribute?: AttributeBoost | null;
}

/** A validated ordering: its cursor code, and for boosted relevance the boosts. */
export interface ResultOrder {
  order: SearchOrder;
  boost: { inStock: number; attribute: AttributeBoost | null } | null;
}

/** Cursor codes: a cursor only continues the ordering that made it. */
export type OrderCode = 'R' | 'B' | 'PA' | 'PD' | 'N';

export function orderCode(o: ResultOrder): OrderCode {
  if (o.order === 'RELEVANCE') return o.boost ? 'B' : 'R';
  return o.order === 'PRICE_ASC' ? 'PA' : o.order === 'PRICE_DESC' ? 'PD' : 'N';
}

/** Whether the relevant list is re-ordered by a key (any order but plain relevance). */
export function isReordered(o: ResultOrder | null | undefined): o is ResultOrder {
  return o != null && orderCode(o) !== 'R';
}

const MAX_ATTRIBUTE_KEY = 100;

function unitWeight(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1)
    throw badInput(`\`${field}\` must be a number in [0, 1]`, { field, min: 0, max: 1 });
  return v;
}

/** Validates `orderBy` and `boost`: BAD_USER_INPUT naming the field otherwise. */
export function resultOrder(order: unknown, boost: SearchBoost | null | undefined): ResultOrder {
  const o = (order ?? 'RELEVANCE') as SearchOrder;
  if (!SEARCH_ORDERS.includes(o)) throw badInput(`unknown orderBy ${JSON.stringify(order)}`, { field: 'orderBy' });
  if (boost == null) return { order: o, boost: null };
  if (typeof boost !== 'object') throw badInput('`boost` must be an object', { field: 'boost' });
  if (o !== 'RELEVANCE')
    throw badInput('`boost` orders by relevance: it cannot be combined with another orderBy', { field: 'boost' });
  const inStock = boost.inStock == null ? 0 : unitWeight(boost.inStock, 'boost.inStock');
  let attribute: AttributeBoost | null = null;
  if (boost.attribute != null) {
    const a = boost.attribute;
    const key = typeof a.key === 'string' ? a.key.trim() : '';
    if (!key || key.length > MAX_ATTRIBUTE_KEY)
      throw badInput(`\`boost.attribute.key\` must be 1..${MAX_ATTRIBUTE_KEY} characters`, {
        field: 'boost.attribute.key',
      });
    const weight = unitWeight(a.weight, 'boost.attribute.weight');
    if (typeof a.max !== 'number' || !Number.isFinite(a.max) || a.max <= 0 || a.max > 1e12)
      throw badInput('`boost.attribute.max` must be a number in (0, 1e12]', { field: 'boost.attribute.max' });
    attribute = { key, weight, max: a.max };
  }
  // boosts of 0 change nothing: the plain relevance order (and its cheaper shapes)
  if (inStock === 0 && (attribute === null || attribute.weight === 0)) return { order: o, boost: null };
  return { order: o, boost: { inStock, attribute } };
}

/** Whether the key orders from high to low (every order but PRICE_ASC). */
export function isDescending(o: ResultOrder): boolean {
  return o.order !== 'PRICE_ASC';
}

/** The key's SQL over `m` (a relevant row with its `score`) and `p` (its product), and its direction. */
export function orderKey(o: ResultOrder, params: Params): string {
  switch (o.order) {
    case 'PRICE_ASC':
    case 'PRICE_DESC':
      return '(p.price * 100)::float8';
    case 'NEWEST':
      return 'floor(extract(epoch FROM p.created_at) * 1000)::float8';
    case 'RELEVANCE': {
      const parts = ['m.score'];
      const b = o.boost;
      if (b && b.inStock > 0) parts.push(`CASE WHEN p.in_stock THEN ${params.add(b.inStock, 'float8')} ELSE 0 END`);
      if (b?.attribute && b.attribute.weight > 0) {
        const value = `(p.attributes ->> ${params.add(b.attribute.key)})`;
        // a value that is not a plain number adds nothing (never a cast error)
        parts.push(`${params.add(b.attribute.weight, 'float8')} * CASE WHEN ${value} ~ '^-?[0-9]{1,15}(\\.[0-9]{1,15})?$'
      THEN least(1, greatest(0, ${value}::float8 / ${params.add(b.attribute.max, 'float8')})) ELSE 0 END`);
      }
      return `(${parts.join(' + ')})::float8`;
    }
  }
}

/** ORDER BY of the re-ordered list over `alias` (NULL keys last in both directions, then product id). */
export function keyOrderBy(desc: boolean, alias = 'm'): string {
  return `${alias}.sort_key ${desc ? 'DESC' : 'ASC'} NULLS LAST, ${alias}.product_id`;
}

/** The rows after the cursor's (key, product id) in keyOrderBy's order. */
export function keyAfter(desc: boolean, key: number | null, productId: string, params: Params): string {
  const id = params.add(productId, 'uuid');
  if (key === null) return `(m.sort_key IS NULL AND m.product_id > ${id})`;
  const v = params.add(key, 'float8');
  return `(m.sort_key ${desc ? '<' : '>'} ${v} OR (m.sort_key = ${v} AND m.product_id > ${id}) OR m.sort_key IS NULL)`;
}
