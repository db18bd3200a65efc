import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchImage, isBlockedAddress } from '../../../src/catalog/url-fetch.js';

describe('isBlockedAddress', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.1',
    '172.16.5.4',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '239.255.255.250',
    '255.255.255.255',
    '240.0.0.1',
    '192.0.2.1',
    '198.18.0.1',
    '::',
    '::1',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    'fec0::1',
    '2001:db8::1',
    '::ffff:127.0.0.1',
    '::ffff:10.1.2.3',
    '::ffff:7f00:1',
    '64:ff9b::a9fe:a9fe',
    '2002:c0a8:0101::1',
    '::127.0.0.1',
    'not-an-ip',
    '',
  ])('blocks %s', (ip) => {
    expect(isBlockedAddress(ip)).toBe(true);
  });
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:81b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ])('allows %s', (ip) => {
    expect(isBlockedAddress(ip)).toBe(false);
  });
});

describe('fetchImage', () => {
  let server: http.Server;
  let port: number;
  const hosts: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hosts.push(String(req.headers.host));
      if (req.url === '/img') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(Buffer.from('pngbytes'));
      } else if (req.url === '/to-blocked') {
        res.writeHead(301, { location: `http://127.0.0.2:${port}/img` });
        res.end();
      } else if (req.url === '/to-ftp') {
        res.writeHead(302, { location: 'ftp://example.com/x' });
        res.end();
      } else if (req.url === '/loop') {
        res.writeHead(302, { location: '/loop' });
        res.end();
      } else if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'image/png' }); // no content-length: chunked
        res.write(Buffer.alloc(600));
        res.end(Buffer.alloc(600));
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 2000);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const base = { allowPrivate: true, maxRedirects: 3, timeoutMs: 1000, maxBytes: 1000 };

  it('refuses private addresses unless allowed', async () => {
    await expect(fetchImage(`http://127.0.0.1:${port}/img`, { ...base, allowPrivate: false })).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
    });
    const ok = await fetchImage(`http://127.0.0.1:${port}/img`, base);
    expect(ok.bytes.toString()).toBe('pngbytes');
  });

  it('refuses a host when any of its addresses is private (DNS answer vetted)', async () => {
    const resolve = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.1', family: 4 },
    ];
    await expect(
      fetchImage('http://shop.example/img', { ...base, allowPrivate: false, resolve }),
    ).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('connects to the vetted address, keeping the Host header (no rebinding)', async () => {
    let lookups = 0;
    const resolve = async () => {
      lookups++;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const r = await fetchImage(`http://cdn.shop.example:${port}/img`, { ...base, resolve });
    expect(r.bytes.toString()).toBe('pngbytes');
    expect(lookups).toBe(1);
    expect(hosts.at(-1)).toBe(`cdn.shop.example:${port}`);
  });

  it('vets every redirect target and limits redirects', async () => {
    const isBlocked = (ip: string) => ip === '127.0.0.2';
    await expect(fetchImage(`http://127.0.0.1:${port}/to-blocked`, { ...base, isBlocked })).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/refusing/),
    });
    await expect(fetchImage(`http://127.0.0.1:${port}/to-ftp`, base)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/http and https/),
    });
    await expect(fetchImage(`http://127.0.0.1:${port}/loop`, base)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/redirects/),
    });
  });

  it('enforces the size and time limits', async () => {
    await expect(fetchImage(`http://127.0.0.1:${port}/stream`, base)).rejects.toMatchObject({
      code: 'IMAGE_TOO_LARGE',
    });
    await expect(fetchImage(`http://127.0.0.1:${port}/slow`, { ...base, timeoutMs: 200 })).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/longer than 200 ms/),
    });
    await expect(fetchImage(`http://127.0.0.1:${port}/nope`, base)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/HTTP 404/),
    });
  });

  it('rejects bad URLs', async () => {
    for (const u of [
      'file:///etc/passwd',
      'gopher://x',
      'http://user:pw@example.com/x',
      'nonsense',
      `http://x/${'a'.repeat(3000)}`,
    ]) {
      await expect(fetchImage(u, base), u).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    }
  });
});
