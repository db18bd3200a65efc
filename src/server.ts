/**
 * `npm start` / `glimpse serve`: loads the configuration, opens the database (migrating it), starts the
 * embedding model in the background, and serves the API. SIGTERM/SIGINT shut down gracefully: stop
 * accepting, let in-flight requests finish (GLIMPSE_SHUTDOWN_TIMEOUT_MS), close the model and the database.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createApp, type AppDeps } from './app.js';
import { ConfigError, loadConfig, poolMinOf, type Config } from './config.js';
import { openDatabase, type Database } from './db/index.js';
import { pgvectorVersion, pgvectorWarning } from './db/pgvector-version.js';
import { ModelManager } from './embedding/model-manager.js';
import type { ModelProvider } from './embedding/model-manager.js';
import { resolvers } from './graphql/resolvers/index.js';
import { createRequestScope } from './graphql/resolvers/scope.js';
import { createLogger, flushLogger, type Logger } from './logger.js';
import { createServices } from './services.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** longest the start waits for the kept database connections to be opened and warmed */
const WARM_UP_WAIT_MS = 10_000;

/** A model provider the server may start and close (ModelManager is one). */
export type ServerModels = ModelProvider & { start?(): unknown; close?(): Promise<void> | void };

export interface ServerOverrides {
  logger?: Logger;
  /** an open database owned by the caller (not closed by the server) */
  db?: Database;
  /** the model provider (default: a ModelManager for config.model, started in the background) */
  models?: ServerModels;
  /** close `models` on shutdown (default: true when the server created them, false when passed in) */
  closeModels?: boolean;
  /** the GraphQL schema and resolvers (default: schema.graphql, src/graphql/resolvers and src/services.ts) */
  graphql?: GraphQLModule;
  keyVerifier?: AppDeps['keyVerifier'];
  /** exit the process on SIGTERM/SIGINT after shutting down (default false; the `serve` entry turns it on) */
  handleSignals?: boolean;
}

export interface RunningServer {
  /** base URL, e.g. http://127.0.0.1:4000 */
  url: string;
  /** the GraphQL endpoint (url + /graphql) */
  graphqlUrl: string;
  port: number;
  httpServer: http.Server;
  db: Database;
  models: ServerModels;
  logger: Logger;
  /** graceful shutdown; idempotent */
  close(): Promise<void>;
}

/** Schema, resolvers and request scope for createApp, and how to stop the services' background work. */
export type GraphQLModule = Pick<AppDeps, 'typeDefs' | 'resolvers' | 'createScope'> & {
  closeServices?: () => Promise<void>;
  /** opens the database's kept connections (GLIMPSE_DB_POOL_MIN) and warms each with a search; how many */
  warmUp?: () => Promise<{ connections: number; searches: number }>;
};

/** The API: schema.graphql, the resolvers, and the services built once (src/services.ts) behind each request. */
export function glimpseGraphQL(deps: {
  config: Config;
  db: Database;
  models: ServerModels;
  logger: Logger;
}): GraphQLModule {
  const services = createServices(deps);
  return {
    typeDefs: fs.readFileSync(path.resolve(here, '..', 'schema.graphql'), 'utf8'),
    resolvers,
    createScope: () => ({ ...createRequestScope(services) }),
    closeServices: () => services.close(),
    warmUp: () => services.warmUp(),
  };
}

export async function startServer(config: Config, overrides: ServerOverrides = {}): Promise<RunningServer> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const ownDb = !overrides.db;
  const db =
    overrides.db ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      dbPoolSize: config.dbPoolSize,
      dbPoolMin: poolMinOf(config),
      dbIdleTimeoutMs: config.dbIdleTimeoutMs,
      dbStatementTimeoutMs: config.dbStatementTimeoutMs,
      dbLockTimeoutMs: config.dbLockTimeoutMs,
      migrateOnStart: config.migrateOnStart,
      readUrls: config.databaseReadUrls,
      maxReplicaLagMs: config.maxReplicaLagMs,
      replicaCheckIntervalMs: config.replicaCheckIntervalMs,
    }));
  if (db.kind === 'pglite') {
    logger.warn(
      `embedded PGlite at ${db.location} — 2–5× slower than a PostgreSQL server, for trying Glimpse; set DATABASE_URL for production`,
    );
  } else {
    logger.info({ database: db.location, standbys: config.databaseReadUrls.length }, 'database: PostgreSQL');
  }
  const pgvector = await pgvectorVersion(db.sql).catch(() => null);
  const pgvectorIssue = pgvectorWarning(pgvector);
  if (pgvectorIssue) logger.warn({ pgvector }, pgvectorIssue);
  else logger.info({ pgvector }, `pgvector ${pgvector}`);

  let models: ServerModels;
  let closeModels: boolean;
  if (overrides.models) {
    models = overrides.models;
    closeModels = overrides.closeModels ?? false;
  } else {
    const mm = new ModelManager(config, logger);
    // Local model files are loaded before the server listens: missing (with auto-fetch off) or corrupt
    // files stop the start with a clear error instead of serving half-working. A model that must be
    // downloaded is fetched in the background while catalog reads and keyword search already work.
    const outcome = await mm.startupOutcome();
    if (outcome === 'failed') {
      const reason = mm.status().reason ?? 'unknown error';
      await mm.close();
      if (ownDb) await db.close().catch(() => {});
      throw Object.assign(new Error(`embedding model "${config.model}" cannot be used: ${reason}`), {
        code: 'MODEL_UNAVAILABLE',
      });
    }
    models = mm;
    closeModels = overrides.closeModels ?? true;
  }

  let glimpse: Awaited<ReturnType<typeof createApp>>;
  let closeServices: (() => Promise<void>) | undefined;
  let warmUp: GraphQLModule['warmUp'];
  try {
    const {
      closeServices: stopServices,
      warmUp: warm,
      ...gql
    } = overrides.graphql ?? glimpseGraphQL({ config, db, models, logger });
    closeServices = stopServices;
    warmUp = warm;
    glimpse = await createApp({
      config,
      db,
      models,
      logger,
      ...gql,
      ...(overrides.keyVerifier ? { keyVerifier: overrides.keyVerifier } : {}),
    });
  } catch (err) {
    if (closeModels) await models.close?.();
    if (ownDb) await db.close().catch(() => {});
    throw err;
  }

  // the connections kept open are opened and warmed before the first request can need one; a database that
  // is slow to answer does not hold the start longer than WARM_UP_WAIT_MS (the warm-up finishes in the background)
  if (warmUp) {
    const t0 = performance.now();
    const warming = warmUp().then(
      (warmed) => logger.info({ ...warmed, ms: Math.round(performance.now() - t0) }, 'database connections warmed'),
      (err: unknown) => logger.warn({ err }, 'warming the database connections failed'),
    );
    await Promise.race([warming, new Promise((r) => setTimeout(r, WARM_UP_WAIT_MS).unref())]);
  }

  const httpServer = http.createServer(glimpse.app);
  // Bodies are bounded by rate, not by a fixed time (src/http/body-deadline.ts): Node's 300 s requestTimeout would
  // cut a large upload on a slow but steady link with an untyped 408. Headers stay bounded by headersTimeout.
  httpServer.requestTimeout = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, config.host, () => {
        httpServer.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await glimpse.stop().catch(() => {});
    if (closeModels) await models.close?.();
    if (ownDb) await db.close().catch(() => {});
    throw err;
  }
  const port = (httpServer.address() as AddressInfo).port;
  const host =
    config.host === '0.0.0.0' || config.host === '::'
      ? '127.0.0.1'
      : config.host.includes(':')
        ? `[${config.host}]`
        : config.host;
  const url = `http://${host}:${port}`;
  logger.info(
    { url: `${url}/graphql`, host: config.host, port },
    `Glimpse listening on http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : host}:${port}/graphql`,
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      logger.info({ inFlight: glimpse.inFlight() }, 'shutting down: no new connections, finishing in-flight requests');
      glimpse.beginShutdown();
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      const deadline = Date.now() + config.shutdownTimeoutMs;
      while (glimpse.inFlight() > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        httpServer.closeIdleConnections();
      }
      if (glimpse.inFlight() > 0)
        logger.warn({ inFlight: glimpse.inFlight() }, 'shutdown timeout: closing remaining connections');
      httpServer.closeAllConnections();
      await closed;
      await glimpse.stop().catch((err: unknown) => logger.warn({ err }, 'apollo stop failed'));
      // background jobs stop after their current batch (resumable) before the database goes away
      await closeServices?.().catch((err: unknown) => logger.warn({ err }, 'stopping background jobs failed'));
      if (closeModels)
        await Promise.resolve(models.close?.()).catch((err: unknown) =>
          logger.warn({ err }, 'closing the model failed'),
        );
      if (ownDb) await db.close().catch((err: unknown) => logger.warn({ err }, 'closing the database failed'));
      logger.info('shutdown complete');
      await flushLogger(logger);
    })());

  if (overrides.handleSignals) {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, `received ${signal}`);
      // a second signal, or a shutdown that hangs, ends the process anyway
      const force = setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 10_000);
      force.unref();
      process.once(signal, () => process.exit(1));
      close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  return { url, graphqlUrl: `${url}/graphql`, port, httpServer, db, models, logger, close };
}

/** Entry point of `npm start` and `glimpse serve`: exits 1 with a clear message on bad configuration. */
export async function main(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Config> = {},
): Promise<RunningServer | undefined> {
  let config: Config;
  try {
    config = loadConfig(env, overrides);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`glimpse: ${err.message}\n`);
      process.exitCode = 1;
      return undefined;
    }
    throw err;
  }
  try {
    return await startServer(config, { handleSignals: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`glimpse: could not start the server: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
