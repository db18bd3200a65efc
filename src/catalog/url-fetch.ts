/**
 * Fetches an image by URL for the catalog, safely (SSRF):
 * - http and https only, no credentials in the URL;
 * - the host is resolved here and EVERY address it resolves to is vetted: private, loopback, link-local,
 *   unique-local, CGNAT, multicast, reserved, documentation and unspecified IPv4/IPv6 addresses are refused
 *   (IPv4-mapped, NAT64 and 6to4 IPv6 addresses by their embedded IPv4) unless `allowPrivate`;
 * - the connection goes to the vetted address (the socket's DNS lookup is pinned to it), so a second DNS
 *   answer cannot rebind the request to another address; TLS still verifies the certificate for the host name;
 * - at most `maxRedirects` redirects, each target vetted again;
 * - the body is streamed and aborted past `maxBytes`; the whole fetch (all redirects) obeys `timeoutMs`.
 * Failures are GlimpseErrors: BAD_USER_INPUT (bad URL, refused address, HTTP error, timeout, too many
 * redirects) or IMAGE_TOO_LARGE (over `maxBytes`).
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Config } from '../config.js';
import { GlimpseError, badInput } from '../errors.js';
import { LIMITS } from './validation.js';

export interface FetchImageOptions {
  allowPrivate: boolean;
  maxRedirects: number;
  timeoutMs: number;
  maxBytes: number;
  /** DNS resolution (tests); default: dns.promises.lookup(host, { all: true }) */
  resolve?: (host: string) => Promise<{ address: string; family: number }[]>;
  /** address policy (tests); default: {@link isBlockedAddress} unless allowPrivate */
  isBlocked?: (address: string) => boolean;
  /** client-safe label for messages, e.g. 'urls[2]' */
  label?: string;
}

/** The configuration's fetch settings, for fetchImage (`overrides`: tests' DNS and address policy). */
export function configuredFetchOptions(
  config: Pick<Config, 'fetchAllowPrivate' | 'fetchMaxRedirects' | 'fetchTimeoutMs' | 'maxImageBytes'>,
  overrides: Partial<FetchImageOptions> | undefined,
  label: string,
): FetchImageOptions {
  return {
    allowPrivate: config.fetchAllowPrivate,
    maxRedirects: config.fetchMaxRedirects,
    timeoutMs: config.fetchTimeoutMs,
    maxBytes: config.maxImageBytes,
    ...overrides,
    label,
  };
}

export interface FetchedImage {
  bytes: Buffer;
  /** the URL the bytes came from, after redirects */
  url: string;
  contentType: string | null;
}

const blocked4 = new net.BlockList();
for (const [net4, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked4.addSubnet(net4, prefix, 'ipv4');
}

const blocked6 = new net.BlockList();
for (const [net6, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated)
  ['100::', 64], // discard
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  blocked6.addSubnet(net6, prefix, 'ipv6');
}

/** Expands an IPv6 address to its 8 16-bit groups. */
function ipv6Groups(addr: string): number[] | undefined {
  let a = addr.split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    a = a.slice(0, -v4[1]!.length) + `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h, ...Array(Math.max(0, fill)).fill('0'), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

function v4FromGroups(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** True for any address a server-side fetch must not reach by default. Unparseable input counts as blocked. */
export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blocked4.check(address, 'ipv4');
  if (family !== 6) return true;
  const g = ipv6Groups(address);
  if (!g) return true;
  // IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96: judge the embedded IPv4 address
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return isBlockedAddress(v4FromGroups(g[6]!, g[7]!));
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))
    return isBlockedAddress(v4FromGroups(g[6]!, g[7]!));
  // 6to4 2002:AABB:CCDD::/48 embeds an IPv4 address
  if (g[0] === 0x2002) return isBlockedAddress(v4FromGroups(g[1]!, g[2]!));
  return blocked6.check(address, 'ipv6');
}

async function defaultResolve(host: string): Promise<{ address: string; family: number }[]> {
  return dns.promises.lookup(host, { all: true, verbatim: true });
}

/** Parses and checks a URL string (scheme, credentials, length). */
export function parseImageUrl(raw: string, label = 'url'): URL {
  if (typeof raw !== 'string' || !raw.trim()) throw badInput(`${label}: must not be empty`, { field: label });
  if (raw.length > LIMITS.urlMax) throw badInput(`${label}: at most ${LIMITS.urlMax} characters`, { field: label });
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw badInput(`${label}: not a valid URL`, { field: label });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw badInput(`${label}: only http and https URLs can be fetched`, { field: label });
  if (u.username || u.password) throw badInput(`${label}: URLs with credentials are not accepted`, { field: label });
  if (!u.hostname) throw badInput(`${label}: the URL has no host`, { field: label });
  return u;
}

/** Resolves the URL's host and returns the address to connect to, or throws when any address is refused. */
async function vet(u: URL, opts: FetchImageOptions, label: string): Promise<{ address: string; family: 4 | 6 }> {
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const isBlocked = opts.isBlocked ?? (opts.allowPrivate ? () => false : isBlockedAddress);
  let addrs: { address: string; family: number }[];
  const literal = net.isIP(host);
  if (literal) addrs = [{ address: host, family: literal }];
  else {
    try {
      addrs = await (opts.resolve ?? defaultResolve)(host);
    } catch {
      throw badInput(`${label}: cannot resolve host ${JSON.stringify(host)}`, { field: label });
    }
  }
  if (!addrs.length) throw badInput(`${label}: cannot resolve host ${JSON.stringify(host)}`, { field: label });
  const bad = addrs.find((a) => isBlocked(a.address));
  if (bad) {
    throw badInput(`${label}: refusing to fetch from a private, loopback, link-local or reserved address (${host})`, {
      field: label,
      reason: 'address-not-allowed',
    });
  }
  const first = addrs[0]!;
  return { address: first.address, family: net.isIP(first.address) === 6 ? 6 : 4 };
}

interface Hop {
  status: number;
  location?: string;
  contentType: string | null;
  bytes?: Buffer;
}

function requestOnce(
  u: URL,
  pinned: { address: string; family: 4 | 6 },
  opts: FetchImageOptions,
  label: string,
  signal: AbortSignal,
): Promise<Hop> {
  return new Promise<Hop>((resolve, reject) => {
    let settled = false;
    const ok = (h: Hop) => {
      if (settled) return;
      settled = true;
      resolve(h);
    };
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    const mod = u.protocol === 'https:' ? https : http;
    // every DNS lookup of this socket answers with the vetted address (no rebinding between vet and connect)
    const lookup = ((_host: string, o: { all?: boolean }, cb: (...args: unknown[]) => void) => {
      if (o?.all) cb(null, [{ address: pinned.address, family: pinned.family }]);
      else cb(null, pinned.address, pinned.family);
    }) as unknown as net.LookupFunction;
    const tooLarge = () =>
      new GlimpseError('IMAGE_TOO_LARGE', `${label}: the image is over the limit of ${opts.maxBytes} bytes`, {
        field: label,
        maxBytes: opts.maxBytes,
      });
    const req = mod.request(
      u,
      {
        method: 'GET',
        lookup,
        agent: false,
        signal,
        headers: { accept: 'image/*', 'user-agent': 'Glimpse-image-fetch/1', 'accept-encoding': 'identity' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const contentType = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : null;
        if (status >= 300 && status < 400 && res.headers.location) {
          ok({ status, location: res.headers.location, contentType });
          res.destroy();
          return;
        }
        if (status < 200 || status >= 300) {
          fail(badInput(`${label}: the server answered HTTP ${status}`, { field: label, status }));
          res.destroy();
          return;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > opts.maxBytes) {
          fail(tooLarge());
          res.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (c: Buffer) => {
          if (settled) return;
          total += c.length;
          if (total > opts.maxBytes) {
            fail(tooLarge());
            res.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => ok({ status, contentType, bytes: Buffer.concat(chunks, total) }));
        res.on('error', fail);
        res.on('close', () => fail(new Error('the connection closed before the image was complete')));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

/** Fetches an image URL under the rules above. */
export async function fetchImage(rawUrl: string, opts: FetchImageOptions): Promise<FetchedImage> {
  const label = opts.label ?? 'url';
  let u = parseImageUrl(rawUrl, label);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs);
  try {
    for (let redirects = 0; ; redirects++) {
      const pinned = await vet(u, opts, label);
      if (ac.signal.aborted) throw new Error('timeout');
      const hop = await requestOnce(u, pinned, opts, label, ac.signal);
      if (hop.bytes) return { bytes: hop.bytes, url: u.toString(), contentType: hop.contentType };
      if (redirects >= opts.maxRedirects) {
        throw badInput(`${label}: more than ${opts.maxRedirects} redirects`, {
          field: label,
          maxRedirects: opts.maxRedirects,
        });
      }
      let next: URL;
      try {
        next = new URL(hop.location!, u);
      } catch {
        throw badInput(`${label}: the server redirected to an invalid URL`, { field: label });
      }
      u = parseImageUrl(next.toString(), label);
    }
  } catch (err) {
    if (err instanceof GlimpseError) throw err;
    if (ac.signal.aborted)
      throw badInput(`${label}: fetching the image took longer than ${opts.timeoutMs} ms`, {
        field: label,
        timeoutMs: opts.timeoutMs,
      });
    throw badInput(`${label}: fetching the image failed (${(err as Error).message})`, { field: label });
  } finally {
    clearTimeout(timer);
  }
}
