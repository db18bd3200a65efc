/**
 * Facet SQL: exact, disjunctive counts over the whole filtered match set, in a statement of their own that the
 * service runs beside the search statement (src/search/sql.ts) — concurrently on PostgreSQL. Separate because
 * nothing in it depends on the ranking, and because the index path's settings (enable_seqscan / enable_sort
 * off, needed to keep the vector index plan) would distort the plans of these aggregates.
 *
 * Why counted from the filter and not from the ranked rows: the vector index path only ever sees a window of
 * candidates, so counting its rows gives numbers that depend on the window (and shrink on later pages). The
 * match set of a facet is instead defined by SQL alone — the filter, plus the text match for KEYWORD (and
 * HYBRID's keyword side), plus "has a vector of the model" for the semantic side — so the counts are exact on
 * every strategy and every page.
 *
 * Disjunctive: each facet is counted with every filter condition except its own (the brand facet ignores
 * `filter.brands`, the category facet `filter.category`, ...), so a shopper who ticked one brand still sees
 * the others with their counts. Facets whose own condition is absent share one set (`facet_set_all`).
 * The category tree counts per level: every ancestor path of a product's category, shown for the top level
 * and below each ancestor of the selected category (the open branch of the menu).
 * The same statement counts the total where the search statement cannot (sql.ts totalFromFilter).
 */
import { embeddingTable } from '../catalog/store/embeddings.js';
import { filterConditions } from '../catalog/filter.js';
import { Params } from '../db/sql.js';
import {
  KEYWORD_RANK,
  keywordMatch,
  keywordQueryCte,
  totalFromFilter,
  type BuildSearchInput,
  type BuiltQuery,
} from './sql.js';
import type { FacetKind, ProductFilter } from './types.js';

/** Price facet bucket boundaries (lower bounds; the last bucket is open above). */
export const PRICE_BUCKETS: readonly string[] = ['0', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000'];
/** Most values returned per category / brand facet. */
export const FACET_LIMIT = 100;
/** Most nodes returned by the category tree facet. */
export const CATEGORY_TREE_LIMIT = 500;

/** Which filter condition a facet leaves out (its own). */
type Variant = 'all' | 'category' | 'brands' | 'inStock' | 'price';

const OWN: Record<FacetKind, Exclude<Variant, 'all'>> = {
  CATEGORY: 'category',
  CATEGORY_TREE: 'category',
  BRAND: 'brands',
  IN_STOCK: 'inStock',
  PRICE: 'price',
};

/** The filter without the condition a facet leaves out. */
function without(filter: ProductFilter, variant: Variant): ProductFilter {
  const f: ProductFilter = { ...filter };
  if (variant === 'category') {
    delete f.category;
    delete f.categoryExact;
  } else if (variant !== 'all') delete f[variant];
  return f;
}

function variantOf(kind: FacetKind, filter: ProductFilter): Variant {
  const own = OWN[kind];
  return filter[own] != null ? own : 'all';
}

/** The category paths whose children the tree facet shows: every ancestor of the selected category and itself. */
export function openCategoryPaths(category: string | null | undefined): string[] {
  if (!category) return [];
  const parts = category.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

const counted = (set: string, col: string, params: Params) =>
  `(SELECT coalesce(json_agg(json_build_object('value', value, 'count', count) ORDER BY count DESC, value), '[]'::json)
     FROM (SELECT f.${col} AS value, count(*)::int AS count FROM ${set} f WHERE f.${col} IS NOT NULL
           GROUP BY f.${col} ORDER BY count DESC, f.${col} LIMIT ${params.add(FACET_LIMIT, 'int')}) c)`;

/**
 * What puts a product in the match set besides the filter: a vector of the model (SEMANTIC ranks every such
 * product), the text match with the score cuts (KEYWORD), either (HYBRID: both lists feed the fusion).
 */
function membership(opts: BuildSearchInput, params: Params): { ctes: string[]; from: string; conds: string[] } {
  const hasVector = () =>
    `EXISTS (SELECT 1 FROM ${embeddingTable(opts.dimension!)} e WHERE e.product_id = p.id AND e.model_id = ${params.add(opts.modelId)})`;
  if (opts.mode === 'SEMANTIC') return { ctes: [], from: 'product p', conds: [hasVector()] };
  const ctes = [keywordQueryCte(opts, params)];
  if (opts.mode === 'HYBRID')
    return { ctes, from: 'product p, kq', conds: [`(${keywordMatch(opts)} OR ${hasVector()})`] };
  const rank = KEYWORD_RANK;
  const conds = [keywordMatch(opts)];
  if (opts.minScore != null && opts.minScore > 0) conds.push(`${rank} >= ${params.add(opts.minScore, 'float8')}`);
  if (opts.relativeCutoff != null && opts.relativeCutoff > 0) {
    // the best score of the whole search (the search's own filter): from the cursor on later pages
    let best = opts.bestScore != null ? params.add(opts.bestScore, 'float8') : null;
    if (best == null) {
      const full = filterConditions(opts.filter, params, opts.excludeProductId);
      ctes.push(`kw_best AS (
  SELECT max(${rank}) AS score FROM product p, kq WHERE ${keywordMatch(opts)}${full.map((c) => `\n    AND ${c}`).join('')}
)`);
      best = '(SELECT score FROM kw_best)';
    }
    conds.push(`${rank} >= ${params.add(opts.relativeCutoff, 'float8')} * ${best}`);
  }
  return { ctes, from: 'product p, kq', conds };
}

/**
 * The facet statement of a search (null when it needs neither facets nor a total from the filter): one row of
 * `facet_total` (or NULL) and the requested facet columns.
 */
export function buildFacets(opts: BuildSearchInput): BuiltQuery | null {
  const kinds = [...new Set(opts.facets ?? [])];
  const total = Boolean(opts.total) && totalFromFilter(opts);
  if (!kinds.length && !total) return null;
  const params = new Params();
  const filter = opts.filter ?? {};
  const m = membership(opts, params);
  const needed = new Set<Variant>(kinds.map((k) => variantOf(k, filter)));
  if (total) needed.add('all');
  const ctes = [...m.ctes];
  for (const v of needed) {
    const conds = [...m.conds, ...filterConditions(without(filter, v), params, opts.excludeProductId)];
    ctes.push(`facet_set_${v} AS MATERIALIZED (
  -- the match set${v === 'all' ? '' : ` without its ${v} condition (the ${v} facet is disjunctive)`}
  SELECT p.id, p.category, p.brand, p.in_stock, p.price, p.currency
  FROM ${m.from}
  WHERE ${conds.join('\n    AND ')}
)`);
  }
  const set = (k: FacetKind) => `facet_set_${variantOf(k, filter)}`;
  const columns = [total ? `(SELECT count(*)::int FROM facet_set_all) AS facet_total` : 'NULL::int AS facet_total'];
  for (const k of kinds) {
    if (k === 'CATEGORY') columns.push(`${counted(set(k), 'category', params)} AS facet_categories`);
    if (k === 'BRAND') columns.push(`${counted(set(k), 'brand', params)} AS facet_brands`);
    if (k === 'IN_STOCK')
      columns.push(`(SELECT coalesce(json_agg(json_build_object('value', value, 'count', count) ORDER BY value DESC), '[]'::json)
     FROM (SELECT f.in_stock::text AS value, count(*)::int AS count FROM ${set(k)} f GROUP BY f.in_stock) c) AS facet_in_stock`);
    if (k === 'PRICE') {
      const bounds = params.add([...PRICE_BUCKETS], 'numeric[]');
      columns.push(`(SELECT coalesce(json_agg(json_build_object('currency', currency, 'bucket', bucket, 'count', count) ORDER BY currency, bucket), '[]'::json)
     FROM (SELECT f.currency::text AS currency, width_bucket(f.price, ${bounds}) AS bucket, count(*)::int AS count
           FROM ${set(k)} f WHERE f.price IS NOT NULL AND f.currency IS NOT NULL GROUP BY 1, 2) c) AS facet_price`);
    }
    if (k === 'CATEGORY_TREE') {
      const open = params.add(openCategoryPaths(filter.category), 'text[]');
      columns.push(`(SELECT coalesce(json_agg(json_build_object('path', path, 'depth', depth, 'count', count) ORDER BY depth, count DESC, path), '[]'::json)
     FROM (SELECT array_to_string(t.parts[1:d.depth], '/') AS path, d.depth, count(*)::int AS count
           FROM (SELECT string_to_array(f.category, '/') AS parts FROM ${set(k)} f WHERE f.category IS NOT NULL) t
           CROSS JOIN LATERAL generate_series(1, cardinality(t.parts)) AS d(depth)
           -- each product once per level: the top level, and the children of the open branch
           WHERE d.depth = 1 OR array_to_string(t.parts[1:d.depth - 1], '/') = ANY(${open})
           GROUP BY 1, 2 ORDER BY count DESC, path LIMIT ${params.add(CATEGORY_TREE_LIMIT, 'int')}) c) AS facet_category_tree`);
    }
  }
  const text = `WITH ${ctes.join(',\n')}\nSELECT ${columns.join(',\n  ')}`;
  return {
    shape: `facets-${opts.mode.toLowerCase()}`,
    settings: null,
    text,
    params: params.values,
  };
}
