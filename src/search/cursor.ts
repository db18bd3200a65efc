/**
 * Opaque search cursors: base64url JSON of the keyset position after a hit — (distance, product id) for
 * SEMANTIC, (score, product id) for KEYWORD / HYBRID, (sort key, product id) for a re-ordered search
 * (./order.ts; the ordering's code travels along, so a cursor only continues the ordering that made it) — plus the best score of the whole search so that
 * `relativeCutoff` means the same on every page (and, where a later page cannot count it, page 1's total), and the
 * hit's rank, which sizes a later page's index walk (./planner.ts). float8 values survive the round trip exactly (JSON
 * numbers are IEEE doubles and Postgres prints float8 in shortest round-trip form).
 */
import { badInput } from '../errors.js';
import type { OrderCode } from './order.js';
import type { CursorKey } from './sql.js';
import type { SearchMode } from './types.js';

interface CursorJson {
  v: 1;
  m: 'S' | 'K' | 'H';
  /** null: a re-ordered search's row without a key (no price) */
  k: number | null;
  id: string;
  /** the ordering (./order.ts); absent: plain relevance */
  o?: Exclude<OrderCode, 'R'>;
  b: number | null;
  /** the total of page 1 when a later page cannot count it (index path with a score cut) */
  t?: number;
  /** whether `t` is exact */
  x?: boolean;
  /** the hit's rank in the whole list (1 = the first hit of page 1): how deep a later page starts */
  r?: number;
}

const MODE_CODE: Record<SearchMode, CursorJson['m']> = { SEMANTIC: 'S', KEYWORD: 'K', HYBRID: 'H' };
const ORDER_CODES: readonly string[] = ['B', 'PA', 'PD', 'N'];
/** a rank beyond any catalog's list: a cursor carrying one was not made here */
const MAX_RANK = 100_000_000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a cursor carries beside its keyset position. */
export interface CursorContext {
  bestScore: number | null;
  total?: { count: number; exact: boolean } | null;
  order?: OrderCode;
  /** the hit's rank in the whole list, 1-based (the planner sizes a later page's index walk by it) */
  rank?: number;
}

export interface DecodedCursor {
  key: CursorKey;
  bestScore: number | null;
  total?: { count: number; exact: boolean };
  /** absent in cursors made before ranks travelled (they plan as page 1 did) */
  rank?: number;
}

export function encodeCursor(mode: SearchMode, key: CursorKey, context: CursorContext): string {
  const { bestScore, total, order = 'R', rank } = context;
  const json: CursorJson = { v: 1, m: MODE_CODE[mode], k: key.value, id: key.productId, b: bestScore };
  if (order !== 'R') json.o = order;
  if (total) {
    json.t = total.count;
    json.x = total.exact;
  }
  if (rank !== undefined) json.r = rank;
  return Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, mode: SearchMode, order: OrderCode = 'R'): DecodedCursor {
  const bad = () => badInput('malformed or foreign cursor `after`', { field: 'after' });
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor))
    throw bad();
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const c = j as Partial<CursorJson> | null;
  if (
    !c ||
    typeof c !== 'object' ||
    c.v !== 1 ||
    c.m !== MODE_CODE[mode] ||
    (c.o ?? 'R') !== order ||
    (c.o !== undefined && !ORDER_CODES.includes(c.o)) ||
    !((typeof c.k === 'number' && Number.isFinite(c.k)) || (c.k === null && order !== 'R')) ||
    typeof c.id !== 'string' ||
    !UUID_RE.test(c.id) ||
    !(c.b === null || (typeof c.b === 'number' && Number.isFinite(c.b))) ||
    !(c.t === undefined || (Number.isInteger(c.t) && c.t >= 0 && typeof c.x === 'boolean')) ||
    !(c.r === undefined || (Number.isInteger(c.r) && c.r >= 1 && c.r <= MAX_RANK))
  )
    throw bad();
  const key: CursorKey =
    order !== 'R'
      ? { kind: 'sort', value: c.k ?? null, productId: c.id }
      : mode === 'SEMANTIC'
        ? { kind: 'distance', value: c.k!, productId: c.id }
        : { kind: 'score', value: c.k!, productId: c.id };
  const out: DecodedCursor = { key, bestScore: c.b ?? null };
  if (c.t !== undefined) out.total = { count: c.t, exact: c.x! };
  if (c.r !== undefined) out.rank = c.r;
  return out;
}

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}
