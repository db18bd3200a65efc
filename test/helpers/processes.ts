/**
 * Real Glimpse server processes for tests that need more than one API replica (or a process to kill): each is
 * `node --import tsx src/server.ts` on its own free 127.0.0.1 port, configured only through its environment,
 * exactly as it runs in production. `stopServerProcess` sends SIGTERM (graceful), then SIGKILL after 10 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy; throws (with the last error) after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

export interface ServerProcess {
  proc: ChildProcess;
  /** base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** everything the process wrote so far (stdout + stderr) */
  output: () => string;
  exited: Promise<number | null>;
}

export async function spawnServerProcess(
  env: Record<string, string>,
  opts: { expectListening?: boolean; timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      GLIMPSE_DEMO_PAGE: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  if (opts.expectListening !== false) {
    await Promise.race([
      waitFor('the server to listen', async () => out.includes('Glimpse listening'), opts.timeoutMs ?? 60_000, 50),
      exited.then((code) => {
        throw new Error(`server exited (${code}) before listening:\n${out.slice(-3000)}`);
      }),
    ]);
  }
  return { proc, url, output: () => out, exited };
}

export async function stopServerProcess(c: ServerProcess | undefined): Promise<void> {
  if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  await c.exited;
  clearTimeout(t);
}

export interface HttpGqlResult {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
  /** the first error's code, or CLIENT:<name> when the request itself failed (refused, timed out) */
  code: string | null;
}

/** POSTs one GraphQL operation; a transport failure is returned (status 0), never thrown. */
export async function postGraphQL(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  key?: string,
  timeoutMs = 20_000,
): Promise<HttpGqlResult> {
  try {
    const res = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as HttpGqlResult['body'];
    return { status: res.status, headers: res.headers, body, code: body.errors?.[0]?.extensions?.code ?? null };
  } catch (err) {
    return { status: 0, headers: new Headers(), body: {}, code: `CLIENT:${(err as Error).name}` };
  }
}
