/**
 * ProductFilter validation and normalisation (category path, currency, amounts, list sizes). Searches and
 * catalog listings both receive the normalised filter; its SQL is built in one place, filterConditions
 * in src/search/sql.ts.
 */
import { badInput } from '../errors.js';
import { normaliseCategory, validateAmount, validateCurrency } from './validation.js';

export interface AttributeFilter {
  key: string;
  equals?: string | null;
  in?: readonly string[] | null;
}

export interface ProductFilter {
  category?: string | null;
  categoryExact?: boolean | null;
  brands?: readonly string[] | null;
  price?: { min?: string | null; max?: string | null; currency: string } | null;
  inStock?: boolean | null;
  tagsAny?: readonly string[] | null;
  tagsAll?: readonly string[] | null;
  attributes?: readonly AttributeFilter[] | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
}

const MAX_LIST = 100;

function list(v: readonly string[] | null | undefined, field: string): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  if (v.length > MAX_LIST) throw badInput(`filter.${field}: at most ${MAX_LIST} values`, { field: `filter.${field}` });
  return v.map((s) => s.trim()).filter(Boolean);
}

/** Checks and normalises a filter (category path, currency, amounts); drops empty parts. */
export function normaliseFilter(filter: ProductFilter | null | undefined): ProductFilter {
  if (!filter) return {};
  const out: ProductFilter = {};
  const category = normaliseCategory(filter.category, 'filter.category');
  if (category) {
    out.category = category;
    out.categoryExact = filter.categoryExact ?? false;
  }
  const brands = list(filter.brands, 'brands');
  if (brands) out.brands = brands;
  if (filter.price) {
    const currency = validateCurrency(filter.price.currency, 'filter.price.currency');
    const min = filter.price.min == null ? null : validateAmount(filter.price.min, 'filter.price.min');
    const max = filter.price.max == null ? null : validateAmount(filter.price.max, 'filter.price.max');
    if (min !== null && max !== null && Number(min) > Number(max)) {
      throw badInput('filter.price: min is greater than max', { field: 'filter.price' });
    }
    out.price = { min, max, currency };
  }
  if (filter.inStock !== null && filter.inStock !== undefined) out.inStock = filter.inStock;
  const tagsAny = list(filter.tagsAny, 'tagsAny');
  if (tagsAny) out.tagsAny = tagsAny;
  const tagsAll = list(filter.tagsAll, 'tagsAll');
  if (tagsAll) out.tagsAll = tagsAll;
  if (filter.attributes) {
    if (filter.attributes.length > 20)
      throw badInput('filter.attributes: at most 20 conditions', { field: 'filter.attributes' });
    out.attributes = filter.attributes.map((a, i) => {
      const key = a.key?.trim();
      if (!key) throw badInput(`filter.attributes[${i}].key: must not be empty`, { field: 'filter.attributes' });
      const hasEq = a.equals !== null && a.equals !== undefined;
      const hasIn = a.in !== null && a.in !== undefined;
      if (hasEq === hasIn)
        throw badInput(`filter.attributes[${i}]: give exactly one of equals or in`, { field: 'filter.attributes' });
      return hasEq ? { key, equals: a.equals! } : { key, in: list(a.in, 'attributes.in') ?? [] };
    });
  }
  for (const k of ['createdAfter', 'createdBefore'] as const) {
    const d = filter[k];
    if (d !== null && d !== undefined) {
      if (!(d instanceof Date) || Number.isNaN(d.getTime()))
        throw badInput(`filter.${k}: must be a DateTime`, { field: `filter.${k}` });
      out[k] = d;
    }
  }
  return out;
}
