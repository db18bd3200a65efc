/**
 * The catalog facade the API (and CLI) use: products, images, categories and the model registry over one
 * database. Built once at startup; stateless apart from the registry's memo.
 */
import { DEFAULT_PAGE_SIZE, type Config } from '../config.js';
import type { Database } from '../db/index.js';
import type { Logger } from '../logger.js';
import { normaliseFilter, type ProductFilter } from './filter.js';
import { ImageService, type AddImagesResult, type ImageEmbedder, type ImageRow, type ImageSource } from './images.js';
import { badInput, firstRangeMessage } from '../errors.js';
import { getJob, type JobRow } from './store/jobs.js';
import { ModelRegistry } from './store/models.js';
import * as products from './products.js';
import type { FetchImageOptions } from './url-fetch.js';
import type { ProductInput, ProductPatch } from './validation.js';

export interface CatalogServiceDeps {
  db: Pick<Database, 'sql'>;
  config: Config;
  /** the loaded embedder; throws (code MODEL_UNAVAILABLE) while none is ready — e.g. () => modelManager.get() */
  embedder: () => ImageEmbedder;
  log?: Logger;
  fetchOptions?: Partial<FetchImageOptions>;
}

export class CatalogService {
  readonly images: ImageService;
  readonly models: ModelRegistry;

  constructor(private readonly deps: CatalogServiceDeps) {
    this.models = new ModelRegistry(deps.db.sql);
    this.images = new ImageService({
      sql: deps.db.sql,
      config: deps.config,
      embedder: deps.embedder,
      registry: this.models,
      ...(deps.log ? { log: deps.log } : {}),
      ...(deps.fetchOptions ? { fetchOptions: deps.fetchOptions } : {}),
    });
  }

  private get sql() {
    return this.deps.db.sql;
  }

  createProduct(input: ProductInput): Promise<products.ProductRow> {
    return products.createProduct(this.sql, input, this.deps.config.textSearchConfig);
  }

  updateProduct(id: string, patch: ProductPatch): Promise<products.ProductRow> {
    return products.updateProduct(this.sql, id, patch);
  }

  /** Deletes the product, its images and vectors, then the files no other image uses. */
  async deleteProduct(id: string): Promise<void> {
    const shas = await products.deleteProduct(this.sql, id);
    await this.images.cleanup(shas);
  }

  upsertProducts(inputs: readonly ProductInput[]): Promise<products.UpsertResult> {
    return products.upsertProducts(this.sql, inputs, this.deps.config.textSearchConfig);
  }

  productsByIds(ids: readonly string[]): Promise<products.ProductRow[]> {
    return products.productsByIds(this.sql, ids);
  }

  productsBySkus(skus: readonly string[]): Promise<products.ProductRow[]> {
    return products.productsBySkus(this.sql, skus);
  }

  /** A page of the catalog; `first` from 1 to GLIMPSE_MAX_FIRST. */
  listProducts(opts: {
    filter?: ProductFilter | null;
    first?: number | null;
    after?: string | null;
    orderBy?: products.ProductOrder | null;
  }): Promise<products.ProductPage> {
    const first = opts.first ?? DEFAULT_PAGE_SIZE;
    const max = this.deps.config.maxFirst;
    if (!Number.isInteger(first) || first < 1 || first > max)
      throw badInput(firstRangeMessage(max), { field: 'first', min: 1, max });
    return products.listProducts(this.sql, { ...opts, first, filter: normaliseFilter(opts.filter) });
  }

  categoryTree(): Promise<products.CategoryNode[]> {
    return products.categoryTree(this.sql);
  }

  /**
   * The categories below `parent` (the roots when absent) of a tree from categoryTree, as a tree or
   * flattened depth-first. BAD_USER_INPUT for a parent that is not a category path.
   */
  categories(
    tree: readonly products.CategoryNode[],
    opts: { parent?: string | null; flat?: boolean | null },
  ): products.CategoryNode[] {
    let base = tree;
    if (opts.parent != null) {
      const parent = normaliseFilter({ category: opts.parent }).category;
      if (!parent) throw badInput('parent: must be a category path', { field: 'parent' });
      base = products.categoryChildren(tree, parent);
    }
    return opts.flat ? products.flattenCategories(base) : [...base];
  }

  /** A background job (import, re-embed) by id, or null. */
  job(id: string): Promise<JobRow | null> {
    return getJob(this.sql, id);
  }

  addImages(productId: string, sources: readonly ImageSource[]): Promise<AddImagesResult> {
    return this.images.addImages(productId, sources);
  }

  removeImage(imageId: string): Promise<ImageRow> {
    return this.images.removeImage(imageId);
  }

  reorderImages(productId: string, imageIds: readonly string[]): Promise<void> {
    return this.images.reorder(productId, imageIds);
  }

  imagesByProductIds(ids: readonly string[]): Promise<ImageRow[]> {
    return this.images.imagesByProductIds(ids);
  }

  imagesByIds(ids: readonly string[]): Promise<ImageRow[]> {
    return this.images.imagesByIds(ids);
  }
}
