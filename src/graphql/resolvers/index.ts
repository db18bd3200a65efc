/**
 * GraphQL resolvers for schema.graphql. Thin: check the caller, validate arguments, call a service, shape
 * the answer. Errors are GlimpseErrors (or carry one of their codes); src/http/errors.ts formats them.
 *
 * The services come built (src/services.ts); the server installs `createRequestScope(services)` per request.
 */
import { searchEvent } from '../../analytics/service.js';
import type { GraphQLResolveInfo } from 'graphql';
import type { ImageRow, ImageSource, ProductOrder, ProductRow } from '../../catalog/index.js';
import { LIMITS, parseId } from '../../catalog/index.js';
import type { ProductFilter } from '../../catalog/filter.js';
import { imageUrl as imageUrlOf } from '../../catalog/image-store-paths.js';
import type { ProductInput, ProductPatch } from '../../catalog/validation.js';
import { GlimpseError, badInput, notFound } from '../../errors.js';
import DataLoader from 'dataloader';
import type { Highlight } from '../../search/highlight.js';
import type { SearchHit, SearchRequest, SearchResult } from '../../search/types.js';
import { requireReader, requireRole } from '../auth.js';
import type { RequestContext } from '../context.js';
import { selectsField } from '../selection.js';
import { scalarResolvers } from './scalars.js';
import { scopeOf, type JobRecord } from './scope.js';
import { readUpload, type UploadValue } from './uploads.js';

type Ctx = RequestContext;

// ---------------------------------------------------------------- helpers

interface SearchEdgeValue {
  cursor: string;
  score: number;
  node: ProductRow;
  /** read only when the query selects `matchedImage` (SearchEdge.matchedImage): one round trip less otherwise */
  matchedImageId: string | null;
  semanticRank: number | null;
  keywordRank: number | null;
  /** SearchEdge.highlight: run (batched for the page) only when a query selects it */
  highlight: () => Promise<Highlight | null> | null;
}

/**
 * A search's connection. `highlightText`: the text whose matches SearchEdge.highlight marks (KEYWORD / HYBRID:
 * the text that answered); null: highlight is null.
 */
async function toSearchConnection(
  ctx: Ctx,
  result: SearchResult,
  searchId: string | null = null,
  highlightText: string | null = null,
) {
  const { loaders, search } = scopeOf(ctx);
  let batch: DataLoader<string, Highlight | null> | null = null;
  const highlight = (productId: string) => () => {
    if (!highlightText) return null;
    batch ??= new DataLoader(async (ids: readonly string[]) => {
      const found = await search.highlights(highlightText, ids);
      return ids.map((id) => found.get(id) ?? null);
    });
    return batch.load(productId);
  };
  // the search statement read the products with the hits: prime the loader, no second round trip
  loaders.primeProducts(result.hits.flatMap((h) => (h.product ? [h.product] : [])));
  const nodes = await Promise.all(result.hits.map((h) => loaders.product.load(h.productId)));
  const edges: SearchEdgeValue[] = [];
  result.hits.forEach((h: SearchHit, i) => {
    const node = nodes[i];
    if (!node) return; // deleted between the search and this read
    edges.push({
      cursor: h.cursor,
      score: h.score,
      node,
      matchedImageId: h.matchedImageId,
      semanticRank: h.semanticRank ?? null,
      keywordRank: h.keywordRank ?? null,
      highlight: highlight(h.productId),
    });
  });
  return {
    edges,
    pageInfo: result.pageInfo,
    facets: result.facets,
    totalCount: result.totalCount ?? 0,
    totalCountExact: result.totalCountExact ?? true,
    model: result.modelId,
    textModel: result.textModel,
    didYouMean: result.didYouMean ?? null,
    correctedQuery: result.correctedQuery ?? null,
    noResults: result.noResults ?? null,
    searchId,
  };
}

interface SearchInputArg {
  text?: string | null;
  negativeText?: string | null;
  language?: string | null;
  textModel?: string | null;
  image?: UploadValue | null;
  productId?: string | null;
  imageId?: string | null;
  vector?: number[] | null;
  vectorBase64?: string | null;
  weights?: SearchRequest['weights'];
  filter?: ProductFilter | null;
  mode?: SearchRequest['mode'];
  minScore?: number | null;
  relativeCutoff?: number | null;
  facets?: SearchRequest['facets'];
  boost?: SearchRequest['boost'];
}

function jobView(j: JobRecord) {
  return {
    ...j,
    state: j.state.toUpperCase(),
    // a re-embed's model is registered when the job starts running: until then it is in the job's params
    model: j.modelId ?? (typeof j.params?.model === 'string' ? j.params.model : null),
    progress: j.total > 0 ? Math.min(1, j.done / j.total) : null,
  };
}

// ---------------------------------------------------------------- resolvers

export const resolvers = {
  ...scalarResolvers,

  Query: {
    async search(
      _: unknown,
      args: {
        input: SearchInputArg;
        first?: number | null;
        after?: string | null;
        orderBy?: SearchRequest['orderBy'];
      },
      ctx: Ctx,
      info?: GraphQLResolveInfo,
    ) {
      requireReader(ctx);
      const { search, services } = scopeOf(ctx);
      const input = args.input ?? {};
      if (input.vector != null || input.vectorBase64 != null) requireRole(ctx, 'admin');
      const image = input.image != null ? await readUpload(input.image, ctx.config.maxImageBytes, 'input.image') : null;
      const req: SearchRequest = {
        text: input.text ?? null,
        negativeText: input.negativeText ?? null,
        image,
        language: input.language ?? null,
        textModel: input.textModel ?? null,
        productId: input.productId ?? null,
        imageId: input.imageId ?? null,
        vector: input.vector ?? null,
        vectorBase64: input.vectorBase64 ?? null,
        weights: input.weights ?? null,
        filter: input.filter ?? null,
        mode: input.mode ?? 'SEMANTIC',
        minScore: input.minScore ?? null,
        relativeCutoff: input.relativeCutoff ?? null,
        facets: input.facets ?? null,
        boost: input.boost ?? null,
        orderBy: args.orderBy ?? 'RELEVANCE',
        total: selectsField(info, 'totalCount'),
        suggest: selectsField(info, 'didYouMean'),
        first: args.first ?? null,
        after: args.after ?? null,
      };
      const started = performance.now();
      const result = await search.search(req);
      // page 1 is the search; later pages (a cursor) belong to it
      const searchId =
        args.after == null
          ? services.analytics.recordSearch(searchEvent(req, result, performance.now() - started))
          : null;
      const highlightText = req.mode !== 'SEMANTIC' ? (result.correctedQuery ?? req.text ?? null) : null;
      return toSearchConnection(ctx, result, searchId, highlightText);
    },

    async suggest(_: unknown, args: { prefix: string; first?: number | null }, ctx: Ctx) {
      requireReader(ctx);
      const { search, loaders } = scopeOf(ctx);
      const suggestions = await search.suggest(args.prefix, args.first ?? null);
      return suggestions.map((s) => ({
        text: s.text,
        kind: s.kind,
        product: s.productId ? loaders.product.load(s.productId) : null,
      }));
    },

    async product(_: unknown, args: { id?: string | null; sku?: string | null }, ctx: Ctx) {
      requireReader(ctx);
      const { loaders } = scopeOf(ctx);
      const hasId = args.id != null;
      const hasSku = args.sku != null;
      if (hasId === hasSku) throw badInput('product: give exactly one of id or sku', { field: 'id' });
      if (hasId) return loaders.product.load(parseId(args.id!));
      const sku = args.sku!.trim();
      if (!sku || sku.length > LIMITS.skuMax) return null;
      return loaders.productBySku.load(sku);
    },

    async products(
      _: unknown,
      args: {
        filter?: ProductFilter | null;
        first?: number | null;
        after?: string | null;
        orderBy?: ProductOrder | null;
      },
      ctx: Ctx,
    ) {
      requireReader(ctx);
      const { catalog, loaders } = scopeOf(ctx);
      const page = await catalog.listProducts({
        filter: args.filter ?? null,
        first: args.first ?? null,
        after: args.after ?? null,
        orderBy: args.orderBy ?? 'NEWEST',
      });
      loaders.primeProducts(page.rows);
      return {
        edges: page.rows.map((node, i) => ({ cursor: page.cursors[i]!, node })),
        pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.cursors[page.cursors.length - 1] ?? null },
      };
    },

    async similarProducts(
      _: unknown,
      args: { id: string; filter?: ProductFilter | null; first?: number | null; after?: string | null },
      ctx: Ctx,
      info?: GraphQLResolveInfo,
    ) {
      requireReader(ctx);
      const { search } = scopeOf(ctx);
      const result = await search.similarProducts(parseId(args.id), {
        filter: args.filter ?? null,
        first: args.first ?? 10,
        after: args.after ?? null,
        total: selectsField(info, 'totalCount'),
      });
      return toSearchConnection(ctx, result);
    },

    async categories(_: unknown, args: { parent?: string | null; flat?: boolean | null }, ctx: Ctx) {
      requireReader(ctx);
      const { catalog, loaders } = scopeOf(ctx);
      return catalog.categories(await loaders.categories(), args);
    },

    async models(_: unknown, _args: unknown, ctx: Ctx) {
      requireReader(ctx);
      const { catalog, services } = scopeOf(ctx);
      try {
        await catalog.models.ensure(services.embedder());
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'MODEL_UNAVAILABLE') throw err;
      }
      return catalog.models.list();
    },

    async searchAnalytics(_: unknown, args: { days?: number | null; first?: number | null }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      return scopeOf(ctx).services.analytics.report(args);
    },

    async synonyms(_: unknown, __: unknown, ctx: Ctx) {
      requireRole(ctx, 'admin');
      return scopeOf(ctx).search.synonyms.list();
    },

    async job(_: unknown, args: { id: string }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      const j = await scopeOf(ctx).catalog.job(parseId(args.id));
      return j ? jobView(j) : null;
    },
  },

  Mutation: {
    recordClick(_: unknown, args: { searchId: string; productId: string; position: number }, ctx: Ctx) {
      requireReader(ctx);
      scopeOf(ctx).services.analytics.recordClick(args);
      return true;
    },

    async setSynonyms(_: unknown, args: { id?: string | null; terms: string[] }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      return scopeOf(ctx).search.synonyms.set(args.id ?? null, args.terms);
    },

    async deleteSynonyms(_: unknown, args: { id: string }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      return scopeOf(ctx).search.synonyms.delete(args.id);
    },

    async createProduct(_: unknown, args: { input: ProductInput }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      const row = await scopeOf(ctx).catalog.createProduct(args.input);
      scopeOf(ctx).loaders.primeProducts([row]);
      return row;
    },

    async updateProduct(_: unknown, args: { id: string; input: ProductPatch }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      const id = parseId(args.id);
      const { catalog, loaders } = scopeOf(ctx);
      const row = await catalog.updateProduct(id, args.input ?? {});
      loaders.clearProduct(id);
      loaders.primeProducts([row]);
      return row;
    },

    async deleteProduct(_: unknown, args: { id: string }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      const id = parseId(args.id);
      const { catalog, loaders } = scopeOf(ctx);
      await catalog.deleteProduct(id);
      loaders.clearProduct(id);
      return true;
    },

    async upsertProducts(_: unknown, args: { inputs: ProductInput[] }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      const { catalog, loaders } = scopeOf(ctx);
      const result = await catalog.upsertProducts(args.inputs ?? []);
      loaders.primeProducts(result.products);
      return result;
    },

    async addProductImages(
      _: unknown,
      args: { productId: string; files?: UploadValue[] | null; urls?: string[] | null },
      ctx: Ctx,
    ) {
      requireRole(ctx, 'admin');
      const productId = parseId(args.productId, 'productId');
      const files = args.files ?? [];
      const urls = args.urls ?? [];
      const sources: ImageSource[] = [
        ...files.map((f, i): ImageSource => ({
          kind: 'upload',
          label: `files[${i}]`,
          read: () => readUpload(f, ctx.config.maxImageBytes, `files[${i}]`),
        })),
        ...urls.map((url, i): ImageSource => ({ kind: 'url', label: `urls[${i}]`, url })),
      ];
      const { catalog, loaders } = scopeOf(ctx);
      const result = await catalog.addImages(productId, sources);
      loaders.clearProduct(productId);
      for (const img of result.images) loaders.image.clear(img.id).prime(img.id, img);
      return { productId, images: result.images, nearDuplicates: result.nearDuplicates };
    },

    async removeProductImage(_: unknown, args: { imageId: string }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      const imageId = parseId(args.imageId, 'imageId');
      const { catalog, loaders } = scopeOf(ctx);
      const row = await catalog.removeImage(imageId);
      loaders.clearProduct(row.productId);
      loaders.image.clear(imageId);
      return true;
    },

    async reorderProductImages(_: unknown, args: { productId: string; imageIds: string[] }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      const productId = parseId(args.productId, 'productId');
      const imageIds = (args.imageIds ?? []).map((id, i) => parseId(id, `imageIds[${i}]`));
      const { catalog, loaders } = scopeOf(ctx);
      await catalog.reorderImages(productId, imageIds);
      loaders.clearProduct(productId);
      for (const id of imageIds) loaders.image.clear(id);
      const row = await loaders.product.load(productId);
      if (!row) throw notFound('product', productId);
      return row;
    },

    async startReembed(_: unknown, args: { model: string }, ctx: Ctx) {
      requireRole(ctx, 'admin');
      const model = (args.model ?? '').trim();
      const { services } = scopeOf(ctx);
      if (!services.jobs) {
        throw new GlimpseError(
          'MODEL_UNAVAILABLE',
          `re-embedding with ${JSON.stringify(model)} is not available on this server (no job runner is configured)`,
          {
            reason: 'REEMBED_UNAVAILABLE',
            model,
          },
        );
      }
      return jobView(await services.jobs.startReembed(model));
    },
  },

  SearchEdge: {
    matchedImage(edge: SearchEdgeValue, _: unknown, ctx: Ctx): Promise<ImageRow | null> | null {
      return edge.matchedImageId ? scopeOf(ctx).loaders.image.load(edge.matchedImageId) : null;
    },
  },

  Product: {
    price: (p: ProductRow) => (p.price !== null && p.currency ? { amount: p.price, currency: p.currency } : null),
    tags: (p: ProductRow) => p.tags ?? [],
    attributes: (p: ProductRow) => p.attributes ?? {},
    images: (p: ProductRow, _: unknown, ctx: Ctx) => scopeOf(ctx).loaders.imagesByProduct.load(p.id),
    primaryImage: async (p: ProductRow, _: unknown, ctx: Ctx) =>
      (await scopeOf(ctx).loaders.imagesByProduct.load(p.id))[0] ?? null,
  },

  ProductImage: {
    url: (i: ImageRow, _: unknown, ctx: Ctx) => imageUrlOf(ctx.baseUrl, i.sha256),
    product: async (i: ImageRow, _: unknown, ctx: Ctx) => {
      const p = await scopeOf(ctx).loaders.product.load(i.productId);
      if (!p) throw notFound('product', i.productId);
      return p;
    },
  },

  AddImagesPayload: {
    product: async (p: { productId: string }, _: unknown, ctx: Ctx) => {
      const row = await scopeOf(ctx).loaders.product.load(p.productId);
      if (!row) throw notFound('product', p.productId);
      return row;
    },
  },

  NearDuplicate: {
    image: (n: { imageId: string }, _: unknown, ctx: Ctx) => loadImage(ctx, n.imageId),
    of: (n: { ofImageId: string }, _: unknown, ctx: Ctx) => loadImage(ctx, n.ofImageId),
  },

  EmbeddingModel: {
    loaded: (m: { id: string }, _: unknown, ctx: Ctx) => {
      const s = scopeOf(ctx).services.models.status();
      return s.ready && s.modelId === m.id;
    },
    device: (m: { id: string }, _: unknown, ctx: Ctx) => {
      const s = scopeOf(ctx).services.models.status();
      return s.ready && s.modelId === m.id ? (s.device ?? null) : null;
    },
    embeddedImageCount: (m: { id: string; dimension: number }, _: unknown, ctx: Ctx) =>
      scopeOf(ctx).catalog.models.embeddedImageCount(m.id, m.dimension),
    textModels: (m: { id: string }, _: unknown, ctx: Ctx) => {
      const { services } = scopeOf(ctx);
      const s = services.models.status();
      if (!s.ready || s.modelId !== m.id) return [];
      return (services.embedder().textModels?.() ?? []).map((t) => ({
        id: t.id,
        dimension: t.dimension,
        paired: t.kind === 'paired',
        device: t.device,
        isTest: t.isTestModel,
      }));
    },
  },
};

async function loadImage(ctx: Ctx, id: string): Promise<ImageRow> {
  const img = await scopeOf(ctx).loaders.image.load(id);
  if (!img) throw notFound('image', id);
  return img;
}
