/**
 * Search request / result types. They mirror the GraphQL contract (SearchInput, ProductFilter,
 * SearchConnection in schema.graphql) field for field, so the API layer maps them 1:1; the only
 * difference is that an `image` Upload arrives here read into bytes (`image`), embedded by the service.
 *
 * Semantics (scores, query-vector formula, facets' match set, pagination) are documented in docs/search.md.
 */

import type { ProductFilter } from '../catalog/filter.js';
import type { ProductRow } from '../catalog/store/products.js';
import type { SearchBoost, SearchOrder } from './order.js';
import type { FloorSetting } from './relevance-floor.js';
export type { AttributeBoost, SearchBoost, SearchOrder } from './order.js';
export type { AttributeFilter, PriceRange, ProductFilter } from '../catalog/filter.js';

export type SearchMode = 'SEMANTIC' | 'KEYWORD' | 'HYBRID';
export type FacetKind = 'CATEGORY' | 'CATEGORY_TREE' | 'BRAND' | 'IN_STOCK' | 'PRICE';

/** Weights of the query parts (GraphQL QueryWeights). Absent: 1 for every positive part, 0.5 for negativeText. */
export interface QueryWeights {
  text?: number | null;
  negativeText?: number | null;
  image?: number | null;
  /** weight of the stored vectors of `productId` / `imageId` */
  product?: number | null;
  /** weight of the raw `vector` (not in the GraphQL sketch; admin use) */
  vector?: number | null;
}

/** GraphQL SearchInput, with the uploaded image already embedded. */
export interface SearchInput {
  text?: string | null;
  negativeText?: string | null;
  /** BCP 47 language of the text: chooses the text model (English: the image model's; other: a paired tower) */
  language?: string | null;
  /** the text model that embeds the text (an id from `models`); wins over `language` */
  textModel?: string | null;
  /** the `image` upload's bytes, embedded with the model's image tower */
  image?: Uint8Array | null;
  /** an already embedded image (L2-normalised or not: it is normalised again) */
  imageVector?: ArrayLike<number> | null;
  /** "more like this": mean of the product's image vectors; the product is excluded from the results */
  productId?: string | null;
  /** "more like this": the image's vector; its product is excluded from the results */
  imageId?: string | null;
  /** raw query vector of the model's dimension (admin) */
  vector?: readonly number[] | ArrayLike<number> | null;
  /** the same, compact: base64 of little-endian float32 values (admin; not with `vector`) */
  vectorBase64?: string | null;
  weights?: QueryWeights | null;
  filter?: ProductFilter | null;
  mode?: SearchMode | null;
  /** additions to the relevance score that order a RELEVANCE search (./order.ts) */
  boost?: SearchBoost | null;
  /** drop results scoring below this (0..1) */
  minScore?: number | null;
  /** drop results scoring below this fraction (0..1) of the best result of the whole search */
  relativeCutoff?: number | null;
  facets?: readonly FacetKind[] | null;
  /** count the matches (SearchResult.totalCount); the API sets it when `totalCount` is selected */
  total?: boolean | null;
  /** correct the text's unknown words (SearchResult.didYouMean); the API sets it when `didYouMean` is selected */
  suggest?: boolean | null;
}

/** One search call: the input plus connection arguments. */
export interface SearchRequest extends SearchInput {
  /** page size, 1..config.maxFirst (default 20) */
  first?: number | null;
  /** opaque cursor from a previous page's `pageInfo.endCursor` / hit `cursor` */
  after?: string | null;
  /** RELEVANCE (default) or a key among the relevant results (docs/search.md "Ordering and boosts") */
  orderBy?: SearchOrder | null;
}

export interface SearchHit {
  productId: string;
  /** in [0,1]; meaning per mode in docs/search.md */
  score: number;
  /** the product's image that matched best (null in KEYWORD mode, and in HYBRID for keyword-only hits) */
  matchedImageId: string | null;
  /** cosine distance of the matched image (SEMANTIC/HYBRID with a semantic match) */
  distance?: number;
  /** 1-based rank in the semantic / keyword list (HYBRID only) */
  semanticRank?: number | null;
  keywordRank?: number | null;
  cursor: string;
  /** the product, read by the search statement itself (null: deleted since; absent: not read with the hit) */
  product?: ProductRow | null;
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface FacetCount {
  value: string;
  count: number;
}

export interface PriceBucket {
  /** decimal string; null: open below (never used: buckets start at 0) */
  min: string | null;
  /** decimal string, exclusive; null: open above */
  max: string | null;
  currency: string;
  count: number;
}

/** A node of the category tree facet: products at or below `path` */
export interface CategoryFacet {
  path: string;
  name: string;
  depth: number;
  parentPath: string | null;
  count: number;
}

export interface Facets {
  categories?: FacetCount[];
  /** per level: the top level and the children of every ancestor of the selected category */
  categoryTree?: CategoryFacet[];
  brands?: FacetCount[];
  /** values 'true' / 'false' */
  inStock?: FacetCount[];
  /** the same counts as `inStock`, as numbers */
  stock?: { inStock: number; outOfStock: number };
  price?: PriceBucket[];
}

export type SearchStrategy = 'hnsw-iterative' | 'ivfflat-iterative' | 'exact' | 'keyword';

/** How the search ran (for logs, `explain` in tests, and the benchmark). */
export interface SearchPlan {
  mode: SearchMode;
  /** vector part: hnsw-iterative, ivfflat-iterative (by the table's index type) or exact; 'keyword' for KEYWORD mode */
  strategy: SearchStrategy;
  /** the generated-SQL shape (src/search/queries/<shape>.sql) */
  shape: string;
  table?: string;
  /** type of the table's vector index, when the index path ran (null: the table has none) */
  index?: 'hnsw' | 'ivfflat' | null;
  /** hnsw.ef_search used (hnsw-iterative only) */
  efSearch?: number;
  iterativeScan?: 'relaxed_order' | 'strict_order' | 'off';
  maxScanTuples?: number;
  /** hnsw-iterative: bytes of scan memory allowed (hnsw.scan_mem_multiplier = ⌈this ÷ work_mem⌉) */
  scanMemory?: number;
  /** ivfflat-iterative: the index's lists, ivfflat.probes and ivfflat.max_probes used */
  lists?: number;
  probes?: number;
  maxProbes?: number;
  /** filtered searches: the exact-scan threshold in embeddings (GLIMPSE_EXACT_SCAN_ROWS, or the `auto` cost rule) */
  exactScanThreshold?: number;
  /** embeddings passing the filter by the planner's statistics (filtered searches, when the table is analysed) */
  plannerRows?: number;
  /** filtered searches under the `auto` threshold: the cost rule's tuple cost (the setting, or what `auto` chose) */
  tupleCost?: number;
  /** embeddings matching the filters, counted up to the threshold + 1 (when the planner's estimate was near it) */
  estimatedRows?: number;
  /**
   * 'exact': the index scan ran dry with the page short and the search was re-run as an exact scan;
   * 'index': the exact scan reached its guard (the filter matched more than estimated) and was re-run on the index
   */
  fallback?: 'exact' | 'index';
  /** images taken from the HNSW scan (LIMIT) */
  candidateWindow?: number;
  /** rows the HNSW scan actually produced */
  candidateRows?: number;
  /** re-runs with a larger window to fill the page */
  retries: number;
  /** statements executed (estimate + search attempts) */
  statements: number;
}

export interface SearchResult {
  hits: SearchHit[];
  pageInfo: PageInfo;
  /** only the kinds requested; over the match set documented in docs/search.md */
  facets: Facets | null;
  /** matches one can page through (when `total` was asked); see docs/search.md "Totals" */
  totalCount: number | null;
  /** false: totalCount is a lower bound (the index path with a score cut filled its window) */
  totalCountExact: boolean | null;
  /** the model whose vectors were compared (null in KEYWORD mode) */
  modelId: string | null;
  /** the text model that embedded the query text (null when no text was embedded) */
  textModel: string | null;
  /** the text with its unknown words corrected from the catalog's vocabulary (./spelling.ts), when asked or needed */
  didYouMean?: string | null;
  /** a KEYWORD search that found nothing answered for this corrected text instead */
  correctedQuery?: string | null;
  /** the best score of the whole search (page 1's on later pages); null without hits */
  bestScore?: number | null;
  /** a first page without results: why, and what to try instead (./relevance-floor.ts) */
  noResults?: NoResults | null;
  plan: SearchPlan;
}

/** Why a first page has no results (GraphQL NoResults). */
export interface NoResults {
  /** NO_MATCH: nothing matched; BELOW_RELEVANCE_FLOOR: a SEMANTIC text query no closer than nonsense gets */
  reason: 'NO_MATCH' | 'BELOW_RELEVANCE_FLOOR';
  /** the best score the search reached (BELOW_RELEVANCE_FLOOR) */
  bestScore: number | null;
  /** the model's relevance floor it did not beat */
  floor: number | null;
  /** a search that does find something for this text, when there is one */
  fallback: { mode: SearchMode; text: string; totalCount: number } | null;
}

/** Which text model embeds a query's text (src/embedding/text-routing.ts). */
export interface TextRoute {
  textModel?: string | null;
  language?: string | null;
}

/** What the search service needs from the embedding engine (src/embedding Embedder satisfies it). */
export interface QueryEmbedder {
  readonly modelId: string;
  /** the generated test model (its relevance floor is off by default, ./relevance-floor.ts); absent: unknown */
  readonly isTestModel?: boolean;
  readonly dimension: number;
  /** L2-normalised text embedding, by the text model the route chooses */
  embedText(text: string, route?: TextRoute): Promise<Float32Array>;
  /** the id of the text model that embeds `text` for `route` (absent: always modelId); throws for a bad route */
  textModelFor?(text: string, route: TextRoute): string;
  /** the text models it can embed with: its own first, then paired towers */
  textModels?(): Array<{
    id: string;
    dimension: number;
    device: 'cpu' | 'cuda';
    isTestModel: boolean;
    kind: 'image-model' | 'paired';
  }>;
  /** L2-normalised image embedding (searches by image need it) */
  embedImage?(image: Uint8Array): Promise<Float32Array>;
}

/** Returns the loaded embedder, or null while no model is ready (vector modes then fail MODEL_UNAVAILABLE). */
export type EmbedderProvider = () => QueryEmbedder | null | Promise<QueryEmbedder | null>;

/** Search settings (a subset of Config). */
export interface SearchConfig {
  maxFirst: number;
  hnswEfSearch: number;
  hnswMaxScanTuples: number;
  /** embeddings up to which a filtered search scans exactly; 'auto': the cost rule (docs/search.md); 0: never */
  exactScanThreshold: number | 'auto';
  /** cost of one row walked by the HNSW iterative scan, in exact-scan rows (the `auto` rule's c); 'auto': by memory fit */
  hnswTupleCost: number | 'auto';
  rrfK: number;
  textSearchConfig: string;
  /** images taken from the HNSW scan for facets and HYBRID fusion (see docs/search.md) */
  searchCandidateWindow: number;
  /** ivfflat.probes floor when the table's index is IVFFlat */
  ivfflatProbes: number;
  /** SEMANTIC text search's relevance floor (GLIMPSE_SEMANTIC_FLOOR; absent: `model`) */
  semanticFloor?: FloorSetting;
}
