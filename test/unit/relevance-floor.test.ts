/**
 * The relevance floor's setting (GLIMPSE_SEMANTIC_FLOOR) and its measurement: `model` means `auto` for real
 * models and `off` for the generated test model; the floor is the best score any nonsense probe reaches, kept
 * per key, refreshed behind a stale one, and a failed measurement is not kept.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { PROBE_TEXTS, RelevanceFloors, effectiveSetting } from '../../src/search/relevance-floor.js';

describe('relevance floor', () => {
  it('reads GLIMPSE_SEMANTIC_FLOOR: model (default), auto, off or a score in [0, 1]', () => {
    expect(loadConfig({}).semanticFloor).toBe('model');
    expect(loadConfig({ GLIMPSE_SEMANTIC_FLOOR: 'auto' }).semanticFloor).toBe('auto');
    expect(loadConfig({ GLIMPSE_SEMANTIC_FLOOR: 'off' }).semanticFloor).toBe('off');
    expect(loadConfig({ GLIMPSE_SEMANTIC_FLOOR: '0.25' }).semanticFloor).toBe(0.25);
    for (const bad of ['1.5', '-0.1', 'sometimes']) expect(() => loadConfig({ GLIMPSE_SEMANTIC_FLOOR: bad })).toThrow();
  });

  it('`model` is auto for real models, off for the test model and for embedders that do not say', () => {
    expect(effectiveSetting('model', false)).toBe('auto');
    expect(effectiveSetting('model', true)).toBe('off');
    expect(effectiveSetting('model', undefined)).toBe('off');
    expect(effectiveSetting('auto', true)).toBe('auto');
    expect(effectiveSetting(0.3, false)).toBe(0.3);
  });

  it('a stale floor answers at once while a new one is measured in the background', async () => {
    let clock = 0;
    const floors = new RelevanceFloors(1000, () => clock);
    let level = 0.2;
    let calls = 0;
    const score = async () => {
      calls++;
      return level;
    };
    expect(await floors.floor('m', score)).toMatchObject({ floor: 0.2 });
    level = 0.3;
    clock = 999;
    expect(await floors.floor('m', score)).toMatchObject({ floor: 0.2 });
    expect(calls).toBe(PROBE_TEXTS.length);
    clock = 1000;
    // stale: the kept floor answers, the probes run again behind it
    expect(await floors.floor('m', score)).toMatchObject({ floor: 0.2 });
    await new Promise((r) => setTimeout(r, 10));
    expect(await floors.floor('m', score)).toMatchObject({ floor: 0.3 });
    expect(calls).toBe(2 * PROBE_TEXTS.length);
    // a failed refresh keeps the floor
    clock = 5000;
    expect(await floors.floor('m', () => Promise.reject(new Error('db down')))).toMatchObject({ floor: 0.3 });
  });

  it('measures the best probe score once per key and forgets a failed measurement', async () => {
    const floors = new RelevanceFloors();
    let calls = 0;
    const score = async (probe: string) => {
      calls++;
      return probe === 'zzkq' ? 0.31 : probe === 'mxq' ? null : 0.2;
    };
    expect(await floors.floor('m', score)).toEqual({ floor: 0.31, probes: PROBE_TEXTS.length - 1 });
    await floors.floor('m', score);
    expect(calls).toBe(PROBE_TEXTS.length);
    expect(await floors.floor('empty', async () => null)).toBeNull();
    await expect(floors.floor('bad', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await floors.floor('bad', score)).toMatchObject({ floor: 0.31 });
  });
});
