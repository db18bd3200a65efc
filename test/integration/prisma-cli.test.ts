/**
 * The real Prisma CLI against a scratch PostgreSQL database: `prisma migrate deploy`, `prisma migrate status` and
 * `prisma migrate dev --create-only` must work here (offline, through scripts/prisma-schema-engine.mjs unless a
 * native schema engine is present, see prisma.config.ts) and prisma/schema.prisma must agree with the migrations.
 *
 * Needs PostgreSQL with pgvector at TEST_DATABASE_URL (default postgresql://glimpse:glimpse@127.0.0.1:5432/glimpse,
 * `npm run db:start`); a role that may create databases. Fails when the server is unreachable.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const prismaCli = path.join(repoRoot, 'node_modules/prisma/build/index.js');
const baseUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://glimpse:glimpse@127.0.0.1:5432/glimpse';
const dbName = `glimpse_prisma_cli_${process.pid}_${Date.now().toString(36)}`;
const scratchUrl = withDatabase(baseUrl, dbName);

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * A private copy of the project's Prisma files, so `migrate dev --create-only` never writes into the real
 * prisma/migrations (other tests and people use it). node_modules and scripts are symlinked.
 */
function makeWorkspace(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-prisma-cli-'));
  fs.cpSync(path.join(repoRoot, 'prisma'), path.join(dir, 'prisma'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'prisma.config.ts'), path.join(dir, 'prisma.config.ts'));
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  fs.symlinkSync(path.join(repoRoot, 'scripts'), path.join(dir, 'scripts'), 'dir');
  return dir;
}

async function prisma(cwd: string, ...args: string[]): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: scratchUrl, NO_COLOR: '1', CI: '1' };
  delete env.SHADOW_DATABASE_URL; // let the engine create (and drop) its own temporary shadow database
  try {
    const { stdout, stderr } = await run(process.execPath, [prismaCli, ...args], { cwd, env, timeout: 120_000 });
    return stdout + stderr;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`prisma ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

describe('prisma CLI migrations (offline schema engine)', () => {
  let workspace: string;

  beforeAll(async () => {
    try {
      await query(baseUrl, `CREATE DATABASE "${dbName}"`);
    } catch (err) {
      throw new Error(
        `PostgreSQL is not usable at ${new URL(baseUrl).host} (set TEST_DATABASE_URL or run \`npm run db:start\`): ${(err as Error).message}`,
      );
    }
    workspace = makeWorkspace();
  });

  afterAll(async () => {
    if (workspace) fs.rmSync(workspace, { recursive: true, force: true });
    await query(baseUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  });

  it('migrate deploy applies the migrations with standard checksums', { timeout: 120_000 }, async () => {
    const out = await prisma(workspace, 'migrate', 'deploy');
    expect(out).toMatch(/All migrations have been successfully applied|No pending migrations to apply/);

    const dirs = fs
      .readdirSync(path.join(repoRoot, 'prisma/migrations'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(dirs.length).toBeGreaterThan(0);

    const rows = await query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
    }>(
      scratchUrl,
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows.map((r) => r.migration_name)).toEqual(dirs);
    for (const row of rows) {
      const sql = fs.readFileSync(path.join(repoRoot, 'prisma/migrations', row.migration_name, 'migration.sql'));
      expect(row.checksum, row.migration_name).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.finished_at, row.migration_name).not.toBeNull();
      expect(row.rolled_back_at, row.migration_name).toBeNull();
    }

    // the hand-written parts of the init migration are there
    const indexes = await query<{ indexname: string }>(
      scratchUrl,
      "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
    );
    expect(indexes.map((i) => i.indexname)).toEqual(
      expect.arrayContaining([
        'embedding_512_hnsw_idx',
        'embedding_768_hnsw_idx',
        'embedding_1024_hnsw_idx',
        'embedding_model_one_active_idx',
      ]),
    );
  });

  it('migrate status reports the database up to date', { timeout: 120_000 }, async () => {
    const out = await prisma(workspace, 'migrate', 'status');
    expect(out).toContain('Database schema is up to date');
  });

  it(
    'migrate dev --create-only finds no difference between schema.prisma and the migrations',
    { timeout: 180_000 },
    async () => {
      const migrationsDir = path.join(workspace, 'prisma/migrations');
      const before = new Set(fs.readdirSync(migrationsDir));
      const migrationCount = fs
        .readdirSync(migrationsDir, { withFileTypes: true })
        .filter((d) => d.isDirectory()).length;
      await prisma(workspace, 'migrate', 'dev', '--create-only', '--name', 'drift_check');

      const created = fs.readdirSync(migrationsDir).filter((name) => !before.has(name));
      for (const name of created) {
        const sql = fs.readFileSync(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
        const statements = sql
          .split('\n')
          .filter((line) => !line.trim().startsWith('--'))
          .join('\n')
          .trim();
        expect(statements, `new migration ${name} is not empty:\n${sql}`).toBe('');
      }
      // --create-only applies nothing, and the temporary shadow database is gone again
      const applied = await query<{ n: number }>(scratchUrl, 'SELECT count(*)::int AS n FROM _prisma_migrations');
      expect(applied[0]?.n).toBe(migrationCount);
      const shadows = await query(
        baseUrl,
        "SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'",
      );
      expect(shadows).toEqual([]);
    },
  );
});
