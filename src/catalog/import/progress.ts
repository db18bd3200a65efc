/**
 * The import's progress: its job row (found again for the same file and model, so a rerun resumes after the
 * committed cursor), the counts of this run and of the job over all its runs, and the progress callback. The
 * batch writer moves the cursor inside each batch's transaction; this only starts, reports and finishes the job.
 *
 * One runner per import job on any number of hosts: the run holds the job's advisory lock (store/job-lock.ts)
 * from before it reads the cursor to the end. A second `glimpse import` of the same file and model — on this
 * host or another — gets IMPORT_RUNNING while the first runs, and resumes the job once the first has stopped
 * (a kill -9 releases the lock with its connection).
 */
import type { Sql } from '../../db/index.js';
import type { Logger } from '../../logger.js';
import { thisRunner, withJobLock } from '../store/job-lock.js';
import { findOrCreateJob, getJob, RESUMABLE_STATES, updateJob, type JobRow } from '../store/jobs.js';
import { addCounts, emptyCounts, type ImportCounts } from './counts.js';

export interface ImportProgress {
  jobId: string;
  /** records handled so far, resumed ones included */
  done: number;
  total: number;
  imagesDone: number;
  rejected: number;
  elapsedMs: number;
}

/** What identifies an import job: the same file (by content) imported for the same model. */
export interface ImportIdentity {
  fileSha256: string;
  modelId: string;
}

/** The import job is being run by another process (the job's lock is taken). */
function importRunning(job: JobRow): Error {
  const r = job.params.runner as { host?: string; pid?: number } | undefined;
  const who = r?.host && r.pid ? ` (process ${r.pid} on ${r.host})` : '';
  return Object.assign(
    new Error(
      `import job ${job.id} is being run by another process${who}; wait for it or stop it, then run the same command again to resume`,
    ),
    { code: 'IMPORT_RUNNING', jobId: job.id },
  );
}

export class ImportJob {
  /** this run's counts */
  readonly run: ImportCounts = emptyCounts();
  private done: number;
  private imagesDone = 0;

  private constructor(
    private readonly sql: Sql,
    readonly id: string,
    /** record number this run resumed after (0: fresh start) */
    readonly resumedFrom: number,
    /** the job's counts before this run */
    private readonly earlier: ImportCounts,
    /** what the job row records about the job (file, options, a deferred index …) */
    readonly params: Readonly<Record<string, unknown>>,
    private readonly total: number,
    private readonly onProgress: ((p: ImportProgress) => void) | undefined,
    private readonly started: number,
  ) {
    this.run.skipped = resumedFrom;
    this.done = resumedFrom;
  }

  /**
   * Runs `body` as the unfinished job of this file and model (resumed), or a new one, holding the job's lock
   * throughout (`params`: what the job row records about a fresh job; `fresh` empties the rejects file of a
   * job that has committed nothing yet). Throws IMPORT_RUNNING while another process holds the lock.
   */
  static async run<T>(
    sql: Sql,
    opts: {
      identity: ImportIdentity;
      total: number;
      params: Record<string, unknown>;
      fresh: () => Promise<void>;
      /** when the run started (Date.now()), for elapsedMs */
      started: number;
      onProgress?: ((p: ImportProgress) => void) | undefined;
      log?: Logger | undefined;
    },
    body: (job: ImportJob) => Promise<T>,
  ): Promise<T> {
    // a job that another runner finished between finding it and taking its lock: look again (a new job)
    for (let attempt = 0; attempt < 3; attempt++) {
      const { job: candidate } = await findOrCreateJob(
        sql,
        'import',
        { ...opts.identity },
        {
          state: 'queued',
          modelId: opts.identity.modelId,
          total: opts.total,
          cursor: '0',
          params: { ...opts.identity, ...opts.params, counts: emptyCounts() },
        },
      );
      const locked = await withJobLock(sql, candidate.id, async () => {
        // read under the lock: the cursor the previous runner committed last
        const found = await getJob(sql, candidate.id);
        if (!found || !RESUMABLE_STATES.includes(found.state)) return null;
        return { value: await body(await ImportJob.start(sql, found, opts)) };
      });
      if (!locked.ran) throw importRunning((await getJob(sql, candidate.id)) ?? candidate);
      if (locked.value) return locked.value.value;
    }
    throw Object.assign(new Error('the import job kept being finished by other processes; run the command again'), {
      code: 'IMPORT_RUNNING',
    });
  }

  /** Marks `found` (its lock held) as run by this process and returns its progress. */
  private static async start(sql: Sql, found: JobRow, opts: Parameters<typeof ImportJob.run>[1]): Promise<ImportJob> {
    const resumedFrom = Number(found.cursor ?? 0) || 0;
    // nothing committed yet, so no reject of this job has been written: start the rejects file empty
    if (resumedFrom === 0) await opts.fresh();
    const saved = found.params.counts as ImportCounts | undefined;
    await updateJob(sql, found.id, {
      state: 'running',
      error: null,
      total: opts.total,
      params: { runner: thisRunner() },
    });
    if (resumedFrom) opts.log?.info({ job: found.id, cursor: resumedFrom }, 'resuming import');
    const earlier = saved && resumedFrom ? addCounts(emptyCounts(), saved) : emptyCounts();
    return new ImportJob(sql, found.id, resumedFrom, earlier, found.params, opts.total, opts.onProgress, opts.started);
  }

  /** The job's counts over all its runs, this one included. */
  get counts(): ImportCounts {
    return addCounts(this.earlier, this.run);
  }

  /** A batch committed up to record `lastN`, adding `delta`. */
  committed(delta: ImportCounts, lastN: number): void {
    Object.assign(this.run, addCounts(this.run, delta));
    this.done = lastN;
    this.report();
  }

  /** An image was read (or rejected). */
  imageDone(): void {
    this.imagesDone++;
    this.report();
  }

  report(): void {
    this.onProgress?.({
      jobId: this.id,
      done: this.done,
      total: this.total,
      imagesDone: this.imagesDone,
      rejected: this.counts.rejected,
      elapsedMs: Date.now() - this.started,
    });
  }

  /** Records `params` on the job row (merged into what it has). */
  async record(params: Record<string, unknown>): Promise<void> {
    await updateJob(this.sql, this.id, { params });
  }

  /** Marks the job finished with its cumulative counts; returns them. */
  async finish(state: 'succeeded' | 'cancelled'): Promise<ImportCounts> {
    const counts = { ...this.counts, skipped: 0 };
    await updateJob(this.sql, this.id, { state, params: { counts } });
    return counts;
  }

  async fail(err: unknown): Promise<void> {
    await updateJob(this.sql, this.id, { state: 'failed', error: (err as Error).message }).catch(() => {});
  }
}
