#!/usr/bin/env node
/**
 * The `glimpse` command line. Each subcommand lives in its own module under src/cli/commands and
 * registers itself on the program; this file only wires them together.
 */
import { Command } from 'commander';
import { commands } from './commands/index.js';

const program = new Command()
  .name('glimpse')
  .description('Glimpse: semantic product search (CLIP + PostgreSQL/pgvector) — server, catalog and model tools')
  .showHelpAfterError();

for (const register of commands) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`glimpse: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
  process.exitCode = process.exitCode || 1;
});
