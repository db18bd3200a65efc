/**
 * Input validation and normalisation for catalog writes and filters. Every rule lives here, so the GraphQL
 * layer, the importer and the CLI reject the same inputs with the same BAD_USER_INPUT messages.
 */
import { badInput } from '../errors.js';

export const LIMITS = {
  skuMax: 100,
  titleMax: 500,
  descriptionMax: 20_000,
  brandMax: 200,
  categoryDepthMax: 10,
  categorySegmentMax: 100,
  tagsMax: 50,
  tagMax: 100,
  attributesKeysMax: 100,
  attributeKeyMax: 100,
  attributesBytesMax: 16 * 1024,
  attributeArrayMax: 100,
  upsertBatchMax: 1000,
  urlMax: 2048,
  /** numeric(12,2): at most 10 integer digits */
  priceIntegerDigits: 10,
} as const;

const SKU_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DECIMAL_RE = /^(\d{1,10})(?:\.(\d{1,2}))?$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Current ISO 4217 codes (active currencies plus the common fund/precious-metal codes shops use). */
const ISO_4217 = new Set(
  (
    'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD ' +
    'CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS ' +
    'GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT ' +
    'LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD ' +
    'OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC ' +
    'SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU ' +
    'XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL'
  ).split(' '),
);

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** An id argument: must be a UUID (ids are opaque to clients, but malformed ones are BAD_USER_INPUT). */
export function parseId(value: string, field = 'id'): string {
  if (typeof value !== 'string' || !UUID_RE.test(value)) throw badInput(`${field}: malformed id`, { field });
  return value.toLowerCase();
}

function text(
  value: unknown,
  field: string,
  max: number,
  opts: { allowEmpty?: boolean; multiline?: boolean } = {},
): string {
  if (typeof value !== 'string') throw badInput(`${field}: must be a string`, { field });
  const v = value.normalize('NFC').trim();
  if (!v && !opts.allowEmpty) throw badInput(`${field}: must not be empty`, { field });
  if ([...v].length > max) throw badInput(`${field}: at most ${max} characters`, { field, max });
  const bad = opts.multiline ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/ : /[\u0000-\u001f\u007f]/; // eslint-disable-line no-control-regex
  if (bad.test(v)) throw badInput(`${field}: contains control characters`, { field });
  return v;
}

/** Optional text: null/undefined/blank → null. */
function optText(value: unknown, field: string, max: number, multiline = false): string | null {
  if (value === null || value === undefined) return null;
  const v = text(value, field, max, { allowEmpty: true, multiline });
  return v === '' ? null : v;
}

export function validateSku(value: unknown, field = 'sku'): string {
  if (typeof value !== 'string') throw badInput(`${field}: must be a string`, { field });
  const v = value.trim();
  if (!v) throw badInput(`${field}: must not be empty`, { field });
  if (v.length > LIMITS.skuMax)
    throw badInput(`${field}: at most ${LIMITS.skuMax} characters`, { field, max: LIMITS.skuMax });
  if (!SKU_RE.test(v)) {
    throw badInput(`${field}: only letters, digits and . _ - : / are allowed, starting with a letter or digit`, {
      field,
    });
  }
  return v;
}

export function validateTitle(value: unknown, field = 'title'): string {
  return text(value, field, LIMITS.titleMax);
}

/** 'Women / Dresses//Summer ' → 'women/dresses/summer'; blank → null. */
export function normaliseCategory(value: unknown, field = 'category'): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw badInput(`${field}: must be a string`, { field });
  if (CONTROL_RE.test(value) || /[\n\r\t]/.test(value))
    throw badInput(`${field}: contains control characters`, { field });
  const segments = value
    .normalize('NFC')
    .split('/')
    .map((s) => s.trim().replace(/\s+/g, ' ').toLowerCase())
    .filter(Boolean);
  if (!segments.length) return null;
  if (segments.length > LIMITS.categoryDepthMax) {
    throw badInput(`${field}: at most ${LIMITS.categoryDepthMax} levels`, { field, max: LIMITS.categoryDepthMax });
  }
  for (const s of segments) {
    if ([...s].length > LIMITS.categorySegmentMax) {
      throw badInput(`${field}: each level at most ${LIMITS.categorySegmentMax} characters`, { field });
    }
  }
  return segments.join('/');
}

export function validateCurrency(value: unknown, field = 'currency'): string {
  if (typeof value !== 'string' || !/^[A-Z]{3}$/.test(value)) {
    throw badInput(`${field}: must be an ISO 4217 code in upper case, e.g. EUR`, { field });
  }
  if (!ISO_4217.has(value)) throw badInput(`${field}: ${value} is not an ISO 4217 currency code`, { field });
  return value;
}

/** A decimal string (or number) ≥ 0 with at most 2 decimals → canonical 'N.NN'. */
export function validateAmount(value: unknown, field = 'price.amount'): string {
  const s = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof s !== 'string') throw badInput(`${field}: must be a decimal string`, { field });
  const t = s.trim();
  if (/^-/.test(t)) throw badInput(`${field}: must not be negative`, { field });
  const m = DECIMAL_RE.exec(t);
  if (!m)
    throw badInput(
      `${field}: must be a decimal ≥ 0 with at most ${LIMITS.priceIntegerDigits} integer digits and 2 decimals, e.g. "19.90"`,
      { field },
    );
  return `${BigInt(m[1]!)}.${(m[2] ?? '').padEnd(2, '0')}`;
}

export interface MoneyValue {
  amount: string;
  currency: string;
}

export function validateMoney(value: unknown, field = 'price'): MoneyValue | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object') throw badInput(`${field}: must be {amount, currency}`, { field });
  const v = value as { amount?: unknown; currency?: unknown };
  return {
    amount: validateAmount(v.amount, `${field}.amount`),
    currency: validateCurrency(v.currency, `${field}.currency`),
  };
}

export function validateTags(value: unknown, field = 'tags'): string[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw badInput(`${field}: must be a list of strings`, { field });
  const out: string[] = [];
  const seen = new Set<string>();
  for (const t of value) {
    const v = text(t, field, LIMITS.tagMax);
    if (!seen.has(v)) {
      seen.add(v);
      out.push(v);
    }
  }
  if (out.length > LIMITS.tagsMax)
    throw badInput(`${field}: at most ${LIMITS.tagsMax} tags`, { field, max: LIMITS.tagsMax });
  return out;
}

function isScalar(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

export function validateAttributes(value: unknown, field = 'attributes'): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badInput(`${field}: must be a JSON object`, { field });
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > LIMITS.attributesKeysMax) {
    throw badInput(`${field}: at most ${LIMITS.attributesKeysMax} keys`, { field, max: LIMITS.attributesKeysMax });
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    const key = k.trim();
    if (!key || key.length > LIMITS.attributeKeyMax || CONTROL_RE.test(key)) {
      throw badInput(`${field}: keys must be 1-${LIMITS.attributeKeyMax} characters without control characters`, {
        field,
        key: k,
      });
    }
    if (v === null) continue;
    if (Array.isArray(v)) {
      if (v.length > LIMITS.attributeArrayMax || !v.every(isScalar)) {
        throw badInput(
          `${field}.${key}: lists may hold at most ${LIMITS.attributeArrayMax} strings, numbers or booleans`,
          { field, key },
        );
      }
    } else if (!isScalar(v)) {
      throw badInput(`${field}.${key}: values must be strings, numbers, booleans or lists of them`, { field, key });
    }
    out[key] = v;
  }
  if (Buffer.byteLength(JSON.stringify(out)) > LIMITS.attributesBytesMax) {
    throw badInput(`${field}: at most ${LIMITS.attributesBytesMax} bytes of JSON`, {
      field,
      max: LIMITS.attributesBytesMax,
    });
  }
  return out;
}

export function validateBoolean(value: unknown, field: string, def: boolean): boolean {
  if (value === null || value === undefined) return def;
  if (typeof value !== 'boolean') throw badInput(`${field}: must be a boolean`, { field });
  return value;
}

/** A product as stored (validated, normalised). */
export interface ProductFields {
  sku: string;
  title: string;
  description: string | null;
  brand: string | null;
  category: string | null;
  price: MoneyValue | null;
  inStock: boolean;
  tags: string[];
  attributes: Record<string, unknown>;
}

export interface ProductInput {
  sku: string;
  title: string;
  description?: string | null;
  brand?: string | null;
  category?: string | null;
  price?: { amount: unknown; currency: unknown } | null;
  inStock?: boolean | null;
  tags?: readonly string[] | null;
  attributes?: unknown;
}

/** A patch: absent keys stay as they are, null clears (GraphQL ProductPatch). */
export type ProductPatch = { [K in keyof ProductInput]?: ProductInput[K] | null };

export function validateProductInput(input: ProductInput, prefix = ''): ProductFields {
  const f = (name: string) => prefix + name;
  return {
    sku: validateSku(input.sku, f('sku')),
    title: validateTitle(input.title, f('title')),
    description: optText(input.description, f('description'), LIMITS.descriptionMax, true),
    brand: optText(input.brand, f('brand'), LIMITS.brandMax),
    category: normaliseCategory(input.category, f('category')),
    price: validateMoney(input.price, f('price')),
    inStock: validateBoolean(input.inStock, f('inStock'), true),
    tags: validateTags(input.tags, f('tags')),
    attributes: validateAttributes(input.attributes, f('attributes')),
  };
}

/** Validates the fields present in a patch; absent keys stay absent, null clears (title and sku cannot be cleared). */
export function validateProductPatch(patch: ProductPatch): Partial<ProductFields> {
  const out: Partial<ProductFields> = {};
  const has = (k: keyof ProductPatch) => Object.prototype.hasOwnProperty.call(patch, k) && patch[k] !== undefined;
  if (has('sku')) {
    if (patch.sku === null) throw badInput('sku: cannot be cleared', { field: 'sku' });
    out.sku = validateSku(patch.sku);
  }
  if (has('title')) {
    if (patch.title === null) throw badInput('title: cannot be cleared', { field: 'title' });
    out.title = validateTitle(patch.title);
  }
  if (has('description')) out.description = optText(patch.description, 'description', LIMITS.descriptionMax, true);
  if (has('brand')) out.brand = optText(patch.brand, 'brand', LIMITS.brandMax);
  if (has('category')) out.category = normaliseCategory(patch.category);
  if (has('price')) out.price = validateMoney(patch.price);
  if (has('inStock')) {
    if (patch.inStock === null) throw badInput('inStock: cannot be cleared', { field: 'inStock' });
    out.inStock = validateBoolean(patch.inStock, 'inStock', true);
  }
  if (has('tags')) out.tags = validateTags(patch.tags);
  if (has('attributes')) out.attributes = validateAttributes(patch.attributes);
  return out;
}
