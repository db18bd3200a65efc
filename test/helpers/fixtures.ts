/**
 * The repository's own test fixtures (test/fixtures: photos, PIL reference tensors, the CLIP tokenizer cases and
 * vocabulary; provenance in test/fixtures/README.md). $GLIMPSE_FIXTURES_DIR overrides the directory, e.g. to
 * check against a newer set. Missing fixtures are a test failure (never a silent skip).
 *
 * The float32 reference tensors are stored gzipped (`x.f32.gz`, a fifth of the size) while cases.json names
 * them `x.f32`, as the upstream set does: readFixture falls back to `<name>.gz` and inflates it, so either
 * layout reads the same.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** test/fixtures in this checkout. */
export const REPO_FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** The fixture directory in use: $GLIMPSE_FIXTURES_DIR, else test/fixtures. */
export const FIXTURES_DIR = process.env.GLIMPSE_FIXTURES_DIR
  ? path.resolve(process.env.GLIMPSE_FIXTURES_DIR)
  : REPO_FIXTURES_DIR;

function missing(p: string): Error {
  return new Error(
    `Test fixture missing: ${p}\n` +
      (process.env.GLIMPSE_FIXTURES_DIR
        ? `GLIMPSE_FIXTURES_DIR=${process.env.GLIMPSE_FIXTURES_DIR} does not hold it; unset it to use ${REPO_FIXTURES_DIR}.`
        : `The repository's fixtures live in ${REPO_FIXTURES_DIR}; is the checkout complete?`),
  );
}

/** Absolute path of a fixture file (as stored, not inflated); throws a loud, actionable error when it is missing. */
export function fixturePath(...parts: string[]): string {
  const p = path.join(FIXTURES_DIR, ...parts);
  if (!fs.existsSync(p)) throw missing(p);
  return p;
}

/** A fixture's bytes; `<name>.gz` is inflated when only the gzipped copy is stored. */
export function readFixture(...parts: string[]): Buffer {
  const p = path.join(FIXTURES_DIR, ...parts);
  if (fs.existsSync(p)) return fs.readFileSync(p);
  if (fs.existsSync(`${p}.gz`)) return gunzipSync(fs.readFileSync(`${p}.gz`));
  throw missing(p);
}

export function readFixtureJson<T>(...parts: string[]): T {
  return JSON.parse(readFixture(...parts).toString('utf8')) as T;
}
