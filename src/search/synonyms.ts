/**
 * Synonyms managed by admins (docs/search.md "Synonyms"): groups of equivalent terms ("gown", "dress",
 * "evening dress"); a KEYWORD / HYBRID query containing one term also matches products with another.
 *
 * Why query expansion by alternatives: websearch_to_tsquery has no parentheses, so "red gown" cannot be written
 * as red & (gown | dress) in its syntax; instead the query is OR-ed with each alternative text — "red dress",
 * "red evening dress" — each parsed by websearch_to_tsquery as the original is (./sql.ts keywordQueryCte), which
 * keeps quotes, `or` and `-word` working. Alternatives are capped at MAX_ALTERNATIVES.
 *
 * The groups are read once and kept for CACHE_TTL_MS; a write through this service clears the cache at once
 * (other API replicas see it within the TTL).
 */
import { badInput, notFound } from '../errors.js';
import type { Sql } from '../db/sql.js';
import { isUuid } from './cursor.js';
import {
  LOCK_SYNONYMS,
  buildDeleteSynonyms,
  buildSaveSynonyms,
  buildSynonymConflicts,
  buildSynonymGroups,
} from './synonym-sql.js';

export const MAX_GROUPS = 10_000;
export const MIN_TERMS = 2;
export const MAX_TERMS = 20;
export const MAX_TERM_CHARS = 50;
export const MAX_ALTERNATIVES = 16;
export const CACHE_TTL_MS = 60_000;
/** a term: words of letters and digits, joined by one space, hyphen or apostrophe */
const TERM_RE = /^[\p{L}\p{N}]+(?:[ '-][\p{L}\p{N}]+)*$/u;
const WORD_RE = /[\p{L}\p{N}]+/gu;

export interface SynonymGroup {
  id: string;
  terms: string[];
  createdAt: Date;
  updatedAt: Date;
}

interface Row {
  id: string;
  terms: string[];
  created_at: Date | string;
  updated_at: Date | string;
}

const groupOf = (r: Row): SynonymGroup => ({
  id: r.id,
  terms: r.terms,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

/** Terms as stored: lower case, spaces folded, unique; BAD_USER_INPUT (field `terms`) otherwise. */
export function normaliseTerms(terms: unknown): string[] {
  if (!Array.isArray(terms)) throw badInput('`terms` must be a list', { field: 'terms' });
  if (terms.length > MAX_TERMS * 2)
    throw badInput(`\`terms\`: at most ${MAX_TERMS} terms per group`, { field: 'terms', max: MAX_TERMS });
  const out: string[] = [];
  for (const t of terms) {
    if (typeof t !== 'string') throw badInput('`terms` must be strings', { field: 'terms' });
    const term = t.trim().toLowerCase().replace(/\s+/g, ' ');
    if ([...term].length > MAX_TERM_CHARS || !TERM_RE.test(term))
      throw badInput(
        `\`terms\`: ${JSON.stringify(t.slice(0, 60))} is not a term (1-${MAX_TERM_CHARS} characters: words of letters and digits joined by a space, hyphen or apostrophe)`,
        { field: 'terms', max: MAX_TERM_CHARS },
      );
    if (!out.includes(term)) out.push(term);
  }
  if (out.length < MIN_TERMS || out.length > MAX_TERMS)
    throw badInput(`\`terms\`: a group has ${MIN_TERMS}-${MAX_TERMS} different terms`, {
      field: 'terms',
      min: MIN_TERMS,
      max: MAX_TERMS,
    });
  return out;
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || !isUuid(id)) throw badInput('`id` is not a valid id', { field: 'id' });
  return id;
}

/** term → its group's terms, by the term's first word (a query is matched word by word). */
type TermIndex = Map<string, { words: string[]; terms: string[] }[]>;

export class Synonyms {
  private cache: { index: TermIndex; at: number } | null = null;
  private loading: Promise<TermIndex> | null = null;
  /** bumped by every write: a read that started before it does not fill the cache */
  private generation = 0;

  constructor(private readonly sql: Sql) {}

  async list(): Promise<SynonymGroup[]> {
    const q = buildSynonymGroups(MAX_GROUPS);
    return (await this.sql.query<Row>(q.text, q.params)).map(groupOf);
  }

  /** Creates a group (`id` null) or replaces its terms. */
  async set(id: string | null, termsArg: unknown): Promise<SynonymGroup> {
    const groupId = id == null ? null : checkId(id);
    const terms = normaliseTerms(termsArg);
    const row = await this.sql.transaction(async (tx) => {
      await tx.query(LOCK_SYNONYMS);
      const c = buildSynonymConflicts(terms, groupId);
      const [state] = await tx.query<{ groups: number; found: number; taken: string[] | null }>(c.text, c.params);
      if (groupId && !state?.found) throw notFound('synonym group', groupId);
      if (!groupId && (state?.groups ?? 0) >= MAX_GROUPS)
        throw badInput(`at most ${MAX_GROUPS} synonym groups: delete one first`, { field: 'terms', max: MAX_GROUPS });
      if (state?.taken?.length)
        throw badInput(`\`terms\`: ${state.taken.join(', ')} already in another group (a term is in one group)`, {
          field: 'terms',
          terms: state.taken,
        });
      const w = buildSaveSynonyms(terms, groupId);
      return (await tx.query<Row>(w.text, w.params))[0]!;
    });
    this.invalidate();
    return groupOf(row);
  }

  /** Deletes a group; NOT_FOUND when there is none. */
  async delete(id: string): Promise<boolean> {
    const q = buildDeleteSynonyms(checkId(id));
    const rows = await this.sql.transaction(async (tx) => {
      await tx.query(LOCK_SYNONYMS);
      return tx.query(q.text, q.params);
    });
    this.invalidate();
    if (!rows.length) throw notFound('synonym group', id);
    return true;
  }

  /**
   * The alternative texts of a query: each term of a group found in it (whole words, the longest first) replaced
   * by each other term of its group, in every combination, at most MAX_ALTERNATIVES; [] when no term is in it.
   */
  async expand(text: string): Promise<string[]> {
    const index = await this.index();
    if (!index.size) return [];
    const lower = text.toLowerCase();
    const words = [...lower.matchAll(WORD_RE)].map((m) => ({ word: m[0], start: m.index, end: m.index + m[0].length }));
    const spans: { start: number; end: number; options: string[] }[] = [];
    for (let i = 0; i < words.length; i++) {
      const candidates = index.get(words[i]!.word) ?? [];
      const hit = candidates.find((c) => c.words.every((w, k) => words[i + k]?.word === w));
      if (!hit) continue;
      const last = words[i + hit.words.length - 1]!;
      spans.push({ start: words[i]!.start, end: last.end, options: hit.terms });
      i += hit.words.length - 1;
    }
    if (!spans.length) return [];
    const out: string[] = [];
    const original = spans.map((s) => text.slice(s.start, s.end));
    const combine = (k: number, chosen: string[]): void => {
      if (out.length >= MAX_ALTERNATIVES) return;
      if (k === spans.length) {
        if (chosen.every((c, j) => c === original[j])) return;
        let s = text;
        for (let j = spans.length - 1; j >= 0; j--)
          s = s.slice(0, spans[j]!.start) + chosen[j] + s.slice(spans[j]!.end);
        out.push(s);
        return;
      }
      // the original term first, so the first alternatives change one term at a time
      const options = [original[k]!, ...spans[k]!.options.filter((o) => o !== original[k]!.toLowerCase())];
      for (const o of options) combine(k + 1, [...chosen, o]);
    };
    combine(0, []);
    return out;
  }

  private invalidate(): void {
    this.generation++;
    this.cache = null;
    this.loading = null;
  }

  private async index(): Promise<TermIndex> {
    if (this.cache && Date.now() - this.cache.at < CACHE_TTL_MS) return this.cache.index;
    const generation = this.generation;
    this.loading ??= this.list()
      .then((groups) => {
        const index: TermIndex = new Map();
        for (const g of groups)
          for (const term of g.terms) {
            const words = term.match(WORD_RE) ?? [];
            if (!words.length) continue;
            const list = index.get(words[0]!) ?? [];
            list.push({ words, terms: g.terms });
            // the longest term first, so "evening dress" wins over "evening"
            list.sort((a, b) => b.words.length - a.words.length);
            index.set(words[0]!, list);
          }
        if (generation === this.generation) this.cache = { index, at: Date.now() };
        return index;
      })
      .finally(() => {
        if (generation === this.generation) this.loading = null;
      });
    return this.loading;
  }
}
