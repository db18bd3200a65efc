// The shopper's view as a URL (`?q=red&brand=Acme&brand=Fjord&sort=PRICE_ASC`): what the page shows can be
// bookmarked, shared and reloaded, and Back/Forward walk through it. A photo search cannot be put in a URL;
// everything else can. Values read from a URL are checked like any input (unknown modes and orders are dropped,
// lists are bounded), so a hand-edited link never produces an API error.

export const MODES = ['SEMANTIC', 'KEYWORD', 'HYBRID'];
export const SORTS = ['RELEVANCE', 'PRICE_ASC', 'PRICE_DESC', 'NEWEST'];
const MAX_BRANDS = 20;
const MAX_TEXT = 1000;

export const noFilter = () => ({ category: null, brands: [], price: null, inStock: false });

/** The part of the view a URL carries (no photo, no paging). */
export function emptyView() {
  return { text: '', mode: 'SEMANTIC', sort: 'RELEVANCE', similarTo: null, filter: noFilter(), detail: null };
}

/** `EUR:20-50` ⇄ { currency, min, max } (max exclusive, as the price facet's buckets; either end may be open). */
function priceToParam(p) {
  return `${p.currency}:${p.min ?? ''}-${p.max ?? ''}`;
}
function priceFromParam(s) {
  const m = /^([A-Z]{3}):(\d+(?:\.\d+)?)?-(\d+(?:\.\d+)?)?$/.exec(s ?? '');
  if (!m || (m[2] === undefined && m[3] === undefined)) return null;
  return { currency: m[1], min: m[2] ?? null, max: m[3] ?? null };
}

export function viewToQuery(view) {
  const p = new URLSearchParams();
  if (view.text) p.set('q', view.text);
  if (view.mode !== 'SEMANTIC') p.set('mode', view.mode);
  if (view.sort !== 'RELEVANCE') p.set('sort', view.sort);
  if (view.similarTo) p.set('like', view.similarTo.id);
  if (view.filter.category) p.set('category', view.filter.category);
  for (const b of view.filter.brands) p.append('brand', b);
  if (view.filter.price) p.set('price', priceToParam(view.filter.price));
  if (view.filter.inStock) p.set('instock', '1');
  if (view.detail) p.set('product', view.detail);
  const qs = p.toString();
  return qs ? `?${qs}` : '';
}

export function viewFromQuery(search) {
  const p = new URLSearchParams(search);
  const view = emptyView();
  view.text = (p.get('q') ?? '').trim().slice(0, MAX_TEXT);
  if (MODES.includes(p.get('mode'))) view.mode = p.get('mode');
  if (SORTS.includes(p.get('sort'))) view.sort = p.get('sort');
  const like = p.get('like');
  if (like && like.length <= 100) view.similarTo = { id: like, title: null, url: null };
  view.filter.category = p.get('category')?.slice(0, 200) || null;
  view.filter.brands = [...new Set(p.getAll('brand').filter((b) => b && b.length <= 200))].slice(0, MAX_BRANDS);
  view.filter.price = priceFromParam(p.get('price'));
  view.filter.inStock = p.get('instock') === '1';
  const sku = p.get('product');
  if (sku && sku.length <= 100) view.detail = sku;
  return view;
}

/** Two views ask the server the same search (the open product detail is not part of it). */
export function sameSearch(a, b) {
  return viewToQuery({ ...a, detail: null }) === viewToQuery({ ...b, detail: null });
}
