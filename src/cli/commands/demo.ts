/**
 * `glimpse demo seed [--model ID] [--no-photos]` (`npm run demo:seed`): loads the demo catalog
 * (src/demo/seed.ts) into the configured database (DATABASE_URL, else embedded PGlite under GLIMPSE_DATA_DIR)
 * through the catalog service. Safe to run again. The model: --model, else GLIMPSE_MODEL, else the database's
 * active model, else the generated test model ("test").
 */
import { Command } from 'commander';
import { CatalogService } from '../../catalog/index.js';
import { ModelRegistry } from '../../catalog/store/models.js';
import { loadConfig } from '../../config.js';
import { seedDemoCatalog } from '../../demo/seed.js';
import { openCliDatabase } from '../database.js';
import { createCliLogger } from '../../logger.js';
import { resolveCliModel } from './import.js';

export default function register(program: Command): void {
  const demo = program.command('demo').description('The storefront demo page (served at / by `glimpse serve`)');
  demo
    .command('seed')
    .description('Load a small demo catalog (about 50 products with generated pictures); idempotent')
    .option('--model <id>', 'model to embed with (default: GLIMPSE_MODEL, else the active model, else "test")')
    .option('--no-photos', 'skip the posters made from the fixture photos (test/fixtures/images)')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { model?: string; photos: boolean; json?: boolean }) => {
      const envModel = process.env.GLIMPSE_MODEL || undefined;
      const config = loadConfig({ ...process.env, GLIMPSE_MODEL: envModel ?? 'test' });
      const logger = createCliLogger();
      const db = await openCliDatabase(config);
      let close = async () => {};
      try {
        const registry = new ModelRegistry(db.sql);
        const activeBefore = await registry.active();
        const model = await resolveCliModel(config, registry, opts.model ?? envModel, logger);
        close = model.close;
        if (!opts.model && !envModel) {
          process.stderr.write(
            activeBefore
              ? `demo seed: embedding with the active model ${activeBefore.id} (set GLIMPSE_MODEL or --model for another)\n`
              : 'demo seed: GLIMPSE_MODEL is not set: using the generated test model "test" (demos only, not CLIP)\n',
          );
        } else if (activeBefore && activeBefore.id !== model.row.id) {
          process.stderr.write(
            `warning: writing vectors of model ${model.row.id}; the active model is ${activeBefore.id} (searches use that one)\n`,
          );
        }
        const embedder = await model.load();
        const catalog = new CatalogService({ db, config, embedder: () => embedder, log: logger });
        const tty = Boolean(process.stderr.isTTY);
        const summary = await seedDemoCatalog(catalog, {
          ...(opts.photos ? {} : { fixturesDir: null }),
          onProgress: (done, total) => {
            if (tty) process.stderr.write(`\r demo seed: ${done}/${total} products`);
          },
        });
        if (tty) process.stderr.write('\n');
        process.stdout.write(
          opts.json
            ? JSON.stringify({ ...summary, model: model.row.id, database: db.location }) + '\n'
            : [
                `demo catalog loaded into ${db.location} (model ${model.row.id})`,
                `  products    ${summary.products}: ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged`,
                `  images      ${summary.imagesAdded} added, ${summary.imagesKept} already there`,
                `next: GLIMPSE_MODEL=${model.row.isTest ? 'test' : model.row.id} npm start, then open http://localhost:${config.port}/`,
              ].join('\n') + '\n',
        );
      } finally {
        await close();
        await db.close();
      }
    });
}
