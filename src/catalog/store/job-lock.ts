/**
 * One runner per job, across every API replica and the CLI: whoever runs a job holds a session-level advisory
 * lock keyed by the job id, on a connection of its own, for as long as it runs. Another process that finds the
 * job resumable tries the same lock and leaves the job alone while it is taken. A runner that dies (kill -9, a
 * lost connection) loses the lock with its connection, so the job can be resumed at once: no lease to expire.
 * On PGlite (one process, one backend) the lock is re-entrant and the in-process runner's own bookkeeping
 * keeps one run per job.
 */
import os from 'node:os';
import type { Sql } from '../../db/index.js';

/** Who runs a job, recorded as `params.runner` by the process holding its lock (for `job(id)` and the logs). */
export const thisRunner = () => ({ host: os.hostname(), pid: process.pid });

/** Thrown when the job is being run by another process (or another runner in this one). */
export class JobBusyError extends Error {
  override name = 'JobBusyError';
  constructor(readonly jobId: string) {
    super(`job ${jobId} is running in another process; it can be watched with \`job(id)\` or resumed once that stops`);
  }
}

const lockKey = (jobId: string) => `glimpse-job:${jobId}`;

/** Runs `fn` while holding job `jobId`'s lock; `{ ran: false }` (fn not called) when another runner holds it. */
export async function withJobLock<T>(
  sql: Sql,
  jobId: string,
  fn: () => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false }> {
  return sql.session(async (s) => {
    const [row] = await s.query<{ got: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 7305)) AS got', [
      lockKey(jobId),
    ]);
    if (!row?.got) return { ran: false };
    try {
      return { ran: true, value: await fn() };
    } finally {
      // RESET ALL (end of session) does not release advisory locks; a broken connection releases it anyway
      await s.query('SELECT pg_advisory_unlock(hashtextextended($1, 7305))', [lockKey(jobId)]).catch(() => {});
    }
  });
}

/** True when some runner holds job `jobId`'s lock right now. */
export async function jobLocked(sql: Sql, jobId: string): Promise<boolean> {
  const out = await withJobLock(sql, jobId, async () => undefined);
  return !out.ran;
}
