/**
 * The search SQL builder: every search statement Glimpse runs is generated here (pure functions, no I/O),
 * as ONE parameterised statement per search, plus the pgvector settings for its transaction
 * (`set_config(..., true)` = SET LOCAL; only the vector-index shapes have any: the exact and keyword shapes run
 * as one statement without a transaction, on connections started with JIT and parallel workers off,
 * src/db/postgres.ts). The generated shapes are committed under src/search/queries/
 * (`npm run sql:shapes`) so reviewers read SQL, not string concatenation.
 *
 * Shapes
 *  - semantic, strategy 'hnsw-iterative' / 'ivfflat-iterative': the vector index scan (iterative, relaxed
 *    order) takes `window` images that pass the filters; every image of those products is then re-scored
 *    exactly and each product ranked by its best image (per-product aggregate), ordered by (distance, product
 *    id). The statement is the same for both index types; only the transaction's settings differ (hnsw.* or
 *    ivfflat.*), so the shapes `*-hnsw` and `*-ivfflat` share their SQL text.
 *  - semantic, strategy 'exact': the filtered rows are scored exactly — DISTINCT ON (product_id) ordering
 *    cannot be served by the vector index (HNSW or IVFFlat), so the planner reads the filtered rows through
 *    ordinary indexes.
 *  - keyword: full-text match over product.search_tsv, or over the CJK n-grams in product.search_cjk for text with
 *    CJK characters (PostgreSQL has no CJK parser); ts_rank_cd normalised (flag 32: rank/(rank+1)).
 *  - hybrid: reciprocal rank fusion of the semantic list and the keyword list (each cut at `window`).
 * The total, the best score and the HNSW candidate count come back on every row (and on a single row with a
 * null product when the page is empty). Facets are a second statement (./facet-sql.ts), counted from the
 * filter alone, that the service runs beside this one.
 */
import { embeddingTable } from '../catalog/store/embeddings.js';
import { PRODUCT_COLUMNS } from '../catalog/store/products.js';
import {
  filterConditions,
  filterConditionsOn,
  needsProductRow,
  type FilterSource,
  type ProductFilter,
} from '../catalog/filter.js';
import { Params, type BuiltQuery } from '../db/sql.js';

export type { BuiltQuery } from '../db/sql.js';
import { vectorToSql } from '../db/vector.js';
import { isDescending, isReordered, keyAfter, keyOrderBy, orderKey, type ResultOrder } from './order.js';
import type { FacetKind, SearchMode } from './types.js';

/**
 * The most images per requested hit an index window takes ((first+1)×4 hold ≥ first+1 products of up to 4 images);
 * the planner takes fewer for catalogs with fewer images per product (./planner.ts, imagesPerHit).
 */
export const IMAGES_PER_HIT = 4;
/** pgvector's largest hnsw.ef_search. */
export const MAX_EF_SEARCH = 1000;
/** pgvector's largest ivfflat.probes (= its largest number of lists). */
export const MAX_PROBES = 32768;

/** hnsw-iterative / ivfflat-iterative: the table's vector index (by its type); exact: no vector index. */
export type VectorStrategy = 'hnsw-iterative' | 'ivfflat-iterative' | 'exact';

/** Suffix of the shape name of a strategy (src/search/queries/{semantic,hybrid}-<suffix>.sql). */
export function strategyShape(strategy: VectorStrategy): 'hnsw' | 'ivfflat' | 'exact' {
  return strategy === 'exact' ? 'exact' : strategy === 'ivfflat-iterative' ? 'ivfflat' : 'hnsw';
}

/** Keyset position after the last hit of the previous page. */
export type CursorKey =
  /** semantic: (distance ASC, product id ASC) */
  | { kind: 'distance'; value: number; productId: string }
  /** keyword / hybrid: (score DESC, product id ASC) */
  | { kind: 'score'; value: number; productId: string }
  /** a re-ordered search (./order.ts): (sort key, product id ASC), NULL keys last */
  | { kind: 'sort'; value: number | null; productId: string };

/**
 * How the vector part reads the table, with every setting given (chosen by ./planner.ts; the builder only
 * keeps them inside pgvector's ranges).
 */
export type VectorScan =
  | {
      strategy: 'hnsw-iterative';
      /** images taken from the index scan */
      window: number;
      efSearch: number;
      maxScanTuples: number;
      /** bytes the iterative scan may hold (hnsw.scan_mem_multiplier × work_mem, within pgvector's 1–1000) */
      scanMemory: number;
      iterativeScan: 'relaxed_order' | 'strict_order';
    }
  | {
      strategy: 'ivfflat-iterative';
      window: number;
      /** ivfflat.probes (lists scanned first) and ivfflat.max_probes (iterative scan budget) */
      probes: number;
      maxProbes: number;
    }
  | {
      strategy: 'exact';
      /** stop scoring after this many filtered rows (a guard when the filter's size was estimated); null: all */
      guard: number | null;
    };

export interface BuildSearchInput {
  mode: SearchMode;
  /** SEMANTIC / HYBRID: normalised query vector, the model it belongs to, and how the table is read */
  vector?: Float32Array | null;
  modelId?: string | null;
  dimension?: number | null;
  scan?: VectorScan;
  /** KEYWORD / HYBRID */
  text?: string | null;
  /** KEYWORD / HYBRID: the text with synonyms put in (./synonyms.ts), OR-ed with it */
  textAlternatives?: readonly string[] | null;
  negativeText?: string | null;
  textSearchConfig: string;
  filter?: ProductFilter | null;
  /** more-like-this: this product never appears in the results */
  excludeProductId?: string | null;
  minScore?: number | null;
  relativeCutoff?: number | null;
  /** the best score of the whole search (from the cursor), so relativeCutoff holds on later pages */
  bestScore?: number | null;
  first: number;
  after?: CursorKey | null;
  facets?: readonly FacetKind[] | null;
  /** count the matches (totalCount: columns total_count, total_exact) */
  total?: boolean;
  /** an ordering other than plain relevance (./order.ts): the relevant list is ordered by its key */
  order?: ResultOrder | null;
  /** SEMANTIC / HYBRID re-ordered: products of the relevant list (the top ones by relevance) */
  listLimit?: number | null;
  /** HYBRID: products kept from each list before fusion, and the fusion constant k */
  fusionWindow?: number;
  rrfK?: number;
}

/** the join of a statement over vector rows `e` that reads part of its filter from their products */
const PRODUCT_JOIN = '\n  JOIN product p ON p.id = e.product_id';

/** the join a statement reading its filter from the vector rows needs: only for attributes, which they lack */
const vectorRowJoin = (filter: ProductFilter | null | undefined): string =>
  needsProductRow(filter) ? PRODUCT_JOIN : '';

const and = (conds: string[], indent = '    '): string =>
  conds.length ? conds.map((x) => `\n${indent}AND ${x}`).join('') : '';

/**
 * Counts the embeddings (of one model) whose product passes the filter, stopping at `limit`
 * (= exactScanThreshold + 1): the cheap selectivity estimate that picks the exact path.
 */
export function buildEstimate(opts: {
  dimension: number;
  modelId: string;
  filter?: ProductFilter | null;
  excludeProductId?: string | null;
  limit: number;
}): BuiltQuery {
  const params = new Params();
  const table = embeddingTable(opts.dimension);
  const model = params.add(opts.modelId);
  const conds = filterConditions(opts.filter, params, opts.excludeProductId, 'vector-row');
  // total: the planner's row count of the table (free), to size hnsw.max_scan_tuples for the HNSW path
  const text = `SELECT count(*)::int AS n, (SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = '${table}'::regclass) AS total
FROM (
  SELECT 1
  FROM ${table} e${vectorRowJoin(opts.filter)}
  WHERE e.model_id = ${model}${and(conds)}
  LIMIT ${params.add(opts.limit, 'int')}
) s`;
  return { shape: 'estimate', settings: null, text, params: params.values };
}

/**
 * The planner's estimate of the products passing a filter: EXPLAIN of the filter alone over `product`, from
 * the table statistics (nothing is read; ~0.3 ms). The service multiplies it by images per product and only
 * runs the bounded count (buildEstimate) when the estimate is near the exact/index boundary.
 */
export function buildFilterEstimate(opts: {
  filter?: ProductFilter | null;
  excludeProductId?: string | null;
}): BuiltQuery {
  const params = new Params();
  const conds = filterConditions(opts.filter, params, opts.excludeProductId);
  return {
    shape: 'filter-estimate',
    settings: null,
    text: `EXPLAIN (FORMAT JSON) SELECT 1 FROM product p WHERE true${and(conds)}`,
    params: params.values,
  };
}

/** Mean of a product's image vectors (one model); null row values when it has none. */
export function buildProductVector(opts: { dimension: number; modelId: string; productId: string }): BuiltQuery {
  const params = new Params();
  const table = embeddingTable(opts.dimension);
  const text = `SELECT (SELECT count(*)::int FROM product WHERE id = ${params.add(opts.productId, 'uuid')}) AS product_count,
  avg(e.embedding::vector) AS vector, count(*)::int AS images
FROM ${table} e
WHERE e.product_id = $1::uuid AND e.model_id = ${params.add(opts.modelId)}`;
  return { shape: 'product-vector', settings: null, text, params: params.values };
}

/** One image's vector (one model) and its product. */
export function buildImageVector(opts: { dimension: number; modelId: string; imageId: string }): BuiltQuery {
  const params = new Params();
  const table = embeddingTable(opts.dimension);
  const text = `SELECT i.id AS image_id, i.product_id, e.embedding AS vector
FROM product_image i
LEFT JOIN ${table} e ON e.image_id = i.id AND e.model_id = ${params.add(opts.modelId)}
WHERE i.id = ${params.add(opts.imageId, 'uuid')}`;
  return { shape: 'image-vector', settings: null, text, params: params.values };
}

/** The active model (used when no embedder is loaded, for vector-only queries). */
export function buildActiveModel(): BuiltQuery {
  return {
    shape: 'active-model',
    settings: null,
    text: `SELECT id, dimension FROM embedding_model WHERE active LIMIT 1`,
    params: [],
  };
}

/**
 * The catalog's vocabulary for "did you mean" (./spelling.ts): the words of titles and brands (the `simple`
 * configuration: lower case, no stemming, no stop words removed) with the number of products using each,
 * the most used first, at most `limit`.
 */
export function buildVocabulary(limit: number): BuiltQuery {
  const params = new Params();
  const text = `SELECT word, ndoc::int AS products
FROM ts_stat($$SELECT to_tsvector('simple', p.title || ' ' || coalesce(p.brand, '')) FROM product p$$)
WHERE length(word) BETWEEN 2 AND 40 AND word ~ '^[[:alpha:]]+$'
ORDER BY ndoc DESC, word
LIMIT ${params.add(limit, 'int')}`;
  return { shape: 'vocabulary', settings: null, text, params: params.values };
}

/**
 * Autocomplete's product titles (./suggest.ts): titles containing `text` (ILIKE, served by the title's trigram
 * index `product_title_trgm_idx`; pg_trgm on PostgreSQL and PGlite), at most `candidates` of them read, ranked
 * titles starting with the text first, then by pg_trgm's word_similarity, shorter titles, id.
 */
export function buildTitleSuggestions(opts: { text: string; limit: number; candidates: number }): BuiltQuery {
  const params = new Params();
  const escaped = opts.text.replace(/[\\%_]/g, (c) => `\\${c}`);
  const contains = params.add(`%${escaped}%`);
  const text = `SELECT c.id::text AS product_id, c.title
FROM (
  SELECT p.id, p.title FROM product p WHERE p.title ILIKE ${contains}
  LIMIT ${params.add(opts.candidates, 'int')}
) c
ORDER BY (c.title ILIKE ${params.add(`${escaped}%`)}) DESC, word_similarity(${params.add(opts.text)}, c.title) DESC,
  length(c.title), c.id
LIMIT ${params.add(opts.limit, 'int')}`;
  return { shape: 'title-suggestions', settings: null, text, params: params.values };
}

/**
 * Highlights of a page's KEYWORD / HYBRID hits (./highlight.ts): ts_headline over title and description with the
 * search's own tsquery (keywordQueryCte: synonyms included), matches between two private-use sentinels that are
 * first removed from the text.
 */
export function buildHighlights(opts: {
  text: string;
  textAlternatives?: readonly string[] | null;
  textSearchConfig: string;
  productIds: readonly string[];
  marks: { start: string; end: string };
}): BuiltQuery {
  const params = new Params();
  const kq = keywordQueryCte(opts, params);
  const cfg = params.add(opts.textSearchConfig, 'regconfig');
  const strip = params.add(opts.marks.start + opts.marks.end);
  const sel = `StartSel=${opts.marks.start}, StopSel=${opts.marks.end}`;
  const titleOptions = params.add(`${sel}, HighlightAll=true`);
  const descriptionOptions = params.add(`${sel}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "`);
  const text = `WITH ${kq}
SELECT p.id::text AS product_id,
  ts_headline(${cfg}, translate(p.title, ${strip}, ''), kq.q, ${titleOptions}) AS title,
  CASE WHEN p.description IS NULL OR p.description = '' THEN NULL
    ELSE ts_headline(${cfg}, translate(p.description, ${strip}, ''), kq.q, ${descriptionOptions}) END AS description
FROM product p, kq
WHERE p.id = ANY(${params.add([...opts.productIds], 'uuid[]')})`;
  return { shape: 'highlights', settings: null, text, params: params.values };
}

/** `x` rounded into [min, max]: pgvector's ranges, never a default. */
const within = (x: number, min: number, max: number): number => Math.max(min, Math.min(max, Math.round(x)));

function hnswSettings(scan: Extract<VectorScan, { strategy: 'hnsw-iterative' }>): { text: string; params: unknown[] } {
  const params = new Params();
  const text = `SELECT set_config('hnsw.ef_search', ${params.add(String(within(scan.efSearch, 1, MAX_EF_SEARCH)))}, true),
  set_config('hnsw.iterative_scan', ${params.add(scan.iterativeScan)}, true),
  set_config('hnsw.max_scan_tuples', ${params.add(String(within(scan.maxScanTuples, 1, Number.MAX_SAFE_INTEGER)))}, true),
  set_config('hnsw.scan_mem_multiplier',
    greatest(1, least(1000, ceil(${params.add(scan.scanMemory)}::float8 / pg_size_bytes(current_setting('work_mem')))))::text, true),
  set_config('enable_seqscan', 'off', true),
  set_config('enable_sort', 'off', true),
  set_config('jit', 'off', true),
  set_config('max_parallel_workers_per_gather', '0', true)`;
  return { text, params: params.values };
}

/**
 * IVFFlat: `probes` lists first, then (iterative scan, pgvector 0.8: relaxed order is the only order IVFFlat
 * offers) more lists until the LIMIT is filled or `max_probes` lists were read. The planner settings are those
 * of the HNSW shape, for the same reasons.
 */
function ivfflatSettings(scan: Extract<VectorScan, { strategy: 'ivfflat-iterative' }>): {
  text: string;
  params: unknown[];
} {
  const params = new Params();
  const probes = within(scan.probes, 1, MAX_PROBES);
  const maxProbes = within(scan.maxProbes, probes, MAX_PROBES);
  const text = `SELECT set_config('ivfflat.probes', ${params.add(String(probes))}, true),
  set_config('ivfflat.iterative_scan', 'relaxed_order', true),
  set_config('ivfflat.max_probes', ${params.add(String(maxProbes))}, true),
  set_config('enable_seqscan', 'off', true),
  set_config('enable_sort', 'off', true),
  set_config('jit', 'off', true),
  set_config('max_parallel_workers_per_gather', '0', true)`;
  return { text, params: params.values };
}

/**
 * Where a vector statement reads the filter (docs/search.md, "Filter columns on the vector rows"): the vector
 * rows' own copies, with a join to `product` only for attributes (which they do not carry) — except in an
 * exact scan of a compound filter, which narrows on the product rows first (small rows, many to a page) and
 * then reads only the matching products' vectors: reading the vector rows that one condition's index finds and
 * checking the rest on them reads several times more pages (measured: 0.70× for category + stock + tag).
 */
function filterSource(
  filter: ProductFilter | null | undefined,
  scan: VectorScan,
  filterOn: (source: FilterSource) => string[],
): { conds: string[]; join: string } {
  const compound = filterConditions(filter, new Params()).length > 1;
  if (scan.strategy === 'exact' && compound) return { conds: filterOn('product'), join: PRODUCT_JOIN };
  return { conds: filterOn('vector-row'), join: vectorRowJoin(filter) };
}

/**
 * CTEs producing `best(product_id, image_id, distance)`: each candidate product once, with its best image
 * (exact distance). `q` is the query vector placeholder.
 */
function semanticCtes(
  opts: BuildSearchInput,
  scan: VectorScan,
  params: Params,
  q: string,
  filterOn: (source: FilterSource) => string[],
  afterDistance: string | null,
): string {
  const table = embeddingTable(opts.dimension!);
  const model = params.add(opts.modelId);
  const { conds, join } = filterSource(opts.filter, scan, filterOn);
  if (scan.strategy === 'exact') {
    return `scored AS MATERIALIZED (
  -- exact: every filtered embedding is scored (no ORDER BY on the distance, so no vector index); the LIMIT
  -- is a guard when the filter's size was estimated (NULL: none): reaching it sends the search to the index
  SELECT e.product_id, e.image_id, (e.embedding <=> ${q}) AS distance
  FROM ${table} e${join}
  WHERE e.model_id = ${model}${and(conds)}
  LIMIT ${params.add(scan.guard, 'int8')}
),
best AS MATERIALIZED (
  -- each product once, by its best image
  SELECT DISTINCT ON (product_id) product_id, image_id, distance
  FROM scored
  ORDER BY product_id, distance, image_id
)`;
  }
  const window = params.add(scan.window, 'int');
  return `ann AS MATERIALIZED (
  -- vector index scan (iterative, relaxed order: exact order restored below), filters applied during the scan
  SELECT e.product_id
  FROM ${table} e${join}
  WHERE e.model_id = ${model}${and(conds)}${afterDistance ? `\n    AND (e.embedding <=> ${q}) >= ${afterDistance}` : ''}
  ORDER BY e.embedding <=> ${q}
  LIMIT ${window}
),
best AS MATERIALIZED (
  -- exact re-rank: every image of each candidate product, the product ranked by its best image
  -- (a per-product aggregate over its few images: no sort node, so enable_sort = off cannot distort it;
  -- OFFSET 0 keeps the images' subquery apart, or PostgreSQL 16+ (PGlite) presorts the aggregate's input
  -- through the vector index: a whole-index walk per product instead of its few rows)
  SELECT c.product_id, b.image_id, b.distance
  FROM (SELECT DISTINCT product_id FROM ann) c
  CROSS JOIN LATERAL (
    SELECT (array_agg(x.image_id ORDER BY x.distance, x.image_id))[1] AS image_id, min(x.distance) AS distance
    FROM (
      SELECT e.image_id, (e.embedding <=> ${q}) AS distance
      FROM ${table} e
      WHERE e.product_id = c.product_id AND e.model_id = ${model}
      OFFSET 0
    ) x
  ) b
)`;
}

/**
 * The keyword match: the full-text column (the row's text search configuration) OR, for text with CJK
 * characters, the CJK n-gram column (`glimpse_cjk_tsquery` is NULL for other text, so that branch is void).
 * The score is the better of the two ts_rank_cd values; `negativeText` excludes products matching it either way.
 * The CTE `kq` holds the query's tsqueries; KEYWORD_MATCH / KEYWORD_RANK read it (also in ./facet-sql.ts).
 */
export function keywordQueryCte(
  opts: Pick<BuildSearchInput, 'text' | 'negativeText' | 'textSearchConfig' | 'textAlternatives'>,
  params: Params,
): string {
  const cfg = params.add(opts.textSearchConfig, 'regconfig');
  const text = params.add(opts.text ?? '');
  // synonyms (./synonyms.ts): the query OR-ed with each alternative text, each parsed like the query
  const alternatives = (opts.textAlternatives ?? []).map((a) => ` || websearch_to_tsquery(${cfg}, ${params.add(a)})`);
  const negative = opts.negativeText ? params.add(opts.negativeText) : null;
  const negativeCols = negative
    ? `,
    (SELECT CASE WHEN numnode(n) = 0 THEN NULL ELSE n END FROM websearch_to_tsquery(${cfg}, ${negative}) n) AS nq,
    glimpse_cjk_tsquery(${negative}) AS ncq`
    : '';
  return `kq AS (
  SELECT websearch_to_tsquery(${cfg}, ${text})${alternatives.join('')} AS q, glimpse_cjk_tsquery(${text}) AS cq${negativeCols}
)`;
}

/** `p` matches the text of `kq` (and not its negative words, when given). */
export function keywordMatch(opts: Pick<BuildSearchInput, 'negativeText'>): string {
  const excluded = opts.negativeText
    ? `\n    AND NOT coalesce(p.search_tsv @@ kq.nq OR p.search_cjk @@ kq.ncq, false)`
    : '';
  return `(p.search_tsv @@ kq.q OR p.search_cjk @@ kq.cq)${excluded}`;
}

/** ts_rank_cd normalisation 32: rank / (rank + 1), in [0,1); the better of the full-text and CJK ranks. */
export const KEYWORD_RANK =
  'greatest(ts_rank_cd(p.search_tsv, kq.q, 32), coalesce(ts_rank_cd(p.search_cjk, kq.cq, 32), 0))::float8';

function keywordCtes(opts: BuildSearchInput, params: Params, conds: string[]): string {
  return `${keywordQueryCte(opts, params)},
kw AS MATERIALIZED (
  SELECT p.id AS product_id, ${KEYWORD_RANK} AS score
  FROM product p, kq
  WHERE ${keywordMatch(opts)}${and(conds)}
)`;
}

/**
 * The final SELECT: `page` rows (first + 1, to know hasNextPage) LEFT JOINed to one `meta` row, so an
 * empty page still returns the best score, the facets, the total and the HNSW candidate count. Each page row
 * carries its product's columns (PRODUCT_COLUMNS), read in the search's own snapshot: the API answers a search
 * without a second round trip for the products. A re-ordered
 * search (./order.ts) pages through `listed`: the relevant list (for SEMANTIC / HYBRID its top `listLimit`
 * products by relevance) with each product's sort key.
 */
function finalSelect(
  opts: BuildSearchInput,
  params: Params,
  pageCols: string,
  relevanceOrder: string,
  candidateCount: string,
): string {
  const scanned =
    opts.mode !== 'KEYWORD' && opts.scan?.strategy === 'exact' ? '(SELECT count(*)::int FROM scored)' : 'NULL::int';
  const total = totalColumns(opts, params);
  // the index path: a candidate fell below the score cut, so the candidates beyond the window would too
  const cutReached =
    opts.mode === 'SEMANTIC' && opts.scan && opts.scan.strategy !== 'exact' && hasScoreCut(opts)
      ? '(SELECT count(*) FROM best) > (SELECT count(*) FROM matches)'
      : 'NULL::boolean';
  let source = 'matches';
  let orderBy = relevanceOrder;
  let listed = '';
  if (isReordered(opts.order)) {
    const key = orderKey(opts.order, params);
    const desc = isDescending(opts.order);
    const top =
      opts.mode === 'KEYWORD' || opts.listLimit == null
        ? 'matches'
        : `(SELECT * FROM matches m ORDER BY ${relevanceOrder} LIMIT ${params.add(opts.listLimit, 'int')})`;
    listed = `listed AS MATERIALIZED (
  -- the relevant list, ordered by ${opts.order.order === 'RELEVANCE' ? 'the boosted score' : opts.order.order} (./order.ts)
  SELECT m.*, ${key} AS sort_key
  FROM ${top} m
  JOIN product p ON p.id = m.product_id
),
`;
    source = 'listed';
    pageCols += ', pg.sort_key';
    orderBy = keyOrderBy(desc);
  }
  return `${listed}meta AS (
  SELECT (SELECT max(score) FROM ranked) AS best_score,
  ${candidateCount} AS candidate_rows,
  ${scanned} AS scanned_rows,
  ${cutReached} AS cut_reached,
  ${total.count} AS total_count,
  ${total.exact} AS total_exact
)
SELECT meta.*, ${pageCols}, ${PRODUCT_COLUMNS}
FROM meta
LEFT JOIN LATERAL (
  SELECT * FROM ${source} m
  WHERE ${pageKeyset(opts, params)}
  ORDER BY ${orderBy}
  LIMIT ${params.add(opts.first + 1, 'int')}
) pg ON true
LEFT JOIN product p ON p.id = pg.product_id
ORDER BY ${orderBy.replace(/\bm\./g, 'pg.')}`;
}

/**
 * totalCount: the matches one can page through. Exact wherever the statement sees every match: KEYWORD and
 * the exact scan (every match is scored), HYBRID (its listing is the fused lists), and the index path without
 * a score cut (every product with a vector that passes the filter, counted from the filter). The index path
 * with a cut (minScore, relativeCutoff) counts the matches in its window: exact when the window held a
 * product below the cut or the scan ran dry before filling it, else a lower bound (total_exact false). The
 * index path without a cut leaves it NULL: the facet statement counts it from the filter (totalFromFilter).
 */
function totalColumns(opts: BuildSearchInput, params: Params): { count: string; exact: string } {
  if (!opts.total || totalFromFilter(opts)) return { count: 'NULL::int', exact: 'NULL::boolean' };
  // a re-ordered search pages through its whole list
  if (isReordered(opts.order)) return { count: '(SELECT count(*)::int FROM listed)', exact: 'true' };
  const matches = '(SELECT count(*)::int FROM matches)';
  const { scan } = opts;
  if (opts.mode !== 'SEMANTIC' || !scan || scan.strategy === 'exact') return { count: matches, exact: 'true' };
  return {
    count: matches,
    exact: `((SELECT count(*) FROM best) > ${matches} OR (SELECT count(*) FROM ann) < ${params.add(scan.window, 'int')})`,
  };
}

/**
 * SEMANTIC without a score cut: every product with a vector that passes the filter matches (any strategy);
 * not when re-ordered (its list is the top `listLimit`).
 */
export function totalFromFilter(opts: BuildSearchInput): boolean {
  return opts.mode === 'SEMANTIC' && !hasScoreCut(opts) && !isReordered(opts.order);
}

/** Whether a score cut (minScore, relativeCutoff) shortens the ranked list. */
export function hasScoreCut(opts: Pick<BuildSearchInput, 'minScore' | 'relativeCutoff'>): boolean {
  return (opts.minScore != null && opts.minScore > 0) || (opts.relativeCutoff != null && opts.relativeCutoff > 0);
}

function pageKeyset(opts: BuildSearchInput, params: Params): string {
  const a = opts.after;
  if (!a) return 'true';
  if (a.kind === 'sort') {
    if (!isReordered(opts.order)) throw new RangeError('a sort-key cursor needs a re-ordered search');
    return keyAfter(isDescending(opts.order), a.value, a.productId, params);
  }
  const v = params.add(a.value, 'float8');
  const id = params.add(a.productId, 'uuid');
  return a.kind === 'distance'
    ? `(m.distance, m.product_id) > (${v}, ${id})`
    : `(m.score < ${v} OR (m.score = ${v} AND m.product_id > ${id}))`;
}

/** relativeCutoff keeps scores ≥ cutoff × best (best of the whole search: from the cursor, else this query's). */
function cutoffCondition(opts: BuildSearchInput, params: Params): string {
  if (opts.relativeCutoff == null || opts.relativeCutoff <= 0) return 'true';
  return `r.score >= ${params.add(opts.relativeCutoff, 'float8')} * ${bestScoreOf(opts, params)}`;
}

/** The best score of the whole search: from the cursor on later pages, else this statement's. */
function bestScoreOf(opts: BuildSearchInput, params: Params): string {
  return opts.bestScore != null ? params.add(opts.bestScore, 'float8') : '(SELECT max(score) FROM ranked)';
}

function minScoreCondition(opts: BuildSearchInput, params: Params, col = 'score'): string {
  return opts.minScore != null && opts.minScore > 0 ? `${col} >= ${params.add(opts.minScore, 'float8')}` : 'true';
}

/** Shape names of re-ordered statements end in `-sorted` (their own files under src/search/queries/). */
export function sortedSuffix(opts: Pick<BuildSearchInput, 'order'>): '' | '-sorted' {
  return isReordered(opts.order) ? '-sorted' : '';
}

/** The search statement for a request (see the file comment for the shapes). */
export function buildSearch(opts: BuildSearchInput): BuiltQuery {
  const params = new Params();
  if (opts.mode === 'KEYWORD') return buildKeyword(opts, params);
  const { scan } = opts;
  if (!opts.vector || !opts.modelId || !opts.dimension || !scan)
    throw new RangeError(`${opts.mode} search needs a vector, model, dimension and scan`);
  if (opts.vector.length !== opts.dimension)
    throw new RangeError(`vector has ${opts.vector.length} dimensions, expected ${opts.dimension}`);
  const shape = `${strategyShape(scan.strategy)}${sortedSuffix(opts)}`;
  const q = params.add(vectorToSql(opts.vector), `halfvec(${opts.dimension})`);
  const filterOn = filterConditionsOn(opts.filter, params, opts.excludeProductId);
  const settings =
    scan.strategy === 'hnsw-iterative'
      ? hnswSettings(scan)
      : scan.strategy === 'ivfflat-iterative'
        ? ivfflatSettings(scan)
        : null;
  const candidateCount = scan.strategy !== 'exact' ? '(SELECT count(*)::int FROM ann)' : 'NULL::int';
  if (opts.mode === 'SEMANTIC') {
    const afterDistance =
      scan.strategy !== 'exact' && opts.after?.kind === 'distance' ? params.add(opts.after.value, 'float8') : null;
    const text = `WITH ${semanticCtes(opts, scan, params, q, filterOn, afterDistance)},
ranked AS (
  -- score = max(0, 1 - cosine distance) = max(0, cosine similarity)
  SELECT product_id, image_id, distance, greatest(0, 1 - distance) AS score
  FROM best
  WHERE ${minScoreCondition(opts, params, 'greatest(0, 1 - distance)')}
),
matches AS (
  SELECT r.* FROM ranked r WHERE ${cutoffCondition(opts, params)}
),
${finalSelect(opts, params, 'pg.product_id, pg.image_id, pg.distance, pg.score', 'm.distance, m.product_id', candidateCount)}`;
    return { shape: `semantic-${shape}`, settings, text, params: params.values };
  }
  // HYBRID
  if (opts.rrfK == null || opts.fusionWindow == null) throw new RangeError('HYBRID search needs rrfK and fusionWindow');
  const k = params.add(opts.rrfK, 'float8');
  const fw = params.add(opts.fusionWindow, 'int');
  const text = `WITH ${semanticCtes(opts, scan, params, q, filterOn, null)},
${keywordCtes(opts, params, filterOn('product'))},
sem_ranked AS (
  SELECT product_id, image_id, distance, row_number() OVER (ORDER BY distance, product_id) AS r FROM best
),
kw_ranked AS (
  SELECT product_id, row_number() OVER (ORDER BY score DESC, product_id) AS r FROM kw
),
fused AS (
  -- reciprocal rank fusion: sum of 1/(k + rank) over both lists (each cut at the fusion window)
  SELECT coalesce(s.product_id, w.product_id) AS product_id, s.image_id, s.distance,
    s.r AS semantic_rank, w.r AS keyword_rank,
    coalesce(1.0::float8 / (${k} + s.r), 0) + coalesce(1.0::float8 / (${k} + w.r), 0) AS rrf
  FROM (SELECT * FROM sem_ranked WHERE r <= ${fw}) s
  FULL JOIN (SELECT * FROM kw_ranked WHERE r <= ${fw}) w ON w.product_id = s.product_id
),
ranked AS (
  -- score = rrf normalised by its maximum 2/(k+1) (first in both lists), in [0,1]
  SELECT product_id, image_id, distance, semantic_rank, keyword_rank, rrf * (${k} + 1) / 2 AS score
  FROM fused
  WHERE ${minScoreCondition(opts, params, `rrf * (${k} + 1) / 2`)}
),
matches AS (
  SELECT r.* FROM ranked r WHERE ${cutoffCondition(opts, params)}
),
${finalSelect(opts, params, 'pg.product_id, pg.image_id, pg.distance, pg.score, pg.semantic_rank, pg.keyword_rank', 'm.score DESC, m.product_id', candidateCount)}`;
  return { shape: `hybrid-${shape}`, settings, text, params: params.values };
}

function buildKeyword(opts: BuildSearchInput, params: Params): BuiltQuery {
  const conds = filterConditions(opts.filter, params, opts.excludeProductId);
  const text = `WITH ${keywordCtes(opts, params, conds)},
ranked AS (
  SELECT product_id, NULL::uuid AS image_id, NULL::float8 AS distance, score
  FROM kw
  WHERE ${minScoreCondition(opts, params)}
),
matches AS (
  SELECT r.* FROM ranked r WHERE ${cutoffCondition(opts, params)}
),
${finalSelect(opts, params, 'pg.product_id, pg.score', 'm.score DESC, m.product_id', 'NULL::int')}`;
  return { shape: `keyword${sortedSuffix(opts)}`, settings: null, text, params: params.values };
}

/** EXPLAIN of a built search (tests, benchmark): same settings, same parameters. */
export function explainText(q: BuiltQuery, analyze = false): string {
  return `EXPLAIN (${analyze ? 'ANALYZE, ' : ''}COSTS OFF) ${q.text}`;
}
