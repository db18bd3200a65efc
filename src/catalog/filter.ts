/**
 * The product filter, in one place for searches and catalog listings: its type (the GraphQL ProductFilter
 * input), its validation and normalisation (category path, currency, amounts, list sizes), and its SQL
 * conditions on `product p`. The search SQL (src/search/sql.ts) and the listing (./products.ts) both
 * import it; it imports neither.
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
 * WHERE conditions on `product p` for a filter (AND-ed; empty list: no filter): the one definition of what
 * a ProductFilter means, used by searches and by catalog listings (`products`). Values are normalised by
 * normaliseFilter before they get here; here they only become parameters.
 */
export function filterConditions(
  filter: ProductFilter | null | undefined,
  params: Params,
  excludeProductId?: string | null,
): string[] {
  const c: string[] = [];
  if (excludeProductId) c.push(`p.id <> ${params.add(excludeProductId, 'uuid')}`);
  if (!filter) return c;
  if (filter.category != null) {
    if (filter.categoryExact) c.push(`p.category = ${params.add(filter.category)}`);
    else {
      const cat = params.add(filter.category);
      c.push(`(p.category = ${cat} OR p.category LIKE ${params.add(escapeLike(filter.category) + '/%')})`);
    }
  }
  if (filter.brands != null) c.push(`p.brand = ANY(${params.add([...filter.brands], 'text[]')})`);
  if (filter.price != null) {
    c.push(`p.currency = ${params.add(filter.price.currency.toUpperCase(), 'bpchar')}`);
    if (filter.price.min != null) c.push(`p.price >= ${params.add(String(filter.price.min), 'numeric')}`);
    if (filter.price.max != null) c.push(`p.price <= ${params.add(String(filter.price.max), 'numeric')}`);
  }
  if (filter.inStock != null) c.push(`p.in_stock = ${params.add(filter.inStock, 'boolean')}`);
  if (filter.tagsAny != null) c.push(`p.tags && ${params.add([...filter.tagsAny], 'text[]')}`);
  if (filter.tagsAll != null) c.push(`p.tags @> ${params.add([...filter.tagsAll], 'text[]')}`);
  for (const a of filter.attributes ?? []) {
    // The attribute's text form equals the value (strings, numbers, booleans), or it is a list of strings
    // that contains it: jsonb `?` / `?|` match a string scalar equal to one of the values or an array
    // holding one, e.g. {"size": ["S","M"]} matches equals "S".
    const key = params.add(a.key);
    if (a.equals != null) {
      const v = params.add(a.equals, 'text');
      c.push(`((p.attributes ->> ${key}) = ${v} OR (p.attributes -> ${key}) ? ${v})`);
    }
    if (a.in != null) {
      const vs = params.add([...a.in], 'text[]');
      c.push(`((p.attributes ->> ${key}) = ANY(${vs}) OR (p.attributes -> ${key}) ?| ${vs})`);
    }
    if (a.equals == null && a.in == null) c.push(`p.attributes ? ${key}`);
  }
  if (filter.createdAfter != null) c.push(`p.created_at >= ${params.add(isoDate(filter.createdAfter), 'timestamptz')}`);
  if (filter.createdBefore != null)
    c.push(`p.created_at < ${params.add(isoDate(filter.createdBefore), 'timestamptz')}`);
  return c;
}

export function hasFilter(filter: ProductFilter | null | undefined, excludeProductId?: string | null): boolean {
  return filterConditions(filter, new Params(), excludeProductId).length > 0;
}
