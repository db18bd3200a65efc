/**
 * The import's progress: its job row (found again for the same file and model, so a rerun resumes after the
 * committed cursor; refused while another live process on this host runs it), the counts of this run and of
 * the job over all its runs, and the progress callback. The batch writer moves the cursor inside each batch's
 * transaction; this only starts, reports and finishes the job.
 */
import os from 'node:os';
import type { Sql } from '../../db/index.js';
import type { Logger } from '../../logger.js';
import { createJob, findResumableJob, updateJob, type JobRow } from '../store/jobs.js';
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

const runnerId = () => ({ host: os.hostname(), pid: process.pid });

/** Refuses to resume a job that a live process on this host is still running (two writers on one cursor). */
function assertNotRunningElsewhere(job: JobRow): void {
  const r = job.params.runner as { host?: string; pid?: number } | undefined;
  if (job.state !== 'running' || !r || r.host !== os.hostname() || typeof r.pid !== 'number' || r.pid === process.pid)
    return;
  try {
    process.kill(r.pid, 0);
  } catch {
    return; // gone (killed, crashed): resume
  }
  throw Object.assign(
    new Error(`import job ${job.id} is being run by process ${r.pid} on this host; wait for it or stop it first`),
    { code: 'IMPORT_RUNNING' },
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
   * The unfinished job of this file and model, resumed, or a new one (`params`: what the job row records
   * about a fresh run; `fresh` is called for a new job only, e.g. to empty the rejects file).
   */
  static async open(
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
  ): Promise<ImportJob> {
    const { started } = opts;
    const found = await findResumableJob(sql, 'import', { ...opts.identity });
    if (found) {
      assertNotRunningElsewhere(found);
      const resumedFrom = Number(found.cursor ?? 0) || 0;
      const saved = found.params.counts as ImportCounts | undefined;
      await updateJob(sql, found.id, {
        state: 'running',
        error: null,
        total: opts.total,
        params: { runner: runnerId() },
      });
      opts.log?.info({ job: found.id, cursor: resumedFrom }, 'resuming import');
      const earlier = saved ? addCounts(emptyCounts(), saved) : emptyCounts();
      return new ImportJob(sql, found.id, resumedFrom, earlier, found.params, opts.total, opts.onProgress, started);
    }
    const job = await createJob(sql, {
      kind: 'import',
      modelId: opts.identity.modelId,
      total: opts.total,
      cursor: '0',
      params: { ...opts.identity, runner: runnerId(), ...opts.params, counts: emptyCounts() },
    });
    await opts.fresh();
    return new ImportJob(sql, job.id, 0, emptyCounts(), job.params, opts.total, opts.onProgress, started);
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
