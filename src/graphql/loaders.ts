/**
 * Per-request DataLoaders: every product, image and image list a query touches is fetched in one batched
 * statement per kind and tick, so a page of 100 products with their images costs a constant number of
 * queries (page + images), whatever the page size.
 */
import DataLoader from 'dataloader';
import type { CatalogService, CategoryNode, ImageRow, ProductRow } from '../catalog/index.js';

export interface Loaders {
  product: DataLoader<string, ProductRow | null>;
  productBySku: DataLoader<string, ProductRow | null>;
  imagesByProduct: DataLoader<string, ImageRow[]>;
  image: DataLoader<string, ImageRow | null>;
  /** the category tree, read at most once per request */
  categories(): Promise<CategoryNode[]>;
  /** puts rows read another way into the caches */
  primeProducts(rows: readonly ProductRow[]): void;
  /** forgets what a mutation changed */
  clearProduct(id: string): void;
}

export function createLoaders(catalog: CatalogService): Loaders {
  const product: DataLoader<string, ProductRow | null> = new DataLoader(async (ids) => {
    const rows = await catalog.productsByIds(ids);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const r of rows) productBySku.prime(r.sku, r);
    return ids.map((id) => byId.get(id) ?? null);
  });
  const productBySku: DataLoader<string, ProductRow | null> = new DataLoader(async (skus) => {
    const rows = await catalog.productsBySkus(skus);
    const bySku = new Map(rows.map((r) => [r.sku, r]));
    for (const r of rows) product.prime(r.id, r);
    return skus.map((s) => bySku.get(s) ?? null);
  });
  const imagesByProduct = new DataLoader<string, ImageRow[]>(async (ids) => {
    const rows = await catalog.imagesByProductIds(ids);
    const by = new Map<string, ImageRow[]>();
    for (const r of rows) {
      let list = by.get(r.productId);
      if (!list) by.set(r.productId, (list = []));
      list.push(r);
      image.prime(r.id, r);
    }
    return ids.map((id) => by.get(id) ?? []);
  });
  const image: DataLoader<string, ImageRow | null> = new DataLoader(async (ids) => {
    const rows = await catalog.imagesByIds(ids);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  });
  let tree: Promise<CategoryNode[]> | undefined;
  return {
    product,
    productBySku,
    imagesByProduct,
    image,
    categories: () => (tree ??= catalog.categoryTree()),
    primeProducts(rows) {
      for (const r of rows) {
        product.clear(r.id).prime(r.id, r);
        productBySku.clear(r.sku).prime(r.sku, r);
      }
    },
    clearProduct(id) {
      product.clear(id);
      imagesByProduct.clear(id);
      productBySku.clearAll();
      tree = undefined;
    },
  };
}
