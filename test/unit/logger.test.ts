/**
 * The server's log destination (src/logger.ts): every line is handed to the OS as it is logged (pino's default
 * destination: one asynchronous write per line), and nothing is lost at exit. A child process logs to a file as
 * its stdout and reports what had reached the file at each step.
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
  afterError: string;
  soonAfterInfo2: string;
  atExit: string;
}

/** Runs the steps; returns what the log file held after each. */
function run(): Steps {
  const out = path.join(dir, 'out.log');
  const script = path.join(dir, 'child.mts');
  fs.writeFileSync(
    script,
    `import fs from 'node:fs';
     import { createLogger } from ${JSON.stringify(LOGGER)};
     const log = createLogger('info');
     const file = ${JSON.stringify(out)};
     const steps: Record<string, string> = {};
     const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
     log.info('one');
     log.error('boom');
     await sleep(200);
     steps.afterError = fs.readFileSync(file, 'utf8');
     log.info('two');
     await sleep(200);
     steps.soonAfterInfo2 = fs.readFileSync(file, 'utf8');
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

  it('hands every line to the OS as it is logged (one asynchronous write each) and loses none at exit', () => {
    const s = run();
    expect(msgs(s.afterError)).toEqual(['one', 'boom']);
    expect(msgs(s.soonAfterInfo2)).toEqual(['one', 'boom', 'two']); // no waiting for a timer
    expect(msgs(s.atExit)).toEqual(['one', 'boom', 'two', 'last']);
  });
});
