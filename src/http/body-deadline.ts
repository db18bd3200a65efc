/**
 * A request body must keep coming: a client that sends it slower than GLIMPSE_BODY_MIN_RATE (after a start of
 * GLIMPSE_BODY_TIMEOUT_MS) — a phone on a dead link, a slowloris, an upload at 1 KB/s — would otherwise hold
 * its connection, the multipart parser, the resolver waiting on the file and what it sent so far for as long
 * as it likes. The rule is Apache mod_reqtimeout's `body=…,MinRate=…`: the allowed time starts at the timeout
 * and grows by one second per `minRate` bytes received, so a large upload on a good link is never cut while a
 * trickle is. Past it the client gets 408 REQUEST_TIMEOUT (typed, `Connection: close`), and the connection is
 * closed a moment later, which ends the parser and fails the upload streams, so the resolver returns.
 *
 * Bytes are counted on the socket (`bytesRead`), not by reading the request: a `data` listener would take the
 * body away from the parsers.
 */
import type { NextFunction, Request, Response } from 'express';
import { sendError } from './errors.js';

export interface BodyDeadline {
  /** time allowed before any minimum rate is asked for */
  timeoutMs: number;
  /** bytes per second that earn one more second each */
  minRate: number;
}

/** How often a body in flight is looked at: the deadline is met to within this. */
const CHECK_EVERY_MS = 200;
/** Node ends a `Connection: close` connection once answered; should the trickle keep it open, it is closed after this. */
const CLOSE_AFTER_MS = 1000;

export function bodyDeadline(limits: BodyDeadline) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (!hasBody || req.readableEnded) return next();
    const socket = req.socket;
    const start = Date.now();
    const bytesAtStart = socket.bytesRead;
    const timer = setInterval(() => {
      if (req.readableEnded || socket.destroyed) return stop();
      const received = socket.bytesRead - bytesAtStart;
      const allowedMs = limits.timeoutMs + (received / limits.minRate) * 1000;
      if (Date.now() - start <= allowedMs) return;
      stop();
      if (res.headersSent) {
        socket.destroy(); // already answered (a refused upload being drained): stop reading the trickle
        return;
      }
      res.setHeader('Connection', 'close');
      sendError(
        res,
        'REQUEST_TIMEOUT',
        `the request body arrived too slowly: ${received} bytes in ${Date.now() - start} ms (at least ${limits.minRate} bytes/s after the first ${limits.timeoutMs} ms: GLIMPSE_BODY_MIN_RATE, GLIMPSE_BODY_TIMEOUT_MS)`,
        { receivedBytes: received, timeoutMs: limits.timeoutMs, minRate: limits.minRate },
      );
      res.once('finish', () => setTimeout(() => socket.destroy(), CLOSE_AFTER_MS).unref());
    }, CHECK_EVERY_MS);
    timer.unref();
    // not the response's end: a body can go on arriving after the answer (a 404, a refused upload being drained)
    const stop = () => {
      clearInterval(timer);
      socket.off('close', stop);
    };
    req.once('end', stop);
    socket.once('close', stop);
    next();
  };
}
