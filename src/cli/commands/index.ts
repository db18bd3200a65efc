import type { Command } from 'commander';

/** Every subcommand registers itself here: add one import and one entry per command module. */
export const commands: Array<(program: Command) => void> = [];
