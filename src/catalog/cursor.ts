/**
 * Opaque keyset cursors for product listings: base64url of JSON { v, o: order, k: [sort key, id] }.
 * A cursor from one ordering used with another (or a tampered one) is BAD_USER_INPUT.
 */
import { badInput } from '../errors.js';

export interface CursorData {
  order: string;
  key: (string | number | null)[];
}

export function encodeCursor(order: string, key: (string | number | null)[]): string {
  return Buffer.from(JSON.stringify({ v: 1, o: order, k: key })).toString('base64url');
}

export function decodeCursor(cursor: string, order: string, arity: number): (string | number | null)[] {
  let data: unknown;
  try {
    if (cursor.length > 1000 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('bad');
    data = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badInput('after: malformed cursor', { field: 'after' });
  }
  const d = data as { v?: unknown; o?: unknown; k?: unknown };
  if (d?.v !== 1 || typeof d.o !== 'string' || !Array.isArray(d.k) || d.k.length !== arity) {
    throw badInput('after: malformed cursor', { field: 'after' });
  }
  if (d.o !== order)
    throw badInput(`after: the cursor belongs to another ordering (${d.o}), not ${order}`, { field: 'after' });
  if (!d.k.every((x) => x === null || typeof x === 'string' || typeof x === 'number')) {
    throw badInput('after: malformed cursor', { field: 'after' });
  }
  return d.k as (string | number | null)[];
}
