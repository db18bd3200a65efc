/**
 * Embedding spaces: a text tower may only be paired with an image model whose vectors live in the same space
 * (trained against the same image tower), or its query vectors would be compared with unrelated image vectors.
 * The space of a model is its folder's `glimpse_space` (config.json) when it has one, else looked up here by its
 * id or by the original it was converted from (`_name_or_path`); unknown: no pairing.
 */
import { TEST_MODEL_ID, TEST_MODEL_NAME, TEST_SPACE } from './test-model.js';

const OPENAI_L14 = 'openai/clip-vit-large-patch14';
const OPENAI_B32 = 'openai/clip-vit-base-patch32';

/** Published models and the image space they embed into. */
const KNOWN_SPACES: Readonly<Record<string, string>> = {
  [OPENAI_L14]: OPENAI_L14,
  'Xenova/clip-vit-large-patch14': OPENAI_L14,
  'immich-app/ViT-L-14__openai': OPENAI_L14,
  // M-CLIP trained its text towers into OpenAI's image space (Carlsson et al., LREC 2022)
  'M-CLIP/XLM-Roberta-Large-Vit-L-14': OPENAI_L14,
  'immich-app/XLM-Roberta-Large-Vit-L-14': OPENAI_L14,
  'M-CLIP/LABSE-Vit-L-14': OPENAI_L14,
  'immich-app/LABSE-Vit-L-14': OPENAI_L14,
  [OPENAI_B32]: OPENAI_B32,
  'Xenova/clip-vit-base-patch32': OPENAI_B32,
  'M-CLIP/XLM-Roberta-Large-Vit-B-32': OPENAI_B32,
  'immich-app/XLM-Roberta-Large-Vit-B-32': OPENAI_B32,
  [TEST_MODEL_NAME]: TEST_SPACE,
  [TEST_MODEL_ID]: TEST_SPACE,
};

/** The space of a model (its id and config.json), or undefined when it cannot be told. */
export function embeddingSpace(id: string, config: Record<string, unknown>): string | undefined {
  if (typeof config.glimpse_space === 'string' && config.glimpse_space) return config.glimpse_space;
  const original = typeof config._name_or_path === 'string' ? config._name_or_path : undefined;
  return KNOWN_SPACES[id] ?? (original ? KNOWN_SPACES[original] : undefined);
}
