/**
 * The HTTP application: Express 5 + Apollo Server 5.
 *
 *   /graphql   GraphQL (POST JSON, GET queries, multipart uploads per the GraphQL multipart request spec)
 *   /healthz   process up (200)
 *   /readyz    200 when the database answers and the model is loaded, else 503 with the reasons
 *   /metrics   Prometheus metrics (src/observability/metrics.ts)
 *   /images/<sha256>  stored images (immutable)
 *
 * Every error a client sees is GraphQL-shaped with a documented code (src/http/errors.ts, docs/errors.md).
 */
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type NextFunction, type Request, type Response } from 'express';
import { parse, type DocumentNode, Kind } from 'graphql';
import { GraphQLUpload, processRequest } from 'graphql-upload-minimal';
import { pinoHttp } from 'pino-http';
import { createKeyVerifier, type KeyVerifier } from './auth/api-keys.js';
import type { Config } from './config.js';
import { currentReadRoute, withReadRoute, type Database, type ReadRoute } from './db/index.js';
import { mountDemo } from './demo/mount.js';
import type { ModelProvider } from './embedding/model-manager.js';
import type { RequestContext } from './graphql/context.js';
import { ANONYMOUS, authMiddleware } from './http/auth.js';
import { classify, formatGraphQLError, requestStore, retryAfterOf, sendError } from './http/errors.js';
import { healthResolvers, MINIMAL_TYPE_DEFS, readiness } from './http/health.js';
import { bodyDeadline } from './http/body-deadline.js';
import { imageHandler } from './http/images.js';
import { queryLimitRules } from './http/query-limits.js';
import { createRateLimiter } from './http/rate-limit.js';
import type { Logger } from './logger.js';
import { graphqlRequestDuration, httpRequestDuration, operationLabel, registry } from './observability/metrics.js';
import { currentTimings, RequestTimings, withRequestTimings } from './observability/server-timing.js';

/** The request context minus the per-request scope (what `createScope` receives). */
export type ContextBase = Omit<RequestContext, 'scope'>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Resolvers = Record<string, any>;

export interface AppDeps {
  config: Config;
  db: Database;
  models: ModelProvider;
  logger: Logger;
  /** schema SDL (schema.graphql); default: a minimal schema with `health` */
  typeDefs?: string | DocumentNode;
  /** resolver maps, merged in order after the built-in `health` resolver (later ones win) */
  resolvers?: Resolvers | Resolvers[];
  /** builds `context.scope` per request (services, DataLoaders): resolvers' createRequestScope */
  createScope?: (ctx: ContextBase) => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** API key verification (default: the api_key table through db.prisma) */
  keyVerifier?: KeyVerifier;
}

export interface GlimpseApp {
  app: express.Express;
  apollo: ApolloServer<RequestContext>;
  /** requests currently being handled (graceful shutdown waits for 0) */
  inFlight(): number;
  /** from now on responses ask clients to close their connection */
  beginShutdown(): void;
  stop(): Promise<void>;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

function routeLabel(path: string): string {
  if (path === '/graphql' || path.startsWith('/graphql/')) return 'graphql';
  if (path === '/healthz' || path === '/readyz' || path === '/metrics') return path.slice(1);
  if (path.startsWith('/images/')) return 'images';
  return 'other';
}

/** The request in an access log line (pino-http hands over its serialised request; `raw` is Express's). */
function accessLogRequest(req: { id?: unknown; method?: string; url?: string; raw?: IncomingMessage }) {
  const raw = req.raw as (IncomingMessage & { ip?: string }) | undefined;
  return {
    id: req.id,
    method: req.method,
    url: req.url,
    remoteAddress: raw?.ip ?? raw?.socket?.remoteAddress,
    userAgent: raw?.headers['user-agent'],
  };
}
/** The response in an access log line. */
function accessLogResponse(res: { statusCode?: number }) {
  return { statusCode: res.statusCode };
}

function trustProxyValue(v: string): boolean | number | string {
  if (v === 'true') return true;
  if (v === 'false' || v === '') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return v;
}

function declaredFields(doc: DocumentNode): { query: Set<string>; scalars: Set<string> } {
  const query = new Set<string>();
  const scalars = new Set<string>();
  for (const def of doc.definitions) {
    if (
      (def.kind === Kind.OBJECT_TYPE_DEFINITION || def.kind === Kind.OBJECT_TYPE_EXTENSION) &&
      def.name.value === 'Query'
    )
      for (const f of def.fields ?? []) query.add(f.name.value);
    if (def.kind === Kind.SCALAR_TYPE_DEFINITION) scalars.add(def.name.value);
  }
  return { query, scalars };
}

/**
 * A multipart request answered before its files were read (an auth, input or NOT_FOUND error; a file over
 * the limit) still has its body on the wire. The upload parser holds the request paused, and Node only
 * discards an unread body nobody is reading; left so, the client's upload stalls, or is reset, before it
 * reads the answer, and the next request on that keep-alive connection hangs. Once the response is sent,
 * the rest of the body is read and dropped — up to `limit` bytes; past that the connection is closed.
 */
function drainAfterResponse(req: Request, res: Response, limit: number): void {
  res.once('finish', () => {
    if (req.readableEnded || req.destroyed) return;
    let drained = 0;
    req.unpipe();
    req.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > limit) req.socket.destroy();
    });
    req.resume();
  });
}

export async function createApp(deps: AppDeps): Promise<GlimpseApp> {
  const { config, db, models, logger } = deps;
  const typeDefs =
    typeof deps.typeDefs === 'string' ? parse(deps.typeDefs) : (deps.typeDefs ?? parse(MINIMAL_TYPE_DEFS));
  const declared = declaredFields(typeDefs);
  const userResolvers =
    deps.resolvers === undefined ? [] : Array.isArray(deps.resolvers) ? deps.resolvers : [deps.resolvers];
  const resolvers: Resolvers[] = [];
  if (declared.query.has('health')) resolvers.push(healthResolvers(db, models));
  if (declared.scalars.has('Upload') && !userResolvers.some((r) => r.Upload)) resolvers.push({ Upload: GraphQLUpload });
  resolvers.push(...userResolvers);

  const metricsPlugin: ApolloServerPlugin<RequestContext> = {
    async requestDidStart() {
      const start = process.hrtime.bigint();
      return {
        async willSendResponse(rc) {
          const timings = currentTimings();
          if (timings) rc.response.http.headers.set('server-timing', timings.header());
          const seconds = Number(process.hrtime.bigint() - start) / 1e9;
          const name = rc.operationName ?? rc.request.operationName;
          graphqlRequestDuration.observe(
            { operation: operationLabel(name), type: rc.operation?.operation ?? 'unknown' },
            seconds,
          );
          // SERVICE_UNAVAILABLE / RATE_LIMITED inside a 200 response still tell HTTP clients when to retry
          const errors = rc.response.body.kind === 'single' ? rc.response.body.singleResult.errors : undefined;
          const retry = retryAfterOf(errors);
          if (retry !== null) rc.response.http.headers.set('retry-after', String(retry));
        },
      };
    },
  };

  // storefront queries may read from a hot standby; mutations and admin callers read what they just wrote
  const readRoutePlugin: ApolloServerPlugin<RequestContext> = {
    async requestDidStart() {
      return {
        async didResolveOperation(rc) {
          const route = currentReadRoute();
          if (route) route.standby = rc.operation?.operation === 'query' && rc.contextValue.caller.role !== 'admin';
        },
      };
    },
  };

  const apollo = new ApolloServer<RequestContext>({
    typeDefs,
    resolvers,
    introspection: true,
    csrfPrevention: true,
    includeStacktraceInErrorResponses: false,
    // src/server.ts owns SIGTERM/SIGINT (drains HTTP first); Apollo's own handler would re-raise the signal
    stopOnTerminationSignals: false,
    validationRules: queryLimitRules(config),
    formatError: formatGraphQLError,
    // no @cacheControl hints in the schema: Apollo's default cache-control plugin would only wrap every
    // resolver (a willResolveField hook per field) to compute a header nobody sets
    plugins: [metricsPlugin, readRoutePlugin, ApolloServerPluginCacheControlDisabled()],
    logger: {
      debug: (m) => logger.debug(m),
      info: (m) => logger.info(m),
      warn: (m) => logger.warn(m),
      error: (m) => logger.error(m),
    },
  });
  await apollo.start();

  const verifier =
    deps.keyVerifier ??
    createKeyVerifier(db.prisma, {
      cacheTtlMs: config.apiKeyCacheTtlMs,
      onError: (err) => logger.warn({ err }, 'could not update api_key.last_used_at'),
    });
  const limiter = createRateLimiter(config.rateLimitPerMinute, db.pgPool);
  if (limiter) logger.info({ store: limiter.store, perMinute: config.rateLimitPerMinute }, 'rate limits');

  let inFlight = 0;
  let shuttingDown = false;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxyValue(config.trustProxy));

  // request id, in-flight accounting, HTTP metrics, the start of Server-Timing's `total`
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals.timings = new RequestTimings();
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : crypto.randomUUID();
    (req as IncomingMessage & { id?: string }).id = id;
    res.setHeader('X-Request-Id', id);
    if (shuttingDown) res.setHeader('Connection', 'close');
    inFlight++;
    const end = httpRequestDuration.startTimer({ route: routeLabel(req.path), method: req.method });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight--;
      end({ status: String(res.statusCode) });
    };
    res.on('finish', finish);
    res.on('close', finish);
    next();
  });
  app.use(
    pinoHttp({
      logger,
      genReqId: (req) => (req as IncomingMessage & { id?: string }).id ?? crypto.randomUUID(),
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
      autoLogging: { ignore: (req) => ['/healthz', '/readyz', '/metrics'].includes(req.url ?? '') },
      // an access log line names the request and its outcome; the headers of both (pino-http's default, two
      // thirds of each line) are not written: docs/performance.md "Connection warmth and the access log"
      serializers: { req: accessLogRequest, res: accessLogResponse },
    }),
  );
  app.use((req: Request, _res: Response, next: NextFunction) => {
    requestStore.run({ requestId: String(req.id), log: req.log }, next);
  });
  // every route: a body nobody reads (a 404, a refused upload being drained) must not trickle in forever either
  app.use(bodyDeadline({ timeoutMs: config.bodyTimeoutMs, minRate: config.bodyMinRate }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const r = await readiness(db, models);
    res.status(r.ready ? 200 : 503).json(r);
  });
  app.get('/metrics', async (_req, res) => {
    await db.pools().catch(() => {}); // the pool gauges as of this scrape
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });
  const images = imageHandler(config.imageDir);
  app.get('/images/:name', images); // GET routes answer HEAD too

  const jsonBody = express.json({ limit: config.maxBodyBytes });
  app.use(
    '/graphql',
    authMiddleware(verifier, { requireReadKey: config.requireReadKey, limiter }),
    async (req: Request, res: Response, next: NextFunction) => {
      if (!req.is('multipart/form-data')) return jsonBody(req, res, next);
      // CSRF: a multipart POST is a "simple" request browsers send cross-site without preflight; refuse it
      // before reading any file unless it carries a header only a preflighted request can have.
      if (!req.headers['apollo-require-preflight'] && !req.headers['x-apollo-operation-name']) {
        sendError(
          res,
          'BAD_USER_INPUT',
          'multipart requests need an "Apollo-Require-Preflight: true" (or "x-apollo-operation-name") header (CSRF prevention)',
          { reason: 'CSRF_PREVENTION' },
        );
        return;
      }
      drainAfterResponse(req, res, config.maxFilesPerRequest * (config.maxImageBytes + 1) + config.maxBodyBytes);
      try {
        req.body = await processRequest(req, res, {
          // busboy flags a file that reaches its limit: +1 lets a file of exactly maxImageBytes through
          maxFileSize: config.maxImageBytes + 1,
          maxFiles: config.maxFilesPerRequest,
          maxFieldSize: config.maxBodyBytes,
        });
        next();
      } catch (err) {
        next(err);
      }
    },
    (req: Request, res: Response, next: NextFunction) => {
      if (!('body' in req) || req.body === undefined) req.body = {};
      // entered after the body is read (stream callbacks do not carry the request's async context)
      const route: ReadRoute = { standby: false }; // decided once the operation is parsed (readRoutePlugin)
      withReadRoute(route, () => withRequestTimings(res.locals.timings as RequestTimings, next));
    },
    expressMiddleware(apollo, {
      context: async ({ req }): Promise<RequestContext> => {
        const base: ContextBase = {
          config,
          db,
          log: req.log,
          requestId: String(req.id),
          caller: req.glimpseCaller ?? ANONYMOUS,
          baseUrl: (config.publicUrl ?? `${req.protocol}://${req.get('host') ?? `localhost:${config.port}`}`).replace(
            /\/+$/,
            '',
          ),
        };
        const scope = deps.createScope ? await deps.createScope(base) : {};
        return { ...base, scope };
      },
    }),
  );

  mountDemo(app, config); // the storefront demo page at / (GLIMPSE_DEMO_PAGE)

  app.use((req: Request, res: Response) => {
    sendError(res, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
  });
  // errors before GraphQL: body parser, multipart parser, anything a middleware threw
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large' || e.status === 413) {
      sendError(
        res,
        'PAYLOAD_TOO_LARGE',
        e.type === 'entity.too.large'
          ? `request body exceeds the limit of ${config.maxBodyBytes} bytes (GLIMPSE_MAX_BODY_BYTES): send less per request (e.g. fewer products per upsertProducts call) or raise it`
          : (e.message ?? 'payload too large'),
        { limit: config.maxBodyBytes },
      );
      return;
    }
    if (
      e.type === 'entity.parse.failed' ||
      e.type === 'encoding.unsupported' ||
      e.type === 'charset.unsupported' ||
      e.status === 400
    ) {
      sendError(
        res,
        'BAD_USER_INPUT',
        e.type === 'entity.parse.failed' ? 'request body is not valid JSON' : (e.message ?? 'bad request'),
      );
      return;
    }
    const c = requestStore.run({ requestId: String(req.id), log: req.log ?? logger }, () => classify(err));
    sendError(res, c.code as 'INTERNAL', c.message, c.details);
  });

  return {
    app,
    apollo,
    inFlight: () => inFlight,
    beginShutdown() {
      shuttingDown = true;
    },
    stop: () => apollo.stop(),
  };
}
