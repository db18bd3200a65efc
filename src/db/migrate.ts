/**
 * Applies prisma/migrations/* exactly as `prisma migrate deploy` does, recording them in Prisma's own
 * `_prisma_migrations` table with Prisma's checksums (sha256 of migration.sql). It exists because the
 * embedded PGlite database cannot be reached by the Prisma CLI, and so that the server can migrate itself
 * on start without the schema engine; both tools see the same history, so either may be used on a database.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from './sql.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** Prisma's advisory lock key: our runner and the Prisma CLI never migrate the same database at once. */
const PRISMA_ADVISORY_LOCK = 72707369;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
  /** applied migrations whose file changed since (Prisma warns about these too) */
  modified: string[];
  /** recorded as started but never finished: needs a human (Prisma error P3009) */
  failed: string[];
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const bytes = fs.readFileSync(path.join(dir, name, 'migration.sql'));
      return { name, sql: bytes.toString('utf8'), checksum: crypto.createHash('sha256').update(bytes).digest('hex') };
    });
}

// The table definition Prisma's schema engine creates.
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

interface Row {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

export async function migrationStatus(sql: Sql, migrations = readMigrations()): Promise<MigrationStatus> {
  const exists = await sql.query<{ t: string | null }>(`SELECT to_regclass('"_prisma_migrations"')::text AS t`);
  const rows = exists[0]?.t
    ? await sql.query<Row>(
        `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
      )
    : [];
  const live = rows.filter((r) => !r.rolled_back_at);
  const done = new Map(live.filter((r) => r.finished_at).map((r) => [r.migration_name, r.checksum]));
  const failed = live.filter((r) => !r.finished_at).map((r) => r.migration_name);
  return {
    applied: migrations.filter((m) => done.has(m.name)).map((m) => m.name),
    pending: migrations.filter((m) => !done.has(m.name) && !failed.includes(m.name)).map((m) => m.name),
    modified: migrations.filter((m) => done.has(m.name) && done.get(m.name) !== m.checksum).map((m) => m.name),
    failed,
  };
}

/** Applies every pending migration, each in its own transaction; returns the names applied. */
export async function migrate(sql: Sql, migrations = readMigrations()): Promise<string[]> {
  return sql.transaction(async (tx) => {
    // transaction-scoped lock: released at commit, even if this process dies
    await tx.query('SELECT pg_advisory_xact_lock($1)', [PRISMA_ADVISORY_LOCK]);
    await tx.exec(CREATE_TABLE);
    const status = await migrationStatus(tx, migrations);
    if (status.failed.length) {
      throw new MigrationError(
        `migration ${status.failed.join(', ')} failed earlier and was not rolled back; resolve it with ` +
          '`prisma migrate resolve` (see docs/migrations.md) before starting Glimpse',
      );
    }
    const applied: string[] = [];
    for (const m of migrations.filter((x) => status.pending.includes(x.name))) {
      const id = crypto.randomUUID();
      try {
        await tx.transaction(async (step) => {
          await step.query(
            `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
             VALUES ($1, $2, $3, now(), 0)`,
            [id, m.checksum, m.name],
          );
          await step.exec(m.sql);
          await step.query(
            `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
            [id],
          );
        });
      } catch (err) {
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
    return applied;
  });
}
