/**
 * The composition root: every service the API uses, built once at start-up from the configuration, the
 * database and the model provider (src/server.ts calls createServices; tests may too). Nothing else
 * constructs services: resolvers receive them through the request scope (src/graphql/resolvers/scope.ts), the
 * CLI builds its own for one command.
 */
import { AnalyticsService } from './analytics/service.js';
import { ImageStore } from './catalog/image-store.js';
import { CatalogService, type ImageEmbedder } from './catalog/index.js';
import { ReembedRunner } from './catalog/reembed.js';
import type { Config } from './config.js';
import type { Database } from './db/index.js';
import { Embedder } from './embedding/embedder.js';
import type { ModelProvider } from './embedding/model-manager.js';
import { GlimpseError } from './errors.js';
import type { Logger } from './logger.js';
import { SearchService } from './search/service.js';
import { warmUpSearch } from './search/warm-up.js';
import type { QueryEmbedder } from './search/types.js';

/** A queued job as the API returns it (table `job`). */
export interface JobRecord {
  id: string;
  kind: string;
  state: string;
  modelId: string | null;
  done: number;
  total: number;
  failed: number;
  error: string | null;
  /** what the job was started with (a re-embed: `model`, the id it embeds with, registered or not yet) */
  params?: Record<string, unknown>;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** Background job runner (re-embedding); optional: without one, startReembed answers MODEL_UNAVAILABLE. */
export interface JobRunner {
  startReembed(modelId: string): Promise<JobRecord>;
  /** stops running jobs after their current batch (they stay resumable) */
  close?(): Promise<void>;
}

/** The model provider as the server hands it over; a ModelManager also has `get()`. */
export type ModelSource = ModelProvider & { get?: () => ImageEmbedder & QueryEmbedder };

export interface GlimpseServices {
  config: Config;
  db: Database;
  log?: Logger | undefined;
  models: ModelSource;
  catalog: CatalogService;
  search: SearchService;
  /** search analytics (recording off with GLIMPSE_ANALYTICS_RETENTION_DAYS=0) */
  analytics: AnalyticsService;
  jobs?: JobRunner | undefined;
  /** the loaded embedder; throws MODEL_UNAVAILABLE while none is ready */
  embedder(): ImageEmbedder & QueryEmbedder;
  /**
   * Opens the database pools' kept connections (GLIMPSE_DB_POOL_MIN) and runs a warm-up search on each
   * (src/search/warm-up.ts; none while the catalog has no vectors); returns how many of each. Failures are logged, never thrown: the pools open connections
   * on demand.
   */
  warmUp(): Promise<{ connections: number; searches: number }>;
  /** stops background work (re-embed jobs) before the database closes */
  close(): Promise<void>;
}

export interface ServiceDeps {
  config: Config;
  db: Database;
  models: ModelSource;
  logger?: Logger | undefined;
  /** re-embed job runner (default: an in-process ReembedRunner; null: none, startReembed is MODEL_UNAVAILABLE) */
  jobs?: JobRunner | null;
  /** overrides for URL fetching (tests) */
  fetchOptions?: ConstructorParameters<typeof CatalogService>[0]['fetchOptions'];
}

export function createServices(deps: ServiceDeps): GlimpseServices {
  const log = deps.logger;
  const embedder = () => {
    if (typeof deps.models.get !== 'function') {
      throw new GlimpseError('MODEL_UNAVAILABLE', 'no embedding model is configured for this server');
    }
    return deps.models.get();
  };
  const catalog = new CatalogService({
    db: deps.db,
    config: deps.config,
    embedder,
    ...(log ? { log } : {}),
    ...(deps.fetchOptions ? { fetchOptions: deps.fetchOptions } : {}),
  });
  const queryEmbedder = () => {
    try {
      return embedder();
    } catch {
      return null;
    }
  };
  const search = new SearchService(deps.db.sql, deps.config, queryEmbedder);
  // files a crash left without a row (written, never committed) are removed once they are old enough
  if (deps.config.imageGcOnStart)
    void ImageStore.fromConfig(deps.config)
      .sweep(deps.db.sql)
      .then((r) => (r.removed || r.tempRemoved) && log?.info(r, 'removed image files left behind by an earlier crash'))
      .catch((err: unknown) => log?.warn({ err }, 'image store clean-up failed'));
  // register the model as soon as it is ready (first search, first image); harmless when it is not
  void Promise.resolve()
    .then(() => catalog.models.ensure(embedder()))
    .catch(() => {});
  // re-embedding runs in this process: the loaded model is reused, another one is loaded for the job
  const jobs =
    deps.jobs === undefined
      ? new ReembedRunner({
          sql: deps.db.sql,
          config: deps.config,
          log,
          current: () => {
            try {
              return embedder();
            } catch {
              return undefined;
            }
          },
          load: (model) => Embedder.load({ ...deps.config, model }, log),
          // searches follow the active model as soon as the job switches it
          onSwitched: (next) => {
            const adopt = (deps.models as { adopt?: (e: unknown) => void }).adopt;
            if (typeof adopt === 'function') adopt.call(deps.models, next);
            else void next.close?.();
          },
        })
      : (deps.jobs ?? undefined);
  // searches are recorded on the primary (a write), buffered off the request path
  const analytics = new AnalyticsService(deps.db.sql, deps.config, log).start();
  const close = async () => {
    await jobs?.close?.();
    await analytics.close();
  };
  return {
    config: deps.config,
    db: deps.db,
    log,
    models: deps.models,
    catalog,
    search,
    analytics,
    jobs,
    embedder,
    async warmUp() {
      let searches = 0;
      let failed = 0;
      let first: unknown;
      const connections = await deps.db.warmUp(
        async (sql) => {
          if (await warmUpSearch(sql, deps.config, queryEmbedder)) searches++;
        },
        (err) => {
          failed++;
          first ??= err;
        },
      );
      // one line, not one per connection of a database that is down
      if (failed) log?.warn({ err: first, failed }, 'warming database connections failed');
      return { connections, searches };
    },
    close,
  };
}
