/**
 * Background/bulk jobs (table `job`): imports and re-embeds record their progress here, so that a job can be
 * watched (`job(id)` query) and resumed after a crash from its `cursor`. States are lower case in the table
 * and upper case in the API: queued → running → succeeded | failed | cancelled. A job that is not succeeded
 * can be resumed (a kill -9 leaves it `running`).
 */
import type { Sql } from '../../db/index.js';
import { Assignments, Params } from '../../db/sql.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type JobKind = 'import' | 'reembed';

export interface JobRow {
  id: string;
  kind: string;
  state: JobState;
  modelId: string | null;
  done: number;
  total: number;
  failed: number;
  cursor: string | null;
  params: Record<string, unknown>;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export const JOB_COLUMNS = `id::text AS id, kind, state, model_id AS "modelId", done, total, failed, cursor, params, error,
  created_at AS "createdAt", updated_at AS "updatedAt", started_at AS "startedAt", finished_at AS "finishedAt"`;

/** States from which a job may be resumed (not finished successfully). */
export const RESUMABLE_STATES: readonly JobState[] = ['queued', 'running', 'failed', 'cancelled'];

export async function getJob(sql: Sql, id: string): Promise<JobRow | null> {
  return (await sql.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM job WHERE id = $1::uuid`, [id]))[0] ?? null;
}

export async function createJob(
  sql: Sql,
  job: {
    kind: JobKind;
    state?: JobState;
    modelId?: string | null;
    total?: number;
    cursor?: string | null;
    params?: Record<string, unknown>;
  },
): Promise<JobRow> {
  const state = job.state ?? 'running';
  const rows = await sql.query<JobRow>(
    `INSERT INTO job (kind, state, model_id, total, cursor, params, started_at)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, CASE WHEN $2 = 'running' THEN now() END) RETURNING ${JOB_COLUMNS}`,
    [job.kind, state, job.modelId ?? null, job.total ?? 0, job.cursor ?? null, JSON.stringify(job.params ?? {})],
  );
  return rows[0]!;
}

/** The newest unfinished job of `kind` whose params contain `match` (jsonb containment). */
export async function findResumableJob(
  sql: Sql,
  kind: JobKind,
  match: Record<string, unknown>,
): Promise<JobRow | null> {
  const rows = await sql.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM job WHERE kind = $1 AND state = ANY($2::text[]) AND params @> $3::jsonb
     ORDER BY created_at DESC LIMIT 1`,
    [kind, RESUMABLE_STATES, JSON.stringify(match)],
  );
  return rows[0] ?? null;
}

/**
 * The newest unfinished job of `kind` matching `match`, or a new one made from `create` — decided under a
 * transaction-level advisory lock on (kind, match), so two processes asked for the same job at the same moment
 * (two API replicas receiving one startReembed, two `glimpse import` of one file) find ONE job, never create
 * two. Who then RUNS it is settled by the job's own lock (job-lock.ts).
 */
export async function findOrCreateJob(
  sql: Sql,
  kind: JobKind,
  match: Record<string, unknown>,
  create: Omit<Parameters<typeof createJob>[1], 'kind'>,
): Promise<{ job: JobRow; created: boolean }> {
  return sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7305))', [
      `glimpse-job-open:${kind}:${JSON.stringify(match)}`,
    ]);
    const found = await findResumableJob(tx, kind, match);
    if (found) return { job: found, created: false };
    return { job: await createJob(tx, { ...create, kind }), created: true };
  });
}

export interface JobPatch {
  state?: JobState;
  modelId?: string | null;
  done?: number;
  total?: number;
  failed?: number;
  cursor?: string | null;
  /** merged into params (top-level keys replaced) */
  params?: Record<string, unknown>;
  error?: string | null;
}

/** Updates a job; run it on the transaction that writes the rows the cursor stands for. */
export async function updateJob(sql: Sql, id: string, patch: JobPatch): Promise<void> {
  const params = new Params();
  const idParam = params.add(id, 'uuid');
  const sets = new Assignments(params).raw('updated_at = now()');
  if (patch.state !== undefined) {
    sets.set('state', patch.state);
    if (patch.state === 'running') sets.raw('started_at = COALESCE(started_at, now())').raw('finished_at = NULL');
    if (patch.state === 'succeeded' || patch.state === 'failed' || patch.state === 'cancelled')
      sets.raw('finished_at = now()');
  }
  if (patch.modelId !== undefined) sets.set('model_id', patch.modelId);
  if (patch.done !== undefined) sets.set('done', patch.done);
  if (patch.total !== undefined) sets.set('total', patch.total);
  if (patch.failed !== undefined) sets.set('failed', patch.failed);
  if (patch.cursor !== undefined) sets.set('cursor', patch.cursor);
  if (patch.error !== undefined) sets.set('error', patch.error);
  if (patch.params !== undefined) sets.raw(`params = params || ${params.add(JSON.stringify(patch.params), 'jsonb')}`);
  await sql.query(`UPDATE job SET ${sets} WHERE id = ${idParam}`, params.values);
}
