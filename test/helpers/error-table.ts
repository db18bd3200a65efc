/**
 * The code table of docs/errors.md as data: each code with the HTTP statuses the docs promise for it. Tests
 * check the server's responses against it, so behaviour and docs cannot drift apart unnoticed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** code → documented HTTP statuses (e.g. SERVICE_UNAVAILABLE → [503, 200]) */
export function documentedStatuses(): Map<string, number[]> {
  const doc = fs.readFileSync(path.join(root, 'docs', 'errors.md'), 'utf8');
  return new Map(
    [...doc.matchAll(/^\| `([A-Z_]+)`\s*\| ([^|]+) \|/gm)].map((m) => [
      m[1]!,
      [...m[2]!.matchAll(/\d{3}/g)].map((x) => Number(x[0])),
    ]),
  );
}

const TABLE = documentedStatuses();

/** Fails unless `status` is one the docs' table lists for `code`. */
export function isDocumentedStatus(code: string, status: number): boolean {
  return TABLE.get(code)?.includes(status) ?? false;
}
