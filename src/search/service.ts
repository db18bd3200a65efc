/**
 * SearchService: validates a search request, builds the query vector (docs/search.md: weighted sum of
 * normalised parts minus the negative, renormalised), picks the strategy (exact scan when the filter is
 * selective, else the table's vector index — HNSW or IVFFlat, looked up in the catalog and cached — with an
 * iterative scan), runs the statement from ./sql.ts and maps rows to hits.
 * It never calls ONNX itself: text goes through the injected `QueryEmbedder`.
 */
import { LRUCache } from 'lru-cache';
import { hasFilter, normaliseFilter } from '../catalog/filter.js';
import { embeddingTable, isEmbeddingDimension } from '../catalog/store/embeddings.js';
import { normaliseInPlace, unitVector, VectorError } from '../embedding/vector.js';
import { searchDuration } from '../observability/metrics.js';
import { noteStrategy, timeEmbed } from '../observability/server-timing.js';
import type { Sql } from '../db/sql.js';
import { vectorFromSql } from '../db/vector.js';
import { GlimpseError, badInput, firstRangeMessage, notFound } from '../errors.js';
import { decodeCursor, encodeCursor, isUuid, type DecodedCursor } from './cursor.js';
import { PRICE_BUCKETS, buildFacets } from './facet-sql.js';
import { cachedIndexInfo, type VectorIndexInfo } from './index-admin.js';
import {
  IMAGES_PER_HIT,
  MAX_EF_SEARCH,
  MAX_PROBES,
  buildActiveModel,
  buildEstimate,
  buildFilterEstimate,
  buildImageVector,
  buildProductVector,
  buildSearch,
  explainText,
  hasScoreCut,
  inlineSettings,
  strategyShape,
  type BuildSearchInput,
  type BuiltQuery,
  type CursorKey,
  type VectorStrategy,
} from './sql.js';
import type {
  EmbedderProvider,
  FacetKind,
  Facets,
  ProductFilter,
  QueryEmbedder,
  TextRoute,
  SearchConfig,
  SearchHit,
  SearchMode,
  SearchPlan,
  SearchRequest,
  SearchResult,
} from './types.js';

export const DEFAULT_FIRST = 20;
export const DEFAULT_NEGATIVE_WEIGHT = 0.5;
const MODES: readonly SearchMode[] = ['SEMANTIC', 'KEYWORD', 'HYBRID'];
const FACETS: readonly FacetKind[] = ['CATEGORY', 'CATEGORY_TREE', 'BRAND', 'IN_STOCK', 'PRICE'];
/** a page that comes back short from a saturated HNSW window is retried with a 4× window, this often */
const MAX_RETRIES = 3;
const MAX_TEXT = 1000;
/** ceiling of the per-request hnsw.max_scan_tuples raised for filtered searches */
const MAX_SCAN_TUPLES = 1_000_000;
export const DEFAULT_IVFFLAT_PROBES = 10;
const NO_INDEX: VectorIndexInfo = { type: null, rows: 0, productRows: 0 };
/** the `auto` exact-scan threshold never goes below this many rows (an exact scan of them takes ~1–5 ms) */
export const MIN_EXACT_SCAN_ROWS = 2000;
/**
 * The planner's estimate of a filter is kept this long (per service, by statement and parameters): storefront
 * filters repeat, statistics change only with ANALYZE, and a stale estimate costs time, never results (the
 * fall-backs in execute()). Like the index information's cache (index-admin.ts), a minute.
 */
const FILTER_ESTIMATE_TTL_MS = 60_000;
const FILTER_ESTIMATES = 1000;
/** an exact scan chosen from statistics stops after this many × the threshold rows (then the index runs) */
const EXACT_GUARD_FACTOR = 2;

/** `Plan Rows` of the top node of an EXPLAIN (FORMAT JSON) result (json or its text), or null. */
export function plannedRows(explain: unknown): number | null {
  try {
    const doc = typeof explain === 'string' ? (JSON.parse(explain) as unknown) : explain;
    const rows = (doc as { Plan?: { 'Plan Rows'?: unknown } }[] | undefined)?.[0]?.Plan?.['Plan Rows'];
    return typeof rows === 'number' && Number.isFinite(rows) && rows >= 0 ? rows : null;
  } catch {
    return null;
  }
}

interface Row {
  best_score: number | null;
  candidate_rows: number | null;
  /** exact scan with a guard: the filtered rows it scored (up to the guard) */
  scanned_rows?: number | null;
  total_count?: number | null;
  total_exact?: boolean | null;
  /** index path with a score cut: a candidate scored below it */
  cut_reached?: boolean | null;
  /** the facet statement's total (SEMANTIC without a score cut) */
  facet_total?: number | null;
  facet_categories?: { value: string; count: number }[];
  facet_category_tree?: { path: string; depth: number; count: number }[];
  facet_brands?: { value: string; count: number }[];
  facet_in_stock?: { value: string; count: number }[];
  facet_price?: { currency: string; bucket: number; count: number }[];
  product_id: string | null;
  image_id?: string | null;
  distance?: number | null;
  score: number | null;
  semantic_rank?: number | string | null;
  keyword_rank?: number | string | null;
}

export interface SimilarOptions {
  filter?: ProductFilter | null;
  first?: number | null;
  after?: string | null;
  minScore?: number | null;
  relativeCutoff?: number | null;
  facets?: readonly FacetKind[] | null;
  total?: boolean | null;
}

/**
 * What chooseStrategy decided: the exact scan (with a guard in rows when the filter's size was estimated from
 * statistics, null when it was counted), or the table's vector index sized for a fraction of matching rows.
 */
type StrategyChoice = { strategy: 'exact'; guard: number | null } | { strategy: 'index'; matchFraction: number };

/** A prepared search: everything decided before SQL runs (exposed for explain and tests). */
interface Prepared {
  mode: SearchMode;
  first: number;
  cursor: DecodedCursor | null;
  modelId: string | null;
  /** the text model that embedded the query text, if any */
  textModel?: string | null;
  build: BuildSearchInput;
  plan: SearchPlan;
  /** lower bound of the fraction of embeddings passing the filter (1: unfiltered or unknown) */
  matchFraction: number;
  /** the table's vector index and row counts */
  index: VectorIndexInfo;
  /** images the index scan takes for this request (before any widening) */
  window: number;
}

export class SearchService {
  private readonly embedder: EmbedderProvider;
  /** planned product rows of a filter-estimate statement (its text and parameters as the key); boxed: null too */
  private readonly filterEstimates = new LRUCache<string, { rows: number | null }>({
    max: FILTER_ESTIMATES,
    ttl: FILTER_ESTIMATE_TTL_MS,
  });

  constructor(
    private readonly sql: Sql,
    private readonly config: SearchConfig,
    embedder: EmbedderProvider | QueryEmbedder | null = null,
  ) {
    this.embedder = typeof embedder === 'function' ? embedder : () => embedder;
  }

  /** Runs a search; throws GlimpseError (BAD_USER_INPUT, NOT_FOUND, MODEL_UNAVAILABLE). */
  async search(req: SearchRequest): Promise<SearchResult> {
    const p = await this.prepare(req);
    // database time only: query embedding happened in prepare (glimpse_embedding_duration_seconds)
    const end = searchDuration.startTimer({ mode: p.mode, kind: p.plan.strategy });
    try {
      return await this.execute(p);
    } finally {
      end();
      noteStrategy(p.plan.fallback ? `${p.plan.strategy}+fallback-${p.plan.fallback}` : p.plan.strategy);
    }
  }

  /** The search statement(s) and, beside them (concurrently on a pool), the facet statement. */
  private async execute(p: Prepared): Promise<SearchResult> {
    const facetQuery = buildFacets(p.build);
    const [result, facetRow] = await Promise.all([
      this.rank(p),
      facetQuery ? this.run(facetQuery).then((rows) => rows[0]) : undefined,
    ]);
    if (facetQuery) p.plan.statements++;
    if (facetRow) {
      if (p.build.facets?.length) result.facets = facetsOf(facetRow, p.build.facets);
      if (result.totalCount == null && facetRow.facet_total != null) {
        result.totalCount = Number(facetRow.facet_total);
        result.totalCountExact = true;
      }
    }
    return result;
  }

  private async rank(p: Prepared): Promise<SearchResult> {
    for (;;) {
      const q = buildSearch(p.build);
      const rows = await this.run(q);
      p.plan.statements++;
      const meta = rows[0];
      const hitRows = rows.filter((r) => r.product_id !== null);
      p.plan.candidateRows = meta?.candidate_rows ?? undefined;
      // an index scan with the page short (SEMANTIC only: HYBRID fuses a fixed window, and changing it would
      // re-rank earlier pages) — unless the score cut shortened it: more candidates would only score lower
      if (
        p.mode === 'SEMANTIC' &&
        p.plan.strategy !== 'exact' &&
        hitRows.length < p.first + 1 &&
        meta?.candidate_rows != null &&
        meta.cut_reached !== true
      ) {
        if (meta.candidate_rows >= p.build.window) {
          // window saturated: products with several images filled it; widen and retry
          if (p.plan.retries < MAX_RETRIES) {
            p.plan.retries++;
            p.build.window *= 4;
            p.plan.candidateWindow = p.build.window;
            if (p.plan.strategy === 'ivfflat-iterative') this.tuneIvfflat(p);
            else this.setEfSearch(p);
            continue;
          }
        } else if (hasFilter(p.build.filter, p.build.excludeProductId) && this.config.exactScanThreshold !== 0) {
          // the scan ran dry (its tuple budget spent, or the filter matches fewer rows than estimated): the
          // filter is selective after all, and the exact scan is both right and cheap (0: never exact)
          this.useExact(p, null);
          p.plan.fallback = 'exact';
          continue;
        }
      }
      // the exact scan reached its guard: the statistics underestimated the filter; use the index
      if (
        p.plan.strategy === 'exact' &&
        p.build.exactScanLimit != null &&
        meta?.scanned_rows != null &&
        meta.scanned_rows >= p.build.exactScanLimit
      ) {
        this.useIndex(p, Math.min(1, meta.scanned_rows / Math.max(1, p.index.rows)));
        p.plan.fallback = 'index';
        continue;
      }
      return this.result(p, meta, hitRows);
    }
  }

  /** "More like this": products whose images look like this product's, excluding itself. */
  similarProducts(productId: string, opts: SimilarOptions = {}): Promise<SearchResult> {
    return this.search({ ...opts, productId, mode: 'SEMANTIC' });
  }

  /** The statement(s) a search would run and the planner's plan for it (tests, benchmark, debugging). */
  async explain(
    req: SearchRequest,
    analyze = false,
  ): Promise<{ plan: SearchPlan; query: BuiltQuery; explain: string }> {
    const p = await this.prepare(req);
    const q = buildSearch(p.build);
    const rows = await this.sql.transaction(async (tx) => {
      if (q.settings) await tx.query(q.settings.text, q.settings.params);
      return tx.query<{ 'QUERY PLAN': string }>(explainText(q, analyze), q.params);
    });
    return { plan: p.plan, query: q, explain: rows.map((r) => r['QUERY PLAN']).join('\n') };
  }

  /** One statement; with settings, in a transaction whose BEGIN carries them (3 round trips, not 4). */
  private async run(q: BuiltQuery): Promise<Row[]> {
    if (!q.settings) return this.sql.query<Row>(q.text, q.params);
    return this.sql.transaction((tx) => tx.query<Row>(q.text, q.params), { begin: inlineSettings(q.settings) });
  }

  private result(p: Prepared, meta: Row | undefined, rows: Row[]): SearchResult {
    const hasNextPage = rows.length > p.first;
    const pageRows = rows.slice(0, p.first);
    const best = p.cursor?.bestScore ?? (meta?.best_score != null ? Number(meta.best_score) : null);
    const total = this.totalOf(p, meta);
    // the index path with a score cut counts its window: later pages start the window at the cursor, so page 1's
    // total travels in the cursor
    const carried =
      p.build.total && p.plan.strategy !== 'exact' && p.mode === 'SEMANTIC' && hasScoreCut(p.build) ? total : null;
    const hits: SearchHit[] = pageRows.map((r) => {
      const key: CursorKey =
        p.mode === 'SEMANTIC'
          ? { kind: 'distance', value: Number(r.distance), productId: r.product_id! }
          : { kind: 'score', value: Number(r.score), productId: r.product_id! };
      const hit: SearchHit = {
        productId: r.product_id!,
        score: clamp01(Number(r.score)),
        matchedImageId: r.image_id ?? null,
        cursor: encodeCursor(p.mode, key, best, carried),
      };
      if (r.distance != null) hit.distance = Number(r.distance);
      if (p.mode === 'HYBRID') {
        hit.semanticRank = r.semantic_rank == null ? null : Number(r.semantic_rank);
        hit.keywordRank = r.keyword_rank == null ? null : Number(r.keyword_rank);
      }
      return hit;
    });
    return {
      hits,
      pageInfo: { hasNextPage, endCursor: hits.length ? hits[hits.length - 1]!.cursor : null },
      facets: null,
      totalCount: total?.count ?? null,
      totalCountExact: total?.exact ?? null,
      modelId: p.modelId,
      textModel: p.textModel ?? null,
      plan: p.plan,
    };
  }

  /**
   * The search's total (docs/search.md "Totals"): this statement's count, page 1's from the cursor, or null
   * (then the facet statement counts it from the filter).
   */
  private totalOf(p: Prepared, meta: Row | undefined): { count: number; exact: boolean } | null {
    if (!p.build.total) return null;
    const fromCursor = p.cursor?.total;
    if (fromCursor && p.mode === 'SEMANTIC' && p.plan.strategy !== 'exact' && hasScoreCut(p.build)) return fromCursor;
    if (meta?.total_count == null) return null;
    return { count: Number(meta.total_count), exact: meta.total_exact !== false };
  }

  private async prepare(req: SearchRequest): Promise<Prepared> {
    if (!req || typeof req !== 'object') throw badInput('search input is required');
    const mode = req.mode ?? 'SEMANTIC';
    if (!MODES.includes(mode)) throw badInput(`unknown mode ${JSON.stringify(mode)}`, { field: 'mode' });
    const first = req.first ?? DEFAULT_FIRST;
    if (!Number.isInteger(first) || first < 1 || first > this.config.maxFirst)
      throw badInput(firstRangeMessage(this.config.maxFirst), { field: 'first', min: 1, max: this.config.maxFirst });
    const minScore = unitOrNull(req.minScore, 'minScore');
    const relativeCutoff = unitOrNull(req.relativeCutoff, 'relativeCutoff');
    const facets = validateFacets(req.facets);
    const filter = normaliseFilter(req.filter);
    // an empty `after` is the first page, as in `products` (docs/api.md)
    const cursor = req.after ? decodeCursor(req.after, mode) : null;
    const text = optText(req.text, 'text');
    const negativeText = optText(req.negativeText, 'negativeText');

    const build: BuildSearchInput = {
      mode,
      first,
      total: req.total === true,
      filter,
      minScore,
      relativeCutoff,
      bestScore: cursor?.bestScore ?? null,
      after: cursor?.key ?? null,
      facets,
      window: 0,
      textSearchConfig: this.config.textSearchConfig,
      rrfK: this.config.rrfK,
      text,
      negativeText,
    };
    const plan: SearchPlan = { mode, strategy: 'keyword', shape: 'keyword', retries: 0, statements: 0 };

    if (mode === 'KEYWORD') {
      if (!text) throw badInput('KEYWORD search needs `text`', { field: 'text' });
      if (req.imageVector || req.vector || req.productId || req.imageId)
        throw badInput('KEYWORD search takes `text` (and `negativeText`) only', { field: 'mode' });
      return { mode, first, cursor, modelId: null, build, plan, matchFraction: 1, index: NO_INDEX, window: 0 };
    }
    if (mode === 'HYBRID' && !text) throw badInput('HYBRID search needs `text`', { field: 'text' });

    // ---- the query vector
    const needsText = Boolean(text || negativeText);
    const embedder = await this.embedder();
    if (needsText && !embedder) throw modelUnavailable();
    const model = embedder ? { id: embedder.modelId, dimension: embedder.dimension } : await this.activeModel();
    if (!isEmbeddingDimension(model.dimension))
      throw new GlimpseError('MODEL_UNAVAILABLE', `model ${model.id} has unsupported dimension ${model.dimension}`);
    const w = req.weights ?? {};
    const weight = (v: number | null | undefined, name: string, def: number): number => {
      if (v == null) return def;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        throw badInput(`weight \`${name}\` must be a finite number ≥ 0`, { field: `weights.${name}` });
      return v;
    };
    const parts: { w: number; v: Float32Array }[] = [];
    let excludeProductId: string | null = null;
    // routing: one text model embeds the text and the negative text (chosen from both, so one space per query)
    const route = { textModel: req.textModel ?? null, language: req.language ?? null };
    const textModel = needsText ? routeText(embedder!, [text, negativeText].filter(Boolean).join(' '), route) : null;
    const embedText = (t: string) => timeEmbed(() => embedder!.embedText(t, { textModel }));
    if (text) parts.push({ w: weight(w.text, 'text', 1), v: await embedText(text) });
    if (req.imageVector != null)
      parts.push({ w: weight(w.image, 'image', 1), v: checkVector(req.imageVector, model.dimension, 'image') });
    if (req.vector != null)
      parts.push({ w: weight(w.vector, 'vector', 1), v: checkVector(req.vector, model.dimension, 'vector') });
    if (req.productId != null || req.imageId != null) {
      if (req.productId != null && req.imageId != null)
        throw badInput('give `productId` or `imageId`, not both', { field: 'productId' });
      const r =
        req.productId != null
          ? await this.productVector(req.productId, model)
          : await this.imageVector(req.imageId!, model);
      excludeProductId = r.productId;
      parts.push({ w: weight(w.product, 'product', 1), v: r.vector });
    }
    if (!parts.length)
      throw badInput(`${mode} search needs a query: text, image, vector, productId or imageId`, { field: 'text' });
    let negative: { w: number; v: Float32Array } | null = null;
    if (negativeText)
      negative = {
        w: weight(w.negativeText, 'negativeText', DEFAULT_NEGATIVE_WEIGHT),
        v: await embedText(negativeText),
      };
    const vector = combineVectors(parts, negative, model.dimension);

    build.vector = vector;
    build.modelId = model.id;
    build.dimension = model.dimension;
    build.excludeProductId = excludeProductId;

    // ---- strategy: exact scan when the filter is selective, else the table's vector index
    const pageWindow = (first + 1) * IMAGES_PER_HIT;
    // HYBRID fuses the top candidates; a total under a score cut counts the window (facets never need it)
    const window =
      mode === 'HYBRID' || (build.total && hasScoreCut(build))
        ? Math.max(pageWindow, this.config.searchCandidateWindow)
        : pageWindow;
    // the index type decides the settings (hnsw.* or ivfflat.*); its row counts size the choice: catalog
    // lookups, cached ~60 s per table
    const index = await cachedIndexInfo(this.sql, model.dimension);
    const choice = await this.chooseStrategy(build, model, window, index, plan);
    plan.table = embeddingTable(model.dimension);
    build.fusionWindow = Math.max(first + 1, this.config.searchCandidateWindow);
    const prepared: Prepared = {
      mode,
      first,
      cursor,
      modelId: model.id,
      textModel,
      build,
      plan,
      matchFraction: 1,
      index,
      window,
    };
    if (choice.strategy === 'exact') this.useExact(prepared, choice.guard);
    else this.useIndex(prepared, choice.matchFraction);
    return prepared;
  }

  /** Sets a prepared search on the table's vector index (HNSW or IVFFlat, by the index's type). */
  private useIndex(p: Prepared, matchFraction: number): void {
    const { build, plan } = p;
    const strategy: VectorStrategy = p.index.type === 'ivfflat' ? 'ivfflat-iterative' : 'hnsw-iterative';
    p.matchFraction = matchFraction;
    build.strategy = strategy;
    build.exactScanLimit = null;
    build.window = p.window;
    plan.strategy = strategy;
    plan.shape = `${p.mode === 'SEMANTIC' ? 'semantic' : 'hybrid'}-${strategyShape(strategy)}`;
    plan.index = p.index.type;
    plan.iterativeScan = 'relaxed_order';
    plan.candidateWindow = build.window;
    if (strategy === 'ivfflat-iterative') this.tuneIvfflat(p);
    else {
      this.setEfSearch(p);
      // the iterative scan visits about window / matchFraction tuples to fill the window: allow twice that
      build.maxScanTuples = Math.min(
        MAX_SCAN_TUPLES,
        Math.max(this.config.hnswMaxScanTuples, Math.ceil((2 * build.window) / matchFraction)),
      );
      build.iterativeScan = 'relaxed_order';
      plan.maxScanTuples = build.maxScanTuples;
    }
  }

  /** hnsw.ef_search: GLIMPSE_HNSW_EF_SEARCH, raised to cover the window (pgvector's maximum 1000). */
  private setEfSearch(p: Prepared): void {
    p.build.efSearch = Math.min(MAX_EF_SEARCH, Math.max(this.config.hnswEfSearch, p.build.window));
    p.plan.efSearch = p.build.efSearch;
  }

  /**
   * Sets a prepared search on the exact scan (chosen up front, or after an index scan ran dry). `limit`:
   * the scan's guard (rows), null for none.
   */
  private useExact(p: Prepared, limit: number | null): void {
    const { build, plan } = p;
    build.strategy = 'exact';
    build.exactScanLimit = limit;
    build.window = Math.max((p.first + 1) * IMAGES_PER_HIT, this.config.searchCandidateWindow);
    plan.strategy = 'exact';
    plan.shape = `${p.mode === 'SEMANTIC' ? 'semantic' : 'hybrid'}-exact`;
    for (const k of ['index', 'iterativeScan', 'candidateWindow', 'efSearch', 'maxScanTuples'] as const) delete plan[k];
    for (const k of ['lists', 'probes', 'maxProbes', 'candidateRows'] as const) delete plan[k];
  }

  /**
   * Exact scan or vector index (docs/search.md, "Choosing the strategy"). The exact scan scores every
   * embedding that passes the filter: cost ≈ n rows. The index's iterative scan visits about window ÷ f
   * tuples (f = n ÷ T, the fraction of the table's T embeddings that pass), each costing c exact-scan rows
   * (graph walk + heap + filter check; GLIMPSE_HNSW_TUPLE_COST). The exact scan is cheaper while
   * n ≤ window × c ÷ f, i.e. n ≤ √(window × c × T): the `auto` threshold (GLIMPSE_EXACT_SCAN_ROWS may fix it).
   *
   * n comes from the planner's statistics (EXPLAIN of the filter: nothing is read). Above the threshold the
   * index path runs at once. At or below it the exact scan runs with a guard: it stops after 2 × threshold
   * rows, and a scan that reaches the guard (the statistics were wrong) is re-run on the index. Without
   * statistics (a table never analysed) a count that stops at threshold + 1 rows decides. A wrong estimate
   * costs time, never results: an index scan that runs dry with the page short is re-run exact (execute()).
   */
  private async chooseStrategy(
    build: BuildSearchInput,
    model: { id: string; dimension: number },
    window: number,
    index: VectorIndexInfo,
    plan: SearchPlan,
  ): Promise<StrategyChoice> {
    const indexPath: StrategyChoice = { strategy: 'index', matchFraction: 1 };
    if (!hasFilter(build.filter, build.excludeProductId)) return indexPath;
    const total = index.rows;
    const setting = this.config.exactScanThreshold;
    const threshold =
      setting === 'auto'
        ? Math.max(MIN_EXACT_SCAN_ROWS, Math.round(Math.sqrt(window * this.config.hnswTupleCost * total)))
        : setting;
    if (threshold <= 0) return indexPath;
    plan.exactScanThreshold = threshold;
    if (total > 0 && index.productRows > 0) {
      const products = await this.plannedFilterRows(build, plan);
      if (products != null) {
        const estimated = Math.round((products * total) / index.productRows);
        plan.plannerRows = estimated;
        if (estimated > threshold) return { strategy: 'index', matchFraction: Math.min(1, estimated / total) };
        return { strategy: 'exact', guard: EXACT_GUARD_FACTOR * threshold };
      }
    }
    const est = buildEstimate({
      dimension: model.dimension,
      modelId: model.id,
      filter: build.filter,
      excludeProductId: build.excludeProductId,
      limit: threshold + 1,
    });
    const row = (await this.sql.query<{ n: number }>(est.text, est.params))[0];
    const n = Number(row?.n ?? 0);
    plan.statements++;
    plan.estimatedRows = n;
    if (n <= threshold) return { strategy: 'exact', guard: null };
    // n is a lower bound (the count stopped): the safe side for sizing the scan budget
    return { strategy: 'index', matchFraction: total > 0 ? Math.min(1, n / Math.max(n, total)) : 1 };
  }

  /** The planner's row estimate of the filter over `product` (EXPLAIN, nothing read), cached a minute. */
  private async plannedFilterRows(build: BuildSearchInput, plan: SearchPlan): Promise<number | null> {
    const q = buildFilterEstimate({ filter: build.filter, excludeProductId: build.excludeProductId });
    const key = `${q.text}\0${JSON.stringify(q.params)}`;
    const hit = this.filterEstimates.get(key);
    if (hit) return hit.rows;
    const row = (await this.sql.query<{ 'QUERY PLAN': unknown }>(q.text, q.params))[0];
    plan.statements++;
    const rows = plannedRows(row?.['QUERY PLAN']);
    this.filterEstimates.set(key, { rows });
    return rows;
  }

  /**
   * IVFFlat settings for the current window (docs/search.md, "Choosing the index"): with r = rows per list,
   * probes = min(lists, max(GLIMPSE_IVFFLAT_PROBES, ⌈window / r⌉)) — enough lists to hold the window, like
   * ef_search ≥ window for HNSW — and the iterative scan may read up to
   * max_probes = min(lists, max(2 × probes, ⌈2 × window / (r × f)⌉)) lists, f being the (lower-bound) fraction of
   * embeddings that pass the filter: the filtered counterpart of hnsw.max_scan_tuples.
   */
  private tuneIvfflat(p: Prepared): void {
    const lists = Math.max(1, Math.min(MAX_PROBES, p.index?.lists ?? 1));
    const perList = p.index && p.index.rows > 0 ? p.index.rows / lists : null;
    const window = p.build.window;
    const floor = this.config.ivfflatProbes ?? DEFAULT_IVFFLAT_PROBES;
    const probes = Math.min(lists, Math.max(floor, perList ? Math.ceil(window / perList) : 0));
    const maxProbes = Math.min(
      lists,
      Math.max(2 * probes, perList ? Math.ceil((2 * window) / (perList * p.matchFraction)) : lists),
    );
    p.build.probes = probes;
    p.build.maxProbes = maxProbes;
    p.plan.lists = lists;
    p.plan.probes = probes;
    p.plan.maxProbes = maxProbes;
  }

  private async activeModel(): Promise<{ id: string; dimension: number }> {
    const q = buildActiveModel();
    const row = (await this.sql.query<{ id: string; dimension: number }>(q.text, q.params))[0];
    if (!row) throw modelUnavailable();
    return { id: row.id, dimension: Number(row.dimension) };
  }

  private async productVector(
    productId: string,
    model: { id: string; dimension: number },
  ): Promise<{ productId: string; vector: Float32Array }> {
    if (typeof productId !== 'string' || !isUuid(productId))
      throw badInput('`productId` is not a valid id', { field: 'productId' });
    const q = buildProductVector({ dimension: model.dimension, modelId: model.id, productId });
    const row = (await this.sql.query<{ product_count: number; vector: unknown; images: number }>(q.text, q.params))[0];
    if (!row || Number(row.product_count) === 0) throw notFound('product', productId);
    if (!row.vector)
      throw badInput(`product ${productId} has no embedded images for model ${model.id}`, {
        field: 'productId',
        id: productId,
      });
    return { productId, vector: vectorFromSql(row.vector) };
  }

  private async imageVector(
    imageId: string,
    model: { id: string; dimension: number },
  ): Promise<{ productId: string; vector: Float32Array }> {
    if (typeof imageId !== 'string' || !isUuid(imageId))
      throw badInput('`imageId` is not a valid id', { field: 'imageId' });
    const q = buildImageVector({ dimension: model.dimension, modelId: model.id, imageId });
    const row = (await this.sql.query<{ image_id: string; product_id: string; vector: unknown }>(q.text, q.params))[0];
    if (!row) throw notFound('image', imageId);
    if (!row.vector)
      throw badInput(`image ${imageId} has no embedding for model ${model.id}`, { field: 'imageId', id: imageId });
    return { productId: row.product_id, vector: vectorFromSql(row.vector) };
  }
}

/** The text model a request's text goes to; a bad `textModel` / `language` is BAD_USER_INPUT. */
function routeText(embedder: QueryEmbedder, text: string, route: TextRoute): string {
  if (!embedder.textModelFor) {
    if (route.textModel != null && route.textModel !== embedder.modelId)
      throw badInput(`unknown textModel "${route.textModel}"`, { field: 'textModel' });
    return embedder.modelId;
  }
  try {
    return embedder.textModelFor(text, route);
  } catch (err) {
    const e = err as Error & { code?: string; field?: string };
    if (e.code === 'BAD_USER_INPUT') throw badInput(e.message, { field: e.field ?? 'textModel' });
    throw err;
  }
}

function modelUnavailable(): GlimpseError {
  return new GlimpseError('MODEL_UNAVAILABLE', 'the embedding model is not loaded; KEYWORD search still works');
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/**
 * The query vector: q = Σ wᵢ·n(vᵢ) − w₋·n(v₋), then q ← n(q), where n(x) = x/‖x‖ (docs/search.md).
 * Throws BAD_USER_INPUT when the weights cancel out (‖q‖ ≈ 0) or every weight is 0.
 */
export function combineVectors(
  parts: readonly { w: number; v: ArrayLike<number> }[],
  negative: { w: number; v: ArrayLike<number> } | null,
  dimension: number,
): Float32Array {
  const q = new Float32Array(dimension);
  // q is normalised at the end, so the weights only count relative to each other: dividing them by the
  // largest keeps w·n(v) within float32 for any finite weight (1e308 would overflow it)
  const scale = Math.max(negative?.w ?? 0, ...parts.map((p) => p.w));
  const add = (w: number, v: ArrayLike<number>) => {
    if (w === 0) return;
    const n = Float32Array.from(v);
    if (normaliseInPlace(n) === 0) throw badInput('a query vector is all zeros', { field: 'vector' });
    for (let i = 0; i < dimension; i++) q[i] = q[i]! + (w / scale) * n[i]!;
  };
  for (const p of parts) add(p.w, p.v);
  if (negative) add(-negative.w, negative.v);
  if (normaliseInPlace(q) < 1e-6)
    throw badInput('the weighted query parts cancel out (or every weight is 0)', { field: 'weights' });
  return q;
}

/** A raw query part (`image`, `vector`) as a unit vector of the model's dimension; BAD_USER_INPUT otherwise. */
function checkVector(v: unknown, dimension: number, field: string): Float32Array {
  try {
    return unitVector(v, dimension);
  } catch (err) {
    if (!(err instanceof VectorError)) throw err;
    const details =
      err.problem === 'dimension' ? { field, expected: dimension, got: (v as ArrayLike<number>).length } : { field };
    throw badInput(`\`${field}\` ${err.message}`, details);
  }
}

function unitOrNull(v: number | null | undefined, field: string): number | null {
  if (v == null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1)
    throw badInput(`\`${field}\` must be a number in [0, 1]`, { field });
  return v;
}

function optText(v: string | null | undefined, field: string): string | null {
  if (v == null) return null;
  if (typeof v !== 'string') throw badInput(`\`${field}\` must be a string`, { field });
  const t = v.trim();
  // characters are code points (an emoji is one), as in the catalog's limits (src/catalog/validation.ts)
  if (t.length > MAX_TEXT && [...t].length > MAX_TEXT)
    throw badInput(`\`${field}\` is longer than ${MAX_TEXT} characters`, { field, max: MAX_TEXT });
  return t.length ? t : null;
}

function validateFacets(f: readonly FacetKind[] | null | undefined): FacetKind[] | null {
  if (f == null) return null;
  if (!Array.isArray(f)) throw badInput('`facets` must be a list', { field: 'facets' });
  for (const k of f) if (!FACETS.includes(k)) throw badInput(`unknown facet ${JSON.stringify(k)}`, { field: 'facets' });
  return [...new Set(f)];
}

function facetsOf(meta: Row | undefined, kinds: readonly FacetKind[]): Facets {
  const out: Facets = {};
  const set = new Set(kinds);
  if (set.has('CATEGORY')) out.categories = meta?.facet_categories ?? [];
  if (set.has('BRAND')) out.brands = meta?.facet_brands ?? [];
  if (set.has('CATEGORY_TREE'))
    out.categoryTree = (meta?.facet_category_tree ?? []).map((n) => {
      const cut = n.path.lastIndexOf('/');
      return {
        path: n.path,
        name: cut < 0 ? n.path : n.path.slice(cut + 1),
        depth: Number(n.depth),
        parentPath: cut < 0 ? null : n.path.slice(0, cut),
        count: n.count,
      };
    });
  if (set.has('IN_STOCK')) {
    out.inStock = meta?.facet_in_stock ?? [];
    const n = (v: string) => out.inStock!.find((c) => c.value === v)?.count ?? 0;
    out.stock = { inStock: n('true'), outOfStock: n('false') };
  }
  if (set.has('PRICE'))
    out.price = (meta?.facet_price ?? []).map((b) => ({
      currency: b.currency,
      // width_bucket: i ∈ 1..n for bounds[i-1] ≤ price < bounds[i]; 0 below the first bound
      min: b.bucket >= 1 ? PRICE_BUCKETS[b.bucket - 1]! : null,
      max: b.bucket < PRICE_BUCKETS.length ? PRICE_BUCKETS[b.bucket]! : null,
      count: b.count,
    }));
  return out;
}
