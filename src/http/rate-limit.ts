/**
 * Request rate limits: fixed one-minute windows per API key (or per client address when anonymous), answered
 * with RATE_LIMITED (429, Retry-After) past the budget.
 *
 * On PostgreSQL the windows live in the `rate_limit` table (rate-limiter-flexible's Postgres store, one upsert
 * per request on the primary), so every API replica draws from the same budget. A key already over its budget
 * is refused from process memory until its window ends (no database round trip per refused request), and
 * while the table cannot be reached each process falls back to its own in-memory windows rather than failing
 * requests. On embedded PGlite (one process by construction) the windows are in memory.
 */
import type { Response } from 'express';
import type pg from 'pg';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { sendError } from './errors.js';

export interface RateLimiter {
  /** where the windows are kept (logged at start) */
  readonly store: 'postgres' | 'memory';
  /** false (and the 429 already sent) when `key` is over its budget */
  take(key: string, res: Response): Promise<boolean>;
}

const WINDOW_SECONDS = 60;

function storeLimiter(perMinute: number, pool: pg.Pool | null): RateLimiterAbstract {
  const memory = new RateLimiterMemory({ points: perMinute, duration: WINDOW_SECONDS });
  if (!pool) return memory;
  return new RateLimiterPostgres({
    storeClient: pool,
    storeType: 'pool',
    tableName: 'rate_limit',
    tableCreated: true, // by the migration (prisma/migrations/*_rate_limit)
    keyPrefix: 'glimpse',
    points: perMinute,
    duration: WINDOW_SECONDS,
    inMemoryBlockOnConsumed: perMinute + 1,
    insuranceLimiter: memory,
  });
}

/** null when `perMinute` is 0 (limits off); `pool`: the primary's pool, or null for in-memory windows. */
export function createRateLimiter(perMinute: number, pool: pg.Pool | null): RateLimiter | null {
  if (perMinute <= 0) return null;
  const limiter = storeLimiter(perMinute, pool);
  return {
    store: pool ? 'postgres' : 'memory',
    async take(key, res) {
      try {
        const r = await limiter.consume(key);
        res.setHeader('RateLimit-Limit', String(perMinute));
        res.setHeader('RateLimit-Remaining', String(r.remainingPoints));
        return true;
      } catch (rej) {
        if (!(rej instanceof RateLimiterRes)) throw rej;
        const retryAfterSeconds = Math.max(1, Math.ceil(rej.msBeforeNext / 1000));
        res.setHeader('Retry-After', String(retryAfterSeconds));
        res.setHeader('RateLimit-Limit', String(perMinute));
        res.setHeader('RateLimit-Remaining', '0');
        sendError(
          res,
          'RATE_LIMITED',
          `rate limit of ${perMinute} requests per minute exceeded; retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        );
        return false;
      }
    },
  };
}
