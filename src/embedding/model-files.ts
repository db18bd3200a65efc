/**
 * Model files: where a model lives, what it is made of, and how to fetch it.
 *
 * A model name is one of
 *   - "test": the generated Glimpse TEST model (test-model.ts), under `<modelDir>/glimpse-test-clip`;
 *   - a local folder (absolute, ./relative, or any existing directory) in the transformers.js / Optimum layout;
 *   - a Hugging Face repo id ("Xenova/clip-vit-large-patch14"), cached under `<modelDir>/<owner>/<name>`.
 * The folder holds config.json (projection_dim = embedding size), preprocessor_config.json, a tokenizer
 * (tokenizer.json, or OpenAI's bpe_simple_vocab_16e6.txt.gz) and onnx/{text,vision}_model[_fp16].onnx.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { PreprocessorConfig } from './image-preprocess.js';
import { ensureTestModel, isTestModelDir, TEST_MODEL_NAME } from './test-model.js';

export type ModelDtype = 'fp32' | 'fp16';

export type ModelFilesErrorCode =
  | 'MODEL_FILES_MISSING'
  | 'MODEL_FILES_CORRUPT'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_OFFLINE'
  | 'MODEL_FETCH_FAILED'
  | 'MODEL_INTEGRITY';

export class ModelFilesError extends Error {
  override name = 'ModelFilesError';
  constructor(
    readonly code: ModelFilesErrorCode,
    message: string,
    readonly details: { dir?: string; files?: string[]; urls?: string[] } = {},
  ) {
    super(message);
  }
}

export interface ModelSpec {
  kind: 'test' | 'dir' | 'hub';
  /** The name as configured. */
  name: string;
  /** Folder the files are (or will be) in. */
  dir: string;
  /** Hugging Face repo id (kind 'hub'). */
  repo?: string;
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** Where a model name points. Does not touch the network; does not generate the test model. */
export function parseModelName(name: string, modelDir: string): ModelSpec {
  if (name === TEST_MODEL_NAME) return { kind: 'test', name, dir: path.join(modelDir, 'glimpse-test-clip') };
  const looksLikePath = path.isAbsolute(name) || name.startsWith('.') || name.startsWith('~');
  const asPath = path.resolve(name.replace(/^~(?=$|\/)/, process.env.HOME ?? '~'));
  if (looksLikePath || (fs.existsSync(asPath) && fs.statSync(asPath).isDirectory()))
    return { kind: 'dir', name, dir: asPath };
  if (REPO_ID.test(name) && !name.split('/').some((p) => p === '.' || p === '..')) {
    return { kind: 'hub', name, dir: path.join(modelDir, ...name.split('/')), repo: name };
  }
  throw new ModelFilesError(
    'MODEL_NOT_FOUND',
    `model "${name}" is neither "test", an existing folder, nor a Hugging Face repo id (owner/name)`,
  );
}

/** ONNX file names for a dtype, relative to the model folder. */
export function onnxFiles(dtype: ModelDtype): { text: string; vision: string } {
  const sfx = dtype === 'fp16' ? '_fp16' : '';
  return { text: `onnx/text_model${sfx}.onnx`, vision: `onnx/vision_model${sfx}.onnx` };
}

/** Files fetched for a hub model (optional ones are skipped when the repo lacks them). */
export function hubFiles(dtype: ModelDtype): Array<{ path: string; optional?: boolean }> {
  const o = onnxFiles(dtype);
  return [
    { path: 'config.json' },
    { path: 'preprocessor_config.json' },
    { path: 'tokenizer.json' },
    { path: 'tokenizer_config.json', optional: true },
    { path: o.text },
    { path: o.vision },
  ];
}

const TOKENIZER_CANDIDATES = ['tokenizer.json', 'bpe_simple_vocab_16e6.txt.gz', 'bpe_simple_vocab_16e6.txt'];

export interface ResolvedModel {
  /** Stable id: "test", the repo id, or the folder path. Part of cache keys. */
  id: string;
  spec: ModelSpec;
  dir: string;
  isTestModel: boolean;
  dtype: ModelDtype;
  textModelPath: string;
  visionModelPath: string;
  tokenizerPath: string;
  /** projection_dim from config.json (the embedding size). */
  dimension: number;
  config: Record<string, unknown>;
  preprocessor: PreprocessorConfig;
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new ModelFilesError('MODEL_FILES_MISSING', `cannot read ${file}: ${(err as Error).message}`, {
      files: [file],
    });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new ModelFilesError(
      'MODEL_FILES_CORRUPT',
      `${file} is corrupt (${(err as Error).message}); delete it and fetch the model again`,
      { files: [file] },
    );
  }
}

/** Files a folder lacks for a dtype (relative paths). */
export function missingFiles(dir: string, dtype: ModelDtype): string[] {
  const o = onnxFiles(dtype);
  const missing = ['config.json', 'preprocessor_config.json', o.text, o.vision].filter(
    (f) => !fs.existsSync(path.join(dir, f)),
  );
  if (!TOKENIZER_CANDIDATES.some((f) => fs.existsSync(path.join(dir, f)))) missing.push('tokenizer.json');
  return missing;
}

function fetchHint(spec: ModelSpec, dtype: ModelDtype): string {
  if (spec.kind === 'hub') return `run \`glimpse model fetch ${spec.repo}${dtype === 'fp16' ? ' --dtype fp16' : ''}\``;
  if (spec.kind === 'test') return 'delete the folder to have it generated again';
  return 'copy the model files into the folder';
}

export interface ResolveOptions {
  model: string;
  modelDir: string;
  modelDtype: ModelDtype;
}

/** Locate and check a model's files (generating the test model when asked for). Throws ModelFilesError. */
export async function resolveModel(
  opts: ResolveOptions,
  log?: { warn: (obj: object, msg: string) => void },
): Promise<ResolvedModel> {
  const spec = parseModelName(opts.model, opts.modelDir);
  if (spec.kind === 'test') await ensureTestModel(opts.modelDir, log);
  const dir = spec.dir;
  if (!fs.existsSync(dir)) {
    throw new ModelFilesError(
      'MODEL_FILES_MISSING',
      `model "${spec.name}" is not installed (no folder ${dir}); ${fetchHint(spec, opts.modelDtype)}`,
      { dir },
    );
  }
  const missing = missingFiles(dir, opts.modelDtype);
  if (missing.length) {
    throw new ModelFilesError(
      'MODEL_FILES_MISSING',
      `model "${spec.name}" in ${dir} lacks ${missing.join(', ')}; ${fetchHint(spec, opts.modelDtype)}`,
      { dir, files: missing },
    );
  }
  const config = await readJson(path.join(dir, 'config.json'));
  const preprocessor = (await readJson(path.join(dir, 'preprocessor_config.json'))) as PreprocessorConfig;
  const textConfig = config.text_config as Record<string, unknown> | undefined;
  const dimension = Number(config.projection_dim ?? textConfig?.projection_dim);
  if (!Number.isInteger(dimension) || dimension < 1) {
    throw new ModelFilesError('MODEL_FILES_CORRUPT', `${path.join(dir, 'config.json')} has no valid projection_dim`, {
      dir,
      files: ['config.json'],
    });
  }
  const o = onnxFiles(opts.modelDtype);
  for (const f of [o.text, o.vision]) {
    const st = await fsp.stat(path.join(dir, f));
    if (st.size < 16)
      throw new ModelFilesError(
        'MODEL_FILES_CORRUPT',
        `${path.join(dir, f)} is truncated (${st.size} bytes); ${fetchHint(spec, opts.modelDtype)}`,
        { dir, files: [f] },
      );
  }
  const tokenizer = TOKENIZER_CANDIDATES.find((f) => fs.existsSync(path.join(dir, f)))!;
  const isTestModel = spec.kind === 'test' || isTestModelDir(dir);
  return {
    id: spec.kind === 'dir' ? dir : spec.name,
    spec,
    dir,
    isTestModel,
    dtype: opts.modelDtype,
    textModelPath: path.join(dir, o.text),
    visionModelPath: path.join(dir, o.vision),
    tokenizerPath: path.join(dir, tokenizer),
    dimension,
    config,
    preprocessor,
  };
}

// ------------------------------------------------------------------------------------------------ fetching

export interface FetchProgress {
  file: string;
  /** Bytes of this file on disk so far (resumed bytes included). */
  received: number;
  total: number | undefined;
  fileIndex: number;
  fileCount: number;
  resumedFrom: number;
}

export interface FetchOptions {
  repo: string;
  dtype: ModelDtype;
  modelDir: string;
  endpoint: string;
  /** Git revision (default "main"). */
  revision?: string;
  onProgress?: (p: FetchProgress) => void;
  onFileDone?: (
    file: string,
    info: { bytes: number; skipped: boolean; verified: 'sha256' | 'git-sha1' | 'size' | 'none' },
  ) => void;
  /** Attempts per file when a transfer breaks off (resuming each time). Default 4. */
  attempts?: number;
  /** Abort a transfer that receives nothing for this long. Default 60 s. */
  stallTimeoutMs?: number;
  signal?: AbortSignal;
  /** The files to fetch (default: a transformers.js CLIP model's, `hubFiles(dtype)`). */
  files?: Array<{ path: string; optional?: boolean }>;
  /** Added to the offline instructions (files that are only known once others have arrived). */
  offlineNote?: string;
}

export interface FetchResult {
  dir: string;
  files: Array<{ path: string; bytes: number; skipped: boolean }>;
}

const OFFLINE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENETDOWN',
]);

function networkCode(err: unknown): string | undefined {
  let e = err as { code?: string; cause?: unknown } | undefined;
  for (let i = 0; e && i < 5; i++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

export function fileUrl(endpoint: string, repo: string, file: string, revision = 'main'): string {
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${file}`;
}

interface Probe {
  status: number;
  size?: number;
  sha256?: string;
  gitSha1?: string;
}

function parseEtag(v: string | null): { sha256?: string; gitSha1?: string } {
  if (!v) return {};
  const tag = v.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
  if (/^[0-9a-f]{64}$/.test(tag)) return { sha256: tag };
  if (/^[0-9a-f]{40}$/.test(tag)) return { gitSha1: tag };
  return {};
}

/** HEAD the resolve URL without following redirects first: HF puts LFS size and sha256 on the redirect. */
async function probe(url: string, signal?: AbortSignal): Promise<Probe> {
  let current = url;
  const found: Probe = { status: 0 };
  for (let hop = 0; hop < 6; hop++) {
    const res = await fetch(current, { method: 'HEAD', redirect: 'manual', ...(signal ? { signal } : {}) });
    const linkedSize = res.headers.get('x-linked-size');
    const linked = parseEtag(res.headers.get('x-linked-etag'));
    if (found.size === undefined && linkedSize && /^\d+$/.test(linkedSize)) found.size = Number(linkedSize);
    if (!found.sha256 && linked.sha256) found.sha256 = linked.sha256;
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc) {
      current = new URL(loc, current).href;
      continue;
    }
    found.status = res.status;
    if (res.ok) {
      const len = res.headers.get('content-length');
      if (found.size === undefined && len && /^\d+$/.test(len)) found.size = Number(len);
      if (!found.sha256 && !found.gitSha1) Object.assign(found, parseEtag(res.headers.get('etag')));
    }
    return found;
  }
  throw new Error(`too many redirects for ${url}`);
}

async function hashFile(file: string, algo: 'sha256' | 'git-sha1', size: number): Promise<string> {
  const h = createHash(algo === 'sha256' ? 'sha256' : 'sha1');
  if (algo === 'git-sha1') h.update(`blob ${size}\0`);
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function downloadOne(
  url: string,
  dest: string,
  file: string,
  opts: FetchOptions,
  index: number,
  count: number,
): Promise<{ bytes: number; skipped: boolean; verified: 'sha256' | 'git-sha1' | 'size' | 'none' } | null> {
  const p = await probe(url, opts.signal);
  if (p.status === 404) return null;
  if (p.status < 200 || p.status >= 300)
    throw new ModelFilesError('MODEL_FETCH_FAILED', `${url}: HTTP ${p.status}`, { urls: [url] });
  const st = await fsp.stat(dest).catch(() => null);
  if (st && p.size !== undefined && st.size === p.size) return { bytes: st.size, skipped: true, verified: 'size' };
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const attempts = opts.attempts ?? 4;
  let total = p.size;
  let lastErr: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let offset = (await fsp.stat(part).catch(() => null))?.size ?? 0;
    if (total !== undefined && offset > total) {
      await fsp.truncate(part, 0);
      offset = 0;
    }
    if (total !== undefined && offset === total) break;
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let stall: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(stall);
      stall = setTimeout(() => ctrl.abort(new Error('transfer stalled')), opts.stallTimeoutMs ?? 60_000);
    };
    const resumedFrom = offset;
    try {
      arm();
      const res = await fetch(url, {
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        redirect: 'follow',
        signal: ctrl.signal,
      });
      if (res.status === 416) {
        // our part is already complete (or the server lost track): start over once
        await fsp.truncate(part, 0);
        throw new Error('HTTP 416 range not satisfiable');
      }
      if (!res.ok) throw new ModelFilesError('MODEL_FETCH_FAILED', `${url}: HTTP ${res.status}`, { urls: [url] });
      if (res.status === 200 && offset > 0) {
        offset = 0; // server ignored the range: restart
        await fsp.truncate(part, 0);
      }
      const len = res.headers.get('content-length');
      if (total === undefined && len && /^\d+$/.test(len)) total = offset + Number(len);
      const fh = await fsp.open(part, offset > 0 ? 'a' : 'w');
      let received = offset;
      try {
        if (res.body) {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            arm();
            await fh.write(chunk);
            received += chunk.length;
            opts.onProgress?.({ file, received, total, fileIndex: index, fileCount: count, resumedFrom });
          }
        }
      } finally {
        await fh.close();
      }
      if (total === undefined || received === total) break;
      throw new Error(`connection closed after ${received} of ${total} bytes`);
    } catch (err) {
      if (err instanceof ModelFilesError) throw err;
      if (opts.signal?.aborted) throw err;
      lastErr = err;
      const code = networkCode(err);
      if (code && OFFLINE_CODES.has(code) && attempt === 1 && resumedFrom === 0) throw err; // offline: no point retrying
      if (attempt === attempts) {
        throw new ModelFilesError(
          'MODEL_FETCH_FAILED',
          `${url}: download failed after ${attempts} attempts (${(err as Error).message}); run the fetch again to resume`,
          { urls: [url] },
        );
      }
    } finally {
      clearTimeout(stall);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
  void lastErr;
  const size = (await fsp.stat(part)).size;
  if (total !== undefined && size !== total) {
    await fsp.rm(part, { force: true });
    throw new ModelFilesError(
      'MODEL_INTEGRITY',
      `${file}: got ${size} bytes, expected ${total}; the partial file was removed, fetch again`,
      { files: [file], urls: [url] },
    );
  }
  let verified: 'sha256' | 'git-sha1' | 'size' | 'none' = total !== undefined ? 'size' : 'none';
  const expected = p.sha256 ?? p.gitSha1;
  if (expected) {
    const algo = p.sha256 ? 'sha256' : 'git-sha1';
    const got = await hashFile(part, algo, size);
    if (got !== expected) {
      await fsp.rm(part, { force: true });
      throw new ModelFilesError(
        'MODEL_INTEGRITY',
        `${file}: ${algo} mismatch (expected ${expected}, got ${got}); the corrupt download was removed, fetch again`,
        { files: [file], urls: [url] },
      );
    }
    verified = algo;
  }
  await fsp.rename(part, dest);
  return { bytes: size, skipped: false, verified };
}

/**
 * Download a hub model's files into `<modelDir>/<owner>/<name>`: resumable (HTTP Range into `<file>.part`),
 * checked (size, and the sha256 of LFS files or git blob sha1 from the ETag), atomically renamed into place.
 * Files already complete are skipped. Offline, it fails with the list of files to download by hand.
 */
export async function fetchModel(opts: FetchOptions): Promise<FetchResult> {
  const spec = parseModelName(opts.repo, opts.modelDir);
  if (spec.kind !== 'hub' || !spec.repo)
    throw new ModelFilesError(
      'MODEL_NOT_FOUND',
      `"${opts.repo}" is not a Hugging Face repo id; only hub models can be fetched`,
    );
  const repo = spec.repo;
  const files = opts.files ?? hubFiles(opts.dtype);
  const out: FetchResult = { dir: spec.dir, files: [] };
  for (const [i, f] of files.entries()) {
    const url = fileUrl(opts.endpoint, repo, f.path, opts.revision);
    let r: Awaited<ReturnType<typeof downloadOne>>;
    try {
      r = await downloadOne(url, path.join(spec.dir, f.path), f.path, opts, i, files.length);
    } catch (err) {
      const code = networkCode(err);
      if (code && OFFLINE_CODES.has(code)) {
        const urls = files.map((x) => fileUrl(opts.endpoint, repo, x.path, opts.revision));
        throw new ModelFilesError(
          'MODEL_OFFLINE',
          `cannot reach ${new URL(opts.endpoint).host} (${code}). To install "${repo}" by hand, download these files:\n` +
            files.map((x, j) => `  ${urls[j]}${x.optional ? '   (optional)' : ''}`).join('\n') +
            `\ninto ${spec.dir}/ keeping their relative paths (${files.map((x) => x.path).join(', ')})${opts.offlineNote ? `; ${opts.offlineNote}` : ''}; or set HF_ENDPOINT to a reachable mirror.`,
          { dir: spec.dir, files: files.map((x) => x.path), urls },
        );
      }
      if (err instanceof ModelFilesError) throw err;
      // undici reports every failure as "fetch failed": say what was fetched and why
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new ModelFilesError(
        'MODEL_FETCH_FAILED',
        `cannot download ${url}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`,
        { dir: spec.dir, files: files.map((x) => x.path) },
      );
    }
    if (r === null) {
      if (f.optional) continue;
      throw new ModelFilesError(
        'MODEL_FETCH_FAILED',
        `${url}: not found (HTTP 404); is "${repo}" a ${opts.files ? 'repo' : 'transformers.js CLIP repo'} with ${f.path}?`,
        { urls: [url] },
      );
    }
    out.files.push({ path: f.path, bytes: r.bytes, skipped: r.skipped });
    opts.onFileDone?.(f.path, r);
  }
  return out;
}

/** Models present under the cache folder (folders with a config.json and an onnx/ folder). */
export async function listCachedModels(
  modelDir: string,
): Promise<Array<{ name: string; dir: string; dtypes: ModelDtype[]; isTestModel: boolean }>> {
  const out: Array<{ name: string; dir: string; dtypes: ModelDtype[]; isTestModel: boolean }> = [];
  const visit = async (dir: string, rel: string[], depth: number) => {
    if (fs.existsSync(path.join(dir, 'config.json'))) {
      const dtypes = (['fp32', 'fp16'] as const).filter((d) => missingFiles(dir, d).length === 0);
      const test = isTestModelDir(dir);
      const name = rel.join('/');
      out.push({ name: name === 'glimpse-test-clip' ? TEST_MODEL_NAME : name, dir, dtypes, isTestModel: test });
      return;
    }
    if (depth >= 2) return;
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries)
      if (e.isDirectory() && !e.name.startsWith('.')) await visit(path.join(dir, e.name), [...rel, e.name], depth + 1);
  };
  await visit(modelDir, [], 0);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
