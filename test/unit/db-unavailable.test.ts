/**
 * "The database cannot serve this now" is decided by codes (SQLSTATE classes, errno, Prisma's codes and
 * kinds) wherever they sit in the cause chain, never by message text; the pg driver's code-less connection
 * errors are coded where they leave the driver. The end-to-end check is test/integration/postgres-restart.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionLostError, connectionErrorOf, databaseUnavailability } from '../../src/db/unavailable.js';
import { classify } from '../../src/http/errors.js';

const pgError = (code: string, message = 'whatever the server says') =>
  Object.assign(new Error(message), { code, severity: 'FATAL' });

/** the shape Prisma 7 gives a driver error (seen in the server log during a crash recovery) */
const prismaError = (code: string, message: string) =>
  Object.assign(new Error(`Invalid \`prisma.apiKey.findUnique()\` invocation: Database error. Code: \`${code}\``), {
    code: 'P2039',
    meta: {
      modelName: 'ApiKey',
      driverAdapterError: Object.assign(new Error('DriverAdapterError'), {
        cause: { originalCode: code, kind: 'postgres', code, severity: 'FATAL', message },
      }),
    },
  });

describe('database unavailability by code', () => {
  it.each([
    ['57P03', 'the database system is not yet accepting connections', 2],
    ['57P03', 'the database system is starting up', 2],
    ['57P03', 'das Datenbanksystem startet', 2],
    ['57P01', 'terminating connection due to administrator command', 2],
    ['57P02', 'terminating connection because of crash of another server process', 2],
    ['08006', 'x', 2],
    ['08001', 'x', 2],
    ['53300', 'sorry, too many clients already', 2],
    ['53100', 'could not extend file: No space left on device', 2],
    ['57014', 'canceling statement due to statement timeout', 1],
    ['55P03', 'canceling statement due to lock timeout', 1],
    ['40001', 'could not serialize access', 1],
    ['40P01', 'deadlock detected', 1],
  ])('SQLSTATE %s (%s): retry after %i s, from pg and through Prisma', (code, message, seconds) => {
    expect(databaseUnavailability(pgError(code, message))).toEqual({ retryAfterSeconds: seconds, code });
    expect(databaseUnavailability(prismaError(code, message))?.code).toBe(code);
    expect(databaseUnavailability(new Error('wrapped', { cause: pgError(code) }))?.code).toBe(code);
  });

  it('not for errors that are the request or a bug, whatever their message says', () => {
    for (const code of ['23505', '22P02', '42P01', '42703', 'P2002', '22021'])
      expect(databaseUnavailability(pgError(code, 'the database system is starting up'))).toBeNull();
    expect(databaseUnavailability(new Error('Connection terminated unexpectedly'))).toBeNull();
    expect(databaseUnavailability(new TypeError('x is not a function'))).toBeNull();
  });

  it('socket errno codes, Prisma codes and kinds, AggregateError members', () => {
    expect(databaseUnavailability(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))?.code).toBe('ECONNREFUSED');
    expect(databaseUnavailability(Object.assign(new Error('x'), { code: 'P1001' }))?.code).toBe('P1001');
    expect(databaseUnavailability({ kind: 'TooManyConnections' })?.code).toBe('TooManyConnections');
    expect(
      databaseUnavailability(
        new AggregateError([new Error('a'), Object.assign(new Error('b'), { code: 'ECONNRESET' })]),
      ),
    ).not.toBeNull();
  });

  it("the pg driver's code-less connection errors become SQLSTATE 08006; coded and programming errors pass", () => {
    const lost = connectionErrorOf(new Error('Connection terminated unexpectedly'));
    expect(lost).toBeInstanceOf(ConnectionLostError);
    expect(databaseUnavailability(lost)?.code).toBe('08006');
    const dup = pgError('23505');
    expect(connectionErrorOf(dup)).toBe(dup);
    const bug = new TypeError('bad');
    expect(connectionErrorOf(bug)).toBe(bug);
  });

  it('classify: SERVICE_UNAVAILABLE with retryAfterSeconds, the message hides the cause', () => {
    const c = classify(prismaError('57P03', 'the database system is not yet accepting connections'));
    expect(c).toEqual({
      code: 'SERVICE_UNAVAILABLE',
      message: 'The database is unavailable; retry in 2 s.',
      details: { retryAfterSeconds: 2 },
    });
  });
});
