/**
 * Autocomplete for a search box (GraphQL `suggest`, docs/search.md "Suggestions"): what a shopper is typing,
 * completed from the catalog itself, in two kinds —
 *  - QUERY: the last, partial word completed from the vocabulary of titles and brands (the "did you mean"
 *    vocabulary, ./spelling.ts: in memory, the most used words first), the words before it kept: "red dr" →
 *    "red dress";
 *  - PRODUCT: product titles containing the typed text (pg_trgm's trigram index, ./sql.ts
 *    buildTitleSuggestions), titles starting with it first.
 * Why both: a completed query leads to a results page, a title straight to a product. Queries come first (at
 * most half the list when titles are found), titles fill the rest.
 */
import { badInput } from '../errors.js';
import type { Sql } from '../db/sql.js';
import type { SpellingSuggester } from './spelling.js';
import { buildTitleSuggestions } from './sql.js';

export const MAX_PREFIX = 100;
export const MAX_SUGGESTIONS = 20;
export const DEFAULT_SUGGESTIONS = 8;
/** titles read before ranking: a bound on the work a short, common prefix costs */
export const TITLE_CANDIDATES = 1000;
/**
 * shortest text for which titles are looked up: pg_trgm's index serves ILIKE patterns of 3 characters and more;
 * a shorter one would read the product table
 */
export const MIN_TITLE_PREFIX = 3;

export interface Suggestion {
  text: string;
  kind: 'QUERY' | 'PRODUCT';
  /** PRODUCT: the product whose title it is */
  productId: string | null;
}

/** Validates `prefix` and `first`: BAD_USER_INPUT naming the field otherwise. */
function validate(prefix: unknown, first: unknown): { prefix: string; first: number } {
  if (typeof prefix !== 'string') throw badInput('`prefix` must be a string', { field: 'prefix' });
  const trimmed = prefix.replace(/^\s+/, '').replace(/\s+/g, ' ');
  if (!/[\p{L}\p{N}]/u.test(trimmed))
    throw badInput('`prefix` must contain at least one letter or digit', { field: 'prefix', min: 1 });
  if ([...trimmed].length > MAX_PREFIX)
    throw badInput(`\`prefix\` is longer than ${MAX_PREFIX} characters`, { field: 'prefix', max: MAX_PREFIX });
  const n = first ?? DEFAULT_SUGGESTIONS;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_SUGGESTIONS)
    throw badInput(`\`first\` must be an integer from 1 to ${MAX_SUGGESTIONS}`, {
      field: 'first',
      min: 1,
      max: MAX_SUGGESTIONS,
    });
  return { prefix: trimmed, first: n };
}

export async function suggest(
  sql: Sql,
  vocabulary: SpellingSuggester,
  prefixArg: unknown,
  firstArg: unknown,
): Promise<Suggestion[]> {
  const { prefix, first } = validate(prefixArg, firstArg);
  const text = prefix.trim();
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  // a trailing space: the last word is finished, so there is nothing to complete
  const partial = /\s$/.test(prefix) ? null : (words.at(-1) ?? null);
  const head = words.slice(0, -1).join(' ');
  const titleRows =
    [...text].length >= MIN_TITLE_PREFIX
      ? await (async () => {
          const q = buildTitleSuggestions({ text, limit: first, candidates: TITLE_CANDIDATES });
          return sql.query<{ product_id: string; title: string }>(q.text, q.params);
        })()
      : [];
  const completions = partial ? await vocabulary.complete(partial, first + 1) : [];
  const queries = completions.map((w) => (head ? `${head} ${w}` : w));
  const queryCount = titleRows.length ? Math.min(queries.length, Math.ceil(first / 2)) : queries.length;
  const out: Suggestion[] = queries
    .slice(0, Math.min(queryCount, first))
    .map((q) => ({ text: q, kind: 'QUERY', productId: null }));
  for (const r of titleRows) {
    if (out.length >= first) break;
    out.push({ text: r.title, kind: 'PRODUCT', productId: r.product_id });
  }
  return out;
}
