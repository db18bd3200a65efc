// Glimpse storefront demo: plain browser JavaScript against the public GraphQL API (no build step, no CDN).
// The fields used here are in schema.graphql; docs/api.md shows the same query for a real storefront.
// This file wires the page: the view lives in the URL (url-state.js), searches go through api.js, the DOM is
// built by render.js.
import { friendlyMessage, graphql } from './api.js';
import { categoryItems, el, priceLabel, renderCard, renderDetail, renderFacet } from './render.js';
import { attachSuggestions } from './suggest.js';
import { MODES, SORTS, noFilter, sameSearch, viewFromQuery, viewToQuery } from './url-state.js';

const PAGE_SIZE = 12;
const DEBOUNCE_MS = 250;
const SLOW_MS = 1500;
const $ = (sel) => document.querySelector(sel);

const SEARCH_QUERY = `
query DemoSearch(
  $input: SearchInput!
  $first: Int
  $after: String
  $orderBy: SearchOrder
  $firstPage: Boolean!
  $words: Boolean!
) {
  search(input: $input, first: $first, after: $after, orderBy: $orderBy) {
    model
    textModel
    totalCount
    totalCountExact
    didYouMean @include(if: $firstPage)
    searchId @include(if: $firstPage)
    correctedQuery
    noResults @include(if: $firstPage) {
      reason
      fallback { mode text totalCount }
    }
    pageInfo { hasNextPage endCursor }
    facets @include(if: $firstPage) {
      categoryTree { path name depth parentPath count }
      brands { value count }
      inStock { value count }
      price { min max currency count }
    }
    edges {
      score
      matchedImage { id url position }
      highlight @include(if: $words) { title description }
      node {
        id sku title brand category inStock
        price { amount currency }
        primaryImage { id url }
        images { id }
      }
    }
  }
}`;

const PRODUCT_QUERY = `
query DemoProduct($sku: String, $id: ID) {
  product(sku: $sku, id: $id) {
    id sku title description brand category inStock attributes
    price { amount currency }
    images { id url position }
  }
}`;

const CLICK_MUTATION = `
mutation DemoClick($searchId: ID!, $productId: ID!, $position: Int!) {
  recordClick(searchId: $searchId, productId: $productId, position: $position)
}`;

/** Tells the store's analytics which result the shopper opened (fire and forget: it never blocks the page). */
function recordClick(productId, position) {
  if (!state.searchId) return;
  graphql(CLICK_MUTATION, { searchId: state.searchId, productId, position }).catch(() => {});
}

const SUGGEST_QUERY = `
query DemoSuggest($prefix: String!) {
  suggest(prefix: $prefix, first: 8) { text kind product { sku } }
}`;

const state = {
  ...viewFromQuery(location.search),
  photo: null, // File: search by photo (not in the URL)
  after: null,
  seen: new Set(),
  seq: 0,
  abort: null,
  searchId: null, // the first page's id for recordClick
};

/** The part of the state the URL carries. */
function currentView() {
  const { text, mode, sort, similarTo, filter, detail } = state;
  return { text, mode, sort, similarTo, filter, detail };
}

/** Puts the view in the address bar: a new history entry (Back returns), or in place while typing. */
function navigate({ replace = false } = {}) {
  const url = viewToQuery(currentView()) || location.pathname;
  if (url === (location.search || location.pathname)) return;
  history[replace ? 'replaceState' : 'pushState']({ detail: state.detail }, '', url);
}

function searchInput() {
  const input = { mode: state.mode, facets: ['CATEGORY_TREE', 'BRAND', 'IN_STOCK', 'PRICE'] };
  if (state.text) input.text = state.text;
  if (state.similarTo) input.productId = state.similarTo.id;
  const { category, brands, price, inStock } = state.filter;
  const f = {};
  if (category) f.category = category;
  if (brands.length) f.brands = brands;
  if (price) {
    // PriceRange.max is inclusive, a bucket's max exclusive: stop a cent below it
    const max = price.max == null ? undefined : (Number(price.max) - 0.01).toFixed(2);
    f.price = { min: price.min ?? undefined, max, currency: price.currency };
  }
  if (inStock) f.inStock = true;
  if (Object.keys(f).length) input.filter = f;
  return input;
}

function setStatus(kind, ...content) {
  const node = $('#status');
  node.replaceChildren(...content);
  node.className = kind;
  delete node.dataset.code;
  document.body.dataset.state = kind || 'idle';
}

const hasFilters = () => {
  const { category, brands, price, inStock } = state.filter;
  return Boolean(category || brands.length || price || inStock);
};

/** A word the shopper can click to search for it instead. */
function suggestion(text) {
  const b = el('button', { type: 'button', className: 'suggestion', textContent: text });
  b.addEventListener('click', () => searchFor(text));
  return b;
}

/** The engine's alternative to an empty page: the same words in another mode, e.g. KEYWORD. */
function fallbackOffer({ mode, text, totalCount }) {
  const b = el('button', {
    type: 'button',
    className: 'suggestion fallback',
    textContent: `Show the ${totalCount} product${totalCount === 1 ? '' : 's'} with the words “${text}”`,
  });
  b.addEventListener('click', () => searchFor(text, mode));
  return b;
}

function renderOutcome(search) {
  const n = state.seen.size;
  const quoted = state.text ? `“${state.text}”` : 'this search';
  if (n === 0) {
    const why = search.noResults;
    const headline =
      why?.reason === 'BELOW_RELEVANCE_FLOOR' ? `Nothing here looks like ${quoted}.` : `No results for ${quoted}.`;
    const help = why?.fallback
      ? [' ', fallbackOffer(why.fallback)]
      : search.didYouMean
        ? [' Did you mean ', suggestion(search.didYouMean), '?']
        : [hasFilters() ? ' Try fewer filters or other words.' : ' Try other words or another search mode.'];
    setStatus('empty', headline, ...help);
    return;
  }
  const total = `${search.totalCount}${search.totalCountExact ? '' : '+'}`;
  const summary = `${n} of ${total} product${search.totalCount === 1 ? '' : 's'} shown · ${search.model ? `model ${search.model}` : 'keyword search'}${search.textModel && search.textModel !== search.model ? ` · query read by ${search.textModel}` : ''}`;
  const parts = [];
  if (search.correctedQuery)
    parts.push(
      el(
        'span',
        { className: 'corrected' },
        `Nothing matched ${quoted}; showing results for “${search.correctedQuery}”. `,
      ),
    );
  else if (search.didYouMean)
    parts.push(el('span', { className: 'corrected' }, 'Did you mean ', suggestion(search.didYouMean), '? '));
  setStatus('done', ...parts, summary);
}

async function runSearch({ append = false } = {}) {
  state.abort?.abort();
  if (!state.text && !state.photo && !state.similarTo) {
    state.seq++;
    $('#results').replaceChildren();
    $('#more').hidden = true;
    renderFacets(null);
    setStatus('hint', 'Type a query, pick or drop a photo, or use “More like this” on a result.');
    return;
  }
  const seq = ++state.seq;
  const abort = (state.abort = new AbortController());
  if (!append) {
    state.after = null;
    state.seen.clear();
  }
  setStatus('loading', append ? 'Loading more…' : 'Searching…');
  $('#more').disabled = true;
  const slowTimer = setTimeout(
    () => seq === state.seq && setStatus('loading slow', 'Still searching… the store is slow to answer.'),
    SLOW_MS,
  );
  try {
    const vars = {
      input: searchInput(),
      first: PAGE_SIZE,
      after: state.after,
      orderBy: state.sort,
      firstPage: !append,
      words: state.mode !== 'SEMANTIC' && Boolean(state.text), // keyword matches are marked
    };
    const data = await graphql(SEARCH_QUERY, vars, { file: state.photo, signal: abort.signal });
    if (seq !== state.seq) return; // a newer search superseded this one
    const { search } = data;
    if (!search) throw data.__error;
    if (!append) {
      $('#results').replaceChildren();
      state.searchId = search.searchId ?? null;
    }
    for (const edge of search.edges) {
      if (state.seen.has(edge.node.id)) continue;
      state.seen.add(edge.node.id);
      const position = state.seen.size; // 1-based over all pages, as recordClick counts
      $('#results').append(
        renderCard(edge, {
          href: viewToQuery({ ...currentView(), detail: edge.node.sku }),
          onOpen: (p) => {
            recordClick(p.id, position);
            openDetail(p.sku);
          },
          onSimilar: (p, picture) => {
            recordClick(p.id, position);
            searchLike(p, picture);
          },
        }),
      );
    }
    state.after = search.pageInfo.endCursor;
    $('#more').hidden = !search.pageInfo.hasNextPage;
    if (!append) renderFacets(search.facets);
    renderOutcome(search);
  } catch (err) {
    if (seq !== state.seq || err.name === 'AbortError') return;
    if (!append) {
      $('#results').replaceChildren();
      $('#more').hidden = true;
    }
    setStatus('error', friendlyMessage(err));
    $('#status').dataset.code = err.code ?? 'ERROR';
  } finally {
    clearTimeout(slowTimer);
    $('#more').disabled = false;
  }
}

/** Changes a filter, records it in the URL (Back undoes it) and searches again. */
function refine(change) {
  change(state.filter);
  navigate();
  runSearch();
}

function renderFacets(f) {
  const { filter } = state;
  renderFacet($('#f-category'), f ? categoryItems(f.categoryTree, filter.category) : [], {
    name: 'category',
    onToggle: (item, on) => refine((fl) => (fl.category = on ? item.key : null)),
  });
  const brands = [...(f?.brands ?? [])];
  for (const b of filter.brands) if (!brands.some((i) => i.value === b)) brands.push({ value: b, count: 0 });
  renderFacet(
    $('#f-brand'),
    brands.map((b) => ({ key: b.value, label: b.value, count: b.count, checked: filter.brands.includes(b.value) })),
    {
      name: 'brand',
      onToggle: (item, on) =>
        refine((fl) => (fl.brands = on ? [...fl.brands, item.key] : fl.brands.filter((b) => b !== item.key))),
    },
  );
  const samePrice = (b) =>
    filter.price &&
    filter.price.currency === b.currency &&
    Number(filter.price.min ?? 0) === Number(b.min ?? 0) &&
    (filter.price.max == null ? b.max == null : Number(filter.price.max) === Number(b.max));
  renderFacet(
    $('#f-price'),
    (f?.price ?? [])
      .filter((b) => b.count > 0 || samePrice(b))
      .map((b) => ({ key: priceLabel(b), label: priceLabel(b), count: b.count, checked: samePrice(b), bucket: b })),
    {
      name: 'price',
      onToggle: (item, on) =>
        refine((fl) => {
          const { min, max, currency } = item.bucket;
          fl.price = on ? { min: min ?? null, max: max ?? null, currency } : null;
        }),
    },
  );
  const inStock = f?.inStock?.find((i) => i.value === 'true') ?? { value: 'true', count: 0 };
  renderFacet(
    $('#f-instock'),
    f ? [{ key: 'true', label: 'In stock only', count: inStock.count, checked: filter.inStock }] : [],
    { name: 'inStock', onToggle: (_i, on) => refine((fl) => (fl.inStock = on)) },
  );
  const active = [filter.category, filter.price, filter.inStock].filter(Boolean).length + filter.brands.length;
  $('#toggle-filters').textContent = active ? `Filters (${active})` : 'Filters';
  $('#clear-filters').hidden = active === 0;
}

async function showQuery() {
  const box = $('#query-image');
  const img = box.querySelector('img');
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
  box.hidden = !state.photo && !state.similarTo;
  if (state.photo) {
    img.src = URL.createObjectURL(state.photo);
    box.querySelector('span').textContent = `Searching by photo: ${state.photo.name || 'image'}`;
  } else if (state.similarTo) {
    const like = state.similarTo;
    if (!like.title) {
      // from a URL: look the product up for its title and picture
      const data = await graphql(PRODUCT_QUERY, { id: like.id }).catch(() => ({}));
      like.title = data.product?.title ?? 'a product';
      like.url = data.product?.images[0]?.url ?? null;
      if (state.similarTo !== like) return;
    }
    if (like.url) img.src = like.url;
    else img.removeAttribute('src');
    box.querySelector('span').textContent = `More like: ${like.title}`;
  }
}

function searchLike(p, picture) {
  state.similarTo = { id: p.id, title: p.title, url: picture?.url ?? null };
  state.text = '';
  state.photo = null;
  state.detail = null;
  $('#q').value = '';
  if (state.mode !== 'SEMANTIC') setMode('SEMANTIC'); // product vectors need semantic mode
  closeDialog();
  navigate();
  showQuery();
  runSearch();
  window.scrollTo({ top: 0 });
}

/** Searches for `text` (in `mode`) as if the shopper had typed it: a suggestion, a correction, a fallback. */
function searchFor(text, mode = state.mode) {
  clearTimeout(debounce); // a half-typed query is not searched after this one
  $('#q').value = text;
  state.text = text;
  state.similarTo = null;
  setMode(mode);
  navigate();
  showQuery();
  runSearch();
}

function setPhoto(file) {
  state.photo = file;
  state.similarTo = null;
  if (state.mode !== 'SEMANTIC' && !state.text) setMode('SEMANTIC'); // keyword/hybrid need text
  navigate();
  showQuery();
  runSearch();
}

function setMode(mode) {
  state.mode = mode;
  for (const r of document.querySelectorAll('input[name=mode]')) r.checked = r.value === mode;
}

// ---------------------------------------------------------------- product detail

let detailSeq = 0;

function openDetail(sku) {
  state.detail = sku;
  navigate();
  showDetail();
}

function closeDialog() {
  const dialog = $('#detail');
  if (dialog.open) dialog.close();
}

/** Shows the product of `state.detail` in the dialog (or closes it when there is none). */
async function showDetail() {
  const dialog = $('#detail');
  const body = $('#detail-body');
  const seq = ++detailSeq;
  if (!state.detail) return closeDialog();
  body.replaceChildren(el('p', { className: 'loading', textContent: 'Loading…' }));
  if (!dialog.open) dialog.showModal();
  try {
    const { product } = await graphql(PRODUCT_QUERY, { sku: state.detail });
    if (seq !== detailSeq) return;
    if (!product) throw Object.assign(new Error('not found'), { code: 'NOT_FOUND' });
    body.replaceChildren(...renderDetail(product, { onSimilar: searchLike }));
    dialog.dataset.sku = product.sku;
  } catch (err) {
    if (seq !== detailSeq) return;
    body.replaceChildren(el('p', { className: 'error', textContent: friendlyMessage(err) }));
  }
}

$('#detail').addEventListener('close', () => {
  if (!state.detail) return;
  // closed by its button or Escape: leave the product's history entry the way it was entered
  state.detail = null;
  if (history.state?.detail) history.back();
  else navigate({ replace: true });
});
$('#detail-close').addEventListener('click', () => closeDialog());

// ---------------------------------------------------------------- history and controls

/** The search box, mode and sort controls show the state. */
function syncControls() {
  $('#q').value = state.text;
  setMode(state.mode);
  $('#sort').value = state.sort;
}

/** Shows what the URL says (Back and Forward; the first load starts from it too). */
function applyUrl() {
  const view = viewFromQuery(location.search);
  const searchChanged = !sameSearch(view, currentView()) || state.photo;
  Object.assign(state, view, { photo: null });
  syncControls();
  if (searchChanged) {
    showQuery();
    runSearch();
  }
  showDetail();
}

window.addEventListener('popstate', applyUrl);

let debounce;
const suggestions = attachSuggestions($('#q'), $('#suggestions'), {
  load: async (prefix) => (await graphql(SUGGEST_QUERY, { prefix })).suggest,
  onQuery: (text) => searchFor(text),
  onProduct: (product) => {
    clearTimeout(debounce); // the half-typed text is not searched behind the product
    openDetail(product.sku);
  },
});
$('#search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  clearTimeout(debounce);
  suggestions.close();
  state.text = $('#q').value.trim();
  navigate();
  runSearch();
});
$('#q').addEventListener('input', (e) => {
  clearTimeout(debounce);
  debounce = setTimeout(() => {
    const typedOver = !state.text; // a new query starts a history entry; refining it as one types does not
    state.text = e.target.value.trim();
    if (state.text) state.similarTo = null;
    navigate({ replace: !typedOver });
    showQuery();
    runSearch();
  }, DEBOUNCE_MS);
});
for (const r of document.querySelectorAll('input[name=mode]')) {
  r.addEventListener('change', () => {
    if (!MODES.includes(r.value)) return;
    state.mode = r.value;
    navigate();
    runSearch();
  });
}
$('#sort').addEventListener('change', (e) => {
  if (!SORTS.includes(e.target.value)) return;
  state.sort = e.target.value;
  navigate();
  runSearch();
});
$('#photo').addEventListener('change', (e) => {
  const file = e.target.files[0];
  e.target.value = ''; // picking the same file again searches again
  if (file) setPhoto(file);
});
$('#clear-query').addEventListener('click', () => {
  state.photo = null;
  state.similarTo = null;
  navigate();
  showQuery();
  runSearch();
});
$('#clear-filters').addEventListener('click', () => refine((fl) => Object.assign(fl, noFilter())));
$('#more').addEventListener('click', () => runSearch({ append: true }));
$('#toggle-filters').addEventListener('click', () => {
  const open = document.body.classList.toggle('filters-open');
  $('#toggle-filters').setAttribute('aria-expanded', String(open));
});

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

syncControls();
showQuery();
runSearch();
showDetail();
