/**
 * Authentication and rate limiting for /graphql, before GraphQL runs:
 *  - `Authorization: Bearer <key>`: a valid key sets the caller's role; an unknown, malformed or revoked key
 *    is refused with UNAUTHENTICATED (401) even for queries. No header: anonymous.
 *  - GLIMPSE_REQUIRE_READ_KEY: anonymous callers are refused (401).
 *  - Rate limit per key (or per client address when anonymous; src/http/rate-limit.ts): RATE_LIMITED (429).
 */
import type { NextFunction, Request, Response } from 'express';
import type { KeyVerifier } from '../auth/api-keys.js';
import type { Caller } from '../auth/api-keys.js';
import { classify, sendError } from './errors.js';
import type { RateLimiter } from './rate-limit.js';

declare module 'http' {
  interface IncomingMessage {
    glimpseCaller?: Caller;
  }
}

export const ANONYMOUS: Caller = Object.freeze({ role: null, keyId: null }) as Caller;

export function authMiddleware(verifier: KeyVerifier, opts: { requireReadKey: boolean; limiter: RateLimiter | null }) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const header = req.headers.authorization;
    let caller: Caller = ANONYMOUS;
    if (header !== undefined && header !== '') {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      let verified = null;
      try {
        verified = m ? await verifier.verify(m[1]!) : null;
      } catch (err) {
        const c = classify(err);
        sendError(res, c.code as 'INTERNAL', c.message, c.details);
        return;
      }
      if (!verified) {
        // failed guesses count against the address's budget
        if (opts.limiter && !(await opts.limiter.take(`ip:${req.ip}`, res))) return;
        res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
        sendError(
          res,
          'UNAUTHENTICATED',
          m ? 'unknown or revoked API key' : 'malformed Authorization header: expected "Bearer <key>"',
        );
        return;
      }
      caller = { role: verified.role, keyId: verified.id };
    }
    req.glimpseCaller = caller;
    if (opts.limiter && !(await opts.limiter.take(caller.keyId ? `key:${caller.keyId}` : `ip:${req.ip}`, res))) return;
    if (opts.requireReadKey && !caller.role) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      sendError(res, 'UNAUTHENTICATED', 'this server requires an API key (Authorization: Bearer <key>)');
      return;
    }
    next();
  };
}
