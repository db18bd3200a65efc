/**
 * GLIMPSE_DB_POOL_MIN and GLIMPSE_DB_IDLE_TIMEOUT_MS: parsed, checked against the pool size, resolved.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, poolMinOf } from '../../src/config.js';

describe('pool settings', () => {
  it('keeps every connection of the pool by default, with a 30 s idle timeout for the rest', () => {
    const c = loadConfig({});
    expect(c.dbPoolMin).toBe('all');
    expect(poolMinOf(c)).toBe(c.dbPoolSize);
    expect(c.dbIdleTimeoutMs).toBe(30_000);
    expect(poolMinOf(loadConfig({ GLIMPSE_DB_POOL_SIZE: '6' }))).toBe(6);
  });

  it('takes a number up to the pool size', () => {
    expect(poolMinOf(loadConfig({ GLIMPSE_DB_POOL_MIN: '0' }))).toBe(0);
    expect(poolMinOf(loadConfig({ GLIMPSE_DB_POOL_SIZE: '8', GLIMPSE_DB_POOL_MIN: '3' }))).toBe(3);
    expect(loadConfig({ GLIMPSE_DB_IDLE_TIMEOUT_MS: '0' }).dbIdleTimeoutMs).toBe(0);
    // a pool size given in code (tests, the CLI) below the minimum: the pool size bounds it
    expect(poolMinOf(loadConfig({ GLIMPSE_DB_POOL_MIN: '5' }, { dbPoolSize: 2 }))).toBe(2);
  });

  it('refuses a minimum above the pool size, a negative one and words other than all', () => {
    expect(() => loadConfig({ GLIMPSE_DB_POOL_SIZE: '4', GLIMPSE_DB_POOL_MIN: '5' })).toThrow(
      /GLIMPSE_DB_POOL_MIN="5": more than GLIMPSE_DB_POOL_SIZE \(4\)/,
    );
    expect(() => loadConfig({ GLIMPSE_DB_POOL_MIN: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ GLIMPSE_DB_POOL_MIN: 'some' })).toThrow(/GLIMPSE_DB_POOL_MIN/);
    expect(() => loadConfig({ GLIMPSE_DB_IDLE_TIMEOUT_MS: 'soon' })).toThrow(/GLIMPSE_DB_IDLE_TIMEOUT_MS/);
  });
});
