/**
 * markup (src/search/highlight.ts): ts_headline's sentinel-marked text becomes HTML that is safe as it is — every
 * character of the product's text escaped, only the sentinels turned into <mark> elements, unbalanced ones closed
 * or dropped.
 */
import { describe, expect, it } from 'vitest';
import { MARK_END, MARK_START, markup } from '../../src/search/highlight.js';

describe('markup', () => {
  it('escapes the text and marks the matches', () => {
    expect(markup(`<b>"Tom's"</b> & ${MARK_START}red${MARK_END} dress`)).toBe(
      '&lt;b&gt;&quot;Tom&#39;s&quot;&lt;/b&gt; &amp; <mark>red</mark> dress',
    );
  });

  it('closes a mark left open, ignores a stray end and a repeated start', () => {
    expect(markup(`a ${MARK_START}red`)).toBe('a <mark>red</mark>');
    expect(markup(`${MARK_END}a ${MARK_START}${MARK_START}b${MARK_END}`)).toBe('a <mark>b</mark>');
  });

  it('leaves text without markup or special characters as it is', () => {
    expect(markup('红色连衣裙 summer')).toBe('红色连衣裙 summer');
    expect(markup('')).toBe('');
  });
});
