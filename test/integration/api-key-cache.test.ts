/**
 * The API-key verdict cache (src/auth/api-keys.ts), in process on a real database: a cached verdict is reused
 * without a lookup (a key revoked in the database is still accepted until its verdict expires), expiry brings
 * the revocation in, and TTL 0 looks the key up on every request. The cross-process bound (revoke once, two
 * server processes refuse within the TTL) is in test/integration/replicas.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, createKeyVerifier, revokeKey } from '../../src/auth/api-keys.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';
import { sleep } from '../helpers/processes.js';

describe.each(DB_KINDS)('API-key verdict cache (%s)', (kind) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('reuses a verdict for its TTL, then sees the revocation', async () => {
    const { key, info } = await createKey(db.prisma, 'read', 'cached');
    const verifier = createKeyVerifier(db.prisma, { cacheTtlMs: 1500 });
    expect(await verifier.verify(key)).toMatchObject({ id: info.id, role: 'read' });
    await revokeKey(db.prisma, info.id);
    // no lookup within the TTL: the cached verdict still stands although the row is revoked
    expect(await verifier.verify(key)).toMatchObject({ id: info.id });
    await sleep(1700);
    expect(await verifier.verify(key)).toBeNull();
    // a refusal is cached too: guesses at one key do not reach the database each time
    expect(await verifier.verify(key)).toBeNull();
  });

  it('TTL 0 looks the key up on every request', async () => {
    const { key, info } = await createKey(db.prisma, 'admin', 'uncached');
    const verifier = createKeyVerifier(db.prisma, { cacheTtlMs: 0 });
    expect(await verifier.verify(key)).toMatchObject({ id: info.id, role: 'admin' });
    await revokeKey(db.prisma, info.id);
    expect(await verifier.verify(key)).toBeNull();
  });

  it('concurrent requests with one key all get its verdict', async () => {
    const { key, info } = await createKey(db.prisma, 'read', 'burst');
    const verifier = createKeyVerifier(db.prisma, { cacheTtlMs: 5000 });
    const verdicts = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(key)));
    expect(verdicts.every((v) => v?.id === info.id)).toBe(true);
    expect(await verifier.verify(`${key.slice(0, -1)}x`)).toBeNull(); // another (unknown) key
  });
});
