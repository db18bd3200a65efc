// Prisma CLI configuration (Prisma 7 reads the datasource URL from here, not from schema.prisma).
//
// Offline mode: `prisma migrate …` normally downloads a native schema-engine binary from binaries.prisma.sh. In
// offline mode PRISMA_SCHEMA_ENGINE_BINARY points to scripts/prisma-schema-engine.mjs instead, which serves the
// same protocol with Prisma's WebAssembly schema engine over @prisma/adapter-pg (see docs/migrations.md).
//   PRISMA_OFFLINE=1  always offline      PRISMA_OFFLINE=0  always the native engine (downloaded if needed)
//   unset             offline unless a native engine is configured (PRISMA_SCHEMA_ENGINE_BINARY) or already present
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'prisma/config';

const DEFAULT_DATABASE_URL = 'postgresql://glimpse:glimpse@127.0.0.1:5432/glimpse';
const engineShim = fileURLToPath(new URL('./scripts/prisma-schema-engine.mjs', import.meta.url));

/** Whether a native schema-engine for this Prisma version is already on disk (cache or @prisma/engines). */
function nativeSchemaEngineAvailable(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const enginesDir = join(require.resolve('@prisma/engines/package.json'), '..');
    if (readdirSync(enginesDir).some((file) => file.startsWith('schema-engine'))) return true;
    const { enginesVersion } = require('@prisma/engines-version') as { enginesVersion: string };
    const cacheRoot =
      process.platform === 'darwin'
        ? join(homedir(), 'Library', 'Caches', 'prisma')
        : process.platform === 'win32'
          ? join(process.env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'prisma', 'Cache')
          : join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'prisma');
    const versionDir = join(cacheRoot, 'master', enginesVersion);
    if (!existsSync(versionDir)) return false;
    return readdirSync(versionDir).some((platform) =>
      readdirSync(join(versionDir, platform)).some((file) => file.startsWith('schema-engine')),
    );
  } catch {
    return false;
  }
}

function offlineMode(): boolean {
  const flag = process.env.PRISMA_OFFLINE;
  if (flag !== undefined && flag !== '') return !['0', 'false', 'no', 'off'].includes(flag.toLowerCase());
  if (process.env.PRISMA_SCHEMA_ENGINE_BINARY) return false;
  return !nativeSchemaEngineAvailable();
}

if (offlineMode()) {
  process.env.PRISMA_SCHEMA_ENGINE_BINARY = engineShim;
}

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    ...(process.env.SHADOW_DATABASE_URL ? { shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL } : {}),
  },
});
