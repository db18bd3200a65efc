/**
 * The storefront demo page (GLIMPSE_DEMO_PAGE, on by default): `/` serves index.html, `/demo/*.js` (ES
 * modules) and `/demo/style.css` its assets. Plain files, no build step; the page uses only the public GraphQL API.
 * Only the files listed here are served (never the TypeScript beside them). A strict CSP: scripts, styles and
 * requests to this origin only, images from this origin (or GLIMPSE_PUBLIC_URL) and blob: (the preview of a
 * photo the shopper picked).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type express from 'express';
import type { Config } from '../config.js';

const DIR = path.dirname(fileURLToPath(import.meta.url));

const ASSETS: Readonly<Record<string, string>> = {
  'app.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'render.js': 'text/javascript; charset=utf-8',
  'suggest.js': 'text/javascript; charset=utf-8',
  'url-state.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export function demoCsp(config: Pick<Config, 'publicUrl'>): string {
  let imgSrc = "'self' blob:";
  if (config.publicUrl) {
    try {
      imgSrc += ` ${new URL(config.publicUrl).origin}`;
    } catch {
      // config validation guarantees a URL; nothing to add otherwise
    }
  }
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${imgSrc}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Adds the demo routes when `config.demoPage` is on; does nothing otherwise (so `/` is the usual 404). */
export function mountDemo(app: express.Express, config: Pick<Config, 'demoPage' | 'publicUrl'>): void {
  if (!config.demoPage) return;
  const csp = demoCsp(config);
  const send =
    (file: string, type: string) => (_req: express.Request, res: express.Response, next: express.NextFunction) => {
      res.setHeader('Content-Type', type);
      res.setHeader('Content-Security-Policy', csp);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile(file, { root: DIR, dotfiles: 'deny', headers: { 'Content-Type': type } }, (err) => {
        if (err && !res.headersSent) next(err);
      });
    };
  app.get('/', send('index.html', 'text/html; charset=utf-8'));
  for (const [name, type] of Object.entries(ASSETS)) app.get(`/demo/${name}`, send(name, type));
}
