/**
 * Which failures on a standby move a read elsewhere (src/db/routing.ts): connection-level ones set the standby
 * aside, a write or a recovery conflict runs on the primary, and the query's own errors (bad SQL, a timeout)
 * are the caller's, never retried.
 */
import { describe, expect, it } from 'vitest';
import { standbyFailure } from '../../src/db/routing.js';

const pgError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });

describe('standbyFailure', () => {
  it.each([
    ['08006', 'down'], // connection lost (what the driver's code-less errors are coded as)
    ['57P01', 'down'], // admin shutdown (pg_ctl stop -m fast)
    ['57P03', 'down'], // cannot connect now (starting up)
    ['53300', 'down'], // too many connections
    ['ECONNREFUSED', 'down'],
    ['25006', 'primary'], // a write reached the read-only standby
    ['40001', 'primary'], // cancelled by a recovery conflict
    ['57014', null], // statement timeout: the query's own
    ['42P01', null], // undefined table: a real error
    ['22P02', null], // bad input
  ] as const)('%s → %s', (code, expected) => {
    expect(standbyFailure(pgError(code))).toBe(expected);
  });

  it('non-errors are not standby failures', () => {
    expect(standbyFailure(undefined)).toBeNull();
    expect(standbyFailure('boom')).toBeNull();
  });
});
