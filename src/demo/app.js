// Glimpse storefront demo: plain browser JavaScript against the public GraphQL API (no build, no CDN).
const PAGE_SIZE = 12;
const SLOW_MS = 1500;
const $ = (sel) => document.querySelector(sel);

const SEARCH_QUERY = `
query DemoSearch($input: SearchInput!, $first: Int, $after: String) {
  search(input: $input, first: $first, after: $after) {
    model
    pageInfo { hasNextPage endCursor }
    facets {
      categories { value count }
      brands { value count }
      inStock { value count }
      price { min max count }
    }
    edges {
      cursor
      score
      matchedImage { id url }
      node { id sku title brand category inStock price { amount currency } images { id url } }
    }
  }
}`;

const state = {
  text: '',
  mode: 'SEMANTIC',
  photo: null, // File
  similarTo: null, // { id, title }
  filter: { category: null, brands: [], price: null, inStock: false },
  after: null,
  seen: new Set(),
  requestSeq: 0,
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

/** POST a GraphQL operation; with a photo, as a multipart request (GraphQL multipart request spec). */
async function graphql(query, variables, file) {
  let res;
  if (file) {
    const form = new FormData();
    form.append('operations', JSON.stringify({ query, variables: { ...variables, input: { ...variables.input, image: null } } }));
    form.append('map', JSON.stringify({ 0: ['variables.input.image'] }));
    form.append('0', file, file.name || 'photo');
    // the preflight header satisfies the server's CSRF prevention for multipart requests
    res = await fetch('graphql', { method: 'POST', body: form, headers: { 'Apollo-Require-Preflight': 'true' } });
  } else {
    res = await fetch('graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  }
  let body;
  try {
    body = await res.json();
  } catch {
    throw Object.assign(new Error(`HTTP ${res.status}`), { code: `HTTP_${res.status}` });
  }
  if (body.errors?.length) {
    const e = body.errors[0];
    throw Object.assign(new Error(e.message), { code: e.extensions?.code ?? 'ERROR' });
  }
  return body.data;
}

function setStatus(text, kind = '') {
  const el = $('#status');
  el.textContent = text;
  el.className = kind;
}

async function runSearch({ append = false } = {}) {
  const hasQuery = state.text || state.photo || state.similarTo;
  if (!hasQuery) {
    $('#results').replaceChildren();
    $('#more').hidden = true;
    renderFacets(null);
    setStatus('Type a query, drop a photo, or pick “more like this”.');
    return;
  }
  const seq = ++state.requestSeq;
  if (!append) {
    state.after = null;
    state.seen.clear();
  }
  setStatus(append ? 'Loading more…' : 'Searching…', 'loading');
  const slowTimer = setTimeout(() => seq === state.requestSeq && $('#status').classList.add('slow'), SLOW_MS);
  try {
    const data = await graphql(SEARCH_QUERY, { input: searchInput(), first: PAGE_SIZE, after: state.after }, state.photo);
    if (seq !== state.requestSeq) return; // a newer search superseded this one
    const conn = data.search;
    if (!append) $('#results').replaceChildren();
    for (const edge of conn.edges) {
      if (state.seen.has(edge.node.id)) continue;
      state.seen.add(edge.node.id);
      $('#results').append(renderCard(edge));
    }
    state.after = conn.pageInfo.endCursor;
    $('#more').hidden = !conn.pageInfo.hasNextPage;
    if (!append) renderFacets(conn.facets);
    const n = state.seen.size;
    setStatus(n === 0 ? 'No products match. Try other words or fewer filters.' : `${n} product${n === 1 ? '' : 's'} shown · model ${conn.model ?? '—'}`, n === 0 ? 'empty' : '');
  } catch (err) {
    if (seq !== state.requestSeq) return;
    setStatus(`Search failed: ${err.code}: ${err.message}`, 'error');
  } finally {
    clearTimeout(slowTimer);
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

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function renderCard(edge) {
  const p = edge.node;
  const main = edge.matchedImage ?? p.images[0];
  const more = el('button', { type: 'button', textContent: 'More like this', className: 'more-like-this' });
  more.addEventListener('click', () => {
    state.similarTo = { id: p.id, title: p.title };
    state.text = '';
    state.photo = null;
    $('#q').value = '';
    showQueryImage();
    runSearch();
  });
  return el(
    'li',
    { className: 'card', dataset: { id: p.id, sku: p.sku } },
    main ? el('img', { className: 'main', src: main.url, alt: p.title, loading: 'lazy' }) : el('div', { className: 'main' }),
    el(
      'div',
      { className: 'body' },
      el('span', { className: 'title', textContent: p.title }),
      el('span', { className: 'meta', textContent: [p.brand, p.category].filter(Boolean).join(' · ') }),
      el('span', { className: 'price', textContent: `${money(p.price)}${p.inStock ? '' : ' · out of stock'}` }),
      el('span', { className: 'score', textContent: `score ${edge.score.toFixed(3)}` }),
      edge.matchedImage ? el('span', { className: 'matched' }, el('img', { src: edge.matchedImage.url, alt: '' }), 'matched image') : null,
      more,
    ),
  );
}

function facetList(container, items, isChecked, onToggle, label = (i) => i.value) {
  container.replaceChildren(
    ...(items ?? []).map((item) => {
      const box = el('input', { type: 'checkbox', checked: isChecked(item) });
      box.addEventListener('change', () => onToggle(item, box.checked));
      return el('li', {}, el('label', {}, box, label(item), el('span', { className: 'count', textContent: String(item.count) })));
    }),
  );
}

function renderFacets(f) {
  facetList($('#f-category'), f?.categories, (i) => state.filter.category === i.value, (i, on) => {
    state.filter.category = on ? i.value : null;
    runSearch();
  });
  facetList($('#f-brand'), f?.brands, (i) => state.filter.brands.includes(i.value), (i, on) => {
    state.filter.brands = on ? [...state.filter.brands, i.value] : state.filter.brands.filter((b) => b !== i.value);
    runSearch();
  });
  facetList(
    $('#f-price'),
    f?.price?.filter((b) => b.count > 0),
    (b) => state.filter.price?.min === b.min && state.filter.price?.max === b.max,
    (b, on) => {
      state.filter.price = on ? { min: b.min, max: b.max, currency: currentCurrency() } : null;
      runSearch();
    },
    (b) => `${b.min ?? '…'} – ${b.max ?? '…'}`,
  );
}

function currentCurrency() {
  const price = document.querySelector('#results .card .price')?.textContent ?? '';
  return /€/.test(price) ? 'EUR' : /£/.test(price) ? 'GBP' : 'USD';
}

function showQueryImage() {
  const box = $('#query-image');
  if (state.photo) {
    box.querySelector('img').src = URL.createObjectURL(state.photo);
    box.hidden = false;
  } else if (state.similarTo) {
    box.querySelector('img').removeAttribute('src');
    box.querySelector('img').alt = `like: ${state.similarTo.title}`;
    box.hidden = false;
  } else box.hidden = true;
}

function setPhoto(file) {
  state.photo = file;
  state.similarTo = null;
  showQueryImage();
  runSearch();
}

let debounce;
$('#q').addEventListener('input', (e) => {
  clearTimeout(debounce);
  debounce = setTimeout(() => {
    state.text = e.target.value.trim();
    state.similarTo = null;
    showQueryImage();
    runSearch();
  }, 250);
});
for (const r of document.querySelectorAll('input[name=mode]')) {
  r.addEventListener('change', () => {
    state.mode = r.value;
    runSearch();
  });
}
$('#photo').addEventListener('change', (e) => e.target.files[0] && setPhoto(e.target.files[0]));
$('#clear-photo').addEventListener('click', () => {
  state.photo = null;
  state.similarTo = null;
  showQueryImage();
  runSearch();
});
$('#f-instock').addEventListener('change', (e) => {
  state.filter.inStock = e.target.checked;
  runSearch();
});
$('#clear-filters').addEventListener('click', () => {
  state.filter = { category: null, brands: [], price: null, inStock: false };
  $('#f-instock').checked = false;
  runSearch();
});
$('#more').addEventListener('click', () => runSearch({ append: true }));
window.addEventListener('dragover', (e) => {
  e.preventDefault();
  $('#drop').hidden = false;
});
window.addEventListener('dragleave', (e) => {
  if (e.relatedTarget === null) $('#drop').hidden = true;
});
window.addEventListener('drop', (e) => {
  e.preventDefault();
  $('#drop').hidden = true;
  const file = e.dataTransfer?.files?.[0];
  if (file) setPhoto(file);
});
runSearch();
