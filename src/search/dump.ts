/**
 * Renders every search query shape with a representative request (all filters, a cursor, all facets) as
 * annotated SQL. `npm run sql:shapes` (scripts/dump-sql-shapes.ts) writes them to src/search/queries/,
 * and test/unit/search-sql.test.ts fails when the committed files are stale.
 */
import {
  buildActiveModel,
  buildHighlights,
  buildVocabulary,
  buildTitleSuggestions,
  buildEstimate,
  buildFilterEstimate,
  buildImageVector,
  buildProductVector,
  buildSearch,
  type BuildSearchInput,
  type BuiltQuery,
  type VectorScan,
} from './sql.js';
import { buildFacets } from './facet-sql.js';
import { buildDeleteSynonyms, buildSaveSynonyms, buildSynonymConflicts, buildSynonymGroups } from './synonym-sql.js';
import { buildIndexInfo } from '../catalog/store/vector-index.js';
import type { ProductFilter } from './types.js';

const MODEL = 'Xenova/clip-vit-large-patch14';
const PRODUCT = '00000000-0000-4000-8000-000000000001';
const IMAGE = '00000000-0000-4000-9000-000000000001';

const FILTER: ProductFilter = {
  category: 'women/dresses',
  brands: ['acme', 'globex'],
  price: { min: '10', max: '100.00', currency: 'USD' },
  inStock: true,
  tagsAny: ['summer', 'sale'],
  tagsAll: ['cotton'],
  attributes: [
    { key: 'color', equals: 'red' },
    { key: 'size', in: ['S', 'M'] },
  ],
  createdAfter: '2026-01-01T00:00:00.000Z',
  createdBefore: '2026-12-01T00:00:00.000Z',
};

function vector(): Float32Array {
  const v = new Float32Array(768);
  v[0] = 1;
  return v;
}

const HNSW: VectorScan = {
  strategy: 'hnsw-iterative',
  window: 500,
  efSearch: 500,
  maxScanTuples: 20000,
  scanMemory: 4_000_000,
  iterativeScan: 'relaxed_order',
};
const IVFFLAT: VectorScan = { strategy: 'ivfflat-iterative', window: 500, probes: 10, maxProbes: 40 };
const EXACT: VectorScan = { strategy: 'exact', guard: null };

const common = (over: Partial<BuildSearchInput>): BuildSearchInput => ({
  mode: 'SEMANTIC',
  vector: vector(),
  modelId: MODEL,
  dimension: 768,
  filter: FILTER,
  minScore: 0.2,
  relativeCutoff: 0.5,
  bestScore: 0.31,
  first: 20,
  facets: ['CATEGORY', 'CATEGORY_TREE', 'BRAND', 'IN_STOCK', 'PRICE'],
  total: true,
  scan: HNSW,
  fusionWindow: 500,
  rrfK: 60,
  textSearchConfig: 'english',
  ...over,
});

const SHAPES: { description: string; build: () => BuiltQuery }[] = [
  {
    description:
      'SEMANTIC over the HNSW index (iterative scan), exact re-rank per product; page 2 (cursor), all filters and facets.',
    build: () => buildSearch(common({ scan: HNSW, after: { kind: 'distance', value: 0.71, productId: PRODUCT } })),
  },
  {
    description:
      'SEMANTIC over an IVFFlat index (`glimpse index rebuild --type ivfflat`): the statement of semantic-hnsw, ivfflat.* settings.',
    build: () => buildSearch(common({ scan: IVFFLAT, after: { kind: 'distance', value: 0.71, productId: PRODUCT } })),
  },
  {
    description:
      'SEMANTIC, exact scan over the filtered rows (selective filter): cannot use the vector index. A compound filter (this one) is narrowed on the product rows; a one-condition filter is read from the vector rows, as in the index shapes.',
    build: () => buildSearch(common({ scan: EXACT, after: { kind: 'distance', value: 0.71, productId: PRODUCT } })),
  },
  {
    description:
      'KEYWORD: full-text over title (A), brand (B), description (C); a synonym alternative OR-ed in; negative words; page 2.',
    build: () =>
      buildSearch(
        common({
          mode: 'KEYWORD',
          vector: null,
          text: 'red summer dress',
          textAlternatives: ['red summer gown'],
          negativeText: 'leather',
          after: { kind: 'score', value: 0.42, productId: PRODUCT },
        }),
      ),
  },
  {
    description: 'HYBRID over the HNSW index: reciprocal rank fusion of semantic and keyword lists.',
    build: () =>
      buildSearch(
        common({
          mode: 'HYBRID',
          scan: HNSW,
          text: 'red summer dress',
          after: { kind: 'score', value: 0.8, productId: PRODUCT },
        }),
      ),
  },
  {
    description: 'HYBRID over an IVFFlat index: the statement of hybrid-hnsw, ivfflat.* settings.',
    build: () =>
      buildSearch(
        common({
          mode: 'HYBRID',
          scan: IVFFLAT,
          text: 'red summer dress',
          after: { kind: 'score', value: 0.8, productId: PRODUCT },
        }),
      ),
  },
  {
    description: 'HYBRID with the exact semantic scan (selective filter).',
    build: () =>
      buildSearch(
        common({
          mode: 'HYBRID',
          scan: EXACT,
          text: 'red summer dress',
          after: { kind: 'score', value: 0.8, productId: PRODUCT },
        }),
      ),
  },
  {
    description:
      'SEMANTIC ordered by price (orderBy PRICE_ASC) over the HNSW index: the top GLIMPSE_SEARCH_CANDIDATES products by relevance, ordered by price in cents; page 2 (cursor on the key).',
    build: () =>
      buildSearch(
        common({
          scan: HNSW,
          order: { order: 'PRICE_ASC', boost: null },
          listLimit: 500,
          after: { kind: 'sort', value: 1990, productId: PRODUCT },
        }),
      ),
  },
  {
    description: 'SEMANTIC ordered by NEWEST, exact scan (selective filter); page 2 (cursor on the key).',
    build: () =>
      buildSearch(
        common({
          scan: EXACT,
          order: { order: 'NEWEST', boost: null },
          listLimit: 500,
          after: { kind: 'sort', value: 1767225600000, productId: PRODUCT },
        }),
      ),
  },
  {
    description:
      'KEYWORD by boosted relevance (boost inStock and a numeric attribute): every match, ordered by score + boosts.',
    build: () =>
      buildSearch(
        common({
          mode: 'KEYWORD',
          vector: null,
          text: 'red summer dress',
          order: { order: 'RELEVANCE', boost: { inStock: 0.1, attribute: { key: 'rating', weight: 0.2, max: 5 } } },
          after: { kind: 'sort', value: 0.52, productId: PRODUCT },
        }),
      ),
  },
  {
    description:
      'HYBRID ordered by price (PRICE_DESC) over the HNSW index: the fused list, its top products by relevance, by price.',
    build: () =>
      buildSearch(
        common({
          mode: 'HYBRID',
          scan: HNSW,
          text: 'red summer dress',
          order: { order: 'PRICE_DESC', boost: null },
          listLimit: 500,
          after: { kind: 'sort', value: null, productId: PRODUCT },
        }),
      ),
  },
  {
    description:
      'Facets of a SEMANTIC search and its total: exact, disjunctive (each without its own filter condition), from the filter alone; run beside the search statement.',
    build: () => buildFacets(common({ scan: HNSW, minScore: null, relativeCutoff: null }))!,
  },
  {
    description:
      'Facets of a KEYWORD search: the text match and the score cuts, each facet without its own filter condition.',
    build: () => buildFacets(common({ mode: 'KEYWORD', vector: null, text: 'red summer dress', bestScore: null }))!,
  },
  {
    description:
      "The planner's estimate of the products passing a filter (statistics only; × images per product it picks the strategy).",
    build: () => buildFilterEstimate({ filter: FILTER, excludeProductId: PRODUCT }),
  },
  {
    description:
      'Selectivity count (only for tables without statistics): embeddings passing the filter, counted up to the threshold + 1.',
    build: () =>
      buildEstimate({ dimension: 768, modelId: MODEL, filter: FILTER, excludeProductId: PRODUCT, limit: 20001 }),
  },
  {
    description: '"More like this" from a product: mean of its image vectors.',
    build: () => buildProductVector({ dimension: 768, modelId: MODEL, productId: PRODUCT }),
  },
  {
    description: '"More like this" from an image: its vector and product.',
    build: () => buildImageVector({ dimension: 768, modelId: MODEL, imageId: IMAGE }),
  },
  {
    description:
      "Type and options of a table's vector index, and the table's row estimate (cached ~60 s by the service).",
    build: () => buildIndexInfo(768),
  },
  {
    description: 'The active model (vector-only queries while no embedder is loaded).',
    build: () => buildActiveModel(),
  },
  {
    description:
      "Highlights of a page's KEYWORD / HYBRID hits: ts_headline of title and description with the search's tsquery (sentinel marks).",
    build: () =>
      buildHighlights({
        text: 'red summer dress',
        textAlternatives: ['red summer gown'],
        textSearchConfig: 'english',
        productIds: [PRODUCT],
        marks: { start: '\uE000', end: '\uE001' },
      }),
  },
  {
    description: 'Synonym groups for query expansion (cached a minute; cleared by a write).',
    build: () => buildSynonymGroups(10_000),
  },
  {
    description:
      'Before writing a synonym group: the number of groups, whether this one exists, terms of other groups.',
    build: () => buildSynonymConflicts(['gown', 'dress'], PRODUCT),
  },
  {
    description: 'A new synonym group.',
    build: () => buildSaveSynonyms(['gown', 'dress'], null),
  },
  {
    description: "A synonym group's new terms.",
    build: () => buildSaveSynonyms(['gown', 'dress', 'evening dress'], PRODUCT),
  },
  {
    description: 'Deleting a synonym group.',
    build: () => buildDeleteSynonyms(PRODUCT),
  },
  {
    description: 'The vocabulary of titles and brands for "did you mean" (cached a few minutes by the service).',
    build: () => buildVocabulary(200_000),
  },
  {
    description:
      "Autocomplete's product titles: titles containing the text (trigram index), at most 1,000 read, those starting with it first.",
    build: () => buildTitleSuggestions({ text: 'red dr', limit: 8, candidates: 1000 }),
  },
];

function showParam(v: unknown): string {
  if (typeof v === 'string' && v.startsWith('[') && v.length > 80) return `'[${v.split(',').length} values]'`;
  return JSON.stringify(v);
}

/** file name → contents */
export function renderSearchQueries(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of SHAPES) {
    const q = s.build();
    const lines = [
      '-- Generated by `npm run sql:shapes` from src/search/sql.ts (src/search/dump.ts) — do not edit.',
      `-- ${q.shape}: ${s.description}`,
    ];
    if (q.settings) {
      lines.push('--', '-- In the same transaction, first:');
      for (const l of q.settings.text.split('\n')) lines.push(`--   ${l}`);
      if (q.settings.params.length)
        lines.push(`--   params: ${q.settings.params.map((p, i) => `$${i + 1}=${showParam(p)}`).join(', ')}`);
    }
    lines.push('--', '-- Parameters of this example:');
    q.params.forEach((p, i) => lines.push(`--   $${i + 1} = ${showParam(p)}`));
    out[`${q.shape}.sql`] = `${lines.join('\n')}\n\n${q.text};\n`;
  }
  return out;
}
