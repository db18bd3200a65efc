/**
 * Two API replicas: two real server processes (`src/server.ts`) on one PostgreSQL database, as behind a load
 * balancer. What one replica (or the CLI) changes in shared state must hold on the other:
 *  - a revoked API key is refused by both within GLIMPSE_API_KEY_CACHE_TTL_MS (each caches verdicts);
 *  - one rate limit: requests spread over both replicas draw from one budget (table rate_limit).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, revokeKey } from '../../src/auth/api-keys.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import { createScratchDatabase } from '../helpers/db.js';
import { postGraphQL, sleep, spawnServerProcess, stopServerProcess, type ServerProcess } from '../helpers/processes.js';

const KEY_TTL_MS = 2000;
const PER_MINUTE = 50;

describe('two API server processes on one database', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let dataDir: string;
  let db: Database;
  const replicas: ServerProcess[] = [];

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-replicas-'));
    db = await openDatabase({ databaseUrl: scratch.url, dataDir, dbPoolSize: 2, dbStatementTimeoutMs: 30_000 });
    const env = {
      DATABASE_URL: scratch.url,
      GLIMPSE_DATA_DIR: dataDir,
      GLIMPSE_MODEL: 'test',
      GLIMPSE_API_KEY_CACHE_TTL_MS: String(KEY_TTL_MS),
      GLIMPSE_RATE_LIMIT_PER_MINUTE: String(PER_MINUTE),
      GLIMPSE_MIGRATE_ON_START: 'false',
    };
    replicas.push(...(await Promise.all([spawnServerProcess(env), spawnServerProcess(env)])));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => stopServerProcess(r)));
    await db?.close().catch(() => {});
    await scratch?.drop().catch(() => {});
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a revoked key is refused by both replicas within the key cache TTL', async () => {
    const { key, info } = await createKey(db.prisma, 'admin', 'replicated');
    const q = '{ health { database } }';
    for (const r of replicas) expect((await postGraphQL(r.url, q, {}, key)).status).toBe(200);
    const revokedAt = Date.now();
    await revokeKey(db.prisma, info.id); // what `glimpse keys revoke` does
    const refusedAfter = await Promise.all(
      replicas.map(async (r) => {
        for (;;) {
          const res = await postGraphQL(r.url, q, {}, key);
          if (res.status === 401) {
            expect(res.code).toBe('UNAUTHENTICATED');
            return Date.now() - revokedAt;
          }
          expect(res.status).toBe(200);
          if (Date.now() - revokedAt > KEY_TTL_MS * 3) return Infinity;
          await sleep(200); // few enough requests to stay inside the key's rate limit
        }
      }),
    );
    // the bound: one TTL, plus the time one request takes on a loaded machine
    for (const ms of refusedAfter) expect(ms).toBeLessThanOrEqual(KEY_TTL_MS + 1000);
  });

  it('requests spread over both replicas draw from one rate limit', async () => {
    const { key } = await createKey(db.prisma, 'read', 'limited');
    const q = '{ health { database } }';
    const remaining: number[] = [];
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < PER_MINUTE + 10; i++) {
      const res = await postGraphQL(replicas[i % 2]!.url, q, {}, key);
      if (res.status === 200) {
        accepted++;
        remaining.push(Number(res.headers.get('ratelimit-remaining')));
      } else {
        expect(res.status).toBe(429);
        expect(res.code).toBe('RATE_LIMITED');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        refused++;
      }
    }
    // per-process windows would accept PER_MINUTE on each replica (all 60 here)
    expect(accepted).toBe(PER_MINUTE);
    expect(refused).toBe(10);
    expect(remaining).toEqual(Array.from({ length: PER_MINUTE }, (_, i) => PER_MINUTE - 1 - i));
    const [row] = await db.sql.query<{ points: number }>('SELECT points FROM rate_limit WHERE key = $1', [
      `glimpse:key:${(await db.prisma.apiKey.findFirstOrThrow({ where: { name: 'limited' } })).id}`,
    ]);
    // each replica's first refusal reached the table; later ones were answered from that replica's memory
    expect(row?.points).toBe(PER_MINUTE + 2);
  });
});
