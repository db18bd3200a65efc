/**
 * Private PostgreSQL clusters for tests that need what the shared 5432 server must not be put through: a
 * restart or crash, and a real hot standby. Each cluster lives in its own temp directory on a free 127.0.0.1
 * port, runs the newest server under /usr/lib/postgresql/<version>/bin (15 on Debian bookworm, 17 on trixie),
 * and is owned by the `postgres` OS user when the tests run as root (the server refuses to run as root).
 *
 *   const primary = await TestCluster.create();           // initdb + start
 *   const standby = await TestCluster.standbyOf(primary);  // pg_basebackup -R, then start: streams from primary
 *   (both take { settings: ['shared_buffers=512MB'] }: extra server settings, later ones win)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import { silentLogger } from '../../src/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { freePort } from './processes.js';

function serverBin(): string {
  const versions = fs
    .readdirSync('/usr/lib/postgresql')
    .filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql/*/bin');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

export class TestCluster {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-pg-'));
  readonly data = path.join(this.dir, 'data');
  readonly log = path.join(this.dir, 'postgres.log');
  port = 0;
  private readonly bin = serverBin();
  private readonly asPostgres = process.getuid?.() === 0;

  /** A new primary: initdb (superuser `glimpse`, trust auth on 127.0.0.1, replication allowed), started. */
  static async create(opts: { settings?: string[] } = {}): Promise<TestCluster> {
    const c = new TestCluster();
    c.settings.push(...(opts.settings ?? []));
    await c.init();
    c.start();
    return c;
  }

  /** A hot standby of `primary`: a base backup with standby.signal + primary_conninfo (-R), started. */
  static async standbyOf(primary: TestCluster, opts: { settings?: string[] } = {}): Promise<TestCluster> {
    const c = new TestCluster();
    c.settings.push(...(opts.settings ?? []));
    c.own();
    c.port = await freePort();
    c.run('pg_basebackup', [
      '-D',
      c.data,
      '-h',
      '127.0.0.1',
      '-p',
      String(primary.port),
      '-U',
      'glimpse',
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
    ]);
    c.start();
    return c;
  }

  /** Runs one of the server's programs (as `postgres` when root); throws with its output when it fails. */
  run(cmd: string, args: string[]): string {
    const [file, argv] = this.asPostgres
      ? ['runuser', ['-u', 'postgres', '--', `${this.bin}/${cmd}`, ...args]]
      : [`${this.bin}/${cmd}`, args];
    const r = spawnSync(file, argv, { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  private own(): void {
    if (!this.asPostgres) return;
    const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    fs.chownSync(this.dir, id('-u'), id('-g'));
  }

  async init(): Promise<void> {
    this.own();
    this.port = await freePort();
    this.run('initdb', ['-D', this.data, '-U', 'glimpse', '--auth=trust', '-E', 'UTF8', '--no-instructions', '-N']);
  }

  /** extra `name=value` server settings for every start (e.g. a low max_connections for a fault test) */
  settings: string[] = [];

  private options(): string {
    return [
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=32MB -c max_connections=60`,
      ...this.settings.map((x) => `-c ${x}`),
    ].join(' ');
  }

  start(): void {
    this.run('pg_ctl', ['-D', this.data, '-l', this.log, '-o', this.options(), '-w', '-t', '60', 'start']);
  }

  /**
   * `pg_ctl restart -m immediate` without waiting: a crash and an immediate start, so clients meet the
   * recovery window (57P03 "not yet accepting connections", "starting up") rather than a refused port.
   */
  restartImmediately(): void {
    this.run('pg_ctl', ['-D', this.data, '-l', this.log, '-o', this.options(), '-m', 'immediate', '-W', 'restart']);
  }

  /** mode 'immediate' = a crash (WAL recovery on the next start) */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    this.run('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  get url(): string {
    return `postgresql://glimpse@127.0.0.1:${this.port}/postgres`;
  }

  destroy(): void {
    try {
      this.stop('immediate');
    } catch {
      /* not running */
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ServerOnTestCluster {
  pgc: TestCluster;
  srv: RunningServer;
  db: Database;
  close(): Promise<void>;
}

/** A private cluster with a Glimpse server (in process, test model loaded) on it. */
export async function serverOnTestCluster(): Promise<ServerOnTestCluster> {
  const pgc = await TestCluster.create();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-pgc-server-'));
  const config = loadConfig(
    { GLIMPSE_DATA_DIR: dataDir, GLIMPSE_MODEL: 'test', LOG_LEVEL: 'silent', DATABASE_URL: pgc.url },
    { port: 0, host: '127.0.0.1', dbPoolSize: 8, rateLimitPerMinute: 0, shutdownTimeoutMs: 3000 },
  );
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir,
    dbPoolSize: 8,
    dbStatementTimeoutMs: 15_000,
  });
  const srv = await startServer(config, { db, logger: silentLogger });
  await (srv.models as { start?: () => Promise<unknown> }).start?.();
  return {
    pgc,
    srv,
    db,
    async close() {
      await srv.close().catch(() => {});
      await db.close().catch(() => {});
      pgc.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
