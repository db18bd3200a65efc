/**
 * `glimpse models list|activate ID|drop-vectors ID`: the registry of embedding models in the database (which
 * model made which vectors, which one is active). The model cache on disk is `glimpse model …`.
 */
import { Command } from 'commander';
import { loadConfig } from '../../config.js';
import type { Database } from '../../db/index.js';
import { activateModel, dropModelVectors, listModels } from '../../catalog/reembed.js';
import { openCliDatabase } from '../database.js';

async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openCliDatabase(loadConfig(), 2);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

export default function register(program: Command): void {
  const models = program
    .command('models')
    .description('Embedding models in the database: list, switch the active one, drop old vectors');

  models
    .command('list')
    .description('List registered models with their vector counts')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      // the text models that embed queries for the configured model: its own tower, then GLIMPSE_TEXT_MODELS
      const textModelsOf = (id: string) => (id === config.model ? [config.model, ...config.textModels] : []);
      const list = (await withDb((db) => listModels(db.sql))).map((m) => ({ ...m, textModels: textModelsOf(m.id) }));
      if (opts.json) {
        process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        return;
      }
      if (!list.length) process.stdout.write('no models registered yet\n');
      const rows = [
        ['ID', 'DIM', 'ACTIVE', 'TEST', 'VECTORS', 'MISSING', 'TEXT MODELS', 'CREATED'],
        ...list.map((m) => [
          m.id,
          String(m.dimension),
          m.active ? 'yes' : '',
          m.isTest ? 'yes' : '',
          String(m.vectors),
          String(m.missing),
          m.textModels.join(', '),
          m.createdAt.toISOString(),
        ]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      if (list.length)
        process.stdout.write(
          rows
            .map((r) =>
              r
                .map((c, i) => c.padEnd(widths[i]!))
                .join('  ')
                .trimEnd(),
            )
            .join('\n') + '\n',
        );
      if (config.textModels.length)
        process.stdout.write(
          `text models paired with ${config.model}: ${config.textModels.join(', ')} (GLIMPSE_TEXT_ROUTING=${config.textRouting}; a tower of another space stops the server at start)\n`,
        );
    });

  models
    .command('activate')
    .description('Make a model the active one (atomically); refuses when it lacks vectors unless --force')
    .argument('<id>', 'model id')
    .option('--force', 'activate even if some images have no vector of this model')
    .action(async (id: string, opts: { force?: boolean }) => {
      const r = await withDb((db) => activateModel(db.sql, id, { force: Boolean(opts.force) }));
      process.stdout.write(
        `active model: ${id} (was ${r.previous ?? 'none'})${r.missing ? `; ${r.missing} image(s) have no vector of it` : ''}\n`,
      );
    });

  models
    .command('drop-vectors')
    .description('Delete every vector of a model that is not active (after a switch)')
    .argument('<id>', 'model id')
    .option('--forget', 'also remove the model from the registry')
    .action(async (id: string, opts: { forget?: boolean }) => {
      const r = await withDb((db) => dropModelVectors(db.sql, id, { forget: Boolean(opts.forget) }));
      process.stdout.write(
        `deleted ${r.deleted} vector(s) of ${id}${opts.forget ? ' and removed it from the registry' : ''}\n`,
      );
    });
}
