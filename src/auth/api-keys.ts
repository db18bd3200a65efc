/**
 * API keys: `glk_<prefix>_<secret>` where prefix is 8 random hex characters (shown in listings so a key
 * can be recognised) and secret is 32 random bytes, base64url. Only the sha256 of the whole key and its
 * `glk_<prefix>` are stored; the key itself is shown once, when created.
 *
 * Verification hashes the presented key and looks the hash up (unique index): the secret is never compared
 * byte by byte, so response time does not depend on how much of a guess is right.
 *
 * Servers cache each verdict (valid or refused) for GLIMPSE_API_KEY_CACHE_TTL_MS, so a request does not look
 * its key up every time. That TTL is the bound on revocation: a key revoked through any replica (or the CLI)
 * is refused by every replica at most one TTL later, because each replica's cached verdict expires and the
 * next lookup sees `revoked_at`.
 */
import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { PrismaClient } from '../generated/prisma/client.js';
import { badInput, notFound } from '../errors.js';

/** What a key may do: `admin` (catalog writes, jobs, raw vectors) or `read` (the storefront). */
export type Role = 'admin' | 'read';

/** Who is calling, as the HTTP layer (src/http/auth.ts) established it. */
export interface Caller {
  /** null: no API key was presented (anonymous storefront traffic) */
  role: Role | null;
  keyId: string | null;
}

export const ROLES: readonly Role[] = ['admin', 'read'];
const KEY_RE = /^glk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** last_used_at is written at most this often per key */
export const LAST_USED_THROTTLE_MS = 60_000;
/** verdicts cached per process (distinct keys presented within one TTL; the least recently used go first) */
const VERDICT_CACHE_ENTRIES = 10_000;

export interface ApiKeyInfo {
  id: string;
  name: string | null;
  role: Role;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface VerifiedKey {
  id: string;
  role: Role;
  name: string | null;
}

export function hashKey(key: string): string {
  return crypto.createHash('sha256').update(key, 'utf8').digest('hex');
}

export function isRole(r: string): r is Role {
  return (ROLES as readonly string[]).includes(r);
}

/** Creates a key and returns it in clear — the only time it is ever available. */
export async function createKey(
  prisma: PrismaClient,
  role: Role,
  name?: string | null,
): Promise<{ key: string; info: ApiKeyInfo }> {
  if (!isRole(role)) throw badInput(`role must be one of ${ROLES.join(', ')}`, { field: 'role' });
  const prefixId = crypto.randomBytes(4).toString('hex');
  const secret = crypto.randomBytes(32).toString('base64url');
  const key = `glk_${prefixId}_${secret}`;
  const row = await prisma.apiKey.create({
    data: { role, name: name ?? null, prefix: `glk_${prefixId}`, keyHash: hashKey(key) },
  });
  return { key, info: toInfo(row) };
}

/** All keys (revoked ones included), oldest first. */
export async function listKeys(prisma: PrismaClient): Promise<ApiKeyInfo[]> {
  const rows = await prisma.apiKey.findMany({ orderBy: { createdAt: 'asc' } });
  return rows.map(toInfo);
}

/** Revokes a key by id (or by its `glk_xxxxxxxx` prefix). Idempotent; NOT_FOUND when no such key. */
export async function revokeKey(prisma: PrismaClient, idOrPrefix: string): Promise<ApiKeyInfo> {
  const where = UUID_RE.test(idOrPrefix)
    ? { id: idOrPrefix }
    : /^glk_[0-9a-f]{8}$/.test(idOrPrefix)
      ? { prefix: idOrPrefix }
      : null;
  if (!where) throw badInput('expected a key id (uuid) or a key prefix (glk_xxxxxxxx)');
  const rows = await prisma.apiKey.findMany({ where });
  if (rows.length === 0) throw notFound('API key', idOrPrefix);
  if (rows.length > 1) throw badInput(`prefix ${idOrPrefix} matches ${rows.length} keys; revoke by id`);
  const row = rows[0]!;
  if (row.revokedAt) return toInfo(row);
  return toInfo(await prisma.apiKey.update({ where: { id: row.id }, data: { revokedAt: new Date() } }));
}

export interface KeyVerifier {
  /** The key's id and role, or null for an unknown, malformed or revoked key. */
  verify(key: string): Promise<VerifiedKey | null>;
}

export interface KeyVerifierOptions {
  /** how long a verdict is reused (ms); 0: every request looks its key up. Bounds how late a revocation bites. */
  cacheTtlMs?: number;
  /** a failed last_used_at update (logged, never fails the request) */
  onError?: (err: unknown) => void;
}

/**
 * Verifies presented keys, caching each verdict for `cacheTtlMs` (concurrent requests with the same key share
 * one lookup). Updates last_used_at at most once per LAST_USED_THROTTLE_MS per key (in the background).
 */
export function createKeyVerifier(prisma: PrismaClient, opts: KeyVerifierOptions = {}): KeyVerifier {
  const onError = opts.onError ?? (() => {});
  const ttl = Math.max(0, opts.cacheTtlMs ?? 0);
  const lastWritten = new LRUCache<string, number>({ max: VERDICT_CACHE_ENTRIES });
  // a verdict is boxed: lru-cache cannot hold a null value, and a refusal is worth caching too
  const lookup = async (hash: string): Promise<{ key: VerifiedKey | null; lastUsedAt: number }> => {
    const row = await prisma.apiKey.findUnique({ where: { keyHash: hash } });
    if (!row || row.revokedAt || !isRole(row.role)) return { key: null, lastUsedAt: 0 };
    return { key: { id: row.id, role: row.role, name: row.name }, lastUsedAt: row.lastUsedAt?.getTime() ?? 0 };
  };
  const verdicts =
    ttl > 0
      ? new LRUCache<string, { key: VerifiedKey | null; lastUsedAt: number }>({
          max: VERDICT_CACHE_ENTRIES,
          ttl,
          fetchMethod: (hash) => lookup(hash),
        })
      : null;
  return {
    async verify(key) {
      if (!KEY_RE.test(key)) return null;
      const hash = hashKey(key);
      const verdict = verdicts ? await verdicts.fetch(hash) : await lookup(hash);
      if (!verdict?.key) return null;
      const now = Date.now();
      const last = Math.max(lastWritten.get(verdict.key.id) ?? 0, verdict.lastUsedAt);
      if (now - last >= LAST_USED_THROTTLE_MS) {
        lastWritten.set(verdict.key.id, now);
        prisma.apiKey.update({ where: { id: verdict.key.id }, data: { lastUsedAt: new Date(now) } }).catch(onError);
      }
      return verdict.key;
    },
  };
}

/** One-shot verification (no throttling state); servers use `createKeyVerifier`. */
export function verifyKey(prisma: PrismaClient, key: string): Promise<VerifiedKey | null> {
  return createKeyVerifier(prisma).verify(key);
}

function toInfo(row: {
  id: string;
  name: string | null;
  role: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    role: isRole(row.role) ? row.role : 'read',
    prefix: row.prefix,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}
