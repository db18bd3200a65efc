/** How CLI commands reach the configured database (DATABASE_URL, or the embedded one under GLIMPSE_DATA_DIR). */
import { loadConfig, type Config } from '../config.js';
import { openDatabase, type Database } from '../db/index.js';

/** Opens the database for a CLI command; the caller closes it. */
export function openCliDatabase(config: Config, poolSize = 4): Promise<Database> {
  return openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    dbPoolSize: poolSize,
    dbStatementTimeoutMs: 0,
    migrateOnStart: config.migrateOnStart,
  });
}

/** Runs `fn` with the configured database open, closing it afterwards. */
export async function withDatabase<T>(
  fn: (db: Database, config: Config) => Promise<T>,
  config = loadConfig(),
): Promise<T> {
  const db = await openCliDatabase(config, 2);
  try {
    return await fn(db, config);
  } finally {
    await db.close();
  }
}
