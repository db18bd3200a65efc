/**
 * The HTTP/GraphQL platform over real HTTP: health and readiness, metrics, request ids, body and query
 * limits, CSRF, multipart limits, error masking, API keys (library and CLI), rate limits, image serving and
 * graceful shutdown — on a scratch PostgreSQL database and on embedded PGlite.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FileUpload } from 'graphql-upload-minimal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions } from '../../src/db/pgvector-version.js';
import { connectionErrorOf } from '../../src/db/unavailable.js';
import { GlimpseError } from '../../src/errors.js';
import { imagePath } from '../../src/catalog/image-store-paths.js';
import { requireRole } from '../../src/graphql/auth.js';
import type { RequestContext } from '../../src/graphql/context.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const tsxCli = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

async function cli(args: string[], env: Record<string, string>) {
  return run(process.execPath, [tsxCli, 'src/cli/index.ts', ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
  });
}

describe.each(['postgres', 'pglite'] as const)('server on %s', (kind) => {
  let srv: TestServer;
  beforeAll(async () => {
    // postgres: the real ModelManager on the test model (ready); pglite: no model (not ready)
    srv = await startTestServer({ db: kind, models: kind === 'postgres' ? 'test' : 'none' });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('answers health over HTTP', async () => {
    const r = await srv.gql<{ health: { ok: boolean; database: boolean; modelReady: boolean } }>(
      'query Health { health { ok database modelReady } }',
    );
    expect(r.status).toBe(200);
    expect(r.body.data!.health).toEqual({ ok: kind === 'postgres', database: true, modelReady: kind === 'postgres' });
  });

  it('serves /healthz and /readyz', async () => {
    const h = await fetch(`${srv.url}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    const r = await fetch(`${srv.url}/readyz`);
    const body = (await r.json()) as {
      ready: boolean;
      reasons: string[];
      warnings: string[];
      database: { ok: boolean; kind: string; pgvector: string | null };
    };
    // the running extension's version, as the database reports it; an old one is a warning, not unreadiness
    const [ext] = await srv.db.sql.query<{ v: string }>(
      `SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`,
    );
    expect(body.database).toEqual({ ok: true, kind, pgvector: ext!.v });
    const old = compareVersions(ext!.v, '0.8.3') < 0;
    expect(body.warnings).toEqual(
      old ? [expect.stringMatching(/pgvector .* older than 0\.8\.3.*ALTER EXTENSION vector UPDATE/)] : [],
    );
    const health = await srv.gql<{ health: { pgvectorVersion: string | null } }>('{ health { pgvectorVersion } }');
    expect(health.body.data!.health.pgvectorVersion).toBe(ext!.v);
    if (kind === 'postgres') {
      expect(r.status).toBe(200);
      expect(body.ready).toBe(true);
    } else {
      expect(r.status).toBe(503);
      expect(body.ready).toBe(false);
      expect(body.reasons.join('\n')).toMatch(/model not ready: no model in this test/);
    }
  });

  it('echoes a valid x-request-id and generates one otherwise', async () => {
    const a = await srv.gql('{ health { ok } }', undefined, { headers: { 'x-request-id': 'req-abc.123' } });
    expect(a.headers.get('x-request-id')).toBe('req-abc.123');
    const b = await srv.gql('{ health { ok } }');
    expect(b.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const c = await srv.gql('{ health { ok } }', undefined, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(c.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('exposes Prometheus metrics', async () => {
    await srv.gql('query Health { health { ok } }');
    await srv.gql('{ nope }');
    const res = await fetch(`${srv.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    for (const name of [
      'glimpse_http_request_duration_seconds',
      'glimpse_graphql_request_duration_seconds',
      'glimpse_errors_total',
      'glimpse_search_duration_seconds',
      'glimpse_embedding_duration_seconds',
      'glimpse_embedding_batch_size',
      'glimpse_cache_hit_ratio',
      'process_cpu_seconds_total',
    ])
      expect(text).toContain(`# TYPE ${name} `);
    expect(text).toMatch(/glimpse_graphql_request_duration_seconds_count\{operation="Health",type="query"\} [1-9]/);
    expect(text).toMatch(/glimpse_errors_total\{code="BAD_USER_INPUT"\} [1-9]/);
    expect(text).toMatch(
      /glimpse_http_request_duration_seconds_count\{route="graphql",method="POST",status="200"\} [1-9]/,
    );
  });

  it('refuses a body over GLIMPSE_MAX_BODY_BYTES with 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await fetch(srv.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ health { ok } }', variables: { pad: 'x'.repeat(srv.config.maxBodyBytes) } }),
    });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(body.errors[0]!.extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('maps parse and validation failures to BAD_USER_INPUT', async () => {
    const a = await srv.gql('{ health { ok ');
    expect(a.status).toBe(400);
    expect(a.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'GRAPHQL_PARSE_FAILED' });
    const b = await srv.gql('{ nope }');
    expect(b.body.errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      reason: 'GRAPHQL_VALIDATION_FAILED',
    });
  });

  it('rejects depth and alias bombs against the real schema with QUERY_TOO_COMPLEX', async () => {
    let deep = '{ name }';
    for (let i = 0; i < srv.config.maxQueryDepth + 2; i++) deep = `{ ofType ${deep} }`;
    const d = await srv.gql(`{ __type(name: "Query") { fields { type ${deep} } } }`);
    expect(d.status).toBe(400);
    expect(d.body.errors![0]!.extensions!.code).toBe('QUERY_TOO_COMPLEX');
    const aliases = Array.from({ length: srv.config.maxAliases + 1 }, (_, i) => `a${i}: health { ok }`).join(' ');
    const a = await srv.gql(`{ ${aliases} }`);
    expect(a.body.errors![0]!.extensions!.code).toBe('QUERY_TOO_COMPLEX');
    expect(a.body.errors![0]!.message).toMatch(/alias/i);
  });

  it('blocks a multipart request without a preflight header (CSRF) and GET without one', async () => {
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: '{ health { ok } }' }));
    form.set('map', '{}');
    const res = await fetch(srv.graphqlUrl, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(
      ((await res.json()) as { errors: Array<{ extensions: { code: string; reason: string } }> }).errors[0]!.extensions,
    ).toEqual({ code: 'BAD_USER_INPUT', reason: 'CSRF_PREVENTION' });
    const ok = await fetch(srv.graphqlUrl, {
      method: 'POST',
      body: form,
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ data: { health: { ok: kind === 'postgres' } } });
    const q = encodeURIComponent('{ health { ok } }');
    expect((await fetch(`${srv.graphqlUrl}?query=${q}`)).status).toBe(400);
    const get = await fetch(`${srv.graphqlUrl}?query=${q}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(get.status).toBe(200);
  });

  it('refuses unknown and malformed keys with 401 UNAUTHENTICATED, accepts a valid one', async () => {
    for (const auth of ['Bearer glk_00000000_' + 'A'.repeat(43), 'Bearer nonsense', 'Basic Zm9vOmJhcg==']) {
      const r = await srv.gql('{ health { ok } }', undefined, { headers: { authorization: auth } });
      expect(r.status).toBe(401);
      expect(r.body.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    }
    const key = await srv.createKey('read');
    expect(key).toMatch(/^glk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    const ok = await srv.gql('{ health { database } }', undefined, { key });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ health: { database: true } });
  });

  it('serves stored images with immutable caching, content type and ETag', async () => {
    const png = Buffer.from(
      '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f64b3a0000000049454e44ae426082',
      'hex',
    );
    const sha = crypto.createHash('sha256').update(png).digest('hex');
    const file = imagePath(srv.config.imageDir, sha);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, png);
    expect(file).toBe(path.join(srv.config.imageDir, sha.slice(0, 2), sha.slice(2, 4), sha));
    const res = await fetch(`${srv.url}/images/${sha}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('etag')).toBe(`"${sha}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
    const cached = await fetch(`${srv.url}/images/${sha}`, { headers: { 'if-none-match': `"${sha}"` } });
    expect(cached.status).toBe(304);
    const head = await fetch(`${srv.url}/images/${sha}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(png.length));
    expect((await fetch(`${srv.url}/images/${'0'.repeat(64)}`)).status).toBe(404);
    expect((await fetch(`${srv.url}/images/..%2F..%2Fetc%2Fpasswd`)).status).toBe(400);
    expect((await fetch(`${srv.url}/images/not-a-hash`)).status).toBe(400);
  });
});

describe('API keys CLI (postgres)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // key verdicts not cached: the test revokes a key and expects the very next request refused
    srv = await startTestServer({ db: 'postgres', models: 'none', config: { apiKeyCacheTtlMs: 0 } });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('glimpse index status shows the running pgvector version', async () => {
    const env = { DATABASE_URL: srv.databaseUrl! };
    const [ext] = await srv.db.sql.query<{ v: string }>(
      `SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`,
    );
    const text = await cli(['index', 'status'], env);
    expect(text.stdout.split('\n')[0]).toBe(`pgvector ${ext!.v}`);
    expect(text.stderr.includes('older than 0.8.3')).toBe(compareVersions(ext!.v, '0.8.3') < 0);
    const json = JSON.parse((await cli(['index', 'status', '--json'], env)).stdout) as {
      pgvector: { version: string; warning: string | null };
      tables: Array<{ table: string }>;
    };
    expect(json.pgvector.version).toBe(ext!.v);
    expect(json.tables.map((t) => t.table)).toContain('embedding_768');
  });

  it('creates, lists and revokes keys; a revoked key is refused', async () => {
    const env = { DATABASE_URL: srv.databaseUrl! };
    const created = await cli(['keys', 'create', '--role', 'admin', '--name', 'ci-admin'], env);
    const key = created.stdout.trim();
    expect(key).toMatch(/^glk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/cannot be shown again/);

    const ok = await srv.gql('{ health { database } }', undefined, { key });
    expect(ok.status).toBe(200);

    const list = await cli(['keys', 'list'], env);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+ROLE\s+PREFIX\s+CREATED\s+LAST USED\s+REVOKED$/);
    const row = lines.find((l) => l.includes('ci-admin'))!;
    expect(row).toContain(key.slice(0, 12));
    expect(row).toMatch(/\badmin\b/);
    expect(list.stdout).not.toContain(key); // the key itself is never shown again
    const id = row.split(/\s+/)[0]!;

    const revoked = await cli(['keys', 'revoke', id], env);
    expect(revoked.stdout).toMatch(new RegExp(`revoked ${id}`));
    const refused = await srv.gql('{ health { database } }', undefined, { key });
    expect(refused.status).toBe(401);
    expect(refused.body.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');

    const after = await cli(['keys', 'list', '--json'], env);
    const keys = JSON.parse(after.stdout) as Array<{ id: string; revokedAt: string | null; lastUsedAt: string | null }>;
    const k = keys.find((x) => x.id === id)!;
    expect(k.revokedAt).not.toBeNull();
    expect(k.lastUsedAt).not.toBeNull();

    await expect(cli(['keys', 'create', '--role', 'owner'], env)).rejects.toMatchObject({ code: 1 });
    await expect(cli(['keys', 'revoke', crypto.randomUUID()], env)).rejects.toMatchObject({
      stderr: expect.stringMatching(/NOT_FOUND/),
    });
  });
});

const PLATFORM_SDL = /* GraphQL */ `
  scalar Upload
  type Query {
    health: Health!
    node: Node
    slow(ms: Int!): String!
    fail(kind: String!): String
    adminOnly: String!
  }
  type Mutation {
    uploadSizes(files: [Upload!]!): [Int!]!
  }
  type Node {
    name: String!
    child: Node
    children(first: Int): [Node!]!
  }
  type Health {
    ok: Boolean!
    database: Boolean!
    model: String
    modelReady: Boolean!
  }
`;

const node = (): Record<string, unknown> => ({ name: 'n', child: () => node(), children: () => [node()] });

async function readAll(upload: Promise<FileUpload>): Promise<number> {
  const file = await upload;
  let n = 0;
  for await (const chunk of file.createReadStream()) n += (chunk as Buffer).length;
  return n;
}

describe('platform behaviour (pglite, custom schema)', () => {
  let srv: TestServer;
  let logs: string[];
  beforeAll(async () => {
    logs = [];
    const { pino } = await import('pino');
    const logger = pino({ level: 'error' }, { write: (s: string) => void logs.push(s) });
    srv = await startTestServer({
      db: 'pglite',
      models: 'none',
      logger,
      config: { maxImageBytes: 1000, maxFilesPerRequest: 2, maxComplexity: 200, shutdownTimeoutMs: 10_000 },
      graphql: {
        typeDefs: PLATFORM_SDL,
        resolvers: {
          Query: {
            node,
            slow: async (_: unknown, { ms }: { ms: number }) => {
              await new Promise((r) => setTimeout(r, ms));
              return 'done';
            },
            fail: (_: unknown, { kind }: { kind: string }) => {
              if (kind === 'glimpse') throw new GlimpseError('NOT_FOUND', 'product "x" does not exist', { id: 'x' });
              if (kind === 'coded') throw Object.assign(new Error('model is loading'), { code: 'MODEL_UNAVAILABLE' });
              if (kind === 'db')
                throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
              // as pg's code-less error leaves the driver (src/db/postgres.ts): coded, not judged by its message
              if (kind === 'terminated') throw connectionErrorOf(new Error('Connection terminated unexpectedly'));
              throw new Error('relation "secret_table" does not exist: SELECT * FROM secret_table');
            },
            adminOnly: (_: unknown, __: unknown, ctx: RequestContext) => {
              requireRole(ctx, 'admin');
              return `hello ${ctx.caller.keyId}`;
            },
          },
          Mutation: {
            uploadSizes: async (_: unknown, { files }: { files: Array<Promise<FileUpload>> }) =>
              Promise.all(files.map(readAll)),
          },
        },
      },
    });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('maps GlimpseError and coded errors to their code; hides everything else behind INTERNAL + request id', async () => {
    const g = await srv.gql('{ fail(kind: "glimpse") }');
    expect(g.body.errors![0]).toMatchObject({
      message: 'product "x" does not exist',
      path: ['fail'],
      extensions: { code: 'NOT_FOUND', id: 'x' },
    });
    const c = await srv.gql('{ fail(kind: "coded") }');
    expect(c.body.errors![0]!.extensions!.code).toBe('MODEL_UNAVAILABLE');
    for (const k of ['db', 'terminated']) {
      const d = await srv.gql(`{ fail(kind: "${k}") }`);
      expect(d.body.errors![0]!.extensions!.code).toBe('SERVICE_UNAVAILABLE');
      expect(d.body.errors![0]!.message).not.toMatch(/ECONNREFUSED|5432|terminated/);
    }
    const i = await srv.gql('{ fail(kind: "sql") }', undefined, { headers: { 'x-request-id': 'leak-check-1' } });
    const err = i.body.errors![0]!;
    expect(err.extensions).toEqual({ code: 'INTERNAL' });
    expect(err.message).toBe('Internal server error (request id leak-check-1)');
    expect(JSON.stringify(i.body)).not.toMatch(/secret_table|SELECT|stack/i);
    expect(logs.join('\n')).toMatch(/leak-check-1[\s\S]*secret_table|secret_table[\s\S]*leak-check-1/);
  });

  it('rejects depth, alias and cost bombs with QUERY_TOO_COMPLEX', async () => {
    let q = '{ name }';
    for (let i = 0; i < 12; i++) q = `{ child ${q} }`;
    const depth = await srv.gql(`{ node ${q} }`);
    expect(depth.status).toBe(400);
    expect(depth.body.errors![0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COMPLEX', limit: 'depth' } });
    const aliases = await srv.gql(`{ ${Array.from({ length: 31 }, (_, i) => `a${i}: health { ok }`).join(' ')} }`);
    expect(aliases.body.errors![0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COMPLEX', limit: 'aliases' } });
    const wide = Array.from({ length: 25 }, (_, i) => `f${i}: name`).join(' ');
    const cost = await srv.gql(
      `{ node { children { children { children { children { children { children { ${wide} } } } } } } } }`,
    );
    expect(cost.body.errors![0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COMPLEX', limit: 'complexity' } });
    const fine = await srv.gql('{ node { child { child { name } } } }');
    expect(fine.body).toEqual({ data: { node: { child: { child: { name: 'n' } } } } });
  });

  it('requireRole: anonymous → UNAUTHENTICATED, read key → FORBIDDEN, admin key → ok', async () => {
    expect((await srv.gql('{ adminOnly }')).body.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    expect(
      (await srv.gql('{ adminOnly }', undefined, { key: await srv.createKey('read') })).body.errors![0]!.extensions!
        .code,
    ).toBe('FORBIDDEN');
    const admin = await srv.gql('{ adminOnly }', undefined, { key: await srv.createKey('admin') });
    expect(admin.body.data!.adminOnly).toMatch(/^hello [0-9a-f-]{36}$/);
  });

  function multipart(sizes: number[]): FormData {
    const form = new FormData();
    form.set(
      'operations',
      JSON.stringify({
        query: 'mutation ($files: [Upload!]!) { uploadSizes(files: $files) }',
        variables: { files: sizes.map(() => null) },
      }),
    );
    form.set('map', JSON.stringify(Object.fromEntries(sizes.map((_, i) => [String(i), [`variables.files.${i}`]]))));
    sizes.forEach((n, i) => form.set(String(i), new Blob([Buffer.alloc(n, 7)], { type: 'image/png' }), `f${i}.png`));
    return form;
  }
  const post = (body: FormData) =>
    fetch(srv.graphqlUrl, { method: 'POST', body, headers: { 'apollo-require-preflight': 'true' } });

  it('accepts multipart uploads within the limits; over-size file and too many files → PAYLOAD_TOO_LARGE', async () => {
    const ok = await post(multipart([10, 1000]));
    expect(await ok.json()).toEqual({ data: { uploadSizes: [10, 1000] } });
    const big = (await (await post(multipart([1001]))).json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(big.errors[0]!.extensions.code).toBe('PAYLOAD_TOO_LARGE');
    const many = await post(multipart([1, 1, 1]));
    expect(many.status).toBe(413);
    expect(
      ((await many.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code,
    ).toBe('PAYLOAD_TOO_LARGE');
    const bad = new FormData();
    bad.set('operations', '{not json');
    bad.set('map', '{}');
    const malformed = await post(bad);
    expect(malformed.status).toBe(400);
    expect(
      ((await malformed.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code,
    ).toBe('BAD_USER_INPUT');
  });

  it('shuts down gracefully: an in-flight request finishes, new connections are refused', async () => {
    const inflight = srv.gql<{ slow: string }>('{ slow(ms: 700) }');
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const closing = srv.close();
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ slow: 'done' });
    await closing;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    await expect(fetch(`${srv.url}/healthz`)).rejects.toThrow();
  });
});

describe('rate limit and required read key (pglite)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      db: 'pglite',
      models: 'none',
      config: { rateLimitPerMinute: 3, requireReadKey: true },
    });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('limits per key with 429 RATE_LIMITED and retryAfterSeconds; anonymous needs a key', async () => {
    const a = await srv.createKey('read', 'a');
    const b = await srv.createKey('read', 'b');
    for (let i = 0; i < 3; i++)
      expect((await srv.gql('{ health { database } }', undefined, { key: a })).status).toBe(200);
    const limited = await srv.gql('{ health { database } }', undefined, { key: a });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body.errors![0]!.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      retryAfterSeconds: expect.any(Number),
    });
    expect((await srv.gql('{ health { database } }', undefined, { key: b })).status).toBe(200);
    const anon = await srv.gql('{ health { database } }');
    expect(anon.status).toBe(401);
    expect(anon.body.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });
});
