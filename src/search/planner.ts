/**
 * The search planner: how a vector search reads the table. From the request and the table's statistics it
 * returns a frozen plan (strategy, candidate window, pgvector settings, exact-scan guard); from what a
 * statement returned it returns the next plan when one of the documented re-runs applies (docs/search.md,
 * "Choosing the strategy"), else null. Pure: no I/O, no clock, nothing mutated; the service (./service.ts)
 * measures the filter when asked to, runs each plan's statement (./sql.ts) and reports the plan.
 *
 * Re-runs, in the order they are tried (a re-ordered search, ./order.ts, only has the fallback of a scan that
 * ran dry, whatever its page, so that every page ranks the same list):
 *  - widening (SEMANTIC, index scan, page short, window saturated): the same strategy with a 4× window, up to
 *    MAX_RETRIES times;
 *  - one fallback, at most: an index scan that ran dry with the page short → the exact scan without guard
 *    (SEMANTIC with a filter, unless the exact path is disabled); an exact scan that reached its guard → the
 *    index. A plan that is itself a fallback never falls back again.
 */
import type { VectorIndexInfo } from '../catalog/store/vector-index.js';
import { IMAGES_PER_HIT, MAX_EF_SEARCH, MAX_PROBES, type VectorScan, type VectorStrategy } from './sql.js';
import type { SearchConfig } from './types.js';

/** The settings the planner reads (validated in src/config.ts). */
export type PlannerConfig = Pick<
  SearchConfig,
  | 'hnswEfSearch'
  | 'hnswMaxScanTuples'
  | 'exactScanThreshold'
  | 'hnswTupleCost'
  | 'searchCandidateWindow'
  | 'ivfflatProbes'
>;

/** a page that comes back short from a saturated index window is re-run with a 4× window, this often */
export const MAX_RETRIES = 3;
/** the window grows this much per widening */
export const WIDENING_FACTOR = 4;
/** ceiling of the per-request hnsw.max_scan_tuples raised for filtered searches */
export const MAX_SCAN_TUPLES = 1_000_000;
/**
 * hnsw.max_scan_tuples counts the elements whose distance the scan computes (every unvisited neighbour of each
 * element it expands), not the rows it returns: ≈ 4 per returned row, measured (docs/search.md, "The scan's
 * budget and memory").
 */
export const VISITED_PER_ROW = 4;
/**
 * Bytes of scan memory per visited element (candidates kept for the iterative scan to resume from; measured
 * ≈ 200 at 768 dimensions). Without room for them pgvector stops widening the walk at work_mem (4 MB ≈ 20,000
 * elements by default) and returns what it holds, far from the nearest under a selective filter.
 */
export const SCAN_BYTES_PER_VISITED = 200;
/** the `auto` exact-scan threshold never goes below this many rows (an exact scan of them takes ~1–5 ms) */
export const MIN_EXACT_SCAN_ROWS = 2000;
/** an exact scan chosen from statistics stops after this many × the threshold rows (then the index runs) */
export const EXACT_GUARD_FACTOR = 2;

/** What the planner knows of a validated vector search. */
export interface PlanRequest {
  readonly mode: 'SEMANTIC' | 'HYBRID';
  readonly first: number;
  /** a filter or an excluded product ("more like this"): the exact path is possible */
  readonly filtered: boolean;
  /** a total under a score cut (minScore, relativeCutoff): it counts the window, so the window is the wide one */
  readonly countsWindow: boolean;
  /**
   * an ordering other than relevance (./order.ts): every page reads the same wide window from the top, so it is
   * never widened (that would change the list between pages)
   */
  readonly reordered?: boolean;
  /** hits on the pages before this one (the cursor's rank; 0 on page 1) */
  readonly depth?: number;
}

/**
 * How many embeddings pass the filter, as measured for the planner: `plannerProducts` from the statistics
 * (EXPLAIN of the filter: products), or, when there are none, `counted` (a count stopped at threshold + 1).
 */
export interface FilterMeasure {
  plannerProducts?: number | null;
  counted?: number;
}

/** Why the plan reads the table the way it does (reported in the search's `plan`). */
export interface PlanReasons {
  /** filtered searches: the exact-scan threshold in embeddings */
  readonly exactScanThreshold?: number;
  /** embeddings passing the filter by the statistics */
  readonly plannerRows?: number;
  /** embeddings counted up to the threshold + 1 */
  readonly estimatedRows?: number;
  /** filtered searches under the `auto` threshold: c of the cost rule (tupleCost) */
  readonly tupleCost?: number;
}

export interface VectorPlan {
  readonly scan: Readonly<VectorScan>;
  /** lower bound of the fraction of embeddings passing the filter (1: unfiltered or unknown) */
  readonly matchFraction: number;
  /** ivfflat: the index's lists */
  readonly lists?: number;
  /** widenings so far */
  readonly retries: number;
  /** set on the fallback plan: 'exact' after an index scan ran dry, 'index' after the exact guard was reached */
  readonly fallback: 'exact' | 'index' | null;
  readonly reasons: PlanReasons;
}

/** What a plan's statement returned, as far as the planner cares. */
export interface ScanOutcome {
  /** hit rows returned (the page asks for first + 1) */
  readonly rows: number;
  /** index scans: rows the scan produced */
  readonly candidateRows: number | null;
  /** exact scans: filtered rows scored */
  readonly scannedRows: number | null;
  /** index scans: a candidate fell below the score cut (more candidates would only score lower) */
  readonly cutReached: boolean;
}

/** a later page's walk is sized for at most this many hits before it (a deeper cursor plans as this deep) */
export const MAX_PLANNED_DEPTH = 1000;

/** the fewest images per requested hit the window takes, however few images the catalog's products have */
export const MIN_IMAGES_PER_HIT = 2;

/**
 * Images the window takes per requested hit: the catalog's images per product (the table statistics) rounded up,
 * within [MIN_IMAGES_PER_HIT, IMAGES_PER_HIT]; IMAGES_PER_HIT without statistics. A filtered index scan walks
 * about window ÷ f tuples, so a catalog with 2–3 images per product walks a quarter less than with the 4×
 * margin (docs/search.md, "A candidate window from the catalog"); a product with more images than that in the
 * window leaves the page short and the window widens.
 */
export function imagesPerHit(index?: VectorIndexInfo): number {
  if (!index || !hasStatistics(index)) return IMAGES_PER_HIT;
  return Math.min(IMAGES_PER_HIT, Math.max(MIN_IMAGES_PER_HIT, Math.ceil(index.rows / index.productRows)));
}

/**
 * A later filtered page's index scan takes this share of the earlier pages' images past the cursor on top of its
 * page: under a filter the iterative scan returns its rows from many batches, nearly but not exactly in distance
 * order, and the further down the list, the more of the next page's nearest come after the rows already taken
 * (docs/search.md, "Later pages").
 */
export const LATER_PAGE_MARGIN = 0.5;

/**
 * Images the index scan takes for a request: (first + 1) × imagesPerHit (on a later filtered page, plus
 * LATER_PAGE_MARGIN of the earlier pages' images), at least the candidate window where the window itself is used
 * (HYBRID fuses it; a total under a score cut counts it); exactly the candidate window for a re-ordered search,
 * whose list is the same for every page and page size.
 */
export function indexWindow(req: PlanRequest, config: PlannerConfig, index?: VectorIndexInfo): number {
  // a re-ordered list must not depend on the page size either
  if (req.reordered) return config.searchCandidateWindow;
  const margin = req.filtered ? Math.ceil(LATER_PAGE_MARGIN * earlierPagesImages(req, index)) : 0;
  const pageWindow = (req.first + 1) * imagesPerHit(index) + margin;
  return req.mode === 'HYBRID' || req.countsWindow ? Math.max(pageWindow, config.searchCandidateWindow) : pageWindow;
}

/**
 * The images an index scan walks past for this page, filtered or not: its window, and on a later SEMANTIC page
 * the earlier pages' images too — the scan keeps the distance order from the top and drops what lies before the
 * cursor (`distance ≥ cursor`), so page 3 walks about three pages' worth (docs/search.md, "Later pages").
 */
export function walkedWindow(req: PlanRequest, config: PlannerConfig, index?: VectorIndexInfo): number {
  return indexWindow(req, config, index) + earlierPagesImages(req, index);
}

/** The images of the pages before this one that a later SEMANTIC page's index scan walks past again. */
function earlierPagesImages(req: PlanRequest, index?: VectorIndexInfo): number {
  if (req.mode !== 'SEMANTIC' || req.reordered || !req.depth) return 0;
  return Math.min(req.depth, MAX_PLANNED_DEPTH) * imagesPerHit(index);
}

/** the `auto` tuple cost while the vector table and its index fit in shared_buffers (measured 2–5 at 100K) */
export const TUPLE_COST_IN_MEMORY = 6;
/** … and once they outgrow it (measured 6–12 at 1M): a wrong index choice costs recall too, so the high end */
export const TUPLE_COST_OUTGROWN = 12;

/**
 * c of the cost rule: GLIMPSE_HNSW_TUPLE_COST, or for `auto` TUPLE_COST_IN_MEMORY / TUPLE_COST_OUTGROWN by
 * whether the table and its index fit in shared_buffers: a walk whose pages come from the OS cache costs two to
 * three times as much per row, an exact scan about the same (docs/search.md, "a cost rule").
 */
export function tupleCost(index: VectorIndexInfo, config: PlannerConfig): number {
  if (config.hnswTupleCost !== 'auto') return config.hnswTupleCost;
  const outgrown = index.bytes != null && index.sharedBuffers != null && index.bytes > index.sharedBuffers;
  return outgrown ? TUPLE_COST_OUTGROWN : TUPLE_COST_IN_MEMORY;
}

/**
 * The exact-scan threshold in embeddings, or null when the exact path is out (no filter, or disabled with
 * 0). `auto`: √(walked window × c × T) over T embeddings, never below MIN_EXACT_SCAN_ROWS (docs/search.md,
 * "a cost rule"), c being tupleCost.
 */
export function exactScanThreshold(req: PlanRequest, index: VectorIndexInfo, config: PlannerConfig): number | null {
  if (!req.filtered) return null;
  const setting = config.exactScanThreshold;
  const threshold =
    setting === 'auto'
      ? Math.max(
          MIN_EXACT_SCAN_ROWS,
          Math.round(Math.sqrt(walkedWindow(req, config, index) * tupleCost(index, config) * index.rows)),
        )
      : setting;
  return threshold > 0 ? threshold : null;
}

/** Whether the table has statistics, so the filter's size is read from them (else it is counted). */
export function hasStatistics(index: VectorIndexInfo): boolean {
  return index.rows > 0 && index.productRows > 0;
}

/**
 * The first plan. `threshold` and `measure`: from exactScanThreshold and the service's measurement of the
 * filter (absent when the threshold was null).
 */
export function firstPlan(
  req: PlanRequest,
  index: VectorIndexInfo,
  config: PlannerConfig,
  threshold: number | null = null,
  measure: FilterMeasure = {},
): VectorPlan {
  if (threshold === null) return indexPlan(req, index, config, 1, {});
  const total = index.rows;
  if (measure.plannerProducts != null && hasStatistics(index)) {
    const plannerRows = Math.round((measure.plannerProducts * total) / index.productRows);
    const reasons = { ...ruleReasons(threshold, index, config), plannerRows };
    if (plannerRows > threshold) return indexPlan(req, index, config, Math.min(1, plannerRows / total), reasons);
    return exactPlan(EXACT_GUARD_FACTOR * threshold, reasons);
  }
  const n = measure.counted ?? 0;
  const reasons = { ...ruleReasons(threshold, index, config), estimatedRows: n };
  if (n <= threshold) return exactPlan(null, reasons);
  // n is a lower bound (the count stopped): the safe side for sizing the scan budget
  return indexPlan(req, index, config, total > 0 ? Math.min(1, n / Math.max(n, total)) : 1, reasons);
}

/** What a plan reports of the choice: the threshold, and the tuple cost when the cost rule (`auto`) set it. */
function ruleReasons(threshold: number, index: VectorIndexInfo, config: PlannerConfig): PlanReasons {
  if (config.exactScanThreshold !== 'auto') return { exactScanThreshold: threshold };
  return { exactScanThreshold: threshold, tupleCost: tupleCost(index, config) };
}

/** The plan to run after `plan` returned `outcome`, or null when its result stands. */
export function nextPlan(
  plan: VectorPlan,
  outcome: ScanOutcome,
  req: PlanRequest,
  index: VectorIndexInfo,
  config: PlannerConfig,
): VectorPlan | null {
  const { scan } = plan;
  if (scan.strategy !== 'exact') {
    // SEMANTIC only (HYBRID fuses a fixed window: changing it would re-rank earlier pages), and not when the
    // score cut shortened the page: more candidates would only score lower
    const pageShort =
      req.mode === 'SEMANTIC' && outcome.rows < req.first + 1 && outcome.candidateRows != null && !outcome.cutReached;
    if (!pageShort) return null;
    if (outcome.candidateRows! >= scan.window) {
      // window saturated: products with several images filled it; widen
      return plan.retries < MAX_RETRIES ? widened(plan, req, index, config) : null;
    }
    // the scan ran dry (its tuple budget spent, or the filter matches fewer rows than estimated): the filter is
    // selective after all, and the exact scan is both right and cheap
    if (plan.fallback === null && req.filtered && config.exactScanThreshold !== 0)
      return freeze({ ...exactPlan(null, plan.reasons), retries: plan.retries, fallback: 'exact' });
    return null;
  }
  // the exact scan reached its guard: the statistics underestimated the filter; use the index
  if (
    plan.fallback === null &&
    scan.guard !== null &&
    outcome.scannedRows !== null &&
    outcome.scannedRows >= scan.guard
  ) {
    const matchFraction = Math.min(1, outcome.scannedRows / Math.max(1, index.rows));
    return freeze({ ...indexPlan(req, index, config, matchFraction, plan.reasons), fallback: 'index' });
  }
  return null;
}

function exactPlan(guard: number | null, reasons: PlanReasons): VectorPlan {
  return freeze({ scan: { strategy: 'exact', guard }, matchFraction: 1, retries: 0, fallback: null, reasons });
}

/** The table's vector index (HNSW or IVFFlat, by its type) sized for `window` and the match fraction. */
function indexPlan(
  req: PlanRequest,
  index: VectorIndexInfo,
  config: PlannerConfig,
  matchFraction: number,
  reasons: PlanReasons,
): VectorPlan {
  const window = indexWindow(req, config, index);
  const base = { matchFraction, retries: 0, fallback: null, reasons };
  const walked = walkedWindow(req, config, index);
  if (index.type === 'ivfflat')
    return freeze({ ...base, ...ivfflatScan(window, index, matchFraction, config, walked) });
  // the iterative scan returns about walked window / matchFraction rows to fill the window, visiting
  // VISITED_PER_ROW elements for each: allow twice that, and the memory to hold them
  const maxScanTuples = Math.min(
    MAX_SCAN_TUPLES,
    Math.max(config.hnswMaxScanTuples, Math.ceil((2 * VISITED_PER_ROW * walked) / matchFraction)),
  );
  return freeze({
    ...base,
    scan: {
      strategy: 'hnsw-iterative',
      window,
      efSearch: efSearch(window, config),
      maxScanTuples,
      scanMemory: maxScanTuples * SCAN_BYTES_PER_VISITED,
      iterativeScan: 'relaxed_order',
    },
  });
}

/**
 * The same strategy with a WIDENING_FACTOR× window (ef_search or the IVFFlat probes follow it; IVFFlat's max_probes
 * still covers the earlier pages a later page walks past).
 */
function widened(plan: VectorPlan, req: PlanRequest, index: VectorIndexInfo, config: PlannerConfig): VectorPlan {
  const { scan } = plan;
  if (scan.strategy === 'exact') return plan;
  const window = scan.window * WIDENING_FACTOR;
  const next =
    scan.strategy === 'ivfflat-iterative'
      ? ivfflatScan(window, index, plan.matchFraction, config, window + earlierPagesImages(req, index))
      : { scan: { ...scan, window, efSearch: efSearch(window, config) } };
  return freeze({ ...plan, ...next, retries: plan.retries + 1 });
}

/** hnsw.ef_search: GLIMPSE_HNSW_EF_SEARCH, raised to cover the window (pgvector's maximum 1000). */
function efSearch(window: number, config: PlannerConfig): number {
  return Math.min(MAX_EF_SEARCH, Math.max(config.hnswEfSearch, window));
}

/**
 * IVFFlat settings for a window (docs/search.md, "Choosing the index"): with r = rows per list,
 * probes = min(lists, max(GLIMPSE_IVFFLAT_PROBES, ⌈window / r⌉)) — enough lists to hold the window, like
 * ef_search ≥ window for HNSW — and the iterative scan may read up to
 * max_probes = min(lists, max(2 × probes, ⌈2 × walked / (r × f)⌉)) lists, f being the (lower-bound) fraction of
 * embeddings that pass the filter and `walked` the walked window (walkedWindow): the filtered counterpart of
 * hnsw.max_scan_tuples.
 */
function ivfflatScan(
  window: number,
  index: VectorIndexInfo,
  matchFraction: number,
  config: PlannerConfig,
  walked: number,
): { scan: VectorScan; lists: number } {
  const lists = Math.max(1, Math.min(MAX_PROBES, index.lists ?? 1));
  const perList = index.rows > 0 ? index.rows / lists : null;
  const probes = Math.min(lists, Math.max(config.ivfflatProbes, perList ? Math.ceil(window / perList) : 0));
  const maxProbes = Math.min(
    lists,
    Math.max(2 * probes, perList ? Math.ceil((2 * walked) / (perList * matchFraction)) : lists),
  );
  return { scan: { strategy: 'ivfflat-iterative', window, probes, maxProbes }, lists };
}

function freeze(plan: VectorPlan): VectorPlan {
  Object.freeze(plan.scan);
  Object.freeze(plan.reasons);
  return Object.freeze(plan);
}

/** The strategy a plan reports. */
export function planStrategy(plan: VectorPlan): VectorStrategy {
  return plan.scan.strategy;
}
