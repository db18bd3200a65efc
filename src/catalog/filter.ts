/**
 * ProductFilter validation and normalisation (category path, currency, amounts, list sizes). Searches and
 * catalog listings both receive the normalised filter; its SQL is built in one place, filterConditions
 * in src/search/sql.ts.
 */
import { badInput } from '../errors.js';
import { normaliseCategory, validateAmount, validateCurrency } from './validation.js';

// One filter type for searches and listings (the GraphQL ProductFilter input).
import type { ProductFilter } from '../search/types.js';
export type { AttributeFilter, ProductFilter } from '../search/types.js';

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
