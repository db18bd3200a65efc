/**
 * What every resolver receives. Built per request by the HTTP layer (src/app.ts); the services it holds
 * are built once at startup. Resolvers stay thin: validate, call a service, map errors.
 */
import type { Config } from '../config.js';
import type { Database } from '../db/index.js';
import type { Logger } from '../logger.js';
import type { Caller } from '../auth/api-keys.js';

export interface RequestContext {
  config: Config;
  db: Database;
  log: Logger;
  requestId: string;
  caller: Caller;
  /** absolute base for links the API returns (image URLs), e.g. http://localhost:4000 */
  baseUrl: string;
  /** services and per-request DataLoaders, owned by src/graphql/resolvers (see createRequestScope) */
  scope: Record<string, unknown>;
}
