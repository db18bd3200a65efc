/**
 * Which pgvector the database runs, and whether it has the fixes Glimpse relies on. 0.8.3 fixed a possible
 * HNSW index corruption when VACUUM runs alongside inserts (Glimpse's live imports and re-embeds do exactly
 * that); 0.8.2 before it fixed a buffer overflow in parallel HNSW index builds (CVE-2026-3172), which bulk
 * imports and `glimpse index rebuild` use. The version is shown by /readyz, the `health` query and
 * `glimpse index status`; the server warns at start when it is older. Upgrading: docs/migrations.md.
 */
import semver from 'semver';
import type { Sql } from './sql.js';

/** The first release with the HNSW vacuum fix. */
export const PGVECTOR_MIN_RECOMMENDED = '0.8.3';

/** The installed (`CREATE EXTENSION`ed) version in this database, or null when the extension is missing. */
export async function pgvectorVersion(sql: Sql): Promise<string | null> {
  const rows = await sql.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`);
  return rows[0]?.v ?? null;
}

/** Compares extension versions ('0.8.10' > '0.8.3'; '0.9' reads as 0.9.0): semver's order after its coerce. */
export function compareVersions(a: string, b: string): number {
  return semver.compare(semver.coerce(a) ?? '0.0.0', semver.coerce(b) ?? '0.0.0');
}

/** One line for operators when the version lacks the fixes (null when it is current enough). */
export function pgvectorWarning(version: string | null): string | null {
  if (version === null) return 'the pgvector extension is not installed in this database';
  if (compareVersions(version, PGVECTOR_MIN_RECOMMENDED) >= 0) return null;
  return (
    `pgvector ${version} is older than ${PGVECTOR_MIN_RECOMMENDED}: VACUUM running alongside inserts can corrupt an ` +
    `HNSW index (fixed in 0.8.3; parallel HNSW builds also overflow a buffer before 0.8.2, CVE-2026-3172). ` +
    `Install a newer pgvector, run ALTER EXTENSION vector UPDATE, then REINDEX the HNSW indexes (docs/migrations.md)`
  );
}
