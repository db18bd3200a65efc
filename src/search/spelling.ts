/**
 * "Did you mean": each word of a query that is not in the catalog's vocabulary (the words of titles and
 * brands, ./sql.ts buildVocabulary) is replaced by the most used vocabulary word within a small edit distance
 * (one edit for words of up to 4 letters, two beyond; a swap of two neighbouring letters is one edit), so
 * "rde dres" becomes "red dress". The vocabulary is read at most every VOCABULARY_TTL_MS (a stale copy serves
 * while a fresh one loads) and capped at MAX_VOCABULARY words. The same vocabulary completes a partial word
 * for autocomplete (`complete`, ./suggest.ts). Pure string work here; no statement but the vocabulary's.
 */
import type { Sql } from '../db/sql.js';
import { buildVocabulary } from './sql.js';

export const VOCABULARY_TTL_MS = 5 * 60_000;
export const MAX_VOCABULARY = 200_000;

interface Vocabulary {
  /** word → products using it */
  counts: Map<string, number>;
  /** every word, most used first (prefix completion, ./suggest.ts) */
  ranked: string[];
  /** words by length, most used first */
  byLength: Map<number, string[]>;
}

/**
 * Optimal-string-alignment distance (Levenshtein plus transpositions of neighbours), or max + 1 once it is
 * certain to exceed `max` (the rows' minimum only grows).
 */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin > max) return max + 1;
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length]!;
}

/** Edits a word may be away from its correction. */
const allowedEdits = (word: string) => (word.length <= 2 ? 0 : word.length <= 4 ? 1 : 2);

export class SpellingSuggester {
  private vocabulary: Vocabulary | null = null;
  private loadedAt = 0;
  private loading: Promise<Vocabulary> | null = null;

  constructor(private readonly sql: Sql) {}

  /** The query with its unknown words corrected, or null when every word is known or none has a close word. */
  async suggest(text: string): Promise<string | null> {
    const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
    if (!words.length || words.length > 20) return null;
    const vocab = await this.current();
    let changed = false;
    const out = words.map((w) => {
      if (vocab.counts.has(w) || /\d/.test(w)) return w;
      const fix = this.correct(vocab, w);
      if (fix) changed = true;
      return fix ?? w;
    });
    return changed ? out.join(' ') : null;
  }

  /** Up to `limit` vocabulary words starting with `partial` (lower case), the most used first. */
  async complete(partial: string, limit: number): Promise<string[]> {
    const vocab = await this.current();
    const out: string[] = [];
    for (const w of vocab.ranked) {
      if (w.startsWith(partial)) out.push(w);
      if (out.length >= limit) break;
    }
    return out;
  }

  private correct(vocab: Vocabulary, word: string): string | null {
    const max = allowedEdits(word);
    if (!max) return null;
    let best: { word: string; distance: number; products: number } | null = null;
    for (let len = word.length - max; len <= word.length + max; len++) {
      for (const candidate of vocab.byLength.get(len) ?? []) {
        const distance = editDistance(word, candidate, best ? Math.min(max, best.distance) : max);
        if (distance > max) continue;
        const products = vocab.counts.get(candidate)!;
        if (!best || distance < best.distance || (distance === best.distance && products > best.products))
          best = { word: candidate, distance, products };
      }
    }
    return best?.word ?? null;
  }

  /** The vocabulary: loaded on first use, then refreshed in the background once older than the TTL. */
  private async current(): Promise<Vocabulary> {
    const stale = Date.now() - this.loadedAt > VOCABULARY_TTL_MS;
    if (this.vocabulary && !stale) return this.vocabulary;
    this.loading ??= this.load().finally(() => (this.loading = null));
    if (this.vocabulary) {
      this.loading.catch(() => {}); // a failed refresh keeps the copy we have
      return this.vocabulary;
    }
    return this.loading;
  }

  private async load(): Promise<Vocabulary> {
    const q = buildVocabulary(MAX_VOCABULARY);
    const rows = await this.sql.query<{ word: string; products: number }>(q.text, q.params);
    const counts = new Map<string, number>();
    const byLength = new Map<number, string[]>();
    const ranked: string[] = [];
    for (const r of rows) {
      ranked.push(r.word);
      counts.set(r.word, Number(r.products));
      const list = byLength.get(r.word.length) ?? [];
      list.push(r.word);
      byLength.set(r.word.length, list);
    }
    this.vocabulary = { counts, byLength, ranked };
    this.loadedAt = Date.now();
    return this.vocabulary;
  }
}
