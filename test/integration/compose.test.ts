/**
 * Docker engines cannot run on these machines, so the production files are validated statically:
 * Debian's docker-compose (1.29, installed by scripts/system-deps.sh) parses and resolves the compose file
 * offline, and the Dockerfile is checked to run the same install commands CI runs.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';

function compose(...args: string[]): string {
  try {
    return execFileSync('docker-compose', ['-f', 'docker-compose.yml', ...args], {
      encoding: 'utf8',
      env: { ...process.env, POSTGRES_PASSWORD: 's3cret' },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('docker-compose is not installed: run `bash scripts/system-deps.sh`');
    throw new Error(`docker-compose config failed: ${e.stderr ?? e.message}`);
  }
}

describe('docker-compose.yml', () => {
  it('is valid and resolves a GPU api, a CPU profile and a healthy pgvector postgres', () => {
    const resolved = compose('--profile', 'cpu', 'config');
    // docker-compose 1.29 lists every service under --services, whatever the profile
    expect(compose('--profile', 'cpu', 'config', '--services').trim().split('\n').sort()).toEqual([
      'api',
      'api-1',
      'api-2',
      'api-cpu',
      'lb',
      'postgres',
      'postgres-standby',
    ]);
    // pinned to a pgvector with the HNSW vacuum fix (0.8.3+), never a floating tag
    const tag = /image: pgvector\/pgvector:0\.8\.(\d+)-pg17-bookworm\n/.exec(resolved);
    expect(tag, 'postgres image pinned to pgvector 0.8.x on PostgreSQL 17').not.toBeNull();
    expect(Number(tag![1])).toBeGreaterThanOrEqual(3);
    expect(resolved).toMatch(/pg_isready/);
    expect(resolved).toMatch(/capabilities:\s*\n\s*- gpu/);
    expect(resolved).toMatch(/driver: nvidia/);
    expect(resolved).toMatch(/DATABASE_URL: postgresql:\/\/glimpse:s3cret@postgres:5432\/glimpse/);
    expect(resolved).toMatch(
      /GLIMPSE_MIGRATE_ON_START: 'true'|GLIMPSE_MIGRATE_ON_START: "true"|GLIMPSE_MIGRATE_ON_START: 'true'/,
    );
    expect(resolved).toMatch(/condition: service_healthy/);
    expect(resolved).toMatch(/models:\/models/);
  });

  it('resolves the scale profile: primary + hot standby, two API replicas reading from it, one load balancer', () => {
    const services = compose('--profile', 'scale', 'config', '--services').trim().split('\n');
    expect(services).toEqual(expect.arrayContaining(['postgres', 'postgres-standby', 'api-1', 'api-2', 'lb']));
    const resolved = compose('--profile', 'scale', 'config');
    const readUrls = resolved.match(
      /DATABASE_READ_URLS: postgresql:\/\/glimpse:s3cret@postgres-standby:5432\/glimpse/g,
    );
    expect(readUrls?.length, 'both replicas read from the standby').toBe(2);
    expect(resolved).toMatch(/allow-replication\.sh:\/docker-entrypoint-initdb\.d\/allow-replication\.sh/);
    expect(resolved).toMatch(/standby\.sh:\/standby\.sh/);
    const nginx = fs.readFileSync('deploy/nginx/glimpse.conf', 'utf8');
    expect(nginx).toMatch(/server api-1:4000/);
    expect(nginx).toMatch(/server api-2:4000/);
    expect(fs.readFileSync('deploy/postgres/standby.sh', 'utf8')).toMatch(/pg_basebackup .* -R /);
    expect(fs.readFileSync('deploy/postgres/allow-replication.sh', 'utf8')).toMatch(/host replication/);
  });

  it('uses a multi-stage, non-root Dockerfile whose install steps are the ones CI runs', () => {
    const dockerfile = fs.readFileSync('Dockerfile', 'utf8');
    const ci = fs.readFileSync('.ci/run', 'utf8');
    expect(dockerfile).toMatch(/RUN npm ci --no-audit --no-fund/);
    expect(ci).toMatch(/npm ci --no-audit --no-fund/);
    expect(dockerfile).toMatch(/RUN npm run setup:gpu/);
    expect(dockerfile.match(/^FROM .* AS (\w[\w-]*)/gm)?.length).toBeGreaterThanOrEqual(3);
    const users = [...dockerfile.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
    expect(users.length).toBe(2);
    expect(users).not.toContain('root');
    for (const target of ['cpu', 'cuda']) expect(dockerfile).toMatch(new RegExp(`AS ${target}$`, 'm'));
  });
});
