/**
 * The repository stands on its own: a fresh clone has nothing beside it, so no tracked file may point at the
 * fixture folder that development machines keep one level up, and every fixture the tests and the demo name is
 * in test/fixtures. (.ci/run proves the same from the other side: it runs the suite in a clone with nothing
 * beside it.)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultFixturesDir } from '../../src/demo/seed.js';
import { REPO_FIXTURES_DIR, readFixture, readFixtureJson } from '../helpers/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SELF = path.relative(root, fileURLToPath(import.meta.url));
const OUTSIDE = ['..', 'shared'].join('/');
const FORBIDDEN: RegExp[] = [
  new RegExp(OUTSIDE.replace(/[./]/g, '\\$&')), // OUTSIDE written as a relative path
  new RegExp(['shared', 'fixtures'].join('/')), // any absolute path to the shared fixtures
  new RegExp(`['"]\\.\\.['"]\\s*,\\s*['"]${'shared'}['"]`), // path.join(root, '..', 'shared')
];

function trackedTextFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' });
  return out
    .split('\0')
    .filter((f) => f && f !== SELF && !f.startsWith('test/fixtures/'))
    .filter((f) => fs.existsSync(path.join(root, f)) && fs.statSync(path.join(root, f)).isFile());
}

describe('the repository needs nothing beside it', () => {
  it('no tracked file refers to a fixture folder outside the repository', () => {
    const files = trackedTextFiles();
    expect(files.length).toBeGreaterThan(100);
    const hits: string[] = [];
    for (const f of files) {
      const text = fs.readFileSync(path.join(root, f), 'utf8');
      text.split('\n').forEach((line, i) => {
        if (FORBIDDEN.some((re) => re.test(line))) hits.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it('the forbidden patterns catch the ways such a path is written', () => {
    for (const sample of [
      `path.resolve(root, '..', 'shared', 'fixtures')`,
      `export GLIMPSE_FIXTURES_DIR=${OUTSIDE}/fixtures`,
      `/work/${'shared'}/fixtures/images`,
    ]) {
      expect(
        FORBIDDEN.some((re) => re.test(sample)),
        sample,
      ).toBe(true);
    }
    expect(FORBIDDEN.some((re) => re.test(`path.join(root, 'test', 'fixtures')`))).toBe(false);
  });

  it('tests and the demo read test/fixtures unless GLIMPSE_FIXTURES_DIR overrides it', () => {
    expect(REPO_FIXTURES_DIR).toBe(path.join(root, 'test', 'fixtures'));
    if (!process.env.GLIMPSE_FIXTURES_DIR) {
      expect(defaultFixturesDir()).toBe(path.join(root, 'test', 'fixtures', 'images'));
    }
  });

  it('every fixture cases.json names is in the repository, with its licence notes', () => {
    const cases = readFixtureJson<{ valid: { file: string; reference: string }[]; invalid: { file: string }[] }>(
      'images',
      'cases.json',
    );
    for (const c of cases.valid) {
      expect(fs.existsSync(path.join(REPO_FIXTURES_DIR, 'images', c.file)), c.file).toBe(true);
      expect(fs.existsSync(path.join(REPO_FIXTURES_DIR, 'images', `${c.reference}.gz`)), c.reference).toBe(true);
      expect(readFixture('images', c.reference).length).toBe(3 * 224 * 224 * 4);
    }
    for (const c of cases.invalid) expect(fs.existsSync(path.join(REPO_FIXTURES_DIR, 'images', c.file))).toBe(true);
    for (const f of [
      'README.md',
      'LICENSE.clip-vocab.txt',
      'bpe_simple_vocab_16e6.txt.gz',
      'clip-tokenizer-cases.json',
    ]) {
      expect(fs.existsSync(path.join(REPO_FIXTURES_DIR, f)), f).toBe(true);
    }
    expect(fs.readFileSync(path.join(REPO_FIXTURES_DIR, 'LICENSE.clip-vocab.txt'), 'utf8')).toMatch(/MIT License/);
  });
});
