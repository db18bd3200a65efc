/**
 * Highlighted snippets of KEYWORD / HYBRID hits (GraphQL SearchEdge.highlight, docs/search.md "Highlights"):
 * PostgreSQL's ts_headline marks the words the query matched (the same tsquery as the search, synonyms
 * included) in the title and in up to two fragments of the description.
 *
 * Why sentinels and not HTML from SQL: ts_headline copies the text as it is, so markup in a product's title
 * would reach the page. It marks matches with two private-use characters instead (removed from the text
 * first, so a product cannot forge one); here the whole string is HTML-escaped and only then are the sentinels
 * turned into <mark> and </mark>. The result is safe to put into HTML as it is.
 */
import escapeHtml from 'escape-html';

export const MARK_START = '\uE000';
export const MARK_END = '\uE001';
/** splits a headline into text and sentinels (the capture keeps each sentinel as its own part) */
const SENTINELS = /([\uE000\uE001])/;

export interface Highlight {
  /** the whole title, HTML-escaped, matches in <mark>…</mark> */
  title: string;
  /** up to two fragments of the description joined by " … ", the same markup; null without a description */
  description: string | null;
}

/** ts_headline output (sentinel-marked raw text) as escaped HTML (escape-html) with <mark> elements. */
export function markup(headline: string): string {
  let open = false;
  let out = '';
  for (const part of headline.split(SENTINELS)) {
    if (part === MARK_START) {
      if (!open) out += '<mark>';
      open = true;
    } else if (part === MARK_END) {
      if (open) out += '</mark>';
      open = false;
    } else out += escapeHtml(part);
  }
  return open ? `${out}</mark>` : out;
}
