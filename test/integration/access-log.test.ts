/**
 * The access log (src/app.ts, pino-http): one line per request with its id, method, URL, client address, user
 * agent, status and time; no request or response headers (so no credential or cookie can reach it); 4xx at warn,
 * with the request's line. Real server over HTTP, on PGlite.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('access log', () => {
  let srv: TestServer;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    const logger = pino(
      { level: 'info' },
      { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
    );
    srv = await startTestServer({ db: 'pglite', models: 'none', logger, config: { rateLimitPerMinute: 0 } });
  });
  afterAll(async () => {
    await srv?.close();
  });
  const lineOf = (id: string) => lines.find((l) => (l.req as { id?: string } | undefined)?.id === id);

  it('a request: id, method, url, client, user agent, status and time; no headers', async () => {
    const key = await srv.createKey('read');
    const res = await fetch(srv.graphqlUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-request-id': 'access-log-1',
        'user-agent': 'storefront/1.0',
        authorization: `Bearer ${key}`,
        cookie: 'session=never-logged',
      },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const line = lineOf('access-log-1');
    expect(line).toMatchObject({
      level: 30,
      msg: 'request completed',
      req: { id: 'access-log-1', method: 'POST', url: '/graphql', userAgent: 'storefront/1.0' },
      res: { statusCode: 200 },
    });
    expect((line!.req as { remoteAddress?: string }).remoteAddress).toMatch(/127\.0\.0\.1/);
    expect(typeof line!.responseTime).toBe('number');
    expect(Object.keys(line!.req as object).sort()).toEqual(['id', 'method', 'remoteAddress', 'url', 'userAgent']);
    expect(Object.keys(line!.res as object)).toEqual(['statusCode']);
    expect(JSON.stringify(lines)).not.toContain(key);
    expect(JSON.stringify(lines)).not.toContain('never-logged');
  });

  it('a refused request is logged at warn', async () => {
    const res = await fetch(srv.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'access-log-2' },
      body: '{ not json',
    });
    expect(res.status).toBe(400);
    await res.text();
    expect(lineOf('access-log-2')).toMatchObject({ level: 40, res: { statusCode: 400 } });
  });
});
