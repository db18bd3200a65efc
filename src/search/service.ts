/**
 * SearchService: validates a search request, builds the query vector (docs/search.md: weighted sum of
 * normalised parts minus the negative, renormalised), measures the filter when the planner needs it, runs
 * the planner's plan (./planner.ts: strategy, window, settings, guard) as one statement from ./sql.ts — and
 * the planner's next plan when a documented re-run applies — and maps rows to hits.
 * It never calls ONNX itself: text goes through the injected `QueryEmbedder`.
 */
import { DEFAULT_PAGE_SIZE } from '../config.js';
import { LRUCache } from 'lru-cache';
import { hasFilter, normaliseFilter } from '../catalog/filter.js';
import { embeddingTable, isEmbeddingDimension } from '../catalog/store/embeddings.js';
import { float32FromBase64, normaliseInPlace, unitVector, VectorError } from '../embedding/vector.js';
import { searchDuration } from '../observability/metrics.js';
import { noteStrategy, timeEmbed } from '../observability/server-timing.js';
import type { Sql } from '../db/sql.js';
import { vectorFromSql } from '../db/vector.js';
import { GlimpseError, badInput, firstRangeMessage, labelled, notFound } from '../errors.js';
import { decodeCursor, encodeCursor, isUuid, type DecodedCursor } from './cursor.js';
import { PRICE_BUCKETS, buildFacets } from './facet-sql.js';
import { SpellingSuggester } from './spelling.js';
import { suggest, type Suggestion } from './suggest.js';
import { Synonyms } from './synonyms.js';
import { MARK_END, MARK_START, markup, type Highlight } from './highlight.js';
import { isReordered, orderCode, resultOrder } from './order.js';
import { RelevanceFloors, effectiveSetting } from './relevance-floor.js';
import { cachedIndexInfo, type VectorIndexInfo } from '../catalog/store/vector-index.js';
import { productFromRow } from '../catalog/store/products.js';
import {
  exactScanThreshold,
  firstPlan,
  hasStatistics,
  nextPlan,
  type FilterMeasure,
  type PlanRequest,
  type VectorPlan,
} from './planner.js';
import {
  buildActiveModel,
  buildEstimate,
  buildHighlights,
  buildFilterEstimate,
  buildImageVector,
  buildProductVector,
  buildSearch,
  explainText,
  hasScoreCut,
  sortedSuffix,
  strategyShape,
  type BuildSearchInput,
  type BuiltQuery,
  type CursorKey,
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

export const DEFAULT_NEGATIVE_WEIGHT = 0.5;
const MODES: readonly SearchMode[] = ['SEMANTIC', 'KEYWORD', 'HYBRID'];
const FACETS: readonly FacetKind[] = ['CATEGORY', 'CATEGORY_TREE', 'BRAND', 'IN_STOCK', 'PRICE'];
const MAX_TEXT = 1000;
export { MIN_EXACT_SCAN_ROWS } from './planner.js';
/**
 * The planner's estimate of a filter is kept this long (per service, by statement and parameters): storefront
 * filters repeat, statistics change only with ANALYZE, and a stale estimate costs time, never results (the
 * planner's fallbacks). Like the index information's cache (src/catalog/store/vector-index.ts), a minute.
 */
const FILTER_ESTIMATE_TTL_MS = 60_000;
const FILTER_ESTIMATES = 1000;

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
  /** a re-ordered search's key (./order.ts) */
  sort_key?: number | null;
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

/** A validated request with its query vector: what the planner and the SQL builder need, read-only. */
interface PreparedSearch {
  readonly mode: SearchMode;
  readonly first: number;
  readonly cursor: DecodedCursor | null;
  readonly modelId: string | null;
  /** the text model that embedded the query text, if any */
  readonly textModel: string | null;
  /** the statement's input, but for the scan (the plan's) */
  readonly build: Readonly<Omit<BuildSearchInput, 'scan'>>;
  /** vector modes: the planner's view of the request, the table's index and the first plan */
  readonly vector: {
    readonly request: PlanRequest;
    readonly index: VectorIndexInfo;
    readonly table: string;
    readonly plan: VectorPlan;
  } | null;
  /** statements run while preparing (the filter's measurement) */
  readonly statements: number;
  /** nothing to rank: "more like this" of a product (image) without a vector of the model */
  readonly empty?: boolean;
}

export class SearchService {
  private readonly embedder: EmbedderProvider;
  private readonly spelling: SpellingSuggester;
  private readonly floors = new RelevanceFloors();
  /** admin-managed synonym groups, expanding KEYWORD / HYBRID text */
  readonly synonyms: Synonyms;
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
    this.spelling = new SpellingSuggester(sql);
    this.synonyms = new Synonyms(sql);
  }

  /** Runs a search; throws GlimpseError (BAD_USER_INPUT, NOT_FOUND, MODEL_UNAVAILABLE). */
  async search(request: SearchRequest): Promise<SearchResult> {
    const req = withRawVector(request);
    const result = await this.withSpelling(req, await this.withFloor(req, await this.searchOnce(req)));
    if (req.after || result.hits.length || result.noResults) return result;
    return { ...result, noResults: { reason: 'NO_MATCH', bestScore: null, floor: null, fallback: null } };
  }

  /**
   * The relevance floor (./relevance-floor.ts): a first page of a text-only SEMANTIC search whose best match
   * is no better than nonsense probes reach has no results; the answer says so, with the KEYWORD search of the
   * text (typos corrected) as the fallback when that finds something.
   */
  private async withFloor(req: SearchRequest, result: SearchResult): Promise<SearchResult> {
    const text = typeof req.text === 'string' ? req.text.trim() : '';
    const textOnly =
      req.image == null &&
      req.imageVector == null &&
      req.vector == null &&
      req.productId == null &&
      req.imageId == null;
    if ((req.mode ?? 'SEMANTIC') !== 'SEMANTIC' || req.after || !text || !textOnly || result.bestScore == null)
      return result;
    const embedder = await this.embedder();
    const setting = effectiveSetting(this.config.semanticFloor ?? 'model', embedder?.isTestModel);
    if (setting === 'off' || !embedder) return result;
    const floor =
      typeof setting === 'number'
        ? setting
        : (
            await this.floors.floor(`${embedder.modelId}\0${result.textModel ?? ''}`, (probe) =>
              this.probeBest(embedder, probe, result.textModel),
            )
          )?.floor;
    if (floor == null || result.bestScore > floor) return result;
    const keyword = await this.withSpelling(
      { text, negativeText: req.negativeText ?? null, filter: req.filter ?? null, mode: 'KEYWORD' },
      await this.searchOnce({
        text,
        negativeText: req.negativeText ?? null,
        filter: req.filter ?? null,
        mode: 'KEYWORD',
        first: 1,
        total: true,
      }),
    );
    const fallback = keyword.hits.length
      ? {
          mode: 'KEYWORD' as const,
          text: keyword.correctedQuery ?? text,
          totalCount: keyword.totalCount ?? keyword.hits.length,
        }
      : null;
    const p = {
      build: { facets: req.facets ?? null, total: req.total === true },
      modelId: result.modelId,
      textModel: result.textModel,
      mode: 'SEMANTIC' as const,
    };
    return {
      ...emptyResult(p),
      plan: result.plan,
      bestScore: result.bestScore,
      noResults: { reason: 'BELOW_RELEVANCE_FLOOR', bestScore: result.bestScore, floor, fallback },
    };
  }

  /** A probe of the floor: the best score of the text's vector over the catalog (no filter), or null. */
  private async probeBest(embedder: QueryEmbedder, probe: string, textModel: string | null): Promise<number | null> {
    const vector = await embedder.embedText(probe, { textModel });
    const r = await this.searchOnce({ vector, first: 1 });
    return r.bestScore ?? null;
  }

  /**
   * "Did you mean" on a first page with text: computed when asked (`suggest`), and for a KEYWORD search that
   * found nothing, which is answered for the corrected text instead when that finds something.
   */
  private async withSpelling(req: SearchRequest, result: SearchResult): Promise<SearchResult> {
    const text = typeof req.text === 'string' ? req.text.trim() : '';
    if (!text || req.after) return result;
    const nothing = (req.mode ?? 'SEMANTIC') === 'KEYWORD' && result.hits.length === 0;
    if (!nothing && !req.suggest) return result;
    const suggestion = await this.spelling.suggest(text);
    if (!suggestion) return result;
    if (nothing) {
      const corrected = await this.searchOnce({ ...req, text: suggestion });
      if (corrected.hits.length) return { ...corrected, didYouMean: suggestion, correctedQuery: suggestion };
    }
    return { ...result, didYouMean: suggestion };
  }

  private async searchOnce(req: SearchRequest): Promise<SearchResult> {
    const p = await this.prepare(req);
    if (p.empty) return emptyResult(p);
    // database time only: query embedding happened in prepare (glimpse_embedding_duration_seconds)
    const end = searchDuration.startTimer({ mode: p.mode, kind: p.vector?.plan.scan.strategy ?? 'keyword' });
    // the plan that answered (the first one while none has)
    let plan = describePlan(p, p.vector?.plan ?? null, p.statements);
    try {
      const result = await this.execute(p);
      plan = result.plan;
      return result;
    } finally {
      end();
      noteStrategy(plan.fallback ? `${plan.strategy}+fallback-${plan.fallback}` : plan.strategy);
    }
  }

  /** The search statement(s) and, beside them (concurrently on a pool), the facet statement. */
  private async execute(p: PreparedSearch): Promise<SearchResult> {
    const facetQuery = buildFacets(p.build);
    const [result, facetRow] = await Promise.all([
      this.rank(p),
      facetQuery ? this.run(facetQuery).then((rows) => rows[0]) : undefined,
    ]);
    if (facetQuery) result.plan.statements++;
    if (facetRow) {
      if (p.build.facets?.length) result.facets = facetsOf(facetRow, p.build.facets);
      if (result.totalCount == null && facetRow.facet_total != null) {
        result.totalCount = Number(facetRow.facet_total);
        result.totalCountExact = true;
      }
    }
    return result;
  }

  /**
   * Runs the first plan's statement; while the planner has a next plan for what came back (a wider window, or
   * the one fallback), runs that instead. Each plan is a new value: nothing is patched between attempts.
   */
  private async rank(p: PreparedSearch): Promise<SearchResult> {
    let statements = p.statements;
    let plan = p.vector?.plan ?? null;
    for (;;) {
      const rows = await this.run(statementOf(p, plan));
      statements++;
      const meta = rows[0];
      const hitRows = rows.filter((r) => r.product_id !== null);
      const outcome = {
        rows: hitRows.length,
        candidateRows: meta?.candidate_rows ?? null,
        scannedRows: meta?.scanned_rows ?? null,
        cutReached: meta?.cut_reached === true,
      };
      const next = plan && p.vector ? nextPlan(plan, outcome, p.vector.request, p.vector.index, this.config) : null;
      if (!next) return this.result(p, plan, describePlan(p, plan, statements, meta?.candidate_rows), meta, hitRows);
      plan = next;
    }
  }

  /**
   * Highlighted title and description (./highlight.ts) of KEYWORD / HYBRID hits for `text` (the text that
   * answered: a corrected query when there was one), by product id; products that no longer exist are absent.
   */
  async highlights(text: string, productIds: readonly string[]): Promise<Map<string, Highlight>> {
    const clean = optText(text, 'text');
    if (!clean || !productIds.length) return new Map();
    const q = buildHighlights({
      text: clean,
      textAlternatives: await this.synonyms.expand(clean),
      textSearchConfig: this.config.textSearchConfig,
      productIds,
      marks: { start: MARK_START, end: MARK_END },
    });
    const rows = await this.sql.query<{ product_id: string; title: string; description: string | null }>(
      q.text,
      q.params,
    );
    return new Map(
      rows.map((r) => [
        r.product_id,
        { title: markup(r.title), description: r.description == null ? null : markup(r.description) },
      ]),
    );
  }

  /** Autocomplete (./suggest.ts): completed queries and product titles for what a shopper is typing. */
  suggest(prefix: unknown, first: unknown): Promise<Suggestion[]> {
    return suggest(this.sql, this.spelling, prefix, first);
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
    if (p.empty)
      throw badInput('nothing to search: the product (image) has no vector of the model', { field: 'productId' });
    const plan = p.vector?.plan ?? null;
    const q = statementOf(p, plan);
    const rows = await this.sql.query<{ 'QUERY PLAN': string }>(explainText(q, analyze), q.params, {
      settings: q.settings,
    });
    return {
      plan: describePlan(p, plan, p.statements),
      query: q,
      explain: rows.map((r) => r['QUERY PLAN']).join('\n'),
    };
  }

  /** One statement, after its settings when it has any (one round trip either way on PostgreSQL). */
  private async run(q: BuiltQuery): Promise<Row[]> {
    return this.sql.query<Row>(q.text, q.params, { settings: q.settings });
  }

  private result(
    p: PreparedSearch,
    vectorPlan: VectorPlan | null,
    plan: SearchPlan,
    meta: Row | undefined,
    rows: Row[],
  ): SearchResult {
    const hasNextPage = rows.length > p.first;
    const pageRows = rows.slice(0, p.first);
    const best = p.cursor?.bestScore ?? (meta?.best_score != null ? Number(meta.best_score) : null);
    // the index path with a score cut counts its window: later pages start the window at the cursor, so page 1's
    // total travels in the cursor
    const reordered = isReordered(p.build.order);
    const windowTotal =
      p.build.total === true &&
      p.mode === 'SEMANTIC' &&
      hasScoreCut(p.build) &&
      !reordered &&
      vectorPlan?.scan.strategy !== 'exact';
    const code = p.build.order ? orderCode(p.build.order) : 'R';
    const total = this.totalOf(p, meta);
    // page 1's window count goes on travelling when a later page reads the table another way
    const carried = p.cursor?.total ?? (windowTotal ? total : null);
    const rankBefore = p.cursor?.rank ?? 0;
    const hits: SearchHit[] = pageRows.map((r, i) => {
      const key: CursorKey = reordered
        ? { kind: 'sort', value: r.sort_key == null ? null : Number(r.sort_key), productId: r.product_id! }
        : p.mode === 'SEMANTIC'
          ? { kind: 'distance', value: Number(r.distance), productId: r.product_id! }
          : { kind: 'score', value: Number(r.score), productId: r.product_id! };
      const hit: SearchHit = {
        productId: r.product_id!,
        score: clamp01(Number(r.score)),
        matchedImageId: r.image_id ?? null,
        cursor: encodeCursor(p.mode, key, { bestScore: best, total: carried, order: code, rank: rankBefore + i + 1 }),
        product: productFromRow(r),
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
      textModel: p.textModel,
      bestScore: best,
      plan,
    };
  }

  /**
   * The search's total (docs/search.md "Totals"): this statement's count, page 1's from the cursor (the window
   * count of an index scan under a score cut), or null (then the facet statement counts it from the filter).
   */
  private totalOf(p: PreparedSearch, meta: Row | undefined): { count: number; exact: boolean } | null {
    if (!p.build.total) return null;
    if (p.cursor?.total) return p.cursor.total;
    if (meta?.total_count == null) return null;
    return { count: Number(meta.total_count), exact: meta.total_exact !== false };
  }

  /** Validates the request, builds the query vector and asks the planner for the first plan. */
  private async prepare(req: SearchRequest): Promise<PreparedSearch> {
    if (!req || typeof req !== 'object') throw badInput('search input is required');
    const mode = req.mode ?? 'SEMANTIC';
    if (!MODES.includes(mode)) throw badInput(`unknown mode ${JSON.stringify(mode)}`, { field: 'mode' });
    const first = req.first ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(first) || first < 1 || first > this.config.maxFirst)
      throw badInput(firstRangeMessage(this.config.maxFirst), { field: 'first', min: 1, max: this.config.maxFirst });
    const minScore = unitOrNull(req.minScore, 'minScore');
    const relativeCutoff = unitOrNull(req.relativeCutoff, 'relativeCutoff');
    const facets = validateFacets(req.facets);
    const filter = normaliseFilter(req.filter);
    const order = resultOrder(req.orderBy, req.boost);
    // an empty `after` is the first page, as in `products` (docs/api.md)
    const cursor = req.after ? decodeCursor(req.after, mode, orderCode(order)) : null;
    const text = optText(req.text, 'text');
    const negativeText = optText(req.negativeText, 'negativeText');

    const common = {
      mode,
      first,
      total: req.total === true,
      filter,
      minScore,
      relativeCutoff,
      bestScore: cursor?.bestScore ?? null,
      after: cursor?.key ?? null,
      order,
      // a re-ordered list is the same for every page and page size
      listLimit: this.config.searchCandidateWindow,
      facets,
      textSearchConfig: this.config.textSearchConfig,
      rrfK: this.config.rrfK,
      text,
      textAlternatives: text && mode !== 'SEMANTIC' ? await this.synonyms.expand(text) : null,
      negativeText,
    };
    if (mode === 'KEYWORD') {
      if (!text) throw badInput('KEYWORD search needs `text`', { field: 'text' });
      if (req.image || req.imageVector || req.vector || req.productId || req.imageId)
        throw badInput('KEYWORD search takes `text` (and `negativeText`) only', { field: 'mode' });
      return { mode, first, cursor, modelId: null, textModel: null, build: common, vector: null, statements: 0 };
    }
    if (mode === 'HYBRID' && !text) throw badInput('HYBRID search needs `text`', { field: 'text' });

    const { model, vector, excludeProductId, textModel } = await this.queryVector(req, mode, text, negativeText);
    const prepared = { mode, first, cursor, modelId: model.id, textModel };
    if (!vector) return { ...prepared, build: common, vector: null, statements: 0, empty: true };
    const build = {
      ...common,
      vector,
      modelId: model.id,
      dimension: model.dimension,
      excludeProductId,
      fusionWindow: isReordered(order)
        ? this.config.searchCandidateWindow
        : Math.max(first + 1, this.config.searchCandidateWindow),
    };
    const request: PlanRequest = {
      mode,
      first,
      filtered: hasFilter(filter, excludeProductId),
      countsWindow: common.total && hasScoreCut(common),
      reordered: isReordered(order),
      depth: cursor?.rank ?? 0,
    };
    // the index type decides the settings (hnsw.* or ivfflat.*); its row counts size the choice: catalog
    // lookups, cached ~60 s per table
    const index = await cachedIndexInfo(this.sql, model.dimension);
    const threshold = exactScanThreshold(request, index, this.config);
    const measured =
      threshold === null ? { measure: {}, statements: 0 } : await this.measureFilter(build, index, threshold);
    const plan = firstPlan(request, index, this.config, threshold, measured.measure);
    return {
      ...prepared,
      build,
      vector: { request, index, table: embeddingTable(model.dimension), plan },
      statements: measured.statements,
    };
  }

  /**
   * The query vector (docs/search.md): text, image, raw vector and "more like this" parts, weighted, minus the
   * negative text, normalised; the model it belongs to and the text model that embedded its text.
   */
  private async queryVector(
    req: SearchRequest,
    mode: SearchMode,
    text: string | null,
    negativeText: string | null,
  ): Promise<{
    model: { id: string; dimension: number };
    /** null: the only part was a product (image) without a vector of the model, so nothing is similar */
    vector: Float32Array | null;
    excludeProductId: string | null;
    textModel: string | null;
  }> {
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
    if (req.image != null) parts.push({ w: weight(w.image, 'image', 1), v: await embedUpload(embedder, req.image) });
    if (req.imageVector != null)
      parts.push({ w: weight(w.image, 'image', 1), v: checkVector(req.imageVector, model.dimension, 'image') });
    if (req.vector != null) {
      const field = req.vectorBase64 != null ? 'vectorBase64' : 'vector';
      parts.push({ w: weight(w.vector, 'vector', 1), v: checkVector(req.vector, model.dimension, field) });
    }
    if (req.productId != null || req.imageId != null) {
      if (req.productId != null && req.imageId != null)
        throw badInput('give `productId` or `imageId`, not both', { field: 'productId' });
      const r =
        req.productId != null
          ? await this.likeVector('product', req.productId, model)
          : await this.likeVector('image', req.imageId!, model);
      excludeProductId = r.productId;
      // not embedded with this model (no images yet, or a re-embed under way): it adds nothing to the query
      if (r.vector) parts.push({ w: weight(w.product, 'product', 1), v: r.vector });
      else if (!parts.length) return { model, vector: null, excludeProductId, textModel };
    }
    if (!parts.length)
      throw badInput(`${mode} search needs a query: text, image, vector, productId or imageId`, { field: 'text' });
    let negative: { w: number; v: Float32Array } | null = null;
    if (negativeText)
      negative = {
        w: weight(w.negativeText, 'negativeText', DEFAULT_NEGATIVE_WEIGHT),
        v: await embedText(negativeText),
      };
    return { model, vector: combineVectors(parts, negative, model.dimension), excludeProductId, textModel };
  }

  /**
   * How many embeddings pass the filter, for the planner (docs/search.md, "Choosing the strategy"): from the
   * statistics (EXPLAIN of the filter: nothing is read, cached a minute) when the table has them, else a count
   * that stops at threshold + 1.
   */
  private async measureFilter(
    build: { dimension: number; modelId: string; filter: ProductFilter; excludeProductId: string | null },
    index: VectorIndexInfo,
    threshold: number,
  ): Promise<{ measure: FilterMeasure; statements: number }> {
    let statements = 0;
    if (hasStatistics(index)) {
      const q = buildFilterEstimate({ filter: build.filter, excludeProductId: build.excludeProductId });
      const key = `${q.text}\0${JSON.stringify(q.params)}`;
      let cached = this.filterEstimates.get(key);
      if (!cached) {
        const row = (await this.sql.query<{ 'QUERY PLAN': unknown }>(q.text, q.params))[0];
        statements++;
        cached = { rows: plannedRows(row?.['QUERY PLAN']) };
        this.filterEstimates.set(key, cached);
      }
      if (cached.rows != null) return { measure: { plannerProducts: cached.rows }, statements };
    }
    const est = buildEstimate({ ...build, limit: threshold + 1 });
    const row = (await this.sql.query<{ n: number }>(est.text, est.params))[0];
    return { measure: { counted: Number(row?.n ?? 0) }, statements: statements + 1 };
  }

  private async activeModel(): Promise<{ id: string; dimension: number }> {
    const q = buildActiveModel();
    const row = (await this.sql.query<{ id: string; dimension: number }>(q.text, q.params))[0];
    if (!row) throw modelUnavailable();
    return { id: row.id, dimension: Number(row.dimension) };
  }

  /**
   * The vector of "more like this": a product's (the mean of its images') or an image's, and the product to
   * leave out; null when it has none of the model. NOT_FOUND when it does not exist.
   */
  private async likeVector(
    of: 'product' | 'image',
    id: string,
    model: { id: string; dimension: number },
  ): Promise<{ productId: string; vector: Float32Array | null }> {
    const field = `${of}Id`;
    if (typeof id !== 'string' || !isUuid(id)) throw badInput(`\`${field}\` is not a valid id`, { field });
    const target = { dimension: model.dimension, modelId: model.id };
    const q =
      of === 'product'
        ? buildProductVector({ ...target, productId: id })
        : buildImageVector({ ...target, imageId: id });
    const [row] = await this.sql.query<{ product_count?: number; product_id?: string; vector: unknown }>(
      q.text,
      q.params,
    );
    if (!row || (of === 'product' && Number(row.product_count) === 0)) throw notFound(of, id);
    return { productId: row.product_id ?? id, vector: row.vector ? vectorFromSql(row.vector) : null };
  }
}

/** The answer of a search with nothing to rank: no hits, a total of 0. */
function emptyResult(
  p: Pick<PreparedSearch, 'mode' | 'modelId' | 'textModel'> & {
    build: Pick<PreparedSearch['build'], 'facets' | 'total'>;
  },
): SearchResult {
  return {
    hits: [],
    pageInfo: { hasNextPage: false, endCursor: null },
    facets: p.build.facets?.length ? facetsOf(undefined, p.build.facets) : null,
    totalCount: p.build.total ? 0 : null,
    totalCountExact: p.build.total ? true : null,
    modelId: p.modelId,
    textModel: p.textModel,
    plan: { mode: p.mode, strategy: 'exact', shape: 'none', retries: 0, statements: 0 },
  };
}

/** The statement of a prepared search under a plan (KEYWORD: none). */
function statementOf(p: PreparedSearch, plan: VectorPlan | null): BuiltQuery {
  return buildSearch({ ...p.build, ...(plan ? { scan: plan.scan } : {}) });
}

/** The `plan` a search reports: the plan that produced its page, and what it took to get there. */
function describePlan(
  p: PreparedSearch,
  plan: VectorPlan | null,
  statements: number,
  candidateRows?: number | null,
): SearchPlan {
  const sorted = sortedSuffix(p.build);
  if (!plan || !p.vector)
    return { mode: p.mode, strategy: 'keyword', shape: `keyword${sorted}`, retries: 0, statements };
  const { scan } = plan;
  const out: SearchPlan = {
    mode: p.mode,
    strategy: scan.strategy,
    shape: `${p.mode === 'SEMANTIC' ? 'semantic' : 'hybrid'}-${strategyShape(scan.strategy)}${sorted}`,
    table: p.vector.table,
    ...plan.reasons,
    retries: plan.retries,
    statements,
  };
  if (plan.fallback) out.fallback = plan.fallback;
  if (candidateRows != null) out.candidateRows = candidateRows;
  if (scan.strategy === 'exact') return out;
  out.index = p.vector.index.type;
  out.iterativeScan = 'relaxed_order';
  out.candidateWindow = scan.window;
  if (scan.strategy === 'ivfflat-iterative') {
    out.lists = plan.lists;
    out.probes = scan.probes;
    out.maxProbes = scan.maxProbes;
  } else {
    out.efSearch = scan.efSearch;
    out.maxScanTuples = scan.maxScanTuples;
    out.scanMemory = scan.scanMemory;
  }
  return out;
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

/**
 * The uploaded query image, embedded; its errors (CORRUPT_IMAGE, UNSUPPORTED_IMAGE, …) name `input.image`.
 * MODEL_UNAVAILABLE while no model is loaded.
 */
async function embedUpload(embedder: QueryEmbedder | null, image: Uint8Array): Promise<Float32Array> {
  if (!embedder?.embedImage) throw modelUnavailable();
  try {
    return await timeEmbed(() => embedder.embedImage!(image));
  } catch (err) {
    throw (err as { code?: unknown }).code === 'MODEL_UNAVAILABLE' ? err : labelled(err, 'input.image');
  }
}

/** A raw query part (`image`, `vector`) as a unit vector of the model's dimension; BAD_USER_INPUT otherwise. */
/**
 * The compact `vectorBase64` read into `vector` once, at the door (the rest of the service sees one form;
 * `vectorBase64` stays set only so that errors name the field the caller sent).
 */
function withRawVector(req: SearchRequest): SearchRequest {
  if (req == null || typeof req !== 'object' || req.vectorBase64 == null) return req;
  if (req.vector != null) throw badInput('give `vector` or `vectorBase64`, not both', { field: 'vectorBase64' });
  if (typeof req.vectorBase64 !== 'string')
    throw badInput('`vectorBase64` must be a string', { field: 'vectorBase64' });
  try {
    return { ...req, vector: float32FromBase64(req.vectorBase64) };
  } catch (err) {
    if (!(err instanceof VectorError)) throw err;
    throw badInput(`\`vectorBase64\` ${err.message}`, { field: 'vectorBase64' });
  }
}

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
