// DOM building for the demo: result cards, facet lists and the product detail view. Text always goes in
// through textContent (never innerHTML), so catalog data cannot inject markup.

/** A DOM element: props are assigned (dataset entries are copied), children appended. */
export function el(tag, { dataset, ...props } = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  if (dataset) Object.assign(node.dataset, dataset);
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/**
 * A highlight (HTML-escaped text with matches in <mark>…</mark>, SearchEdge.highlight) as DOM nodes, built
 * without innerHTML: the text is unescaped and each marked run becomes a <mark> element.
 */
export function markedText(html) {
  const nodes = [];
  let inMark = false;
  for (const part of html.split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>' || part === '</mark>') {
      inMark = part === '<mark>';
      continue;
    }
    if (!part) continue;
    const text = part.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]);
    nodes.push(inMark ? el('mark', { textContent: text }) : document.createTextNode(text));
  }
  return nodes;
}

export function money(p) {
  if (!p) return '';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: p.currency }).format(Number(p.amount));
  } catch {
    return `${p.amount} ${p.currency}`;
  }
}

/** A result card; `onOpen(product)` opens the detail view, `onSimilar(product, picture)` searches like it. */
export function renderCard(edge, { href, onOpen, onSimilar }) {
  const p = edge.node;
  const shown = edge.matchedImage ?? p.primaryImage;
  const open = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return; // let the browser open a new tab
    e.preventDefault();
    onOpen(p);
  };
  const picture = el(
    'a',
    { className: 'open', href, title: `Details of ${p.title}` },
    shown
      ? el('img', { className: 'main', src: shown.url, alt: p.title, loading: 'lazy', width: 300, height: 300 })
      : el('div', { className: 'main' }),
  );
  const title = el(
    'a',
    { className: 'title', href },
    ...(edge.highlight ? markedText(edge.highlight.title) : [p.title]),
  );
  const snippet = edge.highlight?.description
    ? el('span', { className: 'snippet' }, ...markedText(edge.highlight.description))
    : null;
  picture.addEventListener('click', open);
  title.addEventListener('click', open);
  const more = el('button', { type: 'button', textContent: 'More like this', className: 'more-like-this' });
  more.addEventListener('click', () => onSimilar(p, shown));
  const matched =
    edge.matchedImage && p.images.length > 1
      ? el('span', {
          className: 'matched',
          textContent: `matched picture ${edge.matchedImage.position + 1} of ${p.images.length}`,
        })
      : null;
  return el(
    'li',
    { className: 'card', dataset: { id: p.id, sku: p.sku } },
    picture,
    el(
      'div',
      { className: 'body' },
      title,
      el('span', { className: 'meta', textContent: [p.brand, p.category].filter(Boolean).join(' · ') }),
      snippet,
      el(
        'span',
        { className: 'price' },
        money(p.price),
        p.inStock ? null : el('em', { textContent: ' · out of stock' }),
      ),
      el('span', { className: 'score', title: 'relevance score', textContent: `score ${edge.score.toFixed(3)}` }),
      matched,
      more,
    ),
  );
}

/**
 * A facet as a list of checkboxes (radio-like when `single`). Each item: { key, label, count, checked,
 * depth? }; `onToggle(item, on)` is called on change.
 */
export function renderFacet(container, items, { name, onToggle }) {
  container.replaceChildren(
    ...items.map((item) => {
      const box = el('input', { type: 'checkbox', checked: item.checked, value: item.key, name });
      box.addEventListener('change', () => onToggle(item, box.checked));
      return el(
        'li',
        { dataset: item.depth ? { depth: String(item.depth) } : {} },
        el(
          'label',
          {},
          box,
          el('span', { className: 'value', textContent: item.label }),
          el('span', { className: 'count', textContent: String(item.count) }),
        ),
      );
    }),
  );
  container.closest('section').hidden = items.length === 0;
}

/** The category tree facet as a list: each node under its parent, indented by depth. */
export function categoryItems(tree, selected) {
  const nodes = [...(tree ?? [])];
  if (selected && !nodes.some((n) => n.path === selected)) {
    const parts = selected.split('/');
    nodes.push({ path: selected, name: parts.at(-1), depth: parts.length, parentPath: null, count: 0 });
  }
  const children = new Map();
  for (const n of nodes) {
    const key = n.parentPath ?? '';
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(n);
  }
  const out = [];
  const walk = (parent) => {
    for (const n of children.get(parent) ?? []) {
      out.push({ key: n.path, label: n.name, count: n.count, depth: n.depth, checked: n.path === selected });
      walk(n.path);
    }
  };
  walk('');
  // nodes whose parent is not listed (a selected path shown with count 0) still appear
  for (const n of nodes)
    if (!out.some((o) => o.key === n.path))
      out.push({ key: n.path, label: n.path, count: n.count, depth: 1, checked: n.path === selected });
  return out;
}

export function priceLabel(b) {
  const fmt = (v) => money({ amount: v, currency: b.currency });
  return b.max === null || b.max === undefined ? `${fmt(b.min)} and more` : `${fmt(b.min ?? '0')} – ${fmt(b.max)}`;
}

/** The product detail view's contents (the caller puts them in the dialog). */
export function renderDetail(p, { onSimilar }) {
  const main = el('img', { className: 'detail-main', alt: p.title, src: p.images[0]?.url ?? '' });
  if (!p.images.length) main.hidden = true;
  const thumbs = el(
    'ol',
    { className: 'thumbs' },
    ...p.images.map((img, i) => {
      const b = el(
        'button',
        { type: 'button', title: `Picture ${i + 1} of ${p.images.length}` },
        el('img', { src: img.url, alt: '', width: 64, height: 64, loading: 'lazy' }),
      );
      b.addEventListener('click', () => (main.src = img.url));
      return el('li', {}, b);
    }),
  );
  const attrs = Object.entries(p.attributes ?? {}).map(([k, v]) => [
    el('dt', { textContent: k }),
    el('dd', { textContent: Array.isArray(v) ? v.join(', ') : String(v) }),
  ]);
  const more = el('button', { type: 'button', className: 'more-like-this', textContent: 'More like this' });
  more.addEventListener('click', () => onSimilar(p, p.images[0] ?? null));
  return [
    el('div', { className: 'pictures' }, main, p.images.length > 1 ? thumbs : null),
    el(
      'div',
      { className: 'facts' },
      el('h2', { id: 'detail-title', textContent: p.title }),
      el('p', { className: 'meta', textContent: [p.brand, p.category].filter(Boolean).join(' · ') }),
      el(
        'p',
        { className: 'price' },
        money(p.price),
        el('span', {
          className: p.inStock ? 'stock in' : 'stock out',
          textContent: p.inStock ? ' · in stock' : ' · out of stock',
        }),
      ),
      p.description ? el('p', { className: 'description', textContent: p.description }) : null,
      attrs.length ? el('dl', {}, ...attrs.flat()) : null,
      el('p', { className: 'sku', textContent: `SKU ${p.sku}` }),
      more,
    ),
  ];
}
