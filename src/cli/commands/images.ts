/** `glimpse images gc`: removes image files a crash left without a row (the server also does this at start). */
import { Command, InvalidArgumentError } from 'commander';
import { ImageStore } from '../../catalog/image-store.js';
import { withDatabase } from '../database.js';

export default function register(program: Command): void {
  const images = program.command('images').description('the content-addressed store of original images');
  images
    .command('gc')
    .description('delete stored files no product image references, and abandoned temporary files')
    .option(
      '--min-age-minutes <n>',
      'only files older than this (files being written are safe without it: their writer holds their lock)',
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('a number of minutes ≥ 0');
        return n;
      },
      0,
    )
    .action(async (opts: { minAgeMinutes: number }) => {
      const r = await withDatabase((db, config) =>
        ImageStore.fromConfig(config).sweep(db.sql, { minAgeMs: opts.minAgeMinutes * 60_000 }),
      );
      process.stdout.write(`${JSON.stringify(r)}\n`);
    });
}
