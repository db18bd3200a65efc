/**
 * Warm connections (GLIMPSE_DB_POOL_MIN, GLIMPSE_DB_IDLE_TIMEOUT_MS; docs/performance.md "Connection warmth"):
 * a pool keeps its `min` connections open past the idle timeout and closes the others; the server opens and
 * warms them with a search at start, before any request; kept connections the database drops are replaced on
 * demand. Real PostgreSQL, counted in pg_stat_activity.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import { vectorToSql } from '../../src/db/vector.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { createScratchDatabase } from '../helpers/db.js';
import { sleep, waitFor } from '../helpers/processes.js';
import { NO_MODEL } from '../helpers/server.js';

const IDLE_MS = 300;

describe('warm connections', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let watcher: pg.Client;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-warmth-'));
  const open: (Database | RunningServer)[] = [];

  /** client backends of the scratch database, the watcher's own excluded */
  const backends = async () =>
    (
      await watcher.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      )
    ).rows[0]!.n;

  /** every backend of the database has exited (a closed connection's backend exits shortly after) */
  const gone = () => waitFor('the backends to exit', async () => (await backends()) === 0, 5_000);

  const openPool = async (dbPoolMin: number) => {
    const db = await openDatabase({
      databaseUrl: scratch.url,
      dataDir,
      dbPoolSize: 4,
      dbPoolMin,
      dbIdleTimeoutMs: IDLE_MS,
      dbStatementTimeoutMs: 10_000,
    });
    open.push(db);
    return db;
  };
  /** all of the pool's connections busy at once, then idle */
  const useAll = async (db: Database) => {
    const clients = await Promise.all(Array.from({ length: 4 }, () => db.pgPool!.connect()));
    for (const c of clients) c.release();
  };

  beforeAll(async () => {
    scratch = await createScratchDatabase('glimpse_warmth');
    watcher = new pg.Client({ connectionString: scratch.url });
    await watcher.connect();
  });
  afterAll(async () => {
    for (const x of open.splice(0)) await x.close().catch(() => {});
    await watcher?.end();
    await scratch?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a pool keeps dbPoolMin connections open past the idle timeout and closes the rest', async () => {
    const kept = await openPool(2);
    await useAll(kept);
    expect(await backends()).toBe(4);
    await sleep(IDLE_MS * 4);
    expect(await backends()).toBe(2);
    expect(kept.pgPool!.totalCount).toBe(2);
    await sleep(IDLE_MS * 2); // still there later: they have no idle timer at all
    expect(await backends()).toBe(2);
    await kept.close();
    await gone();

    // without a minimum every idle connection closes
    const none = await openPool(0);
    await useAll(none);
    expect(await backends()).toBe(4);
    await sleep(IDLE_MS * 4);
    expect(await backends()).toBe(0);
    await none.close();
  });

  it('kept connections the database drops are replaced on demand, and kept again', async () => {
    const db = await openPool(2);
    await useAll(db);
    await sleep(IDLE_MS * 4);
    expect(await backends()).toBe(2);
    await watcher.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
    );
    await sleep(200);
    expect(await db.ping()).toBe(true);
    await useAll(db);
    await sleep(IDLE_MS * 4);
    expect(await backends()).toBe(2);
    await db.close();
    await gone();
  });

  it('the server opens its kept connections at start and warms each with a search, before any request', async () => {
    // one product with a vector of the active model: something for the warm-up to search
    const seed = await openPool(0);
    const productId = '00000000-0000-4000-8000-000000000001';
    const imageId = '00000000-0000-4000-9000-000000000001';
    await seed.sql.query(
      `INSERT INTO embedding_model (id, name, dimension, active, is_test) VALUES ('warm-768', 'warm', 768, true, true)`,
    );
    await seed.sql.query(`INSERT INTO product (id, sku, title) VALUES ($1, 'W-1', 'warm')`, [productId]);
    await seed.sql.query(
      `INSERT INTO product_image (id, product_id, sha256, source, content_type, byte_size, width, height, position)
       VALUES ($1, $2, md5('a') || md5('b'), 'test', 'image/jpeg', 1, 1, 1, 0)`,
      [imageId, productId],
    );
    const v = vectorToSql(Array.from({ length: 768 }, (_, i) => (i === 0 ? 1 : 0)));
    await seed.sql.query(
      `INSERT INTO embedding_768 (image_id, model_id, product_id, embedding) VALUES ($1, 'warm-768', $2, $3::halfvec(768))`,
      [imageId, productId, v],
    );
    await seed.close();
    await gone();

    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
    );
    const config = loadConfig(
      { GLIMPSE_DATA_DIR: dataDir, DATABASE_URL: scratch.url, GLIMPSE_DB_POOL_SIZE: '3' },
      { port: 0, host: '127.0.0.1', dbIdleTimeoutMs: IDLE_MS, imageGcOnStart: false, rateLimitPerMinute: 0 },
    );
    expect(config.dbPoolMin).toBe('all'); // the default: every connection of the pool is kept
    const srv = await startServer(config, { logger, models: NO_MODEL });
    open.push(srv);
    expect(lines.find((l) => l.msg === 'database connections warmed')).toMatchObject({ connections: 3, searches: 3 });
    expect(await backends()).toBe(3);
    await sleep(IDLE_MS * 4);
    expect(await backends()).toBe(3); // past the idle timeout: still open
    await srv.close();
    await gone();
  });

  it('a standby that is down does not hold the start: the primary is warmed, one warning for the standby', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
    );
    const config = loadConfig(
      {
        GLIMPSE_DATA_DIR: dataDir,
        DATABASE_URL: scratch.url,
        DATABASE_READ_URLS: 'postgresql://glimpse:glimpse@127.0.0.1:1/nothing',
        GLIMPSE_DB_POOL_SIZE: '3',
      },
      { port: 0, host: '127.0.0.1', imageGcOnStart: false, rateLimitPerMinute: 0 },
    );
    const t0 = Date.now();
    const srv = await startServer(config, { logger, models: NO_MODEL });
    open.push(srv);
    expect(Date.now() - t0).toBeLessThan(8_000);
    // the product the test before seeded is what the primary's warm-up searches find
    expect(lines.find((l) => l.msg === 'database connections warmed')).toMatchObject({ connections: 3, searches: 3 });
    const warnings = lines.filter((l) => l.msg === 'warming database connections failed');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, failed: 3 });
    expect(await backends()).toBe(3);
    await srv.close();
    await gone();
  });
});
