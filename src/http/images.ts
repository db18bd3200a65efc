/**
 * GET/HEAD /images/<sha256>: the content-addressed image store, served with immutable cache headers.
 * The ETag is the sha256 itself (content-addressed: same name, same bytes). Streamed from the local folder
 * storage (config.imageDir, which GLIMPSE_IMAGE_STORE=local:<dir> sets); an object storage would redirect here
 * instead (docs/scaling.md).
 */
import fs from 'node:fs';
import type { Request, Response } from 'express';
import { imagePath, isSha256Hex, sniffImageType } from '../catalog/image-store-paths.js';
import { sendError } from './errors.js';

const typeCache = new Map<string, string>();

async function contentType(file: string, sha: string): Promise<string> {
  const cached = typeCache.get(sha);
  if (cached) return cached;
  const fh = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(32);
    const { bytesRead } = await fh.read(head, 0, 32, 0);
    const type = sniffImageType(head.subarray(0, bytesRead)) ?? 'application/octet-stream';
    if (typeCache.size > 50_000) typeCache.clear();
    typeCache.set(sha, type);
    return type;
  } finally {
    await fh.close();
  }
}

export function imageHandler(imageDir: string) {
  return async (req: Request, res: Response): Promise<void> => {
    const name = String(req.params.name ?? '').toLowerCase();
    if (!isSha256Hex(name)) {
      sendError(res, 'BAD_USER_INPUT', 'image names are sha256 hex digests (64 hex characters)');
      return;
    }
    const file = imagePath(imageDir, name);
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file);
      if (!stat.isFile()) throw new Error('not a file');
    } catch {
      sendError(res, 'NOT_FOUND', `image ${name} does not exist`);
      return;
    }
    const etag = `"${name}"`;
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('ETag', etag);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) {
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Type', await contentType(file, name));
    res.setHeader('Content-Length', String(stat.size));
    res.setHeader('Last-Modified', stat.mtime.toUTCString());
    if (req.method === 'HEAD') {
      res.status(200).end();
      return;
    }
    const stream = fs.createReadStream(file);
    stream.on('error', (err) => {
      req.log?.error({ err }, 'image read failed');
      res.destroy(err);
    });
    stream.pipe(res);
  };
}
