// Autocomplete under the search box: the API's `suggest` (completed queries, then product titles) as an ARIA
// combobox listbox. Arrow keys move, Enter or a click picks, Escape closes; a suggestion that arrives for text
// the shopper has already changed is dropped. Failures only hide the list: suggestions are a convenience.
import { el } from './render.js';

const DEBOUNCE_MS = 120;
const HAS_WORD = /[\p{L}\p{N}]/u;

/**
 * Wires `input` (the search box) to `list` (an empty <ul>). `load(prefix)` returns the suggestions;
 * `onQuery(text)` runs a completed query, `onProduct(product)` opens a suggested product.
 */
export function attachSuggestions(input, list, { load, onQuery, onProduct }) {
  let items = [];
  let active = -1;
  let timer;
  let seq = 0;

  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', list.id);
  input.setAttribute('aria-expanded', 'false');
  list.setAttribute('role', 'listbox');

  const close = () => {
    seq++;
    items = [];
    active = -1;
    list.replaceChildren();
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };

  const pick = (i) => {
    const s = items[i];
    close();
    if (!s) return;
    if (s.kind === 'PRODUCT' && s.product) onProduct(s.product);
    else onQuery(s.text);
  };

  const highlight = (i) => {
    active = i;
    for (const [n, li] of [...list.children].entries()) li.setAttribute('aria-selected', String(n === i));
    if (i >= 0) input.setAttribute('aria-activedescendant', `suggestion-${i}`);
    else input.removeAttribute('aria-activedescendant');
  };

  const show = (suggestions) => {
    items = suggestions;
    active = -1;
    list.replaceChildren(
      ...suggestions.map((s, i) => {
        const li = el(
          'li',
          { id: `suggestion-${i}`, className: `suggestion ${s.kind.toLowerCase()}`, dataset: { kind: s.kind } },
          el('span', { className: 'text', textContent: s.text }),
          s.kind === 'PRODUCT' ? el('span', { className: 'kind', textContent: 'product' }) : null,
        );
        li.setAttribute('role', 'option');
        li.setAttribute('aria-selected', 'false');
        // mousedown, not click: the input's blur would close the list before the click arrives
        li.addEventListener('mousedown', (e) => {
          e.preventDefault();
          pick(i);
        });
        return li;
      }),
    );
    list.hidden = suggestions.length === 0;
    input.setAttribute('aria-expanded', String(suggestions.length > 0));
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    const prefix = input.value.trim();
    if (!prefix || prefix.length > 100 || !HAS_WORD.test(prefix)) return close();
    const mine = ++seq;
    timer = setTimeout(async () => {
      try {
        const suggestions = await load(prefix);
        if (mine === seq && input.value.trim() === prefix) show(suggestions ?? []);
      } catch {
        if (mine === seq) close();
      }
    }, DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (e) => {
    if (list.hidden) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      // positions cycle through the options and back to the text box (-1)
      let next = active + (e.key === 'ArrowDown' ? 1 : -1);
      if (next >= items.length) next = -1;
      else if (next < -1) next = items.length - 1;
      highlight(next);
    } else if (e.key === 'Enter' && active >= 0) {
      e.preventDefault();
      pick(active);
    } else if (e.key === 'Escape') {
      e.preventDefault(); // a search box would also clear its text
      close();
    }
  });
  input.addEventListener('blur', () => close());
  return { close };
}
