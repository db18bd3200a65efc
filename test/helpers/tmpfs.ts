/**
 * A small real tmpfs for tests of a full disk: a real ENOSPC from the kernel, not a mocked fs call. Mounting
 * needs root (as CI and scripts/postgres.sh run) or password-less sudo; without either the test fails and says
 * so, like a missing PostgreSQL does. `fill` leaves exactly `freeBytes` (to the page) free.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** writes a filler file so that about `freeBytes` stay free */
  fill(freeBytes: number): void;
  /** removes the filler: space returns */
  free(): void;
  unmount(): void;
}

function privileged(cmd: string, args: string[]): void {
  const [file, argv] = process.getuid?.() === 0 ? [cmd, args] : ['sudo', ['-n', cmd, ...args]];
  const r = spawnSync(file, argv, { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.status ?? r.error?.message}): ${r.stderr.trim()} — mounting a tmpfs needs root or password-less sudo`,
    );
}

export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-tmpfs-'));
  privileged('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0777`, 'tmpfs', dir]);
  const filler = path.join(dir, 'filler.bin');
  const freeNow = () => {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    fill(freeBytes) {
      fs.rmSync(filler, { force: true });
      fs.writeFileSync(filler, Buffer.alloc(Math.max(0, freeNow() - freeBytes)));
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    unmount() {
      privileged('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
