/**
 * Tokenizer of a text tower (XLM-R's SentencePiece Unigram for M-CLIP, or any Hugging Face `tokenizer.json`),
 * through `@huggingface/tokenizers`, with what the library leaves to its caller: truncation to the model's maximum
 * length (keeping the special tokens its post-processor adds, e.g. `<s> … </s>`), padding, and the attention mask.
 * CLIP's own tokenizer (tokenizer.ts) stays separate: it also reads OpenAI's BPE vocabulary and pads with id 0.
 */
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';
import type { EncodedBatch } from './tokenizer.js';

interface TokenizerConfig {
  model_max_length?: number;
  pad_token?: string | { content: string };
  [key: string]: unknown;
}

const content = (t: string | { content: string } | undefined) => (typeof t === 'string' ? t : t?.content);

export class TextTowerTokenizer {
  readonly padId: number;
  /** ids the post-processor puts before and after the text (XLM-R: [0] and [2]) */
  private readonly prefix: number[];
  private readonly suffix: number[];
  private readonly tok: Tokenizer;

  /** `maxLength`: ids per text, special tokens included (the model's context length). */
  constructor(
    tokenizerJson: object,
    config: TokenizerConfig,
    readonly maxLength: number,
  ) {
    this.tok = new Tokenizer(tokenizerJson, { ...config });
    const pad = content(config.pad_token);
    const padId = pad === undefined ? undefined : this.tok.token_to_id(pad);
    if (padId === undefined) throw new Error(`tokenizer has no pad token (${pad ?? 'none configured'})`);
    this.padId = padId;
    // where the text goes between the special tokens: frame a probe and find its body in it
    const probe = 'a';
    const body: number[] = this.tok.encode(probe, { add_special_tokens: false }).ids;
    const framed: number[] = this.tok.encode(probe, { add_special_tokens: true }).ids;
    const at = framed.findIndex((_: number, i: number) => body.every((id, j) => framed[i + j] === id));
    if (at < 0) throw new Error('tokenizer: cannot locate the text between its special tokens');
    this.prefix = framed.slice(0, at);
    this.suffix = framed.slice(at + body.length);
    if (maxLength < this.prefix.length + this.suffix.length + 1)
      throw new Error(`tokenizer: max length ${maxLength} leaves no room for text`);
  }

  /** Reads tokenizer.json and tokenizer_config.json. */
  static async fromFiles(tokenizerPath: string, configPath: string, maxLength: number): Promise<TextTowerTokenizer> {
    const json = JSON.parse(await readFile(tokenizerPath, 'utf8')) as object;
    const config = JSON.parse(await readFile(configPath, 'utf8')) as TokenizerConfig;
    const limit = config.model_max_length;
    const effective = typeof limit === 'number' && limit >= 2 && limit < maxLength ? limit : maxLength;
    return new TextTowerTokenizer(json, config, effective);
  }

  /** Ids with the special tokens, at most maxLength (the text's tail is cut, the closing tokens kept). */
  encode(text: string): number[] {
    const body = this.tok.encode(text, { add_special_tokens: false }).ids;
    const room = this.maxLength - this.prefix.length - this.suffix.length;
    return [...this.prefix, ...body.slice(0, room), ...this.suffix];
  }

  /** Texts as one int64 batch padded to `padTo` (a fixed-shape graph's length) or to the longest row. */
  encodeBatch(texts: readonly string[], padTo?: number): EncodedBatch {
    const rows = texts.map((t) => this.encode(t));
    const seqLen = padTo ?? rows.reduce((m, r) => Math.max(m, r.length), 0);
    const ids = new BigInt64Array(rows.length * seqLen).fill(BigInt(this.padId));
    const attentionMask = new BigInt64Array(rows.length * seqLen);
    rows.forEach((row, b) => {
      for (let i = 0; i < Math.min(row.length, seqLen); i++) {
        ids[b * seqLen + i] = BigInt(row[i]!);
        attentionMask[b * seqLen + i] = 1n;
      }
    });
    return { ids, attentionMask, batch: rows.length, seqLen };
  }

  /** Token strings of a text (tests, docs). */
  tokens(text: string): string[] {
    return this.tok.encode(text, { add_special_tokens: true }).tokens;
  }
}
