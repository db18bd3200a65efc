/**
 * Files of a text tower paired with the image model: where they live, what they are, how to fetch them.
 *
 * The layout is Immich's ONNX export of M-CLIP (`immich-app/XLM-Roberta-Large-Vit-L-14`, the published ONNX form of
 * `M-CLIP/XLM-Roberta-Large-Vit-L-14`, whose own repository has PyTorch weights only):
 *   config.json                    open_clip config of the paired model: embed_dim = the vector size
 *   textual/model.onnx             input_ids + attention_mask int32 [1, 77] -> embedding [1, 768]: mean pooling over
 *                                  the mask, the linear projection and L2 normalisation are inside the graph
 *   textual/<external data>        the weights (over protobuf's 2 GB limit), named inside model.onnx
 *   textual/tokenizer.json         XLM-R's SentencePiece Unigram tokenizer; tokenizer_config.json beside it
 * A name is "test-multilingual" (the generated test tower), a folder, or a Hugging Face repo id cached under
 * `<modelDir>/<owner>/<name>` like image models.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import protobuf from 'protobufjs';
import { fetchModel, ModelFilesError, parseModelName, type FetchOptions, type ModelSpec } from './model-files.js';
import { embeddingSpace } from './spaces.js';
import { ensureTestTextTower, TEST_TEXT_TOWER_ID, TEST_TEXT_TOWER_NAME } from './test-text-tower.js';

export const TEXT_TOWER_FILES = {
  config: 'config.json',
  model: 'textual/model.onnx',
  tokenizer: 'textual/tokenizer.json',
  tokenizerConfig: 'textual/tokenizer_config.json',
} as const;

export interface ResolvedTextTower {
  /** Stable id: "test-multilingual", the repo id, or the folder path. Part of cache keys and responses. */
  id: string;
  spec: ModelSpec;
  dir: string;
  isTestModel: boolean;
  modelPath: string;
  tokenizerPath: string;
  tokenizerConfigPath: string;
  /** embed_dim of config.json */
  dimension: number;
  /** text_cfg.context_length (77 when absent) */
  contextLength: number;
  /** the image space it was trained into (spaces.ts), if known */
  space: string | undefined;
}

/** Where a text tower name points (no network; the test tower is not generated here). */
export function parseTextTowerName(name: string, modelDir: string): ModelSpec {
  if (name === TEST_TEXT_TOWER_NAME) return { kind: 'test', name, dir: path.join(modelDir, TEST_TEXT_TOWER_ID) };
  return parseModelName(name, modelDir);
}

function hint(spec: ModelSpec): string {
  return spec.kind === 'hub'
    ? `run \`glimpse model fetch ${spec.repo} --text\``
    : 'copy the files of the Immich export layout (docs/models.md) into the folder';
}

/** Locate and check a text tower's files (generating the test tower when asked for). Throws ModelFilesError. */
export async function resolveTextTower(
  name: string,
  modelDir: string,
  log?: { warn: (obj: object, msg: string) => void },
): Promise<ResolvedTextTower> {
  const spec = parseTextTowerName(name, modelDir);
  if (spec.kind === 'test') await ensureTestTextTower(modelDir, log);
  const missing = Object.values(TEXT_TOWER_FILES).filter((f) => !fs.existsSync(path.join(spec.dir, f)));
  if (missing.length)
    throw new ModelFilesError(
      'MODEL_FILES_MISSING',
      `text model "${name}" in ${spec.dir} lacks ${missing.join(', ')}; ${hint(spec)}`,
      { dir: spec.dir, files: missing },
    );
  const configFile = path.join(spec.dir, TEXT_TOWER_FILES.config);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await fsp.readFile(configFile, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ModelFilesError('MODEL_FILES_CORRUPT', `${configFile} is corrupt (${(err as Error).message})`, {
      dir: spec.dir,
      files: [TEXT_TOWER_FILES.config],
    });
  }
  const dimension = Number(config.embed_dim ?? config.projection_dim);
  if (!Number.isInteger(dimension) || dimension < 1)
    throw new ModelFilesError('MODEL_FILES_CORRUPT', `${configFile} has no valid embed_dim`, {
      dir: spec.dir,
      files: [TEXT_TOWER_FILES.config],
    });
  const textCfg = (config.text_cfg ?? {}) as { context_length?: unknown };
  const contextLength = Number.isInteger(textCfg.context_length) ? (textCfg.context_length as number) : 77;
  const id = spec.kind === 'dir' ? spec.dir : spec.name;
  return {
    id,
    spec,
    dir: spec.dir,
    isTestModel: spec.kind === 'test' || config.glimpse_test_model === true,
    modelPath: path.join(spec.dir, TEXT_TOWER_FILES.model),
    tokenizerPath: path.join(spec.dir, TEXT_TOWER_FILES.tokenizer),
    tokenizerConfigPath: path.join(spec.dir, TEXT_TOWER_FILES.tokenizerConfig),
    dimension,
    contextLength,
    space: embeddingSpace(spec.kind === 'test' ? TEST_TEXT_TOWER_ID : spec.name, config),
  };
}

// the part of onnx.proto that names external weight files
const externalDataSchema = protobuf.Root.fromJSON({
  nested: {
    M: { fields: { graph: { type: 'G', id: 7 } } },
    G: { fields: { initializer: { rule: 'repeated', type: 'T', id: 5 } } },
    T: { fields: { externalData: { rule: 'repeated', type: 'E', id: 13 } } },
    E: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
  },
}).lookupType('M');

/** The external data files an ONNX graph refers to, relative to its folder (weights over protobuf's 2 GB limit). */
export async function externalDataFiles(onnxFile: string): Promise<string[]> {
  const msg = externalDataSchema.toObject(externalDataSchema.decode(await fsp.readFile(onnxFile))) as {
    graph?: { initializer?: Array<{ externalData?: Array<{ key: string; value: string }> }> };
  };
  const files = new Set<string>();
  for (const t of msg.graph?.initializer ?? [])
    for (const e of t.externalData ?? []) {
      const rel = path.posix.normalize(e.value);
      if (e.key === 'location' && !rel.startsWith('..') && !path.isAbsolute(rel)) files.add(rel);
    }
  return [...files].sort();
}

/**
 * Fetch a hub text tower like an image model (resumable, checked, atomically renamed; offline: which files to
 * download): the fixed files first, then the external data files its model.onnx names.
 */
export async function fetchTextTower(opts: Omit<FetchOptions, 'files' | 'dtype'>): Promise<{ dir: string }> {
  const base = [
    { path: TEXT_TOWER_FILES.config },
    { path: TEXT_TOWER_FILES.model },
    { path: TEXT_TOWER_FILES.tokenizer },
    { path: TEXT_TOWER_FILES.tokenizerConfig },
    { path: 'textual/special_tokens_map.json', optional: true },
  ];
  const first = await fetchModel({
    ...opts,
    dtype: 'fp32',
    files: base,
    offlineNote:
      'then the weight files that textual/model.onnx names (`glimpse model fetch` lists them once it has model.onnx)',
  });
  const weights = await externalDataFiles(path.join(first.dir, TEXT_TOWER_FILES.model));
  if (weights.length)
    await fetchModel({ ...opts, dtype: 'fp32', files: weights.map((f) => ({ path: path.posix.join('textual', f) })) });
  return { dir: first.dir };
}
