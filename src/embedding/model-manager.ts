/**
 * Holds the server's Embedder, or the reason there is none yet. On start it loads the configured model; when a
 * hub model is missing and GLIMPSE_MODEL_AUTO_FETCH is on, it fetches it in the background first (progress to the
 * logger). Until then `get()` throws ModelUnavailableError (code MODEL_UNAVAILABLE), which the API maps to a
 * clear "model not ready" error while keyword search keeps working. The text towers of GLIMPSE_TEXT_MODELS are
 * loaded (and fetched, the same way) after the image model and paired with it; a tower of another space or
 * dimension fails start-up (ModelPairingError) before any of its weights are loaded.
 */
import type { Config } from '../config.js';
import { Embedder, silentLogger, type EmbedderConfig, type EmbeddingLogger } from './embedder.js';
import { fetchModel, ModelFilesError, parseModelName, type FetchProgress } from './model-files.js';
import { TextTower } from './text-tower.js';
import { fetchTextTower, resolveTextTower } from './text-tower-files.js';

export class ModelUnavailableError extends Error {
  override name = 'ModelUnavailableError';
  readonly code = 'MODEL_UNAVAILABLE';
  constructor(
    message: string,
    readonly state: ModelState,
  ) {
    super(message);
  }
}

export type ModelState = 'idle' | 'fetching' | 'loading' | 'ready' | 'failed' | 'closed';

export interface ModelStatus {
  ready: boolean;
  state: ModelState;
  reason?: string;
  modelId?: string;
  device?: 'cpu' | 'cuda';
  isTestModel?: boolean;
  fetch?: { file: string; received: number; total?: number; fileIndex: number; fileCount: number };
}

/** The model as the API and health checks see it, loaded lazily (ModelManager implements it). */
export interface ModelProvider {
  status(): { ready: boolean; modelId?: string; reason?: string; device?: string; isTestModel?: boolean };
}

export type ModelManagerConfig = EmbedderConfig &
  Pick<Config, 'modelAutoFetch' | 'hfEndpoint'> &
  Partial<Pick<Config, 'textModels' | 'textRouting'>>;

export interface ModelManagerOptions {
  /** Replaces Embedder.load (tests). */
  load?: (config: EmbedderConfig, logger: EmbeddingLogger) => Promise<Embedder>;
  /** Replaces fetchModel (tests). */
  fetch?: typeof fetchModel;
}

export class ModelManager {
  private embedder: Embedder | undefined;
  private state: ModelState = 'idle';
  private reason: string | undefined = 'the model has not been loaded yet';
  private progress: ModelStatus['fetch'];
  private starting: Promise<Embedder | undefined> | undefined;
  private readonly abort = new AbortController();
  private settleStartup: (() => void) | undefined;
  private readonly startupSettled = new Promise<void>((resolve) => (this.settleStartup = resolve));

  constructor(
    private readonly config: ModelManagerConfig,
    private readonly logger: EmbeddingLogger = silentLogger,
    private readonly opts: ModelManagerOptions = {},
  ) {}

  status(): ModelStatus {
    const s: ModelStatus = { ready: this.state === 'ready', state: this.state };
    if (this.state !== 'ready' && this.reason) s.reason = this.reason;
    if (this.embedder)
      Object.assign(s, {
        modelId: this.embedder.modelId,
        device: this.embedder.device,
        isTestModel: this.embedder.isTestModel,
      });
    else s.modelId = this.config.model;
    if (this.state === 'fetching' && this.progress) s.fetch = { ...this.progress };
    return s;
  }

  /** The embedder; throws ModelUnavailableError while it is fetching, loading or failed. */
  get(): Embedder {
    if (this.embedder && this.state === 'ready') return this.embedder;
    throw new ModelUnavailableError(
      `embedding model "${this.config.model}" is not available: ${this.reason ?? this.state}`,
      this.state,
    );
  }

  /**
   * Switches to another loaded embedder (a re-embed job finished and made its model the active one).
   * Requests already holding the old embedder finish on it: it is closed after a grace period.
   */
  adopt(next: Embedder, graceMs = 30_000): void {
    const previous = this.embedder;
    this.embedder = next;
    this.state = 'ready';
    this.reason = undefined;
    this.logger.info(
      { model: next.modelId, previous: previous?.modelId },
      'switched to the newly activated embedding model',
    );
    if (previous && previous !== next) {
      setTimeout(() => void previous.close().catch(() => {}), graceMs).unref();
    }
  }

  /** Start loading (and fetching, if allowed) in the background; resolves when done, never rejects. */
  start(): Promise<Embedder | undefined> {
    this.starting ??= this.run();
    return this.starting;
  }

  /**
   * Resolves once start-up has an outcome that does not depend on the network: the model is loaded, it
   * failed (missing with auto-fetch off, corrupt, unloadable), or it went to a background download.
   * The server waits for this before listening, so broken local model files stop it from starting.
   */
  async startupOutcome(): Promise<'ready' | 'fetching' | 'failed' | 'closed'> {
    void this.start();
    await Promise.race([this.startupSettled, this.starting]);
    return this.state === 'ready' || this.state === 'fetching' || this.state === 'closed' ? this.state : 'failed';
  }

  /** Wait for the model; rejects with ModelUnavailableError when it failed. */
  async ready(): Promise<Embedder> {
    await this.start();
    return this.get();
  }

  private async run(): Promise<Embedder | undefined> {
    const load = this.opts.load ?? ((c, l) => Embedder.load(c, l));
    try {
      this.state = 'loading';
      this.reason = 'the model is loading';
      try {
        this.embedder = await load(this.config, this.logger);
      } catch (err) {
        const missing = err instanceof ModelFilesError && err.code === 'MODEL_FILES_MISSING';
        const spec = missing ? parseModelName(this.config.model, this.config.modelDir) : undefined;
        if (!missing || spec?.kind !== 'hub' || !this.config.modelAutoFetch) throw err;
        await this.fetchInBackground('embedding model', spec, (common) =>
          (this.opts.fetch ?? fetchModel)({ ...common, dtype: this.config.modelDtype }),
        );
        this.state = 'loading';
        this.reason = 'the model is loading';
        this.embedder = await load(this.config, this.logger);
      }
      await this.pairTextTowers(this.embedder);
      if (this.isClosed()) {
        await this.embedder.close();
        return undefined;
      }
      this.state = 'ready';
      this.reason = undefined;
      return this.embedder;
    } catch (err) {
      if (this.isClosed()) return undefined;
      this.state = 'failed';
      const e = err as Error & { code?: string };
      this.reason = `${e.code ? `${e.code}: ` : ''}${e.message}`;
      this.logger.error({ err: e, model: this.config.model }, `embedding model unavailable: ${e.message}`);
      return undefined;
    }
  }

  /**
   * Downloads a missing hub model while the server already serves what needs no model: start-up is settled,
   * status() says what is downloading (with progress).
   */
  private async fetchInBackground(
    what: 'embedding model' | 'text model',
    spec: { repo?: string; dir: string },
    fetch: (common: {
      repo: string;
      modelDir: string;
      endpoint: string;
      signal: AbortSignal;
      onProgress: (p: FetchProgress) => void;
    }) => Promise<unknown>,
  ): Promise<void> {
    this.state = 'fetching';
    this.reason = `the ${what === 'text model' ? 'text model' : 'model'} "${spec.repo}" is being downloaded`;
    this.settleStartup?.();
    this.logger.info(
      { model: spec.repo, dir: spec.dir, endpoint: this.config.hfEndpoint },
      `${what} missing: fetching it in the background`,
    );
    await fetch({
      repo: spec.repo!,
      modelDir: this.config.modelDir,
      endpoint: this.config.hfEndpoint,
      signal: this.abort.signal,
      onProgress: this.onFetchProgress(),
    });
    this.progress = undefined;
  }

  /** Progress of a background download, to status() and (every 5 s) to the log. */
  private onFetchProgress(): (p: FetchProgress) => void {
    let lastLog = 0;
    return (p) => {
      this.progress = {
        file: p.file,
        received: p.received,
        fileIndex: p.fileIndex,
        fileCount: p.fileCount,
        ...(p.total !== undefined ? { total: p.total } : {}),
      };
      const now = Date.now();
      if (now - lastLog > 5000 || p.received === p.total) {
        lastLog = now;
        const pct = p.total ? ` ${((100 * p.received) / p.total).toFixed(1)}%` : '';
        this.logger.info(
          { file: p.file, received: p.received, total: p.total },
          `model fetch: ${p.file} (${p.fileIndex + 1}/${p.fileCount})${pct}`,
        );
      }
    };
  }

  /**
   * Loads the configured text towers beside the image model: each is checked against its space and dimension
   * first (from its config.json), fetched in the background when it is a missing hub model and auto-fetch is on.
   */
  private async pairTextTowers(embedder: Embedder): Promise<void> {
    const names = this.config.textModels ?? [];
    if (!names.length) return;
    const towers: TextTower[] = [];
    try {
      for (const name of names) {
        const files = await resolveTextTower(name, this.config.modelDir, this.logger).catch(async (err: unknown) => {
          const spec =
            err instanceof ModelFilesError &&
            err.code === 'MODEL_FILES_MISSING' &&
            parseModelName(name, this.config.modelDir);
          if (!spec || spec.kind !== 'hub' || !this.config.modelAutoFetch) throw err;
          await this.fetchInBackground('text model', spec, fetchTextTower);
          this.state = 'loading';
          return resolveTextTower(name, this.config.modelDir, this.logger);
        });
        embedder.checkPairing(files);
        towers.push(await TextTower.load(name, this.config, this.logger));
      }
      embedder.attachTextTowers(towers, this.config.textRouting ?? 'auto');
    } catch (err) {
      await Promise.all([embedder.close(), ...towers.map((t) => t.close())]);
      throw err;
    }
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  async close(): Promise<void> {
    const wasLoading = this.state !== 'ready';
    this.state = 'closed';
    this.reason = 'the server is shutting down';
    this.abort.abort(new Error('shutting down'));
    if (wasLoading) await this.starting?.catch(() => undefined);
    await this.embedder?.close();
    this.embedder = undefined;
  }
}
