/**
 * The server's log destination (src/logger.ts): with a buffer (GLIMPSE_LOG_BUFFER) lines are held back and
 * written within LOG_FLUSH_MS, an error line at once with the lines before it, and what is left when the
 * process exits; without one every line is handed to the OS as it is logged (pino's default destination: one
 * asynchronous write per line). A child process logs to a file as its
 * stdout and reports the file's size at each step (what had reached the file by then).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const LOGGER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'logger.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-logger-'));

interface Steps {
  afterInfo: string;
  afterError: string;
  afterInfo2: string;
  soonAfterInfo2: string;
  afterTimer: string;
  atExit: string;
}

/** Runs the steps with `bufferBytes`; returns what the log file held after each. */
function run(bufferBytes: number): Steps {
  const out = path.join(dir, `out-${bufferBytes}.log`);
  const script = path.join(dir, `child-${bufferBytes}.mts`);
  fs.writeFileSync(
    script,
    `import fs from 'node:fs';
     import { createLogger } from ${JSON.stringify(LOGGER)};
     const log = createLogger('info', ${bufferBytes});
     const file = ${JSON.stringify(out)};
     const steps: Record<string, string> = {};
     const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
     log.info('one');
     steps.afterInfo = fs.readFileSync(file, 'utf8');
     log.error('boom');
     await sleep(200);
     steps.afterError = fs.readFileSync(file, 'utf8');
     log.info('two');
     steps.afterInfo2 = fs.readFileSync(file, 'utf8');
     await sleep(200);
     steps.soonAfterInfo2 = fs.readFileSync(file, 'utf8');
     await sleep(1400);
     steps.afterTimer = fs.readFileSync(file, 'utf8');
     process.stderr.write(JSON.stringify(steps));
     log.info('last');
     process.exit(0);`,
  );
  const fd = fs.openSync(out, 'w');
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', fd, 'pipe'],
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    return { ...(JSON.parse(r.stderr) as Omit<Steps, 'atExit'>), atExit: fs.readFileSync(out, 'utf8') };
  } finally {
    fs.closeSync(fd);
  }
}

const msgs = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { msg: string }).msg);

describe('log destination', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('buffered: held back, an error written at once with what came before, the rest within a second and at exit', () => {
    const s = run(4096);
    expect(msgs(s.afterInfo)).toEqual([]); // not written while the request runs
    expect(msgs(s.afterError)).toEqual(['one', 'boom']);
    expect(msgs(s.afterInfo2)).toEqual(['one', 'boom']);
    expect(msgs(s.afterTimer)).toEqual(['one', 'boom', 'two']);
    expect(msgs(s.atExit)).toEqual(['one', 'boom', 'two', 'last']);
  });

  it('unbuffered (0): every line is handed to the OS as it is logged (one asynchronous write each)', () => {
    const s = run(0);
    expect(msgs(s.afterError)).toEqual(['one', 'boom']);
    expect(msgs(s.soonAfterInfo2)).toEqual(['one', 'boom', 'two']); // no waiting for a timer
    expect(msgs(s.atExit)).toEqual(['one', 'boom', 'two', 'last']);
  });
});
