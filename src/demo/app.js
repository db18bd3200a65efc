// Glimpse storefront demo: plain browser JavaScript against the public GraphQL API (no build step, no CDN).
// The fields used here are in schema.graphql; docs/api.md shows the same query for a real storefront.
/* global AbortController, setTimeout, clearTimeout */
const PAGE_SIZE = 12;
const DEBOUNCE_MS = 250;
const SLOW_MS = 1500;
const $ = (sel) => document.querySelector(sel);

const SEARCH_QUERY = `
query DemoSearch($input: SearchInput!, $first: Int, $after: String) {
  search(input: $input, first: $first, after: $after) {
    model
    textModel
    totalCount
    totalCountExact
    pageInfo { hasNextPage endCursor }
    facets {
      categories { value count }
      brands { value count }
      inStock { value count }
      price { min max currency count }
    }
    edges {
      score
      matchedImage { id url position }
      node {
        id sku title brand category inStock
        price { amount currency }
        primaryImage { id url }
        images { id }
      }
    }
  }
}`;

const noFilter = () => ({ category: null, brands: [], price: null, priceLabel: null, inStock: false });

const state = {
  text: '',
  mode: 'SEMANTIC',
  photo: null, // File: search by photo
  similarTo: null, // { id, title, url }: "more like this"
  filter: noFilter(),
  after: null,
  seen: new Set(),
  seq: 0,
  abort: null,
};

function searchInput() {
  const input = { mode: state.mode, facets: ['CATEGORY', 'BRAND', 'IN_STOCK', 'PRICE'] };
  if (state.text) input.text = state.text;
  if (state.similarTo) input.productId = state.similarTo.id;
  const f = {};
  if (state.filter.category) f.category = state.filter.category;
  if (state.filter.brands.length) f.brands = state.filter.brands;
  if (state.filter.price) f.price = state.filter.price;
  if (state.filter.inStock) f.inStock = true;
  if (Object.keys(f).length) input.filter = f;
  return input;
}

class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** POSTs a GraphQL operation; with a file, as a multipart request (GraphQL multipart request spec). */
async function graphql(query, variables, file, signal) {
  let init;
  if (file) {
    const form = new FormData();
    form.append(
      'operations',
      JSON.stringify({ query, variables: { ...variables, input: { ...variables.input, image: null } } }),
    );
    form.append('map', JSON.stringify({ 0: ['variables.input.image'] }));
    form.append('0', file, file.name || 'photo');
    // the preflight header satisfies the server's CSRF prevention for multipart requests
    init = { method: 'POST', body: form, headers: { 'Apollo-Require-Preflight': 'true' } };
  } else {
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    };
  }
  const res = await fetch('graphql', { ...init, signal });
  let body;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`HTTP_${res.status}`, `the server answered HTTP ${res.status} without a GraphQL body`);
  }
  if (body.errors?.length) {
    const e = body.errors[0];
    throw new ApiError(e.extensions?.code ?? 'ERROR', e.message);
  }
  return body.data;
}

function setStatus(text, kind = '') {
  const el = $('#status');
  el.textContent = text;
  el.className = kind;
  document.body.dataset.state = kind || 'idle';
}

async function runSearch({ append = false } = {}) {
  state.abort?.abort();
  if (!state.text && !state.photo && !state.similarTo) {
    $('#results').replaceChildren();
    $('#more').hidden = true;
    renderFacets(null);
    setStatus('Type a query, pick or drop a photo, or use “More like this” on a result.', 'hint');
    return;
  }
  const seq = ++state.seq;
  const abort = (state.abort = new AbortController());
  if (!append) {
    state.after = null;
    state.seen.clear();
  }
  setStatus(append ? 'Loading more…' : 'Searching…', 'loading');
  $('#more').disabled = true;
  const slowTimer = setTimeout(
    () => seq === state.seq && setStatus('Still searching… the server is slow to answer.', 'loading slow'),
    SLOW_MS,
  );
  try {
    const vars = { input: searchInput(), first: PAGE_SIZE, after: state.after };
    const { search } = await graphql(SEARCH_QUERY, vars, state.photo, abort.signal);
    if (seq !== state.seq) return; // a newer search superseded this one
    if (!append) $('#results').replaceChildren();
    for (const edge of search.edges) {
      if (state.seen.has(edge.node.id)) continue;
      state.seen.add(edge.node.id);
      $('#results').append(renderCard(edge));
    }
    state.after = search.pageInfo.endCursor;
    $('#more').hidden = !search.pageInfo.hasNextPage;
    if (!append) renderFacets(search.facets);
    const n = state.seen.size;
    const total = `${search.totalCount}${search.totalCountExact ? '' : '+'}`;
    if (n === 0) setStatus('No products match. Try other words, another mode or fewer filters.', 'empty');
    else
      setStatus(
        `${n} of ${total} product${search.totalCount === 1 ? '' : 's'} shown · ${search.model ? `model ${search.model}` : 'keyword search'}${search.textModel && search.textModel !== search.model ? ` · query read by ${search.textModel}` : ''}`,
        'done',
      );
  } catch (err) {
    if (seq !== state.seq || err.name === 'AbortError') return;
    if (!append) {
      $('#results').replaceChildren();
      $('#more').hidden = true;
    }
    setStatus('', 'error');
    $('#status').append(
      el('strong', { className: 'code', textContent: err.code ?? 'NETWORK_ERROR' }),
      ` ${err.message}`,
    );
  } finally {
    clearTimeout(slowTimer);
    $('#more').disabled = false;
  }
}

function money(p) {
  if (!p) return '';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: p.currency }).format(Number(p.amount));
  } catch {
    return `${p.amount} ${p.currency}`;
  }
}

/** A DOM element: props are assigned (dataset entries are copied), children appended. */
function el(tag, { dataset, ...props } = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  if (dataset) Object.assign(node.dataset, dataset);
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function renderCard(edge) {
  const p = edge.node;
  const shown = edge.matchedImage ?? p.primaryImage;
  const more = el('button', { type: 'button', textContent: 'More like this', className: 'more-like-this' });
  more.addEventListener('click', () => {
    state.similarTo = { id: p.id, title: p.title, url: shown?.url ?? null };
    state.text = '';
    state.photo = null;
    $('#q').value = '';
    if (state.mode !== 'SEMANTIC') setMode('SEMANTIC'); // product vectors need semantic mode
    showQuery();
    runSearch();
    window.scrollTo({ top: 0 });
  });
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
    shown
      ? el('img', { className: 'main', src: shown.url, alt: p.title, loading: 'lazy', width: 300, height: 300 })
      : el('div', { className: 'main' }),
    el(
      'div',
      { className: 'body' },
      el('span', { className: 'title', textContent: p.title }),
      el('span', { className: 'meta', textContent: [p.brand, p.category].filter(Boolean).join(' · ') }),
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

/** A facet as a list of checkboxes; selected values stay listed (count 0) when the filter hides them. */
function facetList(container, items, { isChecked, onToggle, label = (i) => i.value, name }) {
  container.replaceChildren(
    ...items.map((item) => {
      const box = el('input', { type: 'checkbox', checked: isChecked(item), value: label(item), name });
      box.addEventListener('change', () => {
        onToggle(item, box.checked);
        runSearch();
      });
      return el(
        'li',
        {},
        el(
          'label',
          {},
          box,
          el('span', { className: 'value', textContent: label(item) }),
          el('span', { className: 'count', textContent: String(item.count) }),
        ),
      );
    }),
  );
}

function withSelected(items, selected, make) {
  const out = [...(items ?? [])];
  for (const s of selected) if (!out.some((i) => i.value === s)) out.push(make(s));
  return out;
}

function priceLabel(b) {
  const fmt = (v) => money({ amount: v, currency: b.currency });
  return b.max === null || b.max === undefined ? `${fmt(b.min)} and more` : `${fmt(b.min ?? '0')} – ${fmt(b.max)}`;
}

function renderFacets(f) {
  const { filter } = state;
  const selectedCategory = filter.category ? [filter.category] : [];
  facetList(
    $('#f-category'),
    withSelected(f?.categories, selectedCategory, (v) => ({ value: v, count: 0 })),
    {
      name: 'category',
      isChecked: (i) => filter.category === i.value,
      onToggle: (i, on) => (filter.category = on ? i.value : null),
    },
  );
  facetList(
    $('#f-brand'),
    withSelected(f?.brands, filter.brands, (v) => ({ value: v, count: 0 })),
    {
      name: 'brand',
      isChecked: (i) => filter.brands.includes(i.value),
      onToggle: (i, on) =>
        (filter.brands = on ? [...filter.brands, i.value] : filter.brands.filter((b) => b !== i.value)),
    },
  );
  const buckets = (f?.price ?? []).filter((b) => b.count > 0 || priceLabel(b) === filter.priceLabel);
  facetList($('#f-price'), buckets, {
    name: 'price',
    label: priceLabel,
    isChecked: (b) => filter.priceLabel === priceLabel(b),
    onToggle: (b, on) => {
      // PriceRange.max is inclusive, a bucket's max exclusive: stop a cent below it
      const max = b.max == null ? undefined : (Number(b.max) - 0.01).toFixed(2);
      filter.price = on ? { min: b.min ?? undefined, max, currency: b.currency } : null;
      filter.priceLabel = on ? priceLabel(b) : null;
    },
  });
  const inStock = f?.inStock?.find((i) => i.value === 'true') ?? { value: 'true', count: 0 };
  facetList($('#f-instock'), f ? [inStock] : [], {
    name: 'inStock',
    label: () => 'In stock only',
    isChecked: () => filter.inStock,
    onToggle: (_i, on) => (filter.inStock = on),
  });
}

function showQuery() {
  const box = $('#query-image');
  const img = box.querySelector('img');
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
  if (state.photo) {
    img.src = URL.createObjectURL(state.photo);
    box.querySelector('span').textContent = `Searching by photo: ${state.photo.name || 'image'}`;
  } else if (state.similarTo) {
    if (state.similarTo.url) img.src = state.similarTo.url;
    else img.removeAttribute('src');
    box.querySelector('span').textContent = `More like: ${state.similarTo.title}`;
  }
  box.hidden = !state.photo && !state.similarTo;
}

function setPhoto(file) {
  state.photo = file;
  state.similarTo = null;
  if (state.mode !== 'SEMANTIC' && !state.text) setMode('SEMANTIC'); // keyword/hybrid need text
  showQuery();
  runSearch();
}

function setMode(mode) {
  state.mode = mode;
  for (const r of document.querySelectorAll('input[name=mode]')) r.checked = r.value === mode;
}

let debounce;
$('#search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  clearTimeout(debounce);
  state.text = $('#q').value.trim();
  runSearch();
});
$('#q').addEventListener('input', (e) => {
  clearTimeout(debounce);
  debounce = setTimeout(() => {
    state.text = e.target.value.trim();
    if (state.text) state.similarTo = null;
    showQuery();
    runSearch();
  }, DEBOUNCE_MS);
});
for (const r of document.querySelectorAll('input[name=mode]')) {
  r.addEventListener('change', () => {
    state.mode = r.value;
    runSearch();
  });
}
$('#photo').addEventListener('change', (e) => {
  const file = e.target.files[0];
  e.target.value = ''; // picking the same file again searches again
  if (file) setPhoto(file);
});
$('#clear-query').addEventListener('click', () => {
  state.photo = null;
  state.similarTo = null;
  showQuery();
  runSearch();
});
$('#clear-filters').addEventListener('click', () => {
  state.filter = noFilter();
  runSearch();
});
$('#more').addEventListener('click', () => runSearch({ append: true }));

// drop an image anywhere on the page
let dragDepth = 0;
window.addEventListener('dragenter', (e) => {
  if (![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
  dragDepth++;
  $('#drop').hidden = false;
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $('#drop').hidden = true;
});
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => {
  e.preventDefault();
  dragDepth = 0;
  $('#drop').hidden = true;
  const file = e.dataTransfer?.files?.[0];
  if (file) setPhoto(file);
});

runSearch();
