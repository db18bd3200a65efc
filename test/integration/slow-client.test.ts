/**
 * A client that sends its body at 1 KB/s — a 790 KB image upload would take 13 minutes — is answered
 * 408 REQUEST_TIMEOUT once it falls below the minimum rate, its connection is closed, nothing is written and
 * the server keeps serving; an upload on a good link that takes longer than the timeout is not cut. Real
 * server, real sockets: the slow client is a raw TCP connection writing a multipart request a little at a time.
 */
import net from 'node:net';
import sharp from 'sharp';
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

const TIMEOUT_MS = 1500;
const MIN_RATE = 16 * 1024;

let srv: TestServer;
let admin: string;
let productId: string;
let image: Buffer;

beforeAll(async () => {
  srv = await startTestServer({ config: { bodyTimeoutMs: TIMEOUT_MS, bodyMinRate: MIN_RATE, rateLimitPerMinute: 0 } });
  admin = await srv.createKey('admin');
  const created = await srv.gql<{ createProduct: { id: string } }>(
    `mutation { createProduct(input: { sku: "SLOW-1", title: "slow upload" }) { id } }`,
    undefined,
    { key: admin },
  );
  productId = created.body.data!.createProduct.id;
  // ~790 KB of noise as a PNG, like the upload of the report
  image = await sharp(crypto.randomBytes(470 * 560 * 3), { raw: { width: 470, height: 560, channels: 3 } })
    .png()
    .toBuffer();
});

afterAll(async () => {
  await srv?.close();
});

/** A multipart addProductImages request: the head (request line, headers, operations, map) and the file part. */
function uploadRequest(file: Buffer): { head: Buffer; body: Buffer } {
  const boundary = `----glimpse${crypto.randomBytes(8).toString('hex')}`;
  const operations = JSON.stringify({
    query: `mutation($id: ID!, $files: [Upload!]) { addProductImages(productId: $id, files: $files) { images { id } } }`,
    variables: { id: productId, files: [null] },
  });
  const fields =
    `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${operations}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.files.0"]}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(fields), file, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  const head =
    `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nAuthorization: Bearer ${admin}\r\n` +
    `Apollo-Require-Preflight: true\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
    `Content-Length: ${body.length}\r\n\r\n`;
  return { head: Buffer.from(head), body };
}

interface RawOutcome {
  response: string;
  answeredMs: number;
  closedMs: number;
  sentBytes: number;
}

/** Sends `head`, then `body` in `chunk`-byte pieces every `everyMs`; reads until the server closes. */
function sendAtRate(head: Buffer, body: Buffer, chunk: number, everyMs: number): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = net.connect(srv.port, '127.0.0.1');
    let response = '';
    let answeredMs = -1;
    let sent = 0;
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close after 30 s; got: ${response.slice(0, 300)}`));
    }, 30_000);
    socket.on('data', (d: Buffer) => {
      if (answeredMs < 0) answeredMs = Date.now() - t0;
      response += d.toString();
    });
    socket.on('error', () => {}); // a reset after the answer is the server closing a trickle: the answer is read
    socket.on('close', () => {
      clearTimeout(guard);
      clearInterval(timer);
      resolve({ response, answeredMs, closedMs: Date.now() - t0, sentBytes: sent });
    });
    socket.write(head);
    const timer = setInterval(() => {
      if (sent >= body.length || socket.destroyed) return clearInterval(timer);
      const piece = body.subarray(sent, sent + chunk);
      sent += piece.length;
      socket.write(piece);
    }, everyMs);
  });
}

/** Connections the server holds open (the test's own keep-alive fetches included). */
const connections = () =>
  new Promise<number>((res, rej) => srv.httpServer.getConnections((err, n) => (err ? rej(err) : res(n))));

const imageCount = async () =>
  Number(
    (
      await srv.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM product_image WHERE product_id = $1`, [
        productId,
      ])
    )[0]!.n,
  );

describe('a client uploading at 1 KB/s', () => {
  it('gets 408 REQUEST_TIMEOUT below the minimum rate, its connection is closed, nothing is written', async () => {
    const { head, body } = uploadRequest(image);
    expect(body.length).toBeGreaterThan(700_000);
    const before = await connections();
    const r = await sendAtRate(head, body, 256, 250); // 1 KB/s
    const [statusLine] = r.response.split('\r\n');
    const json = JSON.parse(r.response.slice(r.response.indexOf('\r\n\r\n') + 4)) as {
      errors: { extensions: { code: string; receivedBytes: number } }[];
    };
    console.log('[slow-client] 1 KB/s upload:', {
      bodyBytes: body.length,
      sentBytes: r.sentBytes,
      answeredMs: r.answeredMs,
      closedMs: r.closedMs,
    });
    expect(statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(r.response.toLowerCase()).toContain('connection: close');
    expect(json.errors[0]!.extensions.code).toBe('REQUEST_TIMEOUT');
    // the minimum rate gives TIMEOUT_MS plus about a tenth of a second for the few KB it sent
    expect(r.answeredMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(r.answeredMs).toBeLessThan(TIMEOUT_MS + 1500);
    expect(r.closedMs - r.answeredMs).toBeLessThan(3000);
    expect(r.sentBytes).toBeLessThan(body.length / 50);

    // freed: the slow client's connection is gone, nothing written, and the server serves the next client
    await new Promise((res) => setTimeout(res, 300));
    expect(await connections()).toBe(before);
    expect(await imageCount()).toBe(0);
    const next = await srv.gql(`{ product(sku: "SLOW-1") { images { id } } }`);
    expect(next.body.errors).toBeUndefined();
  });

  it('a JSON body trickled at 1 KB/s is refused the same way', async () => {
    const json = Buffer.from(
      JSON.stringify({ query: `{ products(first: 1) { edges { node { id } } } }`, pad: 'x'.repeat(20_000) }),
    );
    const head = Buffer.from(
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${json.length}\r\n\r\n`,
    );
    const r = await sendAtRate(head, json, 256, 250);
    expect(r.response.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(r.response).toContain('"code":"REQUEST_TIMEOUT"');
  });

  it('a body trickled to a route that does not read it (404) is cut the same way: the connection is closed', async () => {
    const body = Buffer.alloc(20_000, 'x');
    const head = Buffer.from(
      `POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const r = await sendAtRate(head, body, 256, 250);
    expect(r.response.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    expect(r.closedMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(r.closedMs).toBeLessThan(TIMEOUT_MS + 1500);
    expect(r.sentBytes).toBeLessThan(body.length);
  });

  it('an upload that takes longer than the timeout on a good link (≥ the minimum rate) is not cut', async () => {
    const { head, body } = uploadRequest(image);
    // 64 KB/s: four times the minimum rate, ~12 s in all — far past the 1.5 s timeout
    const r = await sendAtRate(head, body, 16 * 1024, 250);
    expect(r.closedMs).toBeGreaterThan(TIMEOUT_MS * 4);
    expect(r.response.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(r.response).toContain('"addProductImages"');
    expect(await imageCount()).toBe(1);
  });
});
