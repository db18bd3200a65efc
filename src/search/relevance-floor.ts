/**
 * The calibrated relevance floor of SEMANTIC text search (docs/search.md "Relevance floor").
 *
 * Why: cosine similarity has no absolute meaning — every CLIP query scores 0.15–0.35 against some product, so
 * a semantic search always fills its page, even for "xyzzy plugh". What separates a real query from nonsense
 * is how its best match compares with the best matches nonsense gets *in this catalog, with this model*. So
 * the floor is measured: a fixed set of nonsense probe texts is embedded with the text model and searched like
 * any query; the floor is the best score any probe reached. A text-only SEMANTIC search whose best match is
 * no better than that has no results (the service answers `noResults`, with a keyword fallback when the text
 * matches words). The measurement is kept per (model, text model) and renewed in the background every
 * FLOOR_TTL_MS, as the catalog changes.
 *
 * Only text queries are judged: the probes calibrate the text tower; image and "more like this" queries
 * compare image with image, a distribution the probes do not measure.
 */

/** GLIMPSE_SEMANTIC_FLOOR: `model` (the model's default), `auto` (measured), `off`, or a fixed score. */
export type FloorSetting = 'model' | 'auto' | 'off' | number;

/** How long a measured floor is kept (per model and text model). */
export const FLOOR_TTL_MS = 10 * 60_000;

/**
 * Nonsense probe texts: letter strings that are no words of any language the towers know, of the lengths
 * shoppers type (one to three "words"). Fixed, so a floor is reproducible.
 */
export const PROBE_TEXTS: readonly string[] = [
  'xyzzy plugh',
  'qwv zkj',
  'brxt vlonq',
  'zzkq',
  'fjeq wuxb qopz',
  'vtrk',
  'gneh xoq',
  'ploz qwyx mmr',
  'kqxj zvub',
  'wqpt',
  'yxq blorf',
  'hjkx vqz tuw',
  'zorp qix',
  'mxq',
  'drvk plaxt',
  'uqze wokj',
];

/** A measured floor: the best score of each probe and the largest. */
export interface MeasuredFloor {
  floor: number;
  probes: number;
}

/** The setting that applies to a model: `model` is `auto` for real models, `off` for the generated test model. */
export function effectiveSetting(setting: FloorSetting, isTestModel: boolean | undefined): 'auto' | 'off' | number {
  if (setting !== 'model') return setting;
  // the test model's scores are synthetic (colour channels and a shared bias), and test catalogs hold random
  // vectors that any text would rightly be "nonsense" against: no floor unless asked for
  return isTestModel === false ? 'auto' : 'off';
}

/**
 * Measures and keeps floors; `bestScoreOf` runs a probe (the service's search). The first search of a key waits
 * for the measurement; once it is older than the TTL the kept floor still answers while a new one is measured
 * in the background (so no shopper waits for the probes again). One measurement at a time per key; a failed
 * one is not kept (a kept floor stays until a measurement succeeds).
 */
export class RelevanceFloors {
  private readonly floors = new Map<string, { value: MeasuredFloor | null; at: number }>();
  private readonly pending = new Map<string, Promise<MeasuredFloor | null>>();

  constructor(
    private readonly ttlMs = FLOOR_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The floor for a key (model and text model); null when the catalog has nothing to compare. */
  async floor(key: string, bestScoreOf: (probe: string) => Promise<number | null>): Promise<MeasuredFloor | null> {
    const kept = this.floors.get(key);
    if (kept && this.now() - kept.at < this.ttlMs) return kept.value;
    let running = this.pending.get(key);
    if (!running) {
      running = measure(bestScoreOf)
        .then((value) => {
          if (this.floors.size >= MAX_KEYS && !this.floors.has(key)) this.floors.clear();
          this.floors.set(key, { value, at: this.now() });
          return value;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, running);
    }
    if (kept) {
      running.catch(() => {}); // a failed refresh keeps the floor we have
      return kept.value;
    }
    return running;
  }
}

/** keys kept at most (models × text models; more would mean a leak) */
const MAX_KEYS = 64;

async function measure(bestScoreOf: (probe: string) => Promise<number | null>): Promise<MeasuredFloor | null> {
  let floor: number | null = null;
  let probes = 0;
  for (const probe of PROBE_TEXTS) {
    const best = await bestScoreOf(probe);
    if (best == null) continue;
    probes++;
    floor = floor == null ? best : Math.max(floor, best);
  }
  return floor == null ? null : { floor, probes };
}
