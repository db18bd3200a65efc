/**
 * The product filter, in one place for searches and catalog listings: its type (the GraphQL ProductFilter
 * input), its validation and normalisation (category path, currency, amounts, list sizes), and its SQL
 * conditions on the product row or on its vector rows. The search SQL (src/search/sql.ts) and the listing
 * (./products.ts) both import it; it imports neither.
 */
import { Params } from '../db/sql.js';
import { badInput } from '../errors.js';
import { normaliseCategory, validateAmount, validateCurrency } from './validation.js';

/** Decimal amounts are strings (as the API's Decimal scalar); numbers are accepted too. */
export interface PriceRange {
  min?: string | number | null;
  max?: string | number | null;
  /** ISO 4217 code; only products priced in this currency match */
  currency: string;
}

export interface AttributeFilter {
  key: string;
  /** compared with the attribute's text form (attributes ->> key) */
  equals?: string | null;
  in?: readonly string[] | null;
}

export interface ProductFilter {
  /** category path, e.g. 'women/dresses'; includes sub-categories ('women/dresses/…') unless categoryExact */
  category?: string | null;
  categoryExact?: boolean | null;
  brands?: readonly string[] | null;
  price?: PriceRange | null;
  inStock?: boolean | null;
  tagsAny?: readonly string[] | null;
  tagsAll?: readonly string[] | null;
  attributes?: readonly AttributeFilter[] | null;
  /** inclusive */
  createdAfter?: Date | string | null;
  /** exclusive */
  createdBefore?: Date | string | null;
}

const MAX_LIST = 100;

function list(v: readonly string[] | null | undefined, field: string): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  // the GraphQL layer guarantees the shapes; services called from code (import, benchmarks) get the same checks
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
    throw badInput(`filter.${field}: must be a list of strings`, { field: `filter.${field}` });
  if (v.length > MAX_LIST) throw badInput(`filter.${field}: at most ${MAX_LIST} values`, { field: `filter.${field}` });
  return v.map((s) => s.trim()).filter(Boolean);
}

/**
 * Checks and normalises a filter (category path, currency, amounts, dates); drops empty parts (an empty
 * category means "all categories"). Throws BAD_USER_INPUT for anything else.
 */
export function normaliseFilter(filter: ProductFilter | null | undefined): ProductFilter {
  if (!filter) return {};
  if (typeof filter !== 'object') throw badInput('filter: must be an object', { field: 'filter' });
  const out: ProductFilter = {};
  const category = normaliseCategory(filter.category, 'filter.category');
  if (category) {
    out.category = category;
    out.categoryExact = filter.categoryExact ?? false;
  }
  const brands = list(filter.brands, 'brands');
  if (brands) out.brands = brands;
  if (filter.price) {
    // a filter matches currencies case-insensitively ('usd' finds USD prices)
    const c = filter.price.currency;
    const currency = validateCurrency(typeof c === 'string' ? c.trim().toUpperCase() : c, 'filter.price.currency');
    const min = filter.price.min == null ? null : validateAmount(filter.price.min, 'filter.price.min');
    const max = filter.price.max == null ? null : validateAmount(filter.price.max, 'filter.price.max');
    if (min !== null && max !== null && Number(min) > Number(max)) {
      throw badInput('filter.price: min is greater than max', { field: 'filter.price' });
    }
    out.price = { min, max, currency };
  }
  if (filter.inStock !== null && filter.inStock !== undefined) {
    if (typeof filter.inStock !== 'boolean')
      throw badInput('filter.inStock: must be a boolean', { field: 'filter.inStock' });
    out.inStock = filter.inStock;
  }
  const tagsAny = list(filter.tagsAny, 'tagsAny');
  if (tagsAny) out.tagsAny = tagsAny;
  const tagsAll = list(filter.tagsAll, 'tagsAll');
  if (tagsAll) out.tagsAll = tagsAll;
  if (filter.attributes) {
    if (!Array.isArray(filter.attributes))
      throw badInput('filter.attributes: must be a list', { field: 'filter.attributes' });
    if (filter.attributes.length > 20)
      throw badInput('filter.attributes: at most 20 conditions', { field: 'filter.attributes' });
    out.attributes = filter.attributes.map((a, i) => {
      const key = typeof a?.key === 'string' ? a.key.trim() : '';
      if (!key) throw badInput(`filter.attributes[${i}].key: must not be empty`, { field: 'filter.attributes' });
      const hasEq = a.equals !== null && a.equals !== undefined;
      const hasIn = a.in !== null && a.in !== undefined;
      if (hasEq === hasIn)
        throw badInput(`filter.attributes[${i}]: give exactly one of equals or in`, { field: 'filter.attributes' });
      if (hasEq && typeof a.equals !== 'string')
        throw badInput(`filter.attributes[${i}].equals: must be a string`, { field: 'filter.attributes' });
      return hasEq ? { key, equals: a.equals! } : { key, in: list(a.in, 'attributes.in') ?? [] };
    });
  }
  for (const k of ['createdAfter', 'createdBefore'] as const) {
    const raw = filter[k];
    if (raw !== null && raw !== undefined) {
      const d = typeof raw === 'string' ? new Date(raw) : raw;
      if (!(d instanceof Date) || Number.isNaN(d.getTime()))
        throw badInput(`filter.${k}: must be a DateTime`, { field: `filter.${k}` });
      out[k] = d;
    }
  }
  return out;
}

/** Escapes LIKE metacharacters (with the default escape character backslash). */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

function isoDate(d: Date | string): string {
  const date = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(date.getTime())) throw new RangeError(`invalid date ${JSON.stringify(d)}`);
  return date.toISOString();
}

/**
 * Where a filter's columns are read. `product`: the product row `p`. `vector-row`: the product's vector rows
 * `e`, which carry copies of its filter columns (kept equal by triggers, migration vector_row_filters) so a
 * filtered vector search reads the filter and the distance from one table; attributes are not copied, and a
 * filter on them still reads `p` (needsProductRow).
 */
export type FilterSource = 'product' | 'vector-row';

const COLUMNS: Record<
  FilterSource,
  Record<'id' | 'category' | 'brand' | 'currency' | 'price' | 'inStock' | 'tags' | 'createdAt', string>
> = {
  product: {
    id: 'p.id',
    category: 'p.category',
    brand: 'p.brand',
    currency: 'p.currency',
    price: 'p.price',
    inStock: 'p.in_stock',
    tags: 'p.tags',
    createdAt: 'p.created_at',
  },
  'vector-row': {
    id: 'e.product_id',
    category: 'e.category',
    brand: 'e.brand',
    currency: 'e.currency',
    price: 'e.price',
    inStock: 'e.in_stock',
    tags: 'e.tags',
    createdAt: 'e.product_created_at',
  },
};

/** Whether a filter reads a column that only the product row has (attributes). */
export function needsProductRow(filter: ProductFilter | null | undefined): boolean {
  return (filter?.attributes?.length ?? 0) > 0;
}

/**
 * WHERE conditions for a filter (AND-ed; empty list: no filter): the one definition of what a ProductFilter
 * means, used by searches and by catalog listings (`products`). Values are normalised by normaliseFilter
 * before they get here; here they only become parameters.
 */
export function filterConditions(
  filter: ProductFilter | null | undefined,
  params: Params,
  excludeProductId?: string | null,
  source: FilterSource = 'product',
): string[] {
  return filterConditionsOn(filter, params, excludeProductId)(source);
}

/**
 * The conditions of a filter for either source, its parameters added once: a statement that reads the filter
 * from the vector rows in one part and from the product rows in another shares the values.
 */
export function filterConditionsOn(
  filter: ProductFilter | null | undefined,
  params: Params,
  excludeProductId?: string | null,
): (source: FilterSource) => string[] {
  type Col = (typeof COLUMNS)['product'];
  const c: ((col: Col) => string)[] = [];
  if (excludeProductId) {
    const id = params.add(excludeProductId, 'uuid');
    c.push((col) => `${col.id} <> ${id}`);
  }
  if (filter?.category != null) {
    const cat = params.add(filter.category);
    if (filter.categoryExact) c.push((col) => `${col.category} = ${cat}`);
    else {
      const sub = params.add(escapeLike(filter.category) + '/%');
      c.push((col) => `(${col.category} = ${cat} OR ${col.category} LIKE ${sub})`);
    }
  }
  if (filter?.brands != null) {
    const brands = params.add([...filter.brands], 'text[]');
    c.push((col) => `${col.brand} = ANY(${brands})`);
  }
  if (filter?.price != null) {
    const currency = params.add(filter.price.currency.toUpperCase(), 'bpchar');
    c.push((col) => `${col.currency} = ${currency}`);
    if (filter.price.min != null) {
      const min = params.add(String(filter.price.min), 'numeric');
      c.push((col) => `${col.price} >= ${min}`);
    }
    if (filter.price.max != null) {
      const max = params.add(String(filter.price.max), 'numeric');
      c.push((col) => `${col.price} <= ${max}`);
    }
  }
  if (filter?.inStock != null) {
    const inStock = params.add(filter.inStock, 'boolean');
    c.push((col) => `${col.inStock} = ${inStock}`);
  }
  if (filter?.tagsAny != null) {
    const tags = params.add([...filter.tagsAny], 'text[]');
    c.push((col) => `${col.tags} && ${tags}`);
  }
  if (filter?.tagsAll != null) {
    const tags = params.add([...filter.tagsAll], 'text[]');
    c.push((col) => `${col.tags} @> ${tags}`);
  }
  for (const a of filter?.attributes ?? []) {
    // The attribute's text form equals the value (strings, numbers, booleans), or it is a list of strings
    // that contains it: jsonb `?` / `?|` match a string scalar equal to one of the values or an array
    // holding one, e.g. {"size": ["S","M"]} matches equals "S". Only the product row has attributes.
    const key = params.add(a.key);
    if (a.equals != null) {
      const v = params.add(a.equals, 'text');
      c.push(() => `((p.attributes ->> ${key}) = ${v} OR (p.attributes -> ${key}) ? ${v})`);
    }
    if (a.in != null) {
      const vs = params.add([...a.in], 'text[]');
      c.push(() => `((p.attributes ->> ${key}) = ANY(${vs}) OR (p.attributes -> ${key}) ?| ${vs})`);
    }
    if (a.equals == null && a.in == null) c.push(() => `p.attributes ? ${key}`);
  }
  if (filter?.createdAfter != null) {
    const after = params.add(isoDate(filter.createdAfter), 'timestamptz');
    c.push((col) => `${col.createdAt} >= ${after}`);
  }
  if (filter?.createdBefore != null) {
    const before = params.add(isoDate(filter.createdBefore), 'timestamptz');
    c.push((col) => `${col.createdAt} < ${before}`);
  }
  return (source) => c.map((cond) => cond(COLUMNS[source]));
}

export function hasFilter(filter: ProductFilter | null | undefined, excludeProductId?: string | null): boolean {
  return filterConditions(filter, new Params(), excludeProductId).length > 0;
}
