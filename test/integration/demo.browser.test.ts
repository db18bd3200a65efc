/**
 * The storefront demo page end to end in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser download): a real server on a scratch PostgreSQL database with the test model,
 * the demo catalog seeded through the catalog service, then search, filter (multi-select, category tree),
 * search by photo, load more, "more like this", the product detail view, state in the URL with Back/Forward,
 * a Chinese query (the multilingual test tower), the suggestion / empty / slow / error states, and the phone
 * layout at 390 px. Saves the screenshots used in the README (docs/demo.png, docs/demo-mobile.png).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { chromium, type BrowserContext, type Page, type Response } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogService, type ImageEmbedder } from '../../src/catalog/index.js';
import { mountDemo } from '../../src/demo/mount.js';
import { seedDemoCatalog, type SeedSummary } from '../../src/demo/seed.js';
import { fixturePath } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const root = path.resolve(import.meta.dirname, '..', '..');
const SCREENSHOT = path.join(root, 'docs', 'demo.png');
const SCREENSHOT_MOBILE = path.join(root, 'docs', 'demo-mobile.png');
const MODULES = ['app.js', 'api.js', 'render.js', 'suggest.js', 'url-state.js'];
/** the category tree facet's top level (its counts add up to the match set) */
const TOP_CATEGORIES = '#f-category li[data-depth="1"]';

describe('demo page routes', () => {
  async function listen(app: express.Express) {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
  }

  it('serves nothing when GLIMPSE_DEMO_PAGE is off', async () => {
    const app = express();
    mountDemo(app, { demoPage: false, publicUrl: undefined });
    const s = await listen(app);
    try {
      expect((await fetch(`${s.url}/`)).status).toBe(404);
      expect((await fetch(`${s.url}/demo/app.js`)).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  it('serves the page and its assets with types and a CSP, and nothing else', async () => {
    const app = express();
    mountDemo(app, { demoPage: true, publicUrl: undefined });
    const s = await listen(app);
    try {
      const page = await fetch(`${s.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = page.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("img-src 'self' blob:");
      expect(csp).toContain("default-src 'none'");
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await page.text()).toContain('<script type="module" src="demo/app.js">');
      for (const name of MODULES) {
        const js = await fetch(`${s.url}/demo/${name}`);
        expect(js.status, name).toBe(200);
        expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      }
      const css = await fetch(`${s.url}/demo/style.css`);
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      for (const p of ['/demo/seed.ts', '/demo/mount.ts', '/demo/index.html', '/demo/../config.ts'])
        expect((await fetch(`${s.url}${p}`)).status, p).toBe(404);
    } finally {
      await s.close();
    }
  });
});

describe('demo page in headless Chromium', () => {
  let srv: TestServer;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  let seeded: SeedSummary;
  const problems: string[] = [];
  /** node ids of every search page the browser received, per request, in order */
  const searchPages: string[][] = [];

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM}: install it with \`bash scripts/system-deps.sh\` (Debian package chromium), ` +
          'or set CHROMIUM_PATH to a Chromium binary.',
      );
    }
    // the relevance floor measured as for a real model (`model` leaves it off for the generated test model)
    srv = await startTestServer({
      config: { rateLimitPerMinute: 0, textModels: ['test-multilingual'], semanticFloor: 'auto' },
    });
    const models = srv.models as unknown as { get(): ImageEmbedder };
    const catalog = new CatalogService({ db: srv.db, config: srv.config, embedder: () => models.get() });
    seeded = await seedDemoCatalog(catalog, { fixturesDir: fixturePath('images') });

    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
      locale: 'en-US',
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' && !/favicon/.test(m.location().url)) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', async (r) => {
      if (!r.url().endsWith('/graphql') || r.request().method() !== 'POST') return;
      const slot: string[] = [];
      searchPages.push(slot);
      try {
        const body = (await r.json()) as { data?: { search?: { edges: { node: { id: string } }[] } } };
        for (const e of body.data?.search?.edges ?? []) slot.push(e.node.id);
      } catch {
        // not JSON: the test that expects it says so
      }
    });
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    await srv?.close();
  });

  const status = () => page.locator('#status');
  const cards = () => page.locator('#results .card');
  const titles = () => page.locator('#results .card .title').allTextContents();
  async function settled(state: 'done' | 'empty' | 'error' | 'hint' = 'done', on: Page = page) {
    await on.waitForFunction((s) => document.body.dataset.state === s, state, { timeout: 20_000 });
  }
  /** runs a step that searches (typing, Back/Forward) and waits for its answer */
  async function afterSearch(step: () => Promise<unknown>, state: 'done' | 'empty' = 'done') {
    const isSearch = (r: Response) =>
      r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes('DemoSearch');
    await Promise.all([page.waitForResponse(isSearch), step()]);
    await settled(state);
  }
  const param = (name: string) => new URL(page.url()).searchParams.getAll(name);
  let adminKey: string | undefined;
  /** recordClick's count so far (the admin analytics query) */
  async function clicks(): Promise<number> {
    adminKey ??= await srv.createKey('admin');
    const res = await srv.gql<{ searchAnalytics: { clicks: number } }>(
      '{ searchAnalytics(days: 1) { clicks } }',
      {},
      { key: adminKey },
    );
    return res.body.data!.searchAnalytics.clicks;
  }
  /** label → count of a facet's entries (`list` may narrow, e.g. '#f-category li[data-depth="1"]') */
  async function facetCounts(list: string): Promise<Record<string, number>> {
    return page
      .locator(list.includes(' li') ? list : `${list} li`)
      .evaluateAll((lis) =>
        Object.fromEntries(
          lis.map((li) => [li.querySelector('.value')!.textContent, Number(li.querySelector('.count')!.textContent)]),
        ),
      );
  }
  async function imagesLoaded(on: Page = page) {
    await on.waitForFunction(
      () =>
        Array.from(document.querySelectorAll<HTMLImageElement>('#results img'))
          .filter((i) => i.getBoundingClientRect().top < window.innerHeight)
          .every((i) => i.complete && i.naturalWidth > 0),
      undefined,
      { timeout: 20_000 },
    );
  }

  it('seeds the demo catalog (idempotent)', async () => {
    expect(seeded.products).toBeGreaterThanOrEqual(40);
    expect(seeded.created).toBe(seeded.products);
    expect(seeded.imagesAdded).toBeGreaterThan(seeded.products);
    const models = srv.models as unknown as { get(): ImageEmbedder };
    const again = await seedDemoCatalog(
      new CatalogService({ db: srv.db, config: srv.config, embedder: () => models.get() }),
      {
        fixturesDir: fixturePath('images'),
      },
    );
    expect(again).toMatchObject({
      created: 0,
      updated: 0,
      unchanged: seeded.products,
      imagesAdded: 0,
      imagesKept: seeded.imagesAdded,
    });
  });

  it('searches as you type and shows red products first for "red"; saves the screenshot', async () => {
    const res = await page.goto(`${srv.url}/`);
    expect(res?.status()).toBe(200);
    await settled('hint');
    await page.locator('#q').pressSequentially('red', { delay: 40 });
    await settled();
    await page.locator('#q').press('Escape'); // the suggestions close, the text stays
    expect(await page.locator('#suggestions').isVisible()).toBe(false);
    expect(await page.locator('#q').inputValue()).toBe('red');
    expect(await cards().count()).toBe(12);
    const t = await titles();
    expect(t[0]).toMatch(/^Red /);
    expect(t.slice(0, 3).every((x) => /^Red /.test(x))).toBe(true);
    // each card: picture from /images/, price, score
    const first = cards().first();
    expect(await first.locator('img.main').getAttribute('src')).toMatch(/\/images\/[0-9a-f]{64}$/);
    expect(await first.locator('.price').textContent()).toMatch(/€\d+\.\d\d/);
    expect(await first.locator('.score').textContent()).toMatch(/^score 0\.\d{3}$/);
    expect(Object.keys(await facetCounts('#f-brand')).sort()).toEqual(['Acme', 'Fjord', 'Lumen', 'Northwind']);
    await imagesLoaded();
    await page.screenshot({ path: SCREENSHOT });
    expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(20_000);
  });

  it('loads more pages through the cursor without duplicates', async () => {
    const before = searchPages.length;
    while (await page.locator('#more').isVisible()) {
      const n = await cards().count();
      await page.locator('#more').click();
      await page.waitForFunction((k) => document.querySelectorAll('#results .card').length > k, n);
      await settled();
    }
    const ids = await cards().evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.id));
    expect(ids.length).toBe(seeded.products);
    expect(new Set(ids).size).toBe(ids.length);
    // what the server sent (the page would hide duplicates): every page distinct
    const served = searchPages.slice(before).flat();
    expect(served.length).toBeGreaterThan(0);
    expect(new Set(served).size).toBe(served.length);
    expect(await status().textContent()).toContain(`${seeded.products} products shown`);
  });

  it('narrows by brand facets (several at once): results and the other facet counts change', async () => {
    const categoriesBefore = await facetCounts(TOP_CATEGORIES);
    const brandsBefore = await facetCounts('#f-brand');
    const acme = brandsBefore.Acme!;
    expect(acme).toBeGreaterThan(0);
    await page.locator('#f-brand input[value="Acme"]').check();
    await settled();
    const metas = await page.locator('#results .card .meta').allTextContents();
    expect(metas.length).toBe(Math.min(acme, 12));
    expect(metas.every((m) => m.startsWith('Acme'))).toBe(true);
    expect(await status().textContent()).toContain(`of ${acme} products shown`);
    // disjunctive: the other brands stay listed with their counts, so a second one can be ticked
    expect(await facetCounts('#f-brand')).toEqual(brandsBefore);
    const categoriesAfter = await facetCounts(TOP_CATEGORIES);
    expect(categoriesAfter).not.toEqual(categoriesBefore);
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    expect(sum(categoriesAfter)).toBe(acme);
    expect(sum(categoriesBefore)).toBe(seeded.products);
    await page.locator('#f-brand input[value="Fjord"]').check();
    await settled();
    expect(await status().textContent()).toContain(`of ${acme + brandsBefore.Fjord!} products shown`);
    expect(sum(await facetCounts(TOP_CATEGORIES))).toBe(acme + brandsBefore.Fjord!);
    await page.locator('#f-brand input[value="Fjord"]').uncheck();
    await settled();

    // in stock only, then clear
    const inStock = (await facetCounts('#f-instock'))['In stock only']!;
    await page.locator('#f-instock input').check();
    await settled();
    expect(sum(await facetCounts(TOP_CATEGORIES))).toBe(inStock);
    expect(await page.locator('#results .price em').count()).toBe(0);
    await page.locator('#clear-filters').click();
    await settled();
    expect(sum(await facetCounts(TOP_CATEGORIES))).toBe(seeded.products);
  });

  it('walks the category tree: a top level opens its children, a child narrows further', async () => {
    const top = await facetCounts(TOP_CATEGORIES);
    expect(Object.keys(top).sort()).toEqual(['bags', 'clothing', 'home', 'shoes']);
    await page.locator('#f-category input[value="clothing"]').check();
    await settled();
    const children = await facetCounts('#f-category li[data-depth="2"]');
    expect(Object.keys(children).sort()).toEqual(['dresses', 't-shirts']);
    expect(children.dresses! + children['t-shirts']!).toBe(top.clothing);
    expect(await status().textContent()).toContain(`of ${top.clothing} products shown`);
    await page.locator('#f-category input[value="clothing/dresses"]').check();
    await settled();
    const metas = await page.locator('#results .card .meta').allTextContents();
    expect(metas.length).toBe(Math.min(children.dresses!, 12));
    expect(metas.every((m) => m.endsWith('clothing/dresses'))).toBe(true);
    // click, not uncheck(): the unselected child leaves the tree, so there is no box left to verify
    await page.locator('#f-category input[value="clothing/dresses"]').click();
    await settled();
    expect(await status().textContent()).toContain(`of ${seeded.products} products shown`);
  });

  it('searches by photo (a red PNG picked in the file input)', async () => {
    await page.locator('#q').fill('');
    await settled('hint');
    const red = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 230, g: 20, b: 25 } } })
      .png()
      .toBuffer();
    await page.locator('#photo').setInputFiles({ name: 'red.png', mimeType: 'image/png', buffer: red });
    await settled();
    expect((await titles())[0]).toMatch(/^Red /);
    // the preview of the picked photo is a blob: URL the CSP allows
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('#query-image img')!;
      return img.src.startsWith('blob:') && img.complete && img.naturalWidth === 64;
    });
    await expect.poll(() => page.locator('#query-image').isVisible()).toBe(true);
  });

  it('shows "more like this" for a result', async () => {
    const target = cards().nth(1);
    const title = await target.locator('.title').textContent();
    await target.locator('.more-like-this').click();
    await settled();
    expect(await page.locator('#query-image span').textContent()).toBe(`More like: ${title}`);
    expect(await cards().count()).toBeGreaterThan(0);
  });

  it('says in plain words why a search failed (a file that is not an image), keeping the code for support', async () => {
    await page
      .locator('#photo')
      .setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image at all') });
    await settled('error');
    expect(await status().getAttribute('data-code')).toMatch(/^(UNSUPPORTED_IMAGE|CORRUPT_IMAGE)$/);
    expect(await status().textContent()).toMatch(/not a picture we can read|seems to be damaged/);
    expect(await status().textContent()).not.toMatch(/[A-Z]+_[A-Z]+/);
    expect(await cards().count()).toBe(0);
    await page.locator('#clear-query').click();
    await settled('hint');
  });

  it('shows the empty state and the slow state', async () => {
    await page.locator('#modes input[value="KEYWORD"]').check();
    await page.locator('#q').fill('zzyzx-nothing-like-this');
    await settled('empty');
    expect(await status().textContent()).toBe(
      'No results for “zzyzx-nothing-like-this”. Try other words or another search mode.',
    );

    // a slow server: the page says it is still working, then shows the results
    await page.route('**/graphql', async (route) => {
      await new Promise((r) => setTimeout(r, 2500));
      await route.continue();
    });
    await page.locator('#modes input[value="SEMANTIC"]').check();
    await page.locator('#q').fill('blue');
    await page.waitForSelector('#status.slow', { timeout: 10_000 });
    await settled();
    await page.unroute('**/graphql');
    expect((await titles())[0]).toMatch(/^(Blue|Navy) /);
  });

  it('offers the corrected words when a misspelt query finds nothing relevant, and corrects keyword searches', async () => {
    await afterSearch(() => page.locator('#q').fill('rde dres'), 'empty');
    await page.locator('#q').blur();
    expect(await status().textContent()).toMatch(/^Nothing here looks like “rde dres”\. /);
    const offer = page.locator('#status .fallback');
    expect(await offer.textContent()).toMatch(/^Show the \d+ products? with the words “red dress”$/);
    await offer.click();
    await settled();
    expect(await page.locator('#q').inputValue()).toBe('red dress');
    expect(await page.locator('#modes input[value="KEYWORD"]').isChecked()).toBe(true);
    expect(param('q')).toEqual(['red dress']);
    expect(param('mode')).toEqual(['KEYWORD']);
    expect((await titles()).every((x) => /^Red .*dress$/.test(x))).toBe(true);
    // the matched words are marked in the title (KEYWORD highlights), the title reads the same
    const marks = await page.locator('#results .card .title').first().locator('mark').allTextContents();
    expect(marks.map((m) => m.toLowerCase()).sort()).toEqual(['dress', 'red']);

    // a title with markup in it is shown as text, marks and all
    adminKey ??= await srv.createKey('admin');
    const hostile = 'Zebra <img src=x onerror="alert(1)"> & "quoted" scarf';
    await srv.gql(
      'mutation($p: ProductInput!) { createProduct(input: $p) { id } }',
      { p: { sku: 'demo-hostile-title', title: hostile, description: 'A <b>zebra</b> scarf & more.' } },
      { key: adminKey },
    );
    await afterSearch(() => page.locator('#q').fill('zebra'));
    await page.locator('#q').blur();
    expect(await titles()).toEqual([hostile]);
    expect(await page.locator('#results .card .title mark').allTextContents()).toEqual(['Zebra']);
    expect(await page.locator('#results .card .snippet mark').allTextContents()).toEqual(['zebra']);
    expect(await page.locator('#results .card .snippet').textContent()).toContain('scarf & more');
    expect(await page.locator('#results .card img[src=x], #results .card b').count()).toBe(0);

    await page.locator('#modes input[value="KEYWORD"]').check();
    await settled();
    await afterSearch(() => page.locator('#q').fill('yelow mugg'));
    await page.locator('#q').blur();
    expect(await status().textContent()).toContain('Nothing matched “yelow mugg”; showing results for “yellow mug”.');
    const t = await titles();
    expect(t.length).toBeGreaterThan(0);
    expect(t.every((x) => /^Yellow .*mug$/.test(x))).toBe(true);
  });

  it('suggests as one types: a completed query runs on Enter, a product title opens the product', async () => {
    await page.goto(`${srv.url}/`);
    await settled('hint');
    const q = page.locator('#q');
    const options = page.locator('#suggestions [role=option]');
    await q.pressSequentially('red dr', { delay: 30 });
    await expect.poll(() => options.first().textContent()).toBe('red dress');
    expect(await q.getAttribute('aria-expanded')).toBe('true');
    await q.press('ArrowDown');
    expect(await q.getAttribute('aria-activedescendant')).toBe('suggestion-0');
    expect(await options.first().getAttribute('aria-selected')).toBe('true');
    await afterSearch(() => q.press('Enter'));
    expect(await q.inputValue()).toBe('red dress');
    expect(param('q')).toEqual(['red dress']);
    expect(await page.locator('#suggestions').isVisible()).toBe(false);
    expect((await titles())[0]).toMatch(/^Red /);

    await q.fill('');
    await settled('hint');
    await q.pressSequentially('ceramic m', { delay: 30 });
    const product = page.locator('#suggestions [data-kind=PRODUCT]').first();
    await expect.poll(() => product.isVisible()).toBe(true);
    const title = (await product.locator('.text').textContent())!;
    expect(title).toMatch(/ceramic mug$/i);
    await product.click();
    await expect.poll(() => page.locator('#detail h2').textContent()).toBe(title);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#detail').isVisible()).toBe(false);
    // closing goes Back through history; the next test's page.goto would abort if it raced that traversal
    await expect.poll(() => param('product')).toEqual([]);
  });

  it('answers nonsense with no results, not a page of random products', async () => {
    await page.goto(`${srv.url}/?q=${encodeURIComponent('xyzzy plugh')}`);
    await settled('empty');
    expect(await status().textContent()).toMatch(/^Nothing here looks like “xyzzy plugh”\. Try other words/);
    expect(await cards().count()).toBe(0);
  });

  it('keeps the view in the URL: a link restores it, Back and Forward walk through it', async () => {
    await page.goto(`${srv.url}/?q=red&brand=Acme`);
    await settled();
    const metas = () => page.locator('#results .card .meta').allTextContents();
    expect(await page.locator('#q').inputValue()).toBe('red');
    expect(await page.locator('#f-brand input[value="Acme"]').isChecked()).toBe(true);
    expect((await metas()).every((m) => m.startsWith('Acme'))).toBe(true);
    await page.locator('#f-brand input[value="Fjord"]').check();
    await settled();
    expect(param('brand')).toEqual(['Acme', 'Fjord']);
    expect((await metas()).some((m) => m.startsWith('Fjord'))).toBe(true);
    await afterSearch(() => page.goBack());
    expect(param('brand')).toEqual(['Acme']);
    expect(await page.locator('#f-brand input[value="Fjord"]').isChecked()).toBe(false);
    expect((await metas()).every((m) => m.startsWith('Acme'))).toBe(true);
    await afterSearch(() => page.goForward());
    expect(await page.locator('#f-brand input[value="Fjord"]').isChecked()).toBe(true);
    // a hand-edited link is read as far as it makes sense, never an API error
    await page.goto(`${srv.url}/?q=blue&mode=NOPE&price=EUR:abc-&instock=1`);
    await settled();
    expect(await page.locator('#modes input[value="SEMANTIC"]').isChecked()).toBe(true);
    expect(await page.locator('#f-instock input').isChecked()).toBe(true);
    expect(await cards().count()).toBeGreaterThan(0);
    expect(await page.locator('#results .price em').count()).toBe(0);
  });

  it('sorts the relevant results by price through every page, in the URL; Back returns to relevance', async () => {
    await page.goto(`${srv.url}/?q=red`);
    await settled();
    const relevance = await titles();
    const prices = async () =>
      (await page.locator('#results .card .price').allTextContents()).map((t) => Number(/[\d.]+/.exec(t)![0]));
    await page.locator('#sort').selectOption('PRICE_ASC');
    await settled();
    expect(param('sort')).toEqual(['PRICE_ASC']);
    while (await page.locator('#more').isVisible()) {
      const n = await cards().count();
      await page.locator('#more').click();
      await page.waitForFunction((k) => document.querySelectorAll('#results .card').length > k, n);
      await settled();
    }
    const ascending = await prices();
    expect(ascending.length).toBeGreaterThan(12);
    expect(ascending).toEqual([...ascending].sort((a, b) => a - b));
    await page.locator('#sort').selectOption('PRICE_DESC');
    await settled();
    const descending = await prices();
    expect(descending).toEqual([...descending].sort((a, b) => b - a));
    expect(descending[0]).toBe(Math.max(...ascending));
    await afterSearch(() => page.goBack());
    expect(await page.locator('#sort').inputValue()).toBe('PRICE_ASC');
    await afterSearch(() => page.goBack());
    expect(await page.locator('#sort').inputValue()).toBe('RELEVANCE');
    expect(await titles()).toEqual(relevance);
  });

  it('opens a product detail view from a result; it is in the URL, Back and Escape close it', async () => {
    await page.goto(`${srv.url}/?q=red`);
    await settled();
    const first = cards().first();
    const sku = (await first.getAttribute('data-sku'))!;
    const title = await first.locator('.title').textContent();
    const dialog = page.locator('#detail');
    const clicksBefore = await clicks();
    await first.locator('.title').click();
    await expect.poll(() => dialog.locator('h2').textContent()).toBe(title);
    expect(await dialog.isVisible()).toBe(true);
    expect(param('product')).toEqual([sku]);
    expect(await dialog.locator('.sku').textContent()).toBe(`SKU ${sku}`);
    expect(await dialog.locator('.description').textContent()).toContain('Demo product');
    expect(await dialog.locator('dt').allTextContents()).toEqual(['color', 'material']);
    // the open was recorded as a click on this search (analytics are written once a second)
    await expect.poll(clicks, { timeout: 10_000 }).toBe(clicksBefore + 1);
    const searchesBefore = searchPages.length;
    await page.goBack();
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(param('product')).toEqual([]);
    expect(searchPages.length).toBe(searchesBefore); // closing the detail does not search again

    // a link to the product opens it directly; Escape closes it and drops it from the URL
    await page.goto(`${srv.url}/?q=red&product=${encodeURIComponent(sku)}`);
    await expect.poll(() => dialog.locator('h2').textContent()).toBe(title);
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    await expect.poll(() => param('product')).toEqual([]); // the close event comes as its own task
    expect(param('q')).toEqual(['red']);

    // "more like this" from the detail view
    await first.locator('.title').click();
    await expect.poll(() => dialog.locator('h2').textContent()).toBe(title);
    await dialog.locator('.more-like-this').click();
    await settled();
    expect(await dialog.isVisible()).toBe(false);
    expect(await page.locator('#query-image span').textContent()).toBe(`More like: ${title}`);
    expect(param('like')).toHaveLength(1);
    expect(param('product')).toEqual([]);

    // an unknown product says so in words
    await page.goto(`${srv.url}/?q=red&product=no-such-sku`);
    await expect.poll(() => dialog.locator('.error').textContent()).toBe('This product is no longer available.');
    await page.keyboard.press('Escape');
  });

  it('answers a Chinese query through the multilingual tower: 红色连衣裙 shows red products first', async () => {
    await page.goto(`${srv.url}/?q=${encodeURIComponent('红色连衣裙')}`);
    await settled();
    expect(await page.locator('#q').inputValue()).toBe('红色连衣裙');
    expect((await titles())[0]).toMatch(/^Red /);
    expect(await status().textContent()).toContain('query read by test-multilingual');
  });

  it('turns a rate limit into words with the wait', async () => {
    await page.route('**/graphql', (route) =>
      route.fulfill({
        status: 429,
        contentType: 'application/json',
        body: JSON.stringify({
          errors: [{ message: 'rate limited', extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 7 } }],
        }),
      }),
    );
    await page.locator('#q').fill('green');
    await settled('error');
    await page.unroute('**/graphql');
    // the browser logs the faked 429 itself; that one is expected
    problems.splice(0, problems.length, ...problems.filter((p) => !/status of 429/.test(p)));
    expect(await status().textContent()).toBe('Too many searches in a short time. Please try again in 7 s.');
    expect(await status().getAttribute('data-code')).toBe('RATE_LIMITED');
  });

  it('fits a 390 px phone: filters folded behind a button, two columns, no sideways scrolling', async () => {
    const phone = await context.newPage();
    phone.on('pageerror', (e) => problems.push(`phone page error: ${e.message}`));
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${srv.url}/?q=red`);
      await settled('done', phone);
      const toggle = phone.locator('#toggle-filters');
      expect(await phone.locator('#filters').isVisible()).toBe(false);
      expect(await toggle.isVisible()).toBe(true);
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      const [a, b] = await phone
        .locator('#results .card')
        .evaluateAll((els) => els.slice(0, 2).map((e) => e.getBoundingClientRect().toJSON() as DOMRect));
      expect(a!.top).toBe(b!.top); // two columns
      expect(b!.right).toBeLessThanOrEqual(390);
      await toggle.click();
      expect(await phone.locator('#filters').isVisible()).toBe(true);
      expect(await toggle.getAttribute('aria-expanded')).toBe('true');
      await phone.locator('#f-brand input[value="Acme"]').check();
      await settled('done', phone);
      expect(await toggle.textContent()).toBe('Filters (1)');
      await toggle.click();
      expect(await phone.locator('#filters').isVisible()).toBe(false);
      await imagesLoaded(phone);
      await phone.screenshot({ path: SCREENSHOT_MOBILE });
      expect(fs.statSync(SCREENSHOT_MOBILE).size).toBeGreaterThan(10_000);
      // the detail view fits the screen
      await phone.locator('#results .card .title').first().click();
      await expect.poll(() => phone.locator('#detail h2').isVisible()).toBe(true);
      const box = (await phone.locator('#detail').boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
    } finally {
      await phone.close();
    }
  });

  it('ran without script errors or CSP violations', () => {
    expect(problems).toEqual([]);
  });
});
