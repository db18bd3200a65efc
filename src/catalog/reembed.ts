/**
 * Model versioning: re-embedding every image with another model, switching the active model, dropping the
 * vectors of an old one (docs/models.md).
 *
 * `runReembed` walks product_image in id order and writes the new model's vectors (its own table,
 * embedding_<dimension>, so models of different dimension coexist). Progress is the job row: `cursor` = the
 * last image id handled, moved in the same transaction as that batch's vectors, so a killed run resumes where
 * it stopped. Originals come from the image store; images that came with a precomputed embedding and no file
 * (or whose file is gone) cannot be re-embedded and are counted as failed, with a reason, in the job params.
 * Images added while the job runs (random uuids may sort before the cursor) are picked up by catch-up passes.
 * One runner per job across processes: the run holds the job's advisory lock (job-lock.ts) and records itself
 * as `params.runner`; a second `runReembed` of the same job throws JobBusyError, and the background runner
 * leaves such a job to its owner. Replicas asked for the same model at once find one job (findOrCreateJob).
 * Only when every pass is done does the active model switch, in ONE transaction (old inactive, new active,
 * job succeeded): until then searches keep using the old model's vectors, which stay until
 * `dropModelVectors`.
 *
 * `ReembedRunner` is the in-process background runner for the GraphQL `startReembed` mutation (it satisfies
 * the resolvers' JobRunner interface); the CLI runs `runReembed` in the foreground.
 */
import type { Config } from '../config.js';
import type { Sql } from '../db/index.js';
import { badInput, codeOf, GlimpseError, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import { ImageStore } from './image-store.js';
import type { ImageEmbedder } from './images.js';
import { countImages, PRECOMPUTED_SOURCE } from './store/images.js';
import { findOrCreateJob, getJob, RESUMABLE_STATES, updateJob, type JobRow } from './store/jobs.js';
import { JobBusyError, thisRunner, withJobLock } from './store/job-lock.js';
import { activeModelId, forgetModel, lockModel, ModelRegistry, switchActive, type ModelRow } from './store/models.js';
import {
  countEmbeddings,
  countImagesWithoutEmbedding,
  deleteEmbeddings,
  imagesInIdOrder,
  insertEmbeddings,
  type ImageEmbeddingState as ImageRef,
} from './store/embeddings.js';
import { mapLimit } from './concurrency.js';

export interface ReembedDeps {
  sql: Sql;
  /** the local image folder, unless `imageStore` selects the storage (config.ts) */
  imageDir: string;
  imageStore?: Config['imageStore'] | undefined;
  log?: Logger | undefined;
}

export interface ReembedOptions {
  /** images per transaction (default 64) */
  batchSize?: number | undefined;
  /** images read + embedded at the same time (default 16) */
  concurrency?: number | undefined;
  /** switch the active model when done (default true) */
  activate?: boolean | undefined;
  /** resume/continue this job (else: the newest unfinished re-embed job of the model, else a new one) */
  job?: JobRow | undefined;
  onProgress?:
    ((job: { jobId: string; done: number; total: number; failed: number; elapsedMs: number }) => void) | undefined;
  /** stop after the current batch; the job stays resumable */
  signal?: AbortSignal | undefined;
  /** the caller already holds `job`'s lock (ReembedRunner claims it before loading the model) */
  lockHeld?: boolean | undefined;
}

export interface ReembedSummary {
  jobId: string;
  model: string;
  dimension: number;
  previousModel: string | null;
  state: 'succeeded' | 'cancelled';
  /** images in the catalog */
  total: number;
  /** vectors written by this run */
  embedded: number;
  /** images that had a vector of this model already (an earlier run, or imported with it) */
  alreadyEmbedded: number;
  /** images without a vector of this model at the end */
  failed: number;
  /** why, by reason code (NO_ORIGINAL, ORIGINAL_MISSING, CORRUPT_IMAGE, …) */
  failures: Record<string, number>;
  activated: boolean;
  seconds: number;
  imagesPerSecond: number;
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/** Images without a vector of the model. */
export function missingVectorCount(sql: Sql, model: { id: string; dimension: number }): Promise<number> {
  return countImagesWithoutEmbedding(sql, { modelId: model.id, dimension: model.dimension });
}

/** Re-embeds every image with `embedder`'s model (resumable), then switches the active model to it. */
export async function runReembed(
  deps: ReembedDeps,
  embedder: ImageEmbedder,
  opts: ReembedOptions = {},
): Promise<ReembedSummary> {
  const started = Date.now();
  const { sql } = deps;
  const store = ImageStore.fromConfig(deps);
  const registry = new ModelRegistry(sql);
  const model = await registry.ensure(embedder);
  const target = { modelId: model.id, dimension: model.dimension };
  const batchSize = Math.max(1, Math.min(1000, Math.floor(opts.batchSize ?? 64)));
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 16));
  const total = await countImages(sql);

  const found =
    opts.job ??
    (
      await findOrCreateJob(
        sql,
        'reembed',
        { model: model.id },
        { state: 'queued', modelId: model.id, total, params: { model: model.id, failures: {} } },
      )
    ).job;
  if (opts.lockHeld) return runLocked(found.id);
  const locked = await withJobLock(sql, found.id, () => runLocked(found.id));
  if (!locked.ran) throw new JobBusyError(found.id);
  return locked.value;

  async function runLocked(jobId: string): Promise<ReembedSummary> {
    // read again under the lock: a runner that held it before us may have moved the cursor (or finished)
    const job = await getJob(sql, jobId);
    if (!job || !RESUMABLE_STATES.includes(job.state)) throw new JobBusyError(jobId);
    await updateJob(sql, jobId, {
      state: 'running',
      modelId: model.id,
      total,
      error: null,
      params: { runner: thisRunner() },
    });
    const failures: Record<string, number> = { ...((job.params.failures as Record<string, number> | undefined) ?? {}) };
    let done = job.done;
    let failed = job.failed;
    let embedded = 0;
    let alreadyEmbedded = 0;
    /** images this run could not embed → reason */
    const failedIds = new Map<string, string>();
    const progress = () => opts.onProgress?.({ jobId, done, total, failed, elapsedMs: Date.now() - started });
    progress();

    /** Reads and embeds a batch; returns the vectors to write and the failures. */
    const embedBatch = async (rows: ImageRef[]) => {
      const todo = rows.filter((r) => !r.has && !failedIds.has(r.id));
      alreadyEmbedded += rows.filter((r) => r.has).length;
      const results = await mapLimit(
        todo,
        concurrency,
        async (r): Promise<{ r: ImageRef; vector?: Float32Array; code?: string; message?: string }> => {
          const bytes = await store.get(r.sha256).catch(() => undefined);
          if (!bytes) {
            return r.source === PRECOMPUTED_SOURCE
              ? {
                  r,
                  code: 'NO_ORIGINAL',
                  message: 'imported with a precomputed embedding and no file: nothing to re-embed',
                }
              : { r, code: 'ORIGINAL_MISSING', message: `the original ${r.sha256} is missing from the image store` };
          }
          try {
            return { r, vector: await embedder.embedImage(bytes) };
          } catch (err) {
            return { r, code: codeOf(err) ?? 'EMBED_FAILED', message: (err as Error).message };
          }
        },
      );
      return results;
    };

    const writeBatch = async (
      results: Awaited<ReturnType<typeof embedBatch>>,
      cursor: string | undefined,
      handled: number,
    ) => {
      let newFailures = 0;
      await sql.transaction(async (tx) => {
        // an image deleted meanwhile is simply skipped
        const vectors = results.flatMap((res) => (res.vector ? [{ imageId: res.r.id, vector: res.vector }] : []));
        embedded += (await insertEmbeddings(tx, target, vectors)).length;
        for (const res of results) {
          if (!res.vector && !failedIds.has(res.r.id)) {
            failedIds.set(res.r.id, res.code!);
            failures[res.code!] = (failures[res.code!] ?? 0) + 1;
            newFailures++;
            deps.log?.warn({ image: res.r.id, code: res.code }, `re-embed: ${res.message}`);
          }
        }
        await updateJob(tx, jobId, {
          ...(cursor !== undefined ? { cursor, done: done + handled } : {}),
          failed: failed + newFailures,
          params: { failures },
        });
      });
      if (cursor !== undefined) done += handled;
      failed += newFailures;
      progress();
    };

    let cancelled = false;
    try {
      // main pass, in id order from the cursor
      let cursor = job.cursor ?? ZERO_UUID;
      for (;;) {
        if (opts.signal?.aborted) {
          cancelled = true;
          break;
        }
        const rows = await imagesInIdOrder(sql, target, { after: cursor, limit: batchSize });
        if (!rows.length) break;
        cursor = rows[rows.length - 1]!.id;
        await writeBatch(await embedBatch(rows), cursor, rows.length);
      }
      // catch-up: images added behind the cursor while the job ran
      for (let pass = 0; pass < 3 && !cancelled; pass++) {
        let wrote = 0;
        let after = ZERO_UUID;
        for (;;) {
          if (opts.signal?.aborted) {
            cancelled = true;
            break;
          }
          const rows = await imagesInIdOrder(sql, target, { after, limit: batchSize, withoutEmbedding: true });
          if (!rows.length) break;
          after = rows[rows.length - 1]!.id;
          const fresh = rows.filter((r) => !failedIds.has(r.id));
          if (!fresh.length) continue;
          const before = embedded;
          await writeBatch(await embedBatch(fresh), undefined, 0);
          wrote += embedded - before;
        }
        if (!wrote) break;
      }
    } catch (err) {
      await updateJob(sql, jobId, { state: 'failed', error: (err as Error).message }).catch(() => {});
      throw err;
    }

    const previous = await registry.active();
    let activated = false;
    if (!cancelled) {
      // the catch-up passes retried every image still without a vector, so this run's failures are the whole story
      for (const k of Object.keys(failures)) delete failures[k];
      for (const code of failedIds.values()) failures[code] = (failures[code] ?? 0) + 1;
      const missing = await missingVectorCount(sql, model);
      const finalTotal = await countImages(sql);
      await sql.transaction(async (tx) => {
        if (opts.activate ?? true) {
          await switchActive(tx, model.id);
          activated = true;
        }
        await updateJob(tx, jobId, {
          state: 'succeeded',
          done: finalTotal,
          total: finalTotal,
          failed: missing,
          params: { failures, previousModel: previous?.id ?? null, activated },
        });
      });
      failed = missing;
      done = finalTotal;
      progress();
    } else {
      await updateJob(sql, jobId, { state: 'cancelled' });
    }
    const seconds = (Date.now() - started) / 1000;
    return {
      jobId,
      model: model.id,
      dimension: model.dimension,
      previousModel: previous?.id ?? null,
      state: cancelled ? 'cancelled' : 'succeeded',
      total: done,
      embedded,
      alreadyEmbedded,
      failed,
      failures,
      activated,
      seconds,
      imagesPerSecond: seconds > 0 ? embedded / seconds : 0,
    };
  }
}

export interface ModelInfo extends ModelRow {
  vectors: number;
  /** images without a vector of this model */
  missing: number;
}

export async function listModels(sql: Sql): Promise<ModelInfo[]> {
  const models = await new ModelRegistry(sql).list();
  const out: ModelInfo[] = [];
  for (const m of models) {
    const vectors = await countEmbeddings(sql, { modelId: m.id, dimension: m.dimension });
    out.push({ ...m, vectors, missing: await missingVectorCount(sql, { id: m.id, dimension: m.dimension }) });
  }
  return out;
}

/**
 * Switches the active model atomically. Refuses a model that lacks vectors for some images unless `force`
 * (those products would vanish from semantic search).
 */
export async function activateModel(
  sql: Sql,
  modelId: string,
  opts: { force?: boolean } = {},
): Promise<{ previous: string | null; missing: number }> {
  const model = (await new ModelRegistry(sql).list()).find((m) => m.id === modelId);
  if (!model) throw notFound('model', modelId);
  const missing = await missingVectorCount(sql, model);
  if (missing && !opts.force) {
    throw new GlimpseError(
      'BAD_USER_INPUT',
      `model ${modelId} has no vector for ${missing} image(s): run \`glimpse reembed --model ${modelId}\` first, or pass --force`,
      {
        missing,
      },
    );
  }
  return sql.transaction(async (tx) => {
    const prev = await activeModelId(tx);
    await switchActive(tx, modelId);
    return { previous: prev, missing };
  });
}

/** Deletes every vector of a model that is not active (and, with `forget`, its registry row). */
export async function dropModelVectors(
  sql: Sql,
  modelId: string,
  opts: { forget?: boolean } = {},
): Promise<{ deleted: number }> {
  return sql.transaction(async (tx) => {
    const model = await lockModel(tx, modelId);
    if (!model) throw notFound('model', modelId);
    if (model.active)
      throw new GlimpseError('BAD_USER_INPUT', `model ${modelId} is the active model: activate another one first`);
    const deleted = await deleteEmbeddings(tx, { modelId, dimension: model.dimension });
    if (opts.forget) await forgetModel(tx, modelId);
    return { deleted };
  });
}

// ---------------------------------------------------------------------------------------- background runner

/** An embedder the runner can close when it loaded it. */
export type ClosableEmbedder = ImageEmbedder & { close?: () => Promise<void> };

export interface ReembedRunnerDeps {
  sql: Sql;
  config: Pick<Config, 'imageDir'> & Partial<Pick<Config, 'imageStore'>>;
  log?: Logger | undefined;
  /** the server's loaded embedder, if any (reused when the requested model is the same) */
  current?: (() => ImageEmbedder | undefined) | undefined;
  /** loads another model by name (e.g. name => Embedder.load({ ...config, model: name })) */
  load: (model: string) => Promise<ClosableEmbedder>;
  /**
   * Called once a job has switched the active model, with the embedder it loaded for that model: the
   * server adopts it so searches embed queries with the new model from that moment on. When given, the
   * runner hands the embedder over instead of closing it.
   */
  onSwitched?: ((embedder: ClosableEmbedder) => void) | undefined;
  options?: Omit<ReembedOptions, 'job' | 'signal' | 'onProgress'>;
}

/**
 * Runs re-embed jobs in the background of the server process; `startReembed` returns the job at once. Of all
 * the replicas asked to run one model's job, the one that takes the job's advisory lock runs it (holding the
 * lock from before the model loads to the end); every other one reports that job and runs nothing.
 */
export class ReembedRunner {
  private readonly running = new Map<string, { job: JobRow; done: Promise<void> }>();
  /** startReembed calls in flight, by model: a second call in this process waits for the first */
  private readonly starting = new Map<string, Promise<JobRow>>();
  private readonly abort = new AbortController();

  constructor(private readonly deps: ReembedRunnerDeps) {}

  /** Starts (or resumes, or reports the run of) the re-embed job for `model`; BAD_USER_INPUT for what is no model id. */
  async startReembed(model: string): Promise<JobRow> {
    // eslint-disable-next-line no-control-regex
    if (!model || model.length > 200 || /[\s\u0000-\u001f]/.test(model))
      throw badInput('model: must be a model id, e.g. Xenova/clip-vit-base-patch32', { field: 'model' });
    const { sql } = this.deps;
    const running = this.running.get(model);
    if (running) return (await getJob(sql, running.job.id)) ?? running.job;
    const pending = this.starting.get(model);
    if (pending) return pending;
    const start = this.start(model).finally(() => this.starting.delete(model));
    this.starting.set(model, start);
    return start;
  }

  private async start(model: string): Promise<JobRow> {
    const { sql } = this.deps;
    const known = (await new ModelRegistry(sql).list()).find((m) => m.id === model);
    // one job per model even when several replicas are asked at once (serialised in findOrCreateJob)
    const { job } = await findOrCreateJob(
      sql,
      'reembed',
      { model },
      { state: 'queued', modelId: known?.id ?? null, params: { model, failures: {} } },
    );
    await this.claim(model, job);
    // claimed: this process runs it; not claimed: another replica (or `glimpse reembed`) does — report it
    return (await getJob(sql, job.id)) ?? job;
  }

  /** Tries to take `job`'s lock and run it in the background; resolves once that is decided (true: taken). */
  private claim(model: string, job: JobRow): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const done = withJobLock(this.deps.sql, job.id, async () => {
        this.running.set(model, { job, done });
        resolve(true);
        await this.execute(model, job.id);
      })
        .then((out) => {
          if (!out.ran) resolve(false);
        }, reject)
        .finally(() => {
          if (this.running.get(model)?.done === done) this.running.delete(model);
        });
    });
  }

  /** Runs the job (its lock is held): loads the model, then re-embeds from the job's cursor. */
  private async execute(model: string, jobId: string): Promise<void> {
    const { sql, log } = this.deps;
    const job = await getJob(sql, jobId);
    // finished by the runner that held the lock just before us
    if (!job || !RESUMABLE_STATES.includes(job.state)) return;
    await updateJob(sql, jobId, { state: 'queued', error: null });
    let embedder: ClosableEmbedder | undefined;
    let loaded = false;
    try {
      const current = this.deps.current?.();
      if (current && current.modelId === model) embedder = current;
      else {
        embedder = await this.deps.load(model);
        loaded = true;
      }
      const summary = await runReembed(
        { sql, imageDir: this.deps.config.imageDir, imageStore: this.deps.config.imageStore, log },
        embedder,
        {
          ...this.deps.options,
          job,
          lockHeld: true,
          signal: this.abort.signal,
        },
      );
      log?.info({ job: jobId, ...summary }, `re-embed with ${summary.model} ${summary.state}`);
      if (loaded && summary.state === 'succeeded' && this.deps.onSwitched) {
        this.deps.onSwitched(embedder);
        loaded = false; // handed over: the server owns it now
      }
    } catch (err) {
      log?.error({ err, job: jobId, model }, 're-embed failed');
      await updateJob(sql, jobId, { state: 'failed', error: (err as Error).message }).catch(() => {});
    } finally {
      if (loaded) await embedder?.close?.().catch(() => {});
    }
  }

  /** Resolves when the job of `model` started here has finished (tests, shutdown). */
  async wait(model?: string): Promise<void> {
    const list = model ? [this.running.get(model)] : [...this.running.values()];
    await Promise.all(list.map((r) => r?.done));
  }

  /** Stops running jobs after their current batch (they stay resumable). */
  async close(): Promise<void> {
    this.abort.abort();
    await this.wait();
  }
}
