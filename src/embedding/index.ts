/** Public API of the embedding module. */
export { Embedder, silentLogger, type EmbedderConfig, type EmbedderStats, type EmbeddingLogger } from './embedder.js';
export {
  ModelManager,
  ModelUnavailableError,
  type ModelManagerConfig,
  type ModelState,
  type ModelStatus,
} from './model-manager.js';
export {
  fetchModel,
  fileUrl,
  hubFiles,
  listCachedModels,
  missingFiles,
  ModelFilesError,
  onnxFiles,
  parseModelName,
  resolveModel,
  type FetchOptions,
  type FetchProgress,
  type FetchResult,
  type ModelDtype,
  type ModelFilesErrorCode,
  type ModelSpec,
  type ResolvedModel,
} from './model-files.js';
export { ModelLoadError } from './worker-pool.js';
export { normaliseQueryText } from './cache.js';
export {
  buildTestModelFiles,
  ensureTestModel,
  isTestModelDir,
  TEST_COLOURS,
  TEST_MODEL_ID,
  TEST_MODEL_NAME,
} from './test-model.js';
