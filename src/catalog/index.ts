/** Public API of the catalog module. */
export { CatalogService, type CatalogServiceDeps } from './service.js';
export { normaliseFilter, type ProductFilter, type AttributeFilter } from './filter.js';
export {
  ImageService,
  IMAGE_COLUMNS,
  type ImageRow,
  type ImageSource,
  type ImageEmbedder,
  type AddImagesResult,
  type NearDuplicateRow,
} from './images.js';
export { ImageStore } from './image-store.js';
export { lockImage } from './store/images.js';
export { ModelRegistry, type ModelRow, type ModelIdentity } from './store/models.js';
export { EMBEDDING_DIMENSIONS, embeddingTable } from './store/embeddings.js';
export * from './products.js';
export { fetchImage, isBlockedAddress, parseImageUrl, type FetchImageOptions, type FetchedImage } from './url-fetch.js';
export * from './validation.js';
export { encodeCursor, decodeCursor } from './cursor.js';
