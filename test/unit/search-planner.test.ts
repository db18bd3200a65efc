import { describe, expect, it } from 'vitest';
import type { VectorIndexInfo } from '../../src/catalog/store/vector-index.js';
import {
  EXACT_GUARD_FACTOR,
  MAX_RETRIES,
  MIN_EXACT_SCAN_ROWS,
  MIN_IMAGES_PER_HIT,
  MAX_PLANNED_DEPTH,
  LATER_PAGE_MARGIN,
  TUPLE_COST_IN_MEMORY,
  TUPLE_COST_OUTGROWN,
  MAX_SCAN_TUPLES,
  SCAN_BYTES_PER_VISITED,
  VISITED_PER_ROW,
  exactScanThreshold,
  imagesPerHit,
  firstPlan,
  indexWindow,
  nextPlan,
  tupleCost,
  walkedWindow,
  type PlanRequest,
  type PlannerConfig,
  type VectorPlan,
} from '../../src/search/planner.js';

const config: PlannerConfig = {
  hnswEfSearch: 200,
  hnswMaxScanTuples: 20000,
  exactScanThreshold: 'auto',
  hnswTupleCost: 6,
  searchCandidateWindow: 500,
  ivfflatProbes: 10,
};
// 4 images per product: the window's full margin (imagesPerHit), (first + 1) × 4
const hnsw: VectorIndexInfo = { type: 'hnsw', rows: 250_000, productRows: 62_500 };
const ivfflat: VectorIndexInfo = { type: 'ivfflat', lists: 250, rows: 250_000, productRows: 62_500 };
const semantic = (over: Partial<PlanRequest> = {}): PlanRequest => ({
  mode: 'SEMANTIC',
  first: 10,
  filtered: true,
  countsWindow: false,
  ...over,
});
const outcome = (
  rows: number,
  candidateRows: number | null,
  scannedRows: number | null = null,
  cutReached = false,
) => ({
  rows,
  candidateRows,
  scannedRows,
  cutReached,
});

describe('search planner: the first plan', () => {
  it('unfiltered: the HNSW index, window (first + 1) × 4, ef_search from the configuration', () => {
    const req = semantic({ filtered: false });
    expect(exactScanThreshold(req, hnsw, config)).toBeNull();
    const plan = firstPlan(req, hnsw, config);
    expect(plan.scan).toEqual({
      strategy: 'hnsw-iterative',
      window: 44,
      efSearch: 200,
      maxScanTuples: 20000,
      scanMemory: 20000 * SCAN_BYTES_PER_VISITED,
      iterativeScan: 'relaxed_order',
    });
    expect(plan.reasons).toEqual({});
    expect(plan.fallback).toBeNull();
    expect(Object.isFrozen(plan) && Object.isFrozen(plan.scan)).toBe(true);
  });

  it("the window's images per hit follow the catalog's images per product, within [2, 4]", () => {
    const catalog = (rows: number, productRows: number): VectorIndexInfo => ({ type: 'hnsw', rows, productRows });
    expect(imagesPerHit(catalog(250_000, 100_000))).toBe(3); // 2.5 images per product
    expect(imagesPerHit(catalog(100_000, 100_000))).toBe(MIN_IMAGES_PER_HIT); // one each: still a margin of 2
    expect(imagesPerHit(catalog(1_000_000, 100_000))).toBe(4); // many: the full margin, widening does the rest
    expect(imagesPerHit(catalog(0, 0))).toBe(4); // no statistics
    expect(imagesPerHit()).toBe(4);
    const plan = firstPlan(semantic({ filtered: false }), catalog(250_000, 100_000), config);
    expect(plan.scan).toMatchObject({ strategy: 'hnsw-iterative', window: 33 });
    // the exact-scan threshold is sized with the same window: √(33 × 6 × 250,000)
    expect(exactScanThreshold(semantic(), catalog(250_000, 100_000), config)).toBe(7036);
  });

  it('auto tuple cost: 6 while the table and its index fit in shared_buffers, 12 once they outgrow it', () => {
    const auto = { ...config, hnswTupleCost: 'auto' as const };
    const gb = 2 ** 30;
    const fits = { ...hnsw, bytes: 1 * gb, sharedBuffers: 6 * gb };
    const outgrown = { ...hnsw, bytes: 9.8 * gb, sharedBuffers: 6 * gb };
    expect(tupleCost(fits, auto)).toBe(TUPLE_COST_IN_MEMORY);
    expect(tupleCost(outgrown, auto)).toBe(TUPLE_COST_OUTGROWN);
    expect(tupleCost(hnsw, auto)).toBe(TUPLE_COST_IN_MEMORY); // sizes unknown
    expect(tupleCost(outgrown, { ...config, hnswTupleCost: 3 })).toBe(3); // a number is taken as it is
    expect(exactScanThreshold(semantic(), outgrown, auto)).toBe(Math.round(Math.sqrt(44 * 12 * 250_000)));
    // the plan says which it used
    const plan = firstPlan(semantic(), outgrown, auto, 1000, { plannerProducts: 100 });
    expect(plan.reasons.tupleCost).toBe(12);
    // … and only when the rule set the threshold
    const fixed = firstPlan(semantic(), outgrown, { ...auto, exactScanThreshold: 1000 }, 1000, {
      plannerProducts: 100,
    });
    expect(fixed.reasons).toEqual({ exactScanThreshold: 1000, plannerRows: 400 });
  });

  it('HYBRID and totals under a score cut take at least the candidate window; ef_search follows a large window', () => {
    expect(indexWindow(semantic({ mode: 'HYBRID' }), config)).toBe(500);
    expect(indexWindow(semantic({ countsWindow: true }), config)).toBe(500);
    expect(indexWindow(semantic({ first: 200 }), config)).toBe(804);
    const plan = firstPlan(semantic({ first: 200, filtered: false }), hnsw, config);
    expect(plan.scan).toMatchObject({ window: 804, efSearch: 804 });
    expect(firstPlan(semantic({ first: 400, filtered: false }), hnsw, config).scan).toMatchObject({ efSearch: 1000 });
  });

  it('auto threshold: √(window × tuple cost × embeddings), never below the floor', () => {
    expect(exactScanThreshold(semantic(), hnsw, config)).toBe(Math.round(Math.sqrt(44 * 6 * 250_000)));
    expect(exactScanThreshold(semantic({ mode: 'HYBRID' }), hnsw, config)).toBe(
      Math.round(Math.sqrt(500 * 6 * 250_000)),
    );
    expect(exactScanThreshold(semantic(), { ...hnsw, rows: 1000 }, config)).toBe(MIN_EXACT_SCAN_ROWS);
    expect(exactScanThreshold(semantic(), hnsw, { ...config, exactScanThreshold: 5000 })).toBe(5000);
    expect(exactScanThreshold(semantic(), hnsw, { ...config, exactScanThreshold: 0 })).toBeNull();
  });

  it("with statistics: the planner's products × images per product decide; the exact scan gets a guard", () => {
    const threshold = 5000;
    // 1,000 products × 4 images = 4,000 embeddings ≤ 5,000: exact, guarded at 2 × threshold
    const exact = firstPlan(semantic(), hnsw, config, threshold, { plannerProducts: 1000 });
    expect(exact.scan).toEqual({ strategy: 'exact', guard: EXACT_GUARD_FACTOR * threshold });
    expect(exact.reasons).toEqual({ exactScanThreshold: threshold, plannerRows: 4000, tupleCost: 6 });
    // 6,250 products = 25,000 embeddings: the index, its scan budget sized for a 10% match
    const index = firstPlan(semantic(), hnsw, config, threshold, { plannerProducts: 6_250 });
    expect(index.scan.strategy).toBe('hnsw-iterative');
    expect(index.matchFraction).toBeCloseTo(0.1);
    // 2 × 4 visited per row × 44 ÷ 0.1 = 3,520 elements: the configured budget is larger and stays, with the
    // memory to hold it
    expect(index.scan).toMatchObject({ maxScanTuples: 20000, scanMemory: 20000 * SCAN_BYTES_PER_VISITED });
    // a 0.1% match needs more than the configured budget: 2 × VISITED_PER_ROW × window ÷ f
    const rare = firstPlan(semantic(), { ...hnsw, rows: 10_000_000, productRows: 2_500_000 }, config, threshold, {
      plannerProducts: 2_500,
    });
    expect(VISITED_PER_ROW).toBe(4);
    expect(rare.scan).toMatchObject({
      strategy: 'hnsw-iterative',
      maxScanTuples: 352_000,
      scanMemory: 352_000 * SCAN_BYTES_PER_VISITED,
    });
  });

  it('a later page walks the earlier pages again: the window, the threshold and the scan budget grow with its depth', () => {
    // page 3 of 10 (20 hits before it, 4 images each), unfiltered: the walk covers 44 + 80 = 124 images, the LIMIT
    // stays 44
    const unfiltered3 = semantic({ depth: 20, filtered: false });
    expect(indexWindow(unfiltered3, config, hnsw)).toBe(44);
    expect(walkedWindow(unfiltered3, config, hnsw)).toBe(124);
    // filtered: the LIMIT takes LATER_PAGE_MARGIN of the earlier pages' 80 images too (44 + 40), the walk 84 + 80
    const page3 = semantic({ depth: 20 });
    expect(LATER_PAGE_MARGIN).toBe(0.5);
    expect(indexWindow(page3, config, hnsw)).toBe(84);
    expect(walkedWindow(page3, config, hnsw)).toBe(164);
    expect(exactScanThreshold(page3, hnsw, config)).toBe(Math.round(Math.sqrt(164 * 6 * 250_000)));
    // 2,500 products = 10,000 embeddings: the index on page 1 (threshold 8,124), exact on page 3 (15,684)
    const stats = { plannerProducts: 2_500 };
    const onPage1 = firstPlan(semantic(), hnsw, config, exactScanThreshold(semantic(), hnsw, config)!, stats);
    expect(onPage1.scan.strategy).toBe('hnsw-iterative');
    expect(firstPlan(page3, hnsw, config, exactScanThreshold(page3, hnsw, config)!, stats).scan.strategy).toBe('exact');
    // on the index, the scan budget covers the walk: 2 × 4 × 164 ÷ 0.01 elements at a 1% match
    const big = { ...hnsw, rows: 10_000_000, productRows: 2_500_000 };
    const deep = firstPlan(page3, big, config, 5000, { plannerProducts: 25_000 });
    expect(deep.scan).toMatchObject({ strategy: 'hnsw-iterative', window: 84, maxScanTuples: 131_200 });
    // … up to MAX_SCAN_TUPLES (a 0.1% match would need 1,312,000)
    const rare = firstPlan(page3, big, config, 5000, { plannerProducts: 2_500 });
    expect(rare.scan).toMatchObject({
      maxScanTuples: MAX_SCAN_TUPLES,
      scanMemory: MAX_SCAN_TUPLES * SCAN_BYTES_PER_VISITED,
    });
    // HYBRID fuses a fixed window and re-ordered searches read one from the top: depth changes neither
    expect(walkedWindow(semantic({ mode: 'HYBRID', depth: 20 }), config, hnsw)).toBe(500);
    expect(walkedWindow(semantic({ reordered: true, depth: 20 }), config, hnsw)).toBe(500);
    // a forged deep cursor plans as MAX_PLANNED_DEPTH
    expect(walkedWindow(semantic({ depth: 10_000_000 }), config, hnsw)).toBe(44 + 1.5 * MAX_PLANNED_DEPTH * 4);
  });

  it('without statistics: the bounded count decides, and an exact scan then needs no guard', () => {
    const none: VectorIndexInfo = { type: 'hnsw', rows: 0, productRows: 0 };
    const exact = firstPlan(semantic(), none, config, 20, { counted: 12 });
    expect(exact.scan).toEqual({ strategy: 'exact', guard: null });
    expect(exact.reasons).toEqual({ exactScanThreshold: 20, estimatedRows: 12, tupleCost: 6 });
    const index = firstPlan(semantic(), none, config, 20, { counted: 21 });
    expect(index.scan.strategy).toBe('hnsw-iterative');
    expect(index.matchFraction).toBe(1);
  });

  it('IVFFlat: enough probes to hold the window, max_probes for the match fraction', () => {
    const plan = firstPlan(semantic({ filtered: false }), ivfflat, config);
    // 1,000 rows per list: ⌈44 / 1000⌉ = 1 < the floor of 10; max_probes = max(20, ⌈88 / 1000⌉)
    expect(plan.scan).toEqual({ strategy: 'ivfflat-iterative', window: 44, probes: 10, maxProbes: 20 });
    expect(plan.lists).toBe(250);
    const filtered = firstPlan(semantic(), ivfflat, config, 5000, { plannerProducts: 6_250 });
    expect(filtered.scan).toMatchObject({ probes: 10, maxProbes: 20 });
    const rare = firstPlan(semantic({ first: 99 }), ivfflat, config, 100, { plannerProducts: 625 });
    // f = 1%: ⌈2 × 400 / (1000 × 0.01)⌉ = 80 lists
    expect(rare.scan).toMatchObject({ probes: 10, maxProbes: 80 });
  });
});

describe('search planner: the next plan', () => {
  const unfiltered = semantic({ filtered: false });
  const index = firstPlan(unfiltered, hnsw, config);

  it('a full page stands', () => {
    expect(nextPlan(index, outcome(11, 44), unfiltered, hnsw, config)).toBeNull();
  });

  it('a short page from a saturated window: widened 4×, ef_search following, at most MAX_RETRIES times', () => {
    let plan: VectorPlan | null = index;
    const windows: number[] = [];
    for (;;) {
      const next: VectorPlan | null = nextPlan(
        plan,
        outcome(3, plan.scan.strategy === 'exact' ? null : plan.scan.window),
        unfiltered,
        hnsw,
        config,
      );
      if (!next) break;
      expect(next).not.toBe(plan);
      plan = next;
      if (plan.scan.strategy !== 'exact') windows.push(plan.scan.window);
    }
    expect(windows).toEqual([176, 704, 2816]);
    expect(plan.retries).toBe(MAX_RETRIES);
    expect(plan.scan).toMatchObject({ efSearch: 1000, maxScanTuples: 20000 });
    expect(index.scan).toMatchObject({ window: 44 }); // the first plan is untouched
  });

  it('a filtered index scan that ran dry falls back to the exact scan without guard, once', () => {
    const req = semantic();
    const plan = firstPlan(req, hnsw, config, 5000, { plannerProducts: 10_000 });
    const fallback = nextPlan(plan, outcome(3, 20), req, hnsw, config)!;
    expect(fallback.scan).toEqual({ strategy: 'exact', guard: null });
    expect(fallback.fallback).toBe('exact');
    expect(fallback.reasons).toEqual(plan.reasons);
    expect(nextPlan(fallback, outcome(3, null, 3), req, hnsw, config)).toBeNull();
    // unfiltered, exact path disabled, or HYBRID: the page stands
    expect(nextPlan(index, outcome(3, 20), unfiltered, hnsw, config)).toBeNull();
    expect(nextPlan(plan, outcome(3, 20), req, hnsw, { ...config, exactScanThreshold: 0 })).toBeNull();
    const hybrid = semantic({ mode: 'HYBRID' });
    expect(nextPlan(firstPlan(hybrid, hnsw, config), outcome(3, 20), hybrid, hnsw, config)).toBeNull();
  });

  it('a page the score cut shortened stands: more candidates would only score lower', () => {
    const req = semantic();
    const plan = firstPlan(req, hnsw, config, 5000, { plannerProducts: 10_000 });
    expect(nextPlan(plan, outcome(3, 20, null, true), req, hnsw, config)).toBeNull();
    expect(nextPlan(index, outcome(3, 44, null, true), unfiltered, hnsw, config)).toBeNull();
  });

  it('an exact scan that reached its guard falls back to the index, sized by the rows it scanned; never twice', () => {
    const req = semantic();
    const exact = firstPlan(req, hnsw, config, 5000, { plannerProducts: 100 });
    expect(exact.scan).toEqual({ strategy: 'exact', guard: 10_000 });
    expect(nextPlan(exact, outcome(11, null, 9_999), req, hnsw, config)).toBeNull();
    const fallback = nextPlan(exact, outcome(11, null, 10_000), req, hnsw, config)!;
    expect(fallback.fallback).toBe('index');
    expect(fallback.scan.strategy).toBe('hnsw-iterative');
    expect(fallback.matchFraction).toBeCloseTo(10_000 / 250_000);
    // the fallback ran dry: no second fallback
    expect(nextPlan(fallback, outcome(3, 20), req, hnsw, config)).toBeNull();
    // an unguarded exact scan stands
    const counted = firstPlan(req, hnsw, config, 5000, { counted: 100 });
    expect(nextPlan(counted, outcome(3, null, 100), req, hnsw, config)).toBeNull();
  });

  it('IVFFlat widening raises the probes with the window', () => {
    const req = semantic({ filtered: false, first: 99 });
    const plan = firstPlan(req, ivfflat, config);
    const wider = nextPlan(plan, outcome(50, 400), req, ivfflat, config)!;
    expect(wider.scan).toEqual({ strategy: 'ivfflat-iterative', window: 1600, probes: 10, maxProbes: 20 });
    const big = { ...ivfflat, rows: 25_000, productRows: 6_250 }; // 100 rows per list
    const widerBig = nextPlan(firstPlan(req, big, config), outcome(50, 400), req, big, config)!;
    expect(widerBig.scan).toMatchObject({ window: 1600, probes: 16, maxProbes: 32 });
    // a later page widened: max_probes still covers the 200 hits before it, ⌈2 × (1600 + 800) ÷ 100⌉ = 48 lists
    const deep = semantic({ filtered: false, first: 99, depth: 200 });
    const widerDeep = nextPlan(firstPlan(deep, big, config), outcome(50, 400), deep, big, config)!;
    expect(widerDeep.scan).toMatchObject({ window: 1600, probes: 16, maxProbes: 48 });
  });
});
