/** The generated and hand-written docs stay in step with the code. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configurationMarkdown } from '../../src/cli/commands/config.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { HTTP_STATUS } from '../../src/http/errors.js';
import { documentedStatuses } from '../helpers/error-table.js';

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

  it('docs/errors.md lists every error code with the statuses of the code table (src/http/errors.ts)', () => {
    const rows = documentedStatuses();
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, statuses] of rows) {
      expect(statuses.length, code).toBeGreaterThan(0);
      // a refusal before GraphQL runs has the table's status; an error inside an operation comes with 200
      const allowed = [200, HTTP_STATUS[code as ErrorCode], ...(code === 'NOT_FOUND' ? [404] : [])];
      for (const s of statuses) expect(allowed, `${code}: documented ${s}`).toContain(s);
    }
    expect(rows.get('SERVICE_UNAVAILABLE')).toEqual([503, 200]);
  });
});
