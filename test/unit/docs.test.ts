/** The generated and hand-written docs stay in step with the code. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configurationMarkdown } from '../../src/cli/commands/config.js';
import { ERROR_CODES } from '../../src/errors.js';

const root = path.resolve(import.meta.dirname, '..', '..');

/** Table cells without padding, so that a prettier-formatted copy still compares equal. */
const normalise = (md: string) =>
  md
    .split('\n')
    .map((l) =>
      l.startsWith('|')
        ? l
            .split('|')
            .map((c) => c.trim().replace(/^:?-+:?$/, '---'))
            .join('|')
        : l,
    )
    .join('\n')
    .trim();

describe('docs', () => {
  it('docs/configuration.md is generated from src/config.ts (npm run glimpse -- config --markdown > docs/configuration.md)', () => {
    const doc = fs.readFileSync(path.join(root, 'docs', 'configuration.md'), 'utf8');
    expect(normalise(doc)).toBe(normalise(configurationMarkdown()));
  });

  it('docs/errors.md lists every error code with an HTTP status', () => {
    const doc = fs.readFileSync(path.join(root, 'docs', 'errors.md'), 'utf8');
    const rows = new Map([...doc.matchAll(/^\| `([A-Z_]+)`\s*\| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const status of rows.values()) expect(status).toMatch(/\d{3}/);
  });
});
