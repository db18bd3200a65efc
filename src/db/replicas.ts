/**
 * Hot standbys for reads (DATABASE_READ_URLS): one pool per standby, and a health check every
 * GLIMPSE_REPLICA_CHECK_INTERVAL_MS that measures each standby's replay lag. A standby is eligible for reads
 * while it answers, is in recovery (a promoted standby is no longer a copy of this primary), and is within
 * GLIMPSE_MAX_REPLICA_LAG_MS. A standby that fails a read is set aside at once and checked again on the next
 * round ("retried later"); with none eligible, reads go to the primary.
 *
 * Lag: the primary's WAL position is sampled first; a standby that has replayed up to it is caught up (lag 0,
 * even when the primary has been idle for hours). Otherwise the lag is the age of the last transaction it
 * replayed (`now() - pg_last_xact_replay_timestamp()`), which keeps growing while replay is stuck or its WAL
 * receiver is disconnected. Both clocks must agree (NTP), as for any replay-timestamp measure.
 */
import type pg from 'pg';
import { Gauge } from 'prom-client';
import { registry } from '../observability/metrics.js';
import { redactUrl } from './redact.js';

export interface PoolStatus {
  name: string;
  role: 'primary' | 'standby';
  /** host:port/database, without credentials */
  location: string;
  /** answered the last check */
  ok: boolean;
  /** would take reads now (standbys: ok, in recovery and within the lag limit) */
  eligible: boolean;
  inRecovery: boolean | null;
  /** replay lag at the last check (ms); null when unknown */
  lagMs: number | null;
  /** WAL bytes behind the primary at the last check; null when unknown */
  lagBytes: number | null;
  reason: string | null;
  /** connections: open, idle, requests waiting for one */
  connections: { total: number; idle: number; waiting: number };
}

export interface Standby {
  readonly name: string;
  readonly pool: pg.Pool;
}

const poolUp = new Gauge({
  name: 'glimpse_db_pool_up',
  help: 'Database pool state: 1 when its server answered the last check (standbys: and is eligible for reads).',
  labelNames: ['pool', 'role'] as const,
  registers: [registry],
});
const replicaLag = new Gauge({
  name: 'glimpse_db_replica_lag_seconds',
  help: 'Replay lag of each hot standby at the last check (seconds; -1 when unknown).',
  labelNames: ['pool'] as const,
  registers: [registry],
});
const poolInRecovery = new Gauge({
  name: 'glimpse_db_pool_in_recovery',
  help: 'pg_is_in_recovery() of each pool at the last check (1: a hot standby).',
  labelNames: ['pool'] as const,
  registers: [registry],
});
const poolConnections = new Gauge({
  name: 'glimpse_db_pool_connections',
  help: 'Connections of each database pool by state (total, idle, waiting requests).',
  labelNames: ['pool', 'state'] as const,
  registers: [registry],
});

interface StandbyState extends Standby {
  url: string;
  ok: boolean;
  inRecovery: boolean | null;
  lagMs: number | null;
  lagBytes: number | null;
  reason: string | null;
}

export interface ReplicaSetOptions {
  maxLagMs: number;
  checkIntervalMs: number;
  onChange?: (status: PoolStatus) => void;
}

export class ReplicaSet {
  private readonly standbys: StandbyState[];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly primary: pg.Pool,
    standbys: { url: string; pool: pg.Pool }[],
    private readonly opts: ReplicaSetOptions,
  ) {
    this.standbys = standbys.map((s, i) => ({
      name: `standby-${i + 1}`,
      url: s.url,
      pool: s.pool,
      ok: false,
      inRecovery: null,
      lagMs: null,
      lagBytes: null,
      reason: 'not checked yet',
    }));
  }

  /** Checks every standby now, then every checkIntervalMs (the timer does not keep the process alive). */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.opts.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The standbys eligible for reads, next in round-robin order first. */
  candidates(): Standby[] {
    const ok = this.standbys.filter((s) => this.eligible(s));
    if (ok.length < 2) return ok;
    const start = this.next++ % ok.length;
    return [...ok.slice(start), ...ok.slice(0, start)];
  }

  /** A read on `name` failed with a connection-level error: skip it until a check succeeds. */
  markFailed(name: string, err: unknown): void {
    const s = this.standbys.find((x) => x.name === name);
    if (!s) return;
    s.ok = false; // set aside until the next successful check
    s.reason = `read failed: ${(err as Error).message}`;
    this.publish(s);
  }

  /** One round of checks (concurrent calls share it). */
  check(): Promise<void> {
    return (this.checking ??= this.checkAll().finally(() => (this.checking = undefined)));
  }

  status(): PoolStatus[] {
    return this.standbys.map((s) => this.statusOf(s));
  }

  private eligible(s: StandbyState): boolean {
    return s.ok && s.inRecovery === true && s.lagMs !== null && s.lagMs <= this.opts.maxLagMs;
  }

  private async checkAll(): Promise<void> {
    let primaryLsn: string | null = null;
    try {
      primaryLsn = (await this.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    } catch {
      // the primary is down: standbys can still serve reads; lag is then the age of the last replayed commit
    }
    await Promise.all(this.standbys.map((s) => this.checkOne(s, primaryLsn)));
  }

  private async checkOne(s: StandbyState, primaryLsn: string | null): Promise<void> {
    try {
      const row = (
        await s.pool.query<{
          recovery: boolean;
          caught_up: boolean | null;
          age_ms: number | null;
          behind: string | null;
        }>(
          `SELECT pg_is_in_recovery() AS recovery,
                  pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught_up,
                  (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS age_ms,
                  greatest(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0)::text AS behind`,
          [primaryLsn ?? '0/0'],
        )
      ).rows[0]!;
      s.ok = true;
      s.inRecovery = row.recovery;
      s.lagBytes = primaryLsn && row.behind !== null ? Number(row.behind) : null;
      s.lagMs = !row.recovery
        ? null
        : primaryLsn && row.caught_up
          ? 0
          : row.age_ms === null
            ? null
            : Math.max(0, row.age_ms);
      s.reason = !row.recovery
        ? 'not in recovery (promoted, or not a standby): not used for reads'
        : s.lagMs === null
          ? 'replay lag unknown (nothing replayed yet)'
          : s.lagMs > this.opts.maxLagMs
            ? `replay lag ${Math.round(s.lagMs)} ms over GLIMPSE_MAX_REPLICA_LAG_MS=${this.opts.maxLagMs}`
            : null;
    } catch (err) {
      s.ok = false;
      s.reason = `check failed: ${(err as Error).message}`;
    }
    this.publish(s);
  }

  private statusOf(s: StandbyState): PoolStatus {
    return {
      name: s.name,
      role: 'standby',
      location: redactUrl(s.url),
      ok: s.ok,
      eligible: this.eligible(s),
      inRecovery: s.inRecovery,
      lagMs: s.lagMs === null ? null : Math.round(s.lagMs),
      lagBytes: s.lagBytes,
      reason: s.reason,
      connections: { total: s.pool.totalCount, idle: s.pool.idleCount, waiting: s.pool.waitingCount },
    };
  }

  private publish(s: StandbyState): void {
    const st = this.statusOf(s);
    poolUp.set({ pool: s.name, role: 'standby' }, st.eligible ? 1 : 0);
    replicaLag.set({ pool: s.name }, st.lagMs === null ? -1 : st.lagMs / 1000);
    poolInRecovery.set({ pool: s.name }, st.inRecovery ? 1 : 0);
    for (const [state, n] of Object.entries(st.connections)) poolConnections.set({ pool: s.name, state }, n);
    this.opts.onChange?.(st);
  }
}

/** Publishes the primary's pool in the same metrics as the standbys (at each /readyz and /metrics scrape). */
export function publishPrimary(status: PoolStatus): void {
  poolUp.set({ pool: status.name, role: 'primary' }, status.ok ? 1 : 0);
  poolInRecovery.set({ pool: status.name }, status.inRecovery ? 1 : 0);
  for (const [state, n] of Object.entries(status.connections)) poolConnections.set({ pool: status.name, state }, n);
}
