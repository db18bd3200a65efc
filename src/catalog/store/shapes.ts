/**
 * The SQL of every catalog store statement, for review (`npm run sql:shapes` writes src/catalog/store/queries/
 * *.sql; test/unit/catalog-sql.test.ts fails when they are stale), recorded by src/db/sql-shapes.ts.
 */
import { renderShapes, type Shapes } from '../../db/sql-shapes.js';
import * as embeddings from './embeddings.js';
import * as images from './images.js';
import * as jobLock from './job-lock.js';
import * as jobs from './jobs.js';
import * as models from './models.js';
import * as products from './products.js';
import type { ProductFields } from '../validation.js';

const PRODUCT = '6f1c1a52-3b8e-4c1e-9a57-0f2f4b7a9d10';
const IMAGE = '0b7a4c0e-8f51-4d2a-b4d4-5b8f3c2e1a90';
const JOB = '2d9e6f4a-1c3b-4e5f-8a7b-9c0d1e2f3a4b';
const SHA = 'a'.repeat(64);
const MODEL = { modelId: 'openai/clip-vit-large-patch14', dimension: 768 };
const VECTOR = Array.from({ length: 768 }, (_, i) => (i === 0 ? 1 : 0));
const FIELDS: ProductFields = {
  sku: 'DRESS-001',
  title: 'Red summer dress',
  description: 'Light cotton',
  brand: 'Acme',
  category: 'women/dresses',
  price: { amount: '39.90', currency: 'EUR' },
  inStock: true,
  tags: ['summer'],
  attributes: { color: 'red' },
};
const IMAGE_ROW = {
  productId: PRODUCT,
  sha256: SHA,
  source: 'upload',
  sourceUrl: null,
  contentType: 'image/png',
  byteSize: 1234,
  width: 640,
  height: 480,
  position: 0,
};

/** Each shape: file name → the store call. */
const SHAPES: Shapes = {
  'products-insert': (sql) => products.insertProduct(sql, FIELDS, 'english'),
  'products-update': (sql) =>
    products.updateProductFields(sql, PRODUCT, { title: FIELDS.title, price: FIELDS.price, tags: FIELDS.tags }),
  'products-upsert': (sql) => products.upsertProductRows(sql, [FIELDS], 'english'),
  'products-delete': (sql) => products.deleteProductRow(sql, PRODUCT),
  'products-by-ids': (sql) => products.productsByIds(sql, [PRODUCT]),
  'products-by-skus': (sql) => products.productsBySkus(sql, [FIELDS.sku]),
  'products-exists': (sql) => products.productExists(sql, PRODUCT),
  'products-lock': (sql) => products.lockProduct(sql, PRODUCT),
  'products-list': (sql) =>
    products.listProductRows(sql, {
      filter: { category: 'women', inStock: true },
      order: 'PRICE_ASC',
      after: { key: '19.90', id: PRODUCT },
      limit: 21,
    }),
  'products-per-category': (sql) => products.productsPerCategory(sql),
  'images-of-products': (sql) => images.imagesOfProducts(sql, [PRODUCT]),
  'images-insert-rows': (sql) => images.insertImageRows(sql, [IMAGE_ROW]),
  'images-insert-row': (sql) => images.insertImageRow(sql, IMAGE_ROW),
  'images-of-product-by-sha256': (sql) => images.imageOfProduct(sql, PRODUCT, SHA),
  'images-next-position': (sql) => images.nextImagePosition(sql, PRODUCT),
  'images-delete-row': (sql) => images.deleteImageRow(sql, { id: IMAGE, productId: PRODUCT, position: 2 }),
  'images-ids-of-product': (sql) => images.imageIdsOfProduct(sql, PRODUCT),
  'images-set-order': (sql) => images.setImageOrder(sql, PRODUCT, [IMAGE]),
  'images-by-product-ids': (sql) => images.imagesOfProductIds(sql, [PRODUCT]),
  'images-by-ids': (sql) => images.imagesByIds(sql, [IMAGE]),
  'images-files-of-product': (sql) => images.imageFilesOfProduct(sql, PRODUCT),
  'images-count': (sql) => images.countImages(sql),
  'images-lock': (sql) => images.lockImage(sql, SHA),
  'images-try-lock': (sql) => images.tryLockImage(sql, SHA).catch(() => false),
  'images-file-referenced': (sql) => images.imageFileReferenced(sql, SHA),
  'images-files-referenced': (sql) => images.referencedImageFiles(sql, [SHA]),
  'embeddings-insert': (sql) => embeddings.insertEmbeddings(sql, MODEL, [{ imageId: IMAGE, vector: VECTOR }]),
  'embeddings-count': (sql) => embeddings.countEmbeddings(sql, MODEL),
  'embeddings-count-up-to': (sql) => embeddings.countVectorsUpTo(sql, 768, 100_001),
  'embeddings-images-without': (sql) => embeddings.countImagesWithoutEmbedding(sql, MODEL),
  'embeddings-delete': (sql) => embeddings.deleteEmbeddings(sql, MODEL),
  'embeddings-nearest-images': (sql) =>
    embeddings.nearestImages(sql, MODEL, { vector: VECTOR, excludeImageId: IMAGE, candidates: 10, threshold: 0.95 }),
  'embeddings-images-in-id-order': (sql) => embeddings.imagesInIdOrder(sql, MODEL, { after: IMAGE, limit: 64 }),
  'embeddings-images-without-in-id-order': (sql) =>
    embeddings.imagesInIdOrder(sql, MODEL, { after: IMAGE, limit: 64, withoutEmbedding: true }),
  'embeddings-analyze': (sql) => embeddings.analyzeCatalog(sql, 768),
  'jobs-get': (sql) => jobs.getJob(sql, JOB),
  'jobs-create': (sql) => jobs.createJob(sql, { kind: 'import', modelId: MODEL.modelId, total: 100, cursor: '0' }),
  'jobs-find-resumable': (sql) => jobs.findResumableJob(sql, 'import', { fileSha256: SHA }),
  'jobs-find-or-create': (sql) =>
    jobs.findOrCreateJob(
      sql,
      'reembed',
      { model: MODEL.modelId },
      { state: 'queued', params: { model: MODEL.modelId } },
    ),
  'jobs-update': (sql) =>
    jobs.updateJob(sql, JOB, { state: 'succeeded', done: 100, cursor: '100', params: { counts: {} } }),
  'jobs-lock': (sql) => jobLock.withJobLock(sql, JOB, () => Promise.resolve()),
  'models-register': (sql) => new models.ModelRegistry(sql).ensure({ ...MODEL, isTestModel: false }).catch(() => {}),
  'models-list': (sql) => new models.ModelRegistry(sql).list(),
  'models-active': (sql) => new models.ModelRegistry(sql).active(),
  'models-active-id': (sql) => models.activeModelId(sql),
  'models-switch-active': (sql) => models.switchActive(sql, MODEL.modelId).catch(() => {}),
  'models-lock': (sql) => models.lockModel(sql, MODEL.modelId),
  'models-forget': (sql) => models.forgetModel(sql, MODEL.modelId),
};

/** file name → contents */
export function renderCatalogQueries(): Promise<Record<string, string>> {
  return renderShapes(SHAPES, 'src/catalog/store (src/catalog/store/shapes.ts)');
}
