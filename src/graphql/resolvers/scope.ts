/**
 * Services (built once at startup) and the per-request scope (services + fresh DataLoaders) that resolvers
 * reach through `ctx.scope`.
 */
import { ImageStore } from '../../catalog/image-store.js';
import { CatalogService, type ImageEmbedder } from '../../catalog/index.js';
import { ReembedRunner } from '../../catalog/reembed.js';
import { Embedder } from '../../embedding/embedder.js';
import type { Config } from '../../config.js';
import type { Database } from '../../db/index.js';
import { GlimpseError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { SearchService } from '../../search/service.js';
import type { QueryEmbedder } from '../../search/types.js';
import type { ModelProvider } from '../../embedding/model-manager.js';
import type { RequestContext } from '../context.js';
import { createLoaders, type Loaders } from '../loaders.js';

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
  jobs?: JobRunner | undefined;
  /** the loaded embedder; throws MODEL_UNAVAILABLE while none is ready */
  embedder(): ImageEmbedder & QueryEmbedder;
  /** stops background work (re-embed jobs) before the database closes */
  close(): Promise<void>;
}

export interface ServiceDeps {
  config: Config;
  db: Database;
  models: ModelSource;
  logger?: Logger;
  log?: Logger;
  /** re-embed job runner (default: an in-process ReembedRunner; null: none, startReembed is MODEL_UNAVAILABLE) */
  jobs?: JobRunner | null;
  /** overrides for URL fetching (tests) */
  fetchOptions?: ConstructorParameters<typeof CatalogService>[0]['fetchOptions'];
}

export interface RequestScope {
  services: GlimpseServices;
  catalog: CatalogService;
  search: SearchService;
  loaders: Loaders;
}

export function createServices(deps: ServiceDeps): GlimpseServices {
  const log = deps.logger ?? deps.log;
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
  const search = new SearchService(deps.db.sql, deps.config, () => {
    try {
      return embedder();
    } catch {
      return null;
    }
  });
  // files a crash left without a row (written, never committed) are removed once they are old enough
  if (deps.config.imageGcOnStart)
    void new ImageStore(deps.config.imageDir)
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
  const close = async () => {
    await jobs?.close?.();
  };
  return { config: deps.config, db: deps.db, log, models: deps.models, catalog, search, jobs, embedder, close };
}

const servicesCache = new WeakMap<object, GlimpseServices>();

function isServices(x: unknown): x is GlimpseServices {
  return !!x && typeof x === 'object' && (x as GlimpseServices).catalog instanceof CatalogService;
}

/**
 * The per-request scope. `services` is what createServices returned (the server calls it once); plain
 * dependencies ({ config, db, models, logger }) are accepted too and turned into services once per object.
 */
export function createRequestScope(services: GlimpseServices | ServiceDeps, _base?: unknown): RequestScope {
  let s: GlimpseServices;
  if (isServices(services)) s = services;
  else {
    s = servicesCache.get(services) ?? createServices(services);
    servicesCache.set(services, s);
  }
  return { services: s, catalog: s.catalog, search: s.search, loaders: createLoaders(s.catalog) };
}

/** The typed scope of a request context. */
export function scopeOf(ctx: Pick<RequestContext, 'scope'>): RequestScope {
  const scope = ctx.scope as unknown as RequestScope;
  if (!scope?.catalog) throw new Error('request scope is missing: createRequestScope was not installed');
  return scope;
}
