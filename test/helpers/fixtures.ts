/**
 * Where the shared, read-only test fixtures live: $GLIMPSE_FIXTURES_DIR, else ../shared/fixtures beside the
 * project root. Missing fixtures are a test failure (never a silent skip).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The fixture directory as configured (not checked). */
export const FIXTURES_DIR = process.env.GLIMPSE_FIXTURES_DIR
  ? path.resolve(process.env.GLIMPSE_FIXTURES_DIR)
  : path.resolve(projectRoot, '..', 'shared', 'fixtures');

/** Absolute path of a fixture file; throws a loud, actionable error when it is missing. */
export function fixturePath(...parts: string[]): string {
  const p = path.join(FIXTURES_DIR, ...parts);
  if (!fs.existsSync(p)) {
    throw new Error(
      `Test fixture missing: ${p}\n` +
        `The shared fixtures (clip-tokenizer-cases.json, bpe_simple_vocab_16e6.txt.gz, images/) must be at ` +
        `${path.resolve(projectRoot, '..', 'shared', 'fixtures')} (../shared/fixtures beside the project), ` +
        `or set GLIMPSE_FIXTURES_DIR to the directory holding them.`,
    );
  }
  return p;
}

export function readFixture(...parts: string[]): Buffer {
  return fs.readFileSync(fixturePath(...parts));
}

export function readFixtureJson<T>(...parts: string[]): T {
  return JSON.parse(fs.readFileSync(fixturePath(...parts), 'utf8')) as T;
}
