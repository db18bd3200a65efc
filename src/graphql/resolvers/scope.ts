/**
 * The per-request scope resolvers reach through `ctx.scope`: the services (built once, src/services.ts) and
 * fresh DataLoaders for this request.
 */
import type { CatalogService } from '../../catalog/index.js';
import type { SearchService } from '../../search/service.js';
import type { GlimpseServices } from '../../services.js';
import type { RequestContext } from '../context.js';
import { createLoaders, type Loaders } from '../loaders.js';

export type { GlimpseServices, JobRecord, JobRunner } from '../../services.js';

export interface RequestScope {
  services: GlimpseServices;
  catalog: CatalogService;
  search: SearchService;
  loaders: Loaders;
}

export function createRequestScope(services: GlimpseServices): RequestScope {
  return { services, catalog: services.catalog, search: services.search, loaders: createLoaders(services.catalog) };
}

/** The typed scope of a request context. */
export function scopeOf(ctx: Pick<RequestContext, 'scope'>): RequestScope {
  const scope = ctx.scope as unknown as RequestScope;
  if (!scope?.catalog) throw new Error('request scope is missing: createRequestScope was not installed');
  return scope;
}
