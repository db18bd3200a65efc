/**
 * `glimpse import FILE [--images DIR] [--format jsonl|csv] [--concurrency N] [--batch-size N] [--writers N] [--rejects FILE]
 * [--model test|ID] [--bulk | --no-bulk] [--json]`: bulk catalog import (src/catalog/import/importer.ts; columns in docs/import.md).
 * Progress goes to stderr (a bar on a terminal, a line every few seconds otherwise); the summary to stdout.
 * Ctrl-C stops after the batch being written; rerunning the same command resumes (so does one after kill -9).
 */
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import pino from 'pino';
import { loadConfig, type Config } from '../../config.js';
import { openCliDatabase } from '../database.js';
import { Embedder } from '../../embedding/embedder.js';
import { ModelRegistry, type ModelRow } from '../../catalog/store/models.js';
import { Importer, type ImportProgress, type ImportSummary } from '../../catalog/import/importer.js';
import type { CatalogFormat } from '../../catalog/import/source.js';
import { createCliLogger } from '../../logger.js';
import type { IndexBuildProgress } from '../../catalog/store/vector-index.js';

interface ImportCliOptions {
  images?: string;
  format?: CatalogFormat;
  concurrency: string;
  batchSize: string;
  writers?: string;
  rejects?: string;
  model?: string;
  json?: boolean;
  progress: boolean;
  bulk?: boolean;
}

const positiveInt = (name: string, v: string, max: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw Object.assign(new Error(`${name} must be an integer from 1 to ${max}`), { code: 'USAGE' });
  return n;
};

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The model an import or re-embed writes vectors for: `name` (a model id/name), else the active model, else
 * GLIMPSE_MODEL. Registered models are known without loading them; others are loaded (and registered) now.
 */
export async function resolveCliModel(
  config: Config,
  registry: ModelRegistry,
  name: string | undefined,
  logger: pino.Logger,
): Promise<{ row: ModelRow; load: () => Promise<Embedder>; close: () => Promise<void> }> {
  const wanted = name ?? (await registry.active())?.id ?? config.model;
  let embedder: Promise<Embedder> | undefined;
  const load = () => (embedder ??= Embedder.load({ ...config, model: wanted }, logger));
  let row = (await registry.list()).find((m) => m.id === wanted);
  if (!row) row = await registry.ensure(await load());
  return {
    row,
    load,
    close: async () => {
      if (embedder) await (await embedder.catch(() => undefined))?.close();
    },
  };
}

export function formatImportSummary(s: ImportSummary): string {
  const lines = [
    `${s.state === 'succeeded' ? 'import finished' : 'import stopped (resumable: run the same command again)'}: ${s.file}`,
    `  job         ${s.jobId}${s.resumedFrom ? ` (resumed after record ${s.resumedFrom})` : ''}`,
    `  model       ${s.model}`,
    `  records     ${s.records}`,
    `  imported    ${s.imported} new products`,
    `  updated     ${s.updated}`,
    `  unchanged   ${s.unchanged}`,
    `  skipped     ${s.skipped} (committed by an earlier run)`,
    `  rejected    ${s.rejected} records${s.rejected || s.images.rejected ? ` (see ${s.rejectsFile})` : ''}`,
    `  images      ${s.images.added} added (${s.images.embedded} embedded, ${s.images.precomputed} precomputed), ${s.images.duplicate} duplicate, ${s.images.rejected} rejected`,
    `  time        ${s.seconds.toFixed(1)}s (${s.productsPerSecond.toFixed(1)} products/s, ${s.imagesPerSecond.toFixed(1)} images/s)`,
  ];
  if (s.index.deferred)
    lines.push(
      s.index.built
        ? `  index       deferred (bulk: ${s.index.reason}), built at the end in ${s.index.buildSeconds!.toFixed(1)}s`
        : `  index       deferred (bulk) and NOT built yet: searches scan exactly until this import is rerun to the end`,
    );
  return lines.join('\n') + '\n';
}

export default function register(program: Command): void {
  program
    .command('import')
    .description('Import a catalog (JSON Lines or CSV): upsert products by sku, add and embed their images; resumable')
    .argument('<file>', 'catalog file (.jsonl / .csv; columns: docs/import.md)')
    .option('--images <dir>', "folder image paths are relative to (default: the catalog file's folder)")
    .addOption(
      new Option('--format <format>', 'catalog format (default: from the file extension)').choices(['jsonl', 'csv']),
    )
    .option('--concurrency <n>', 'images read, decoded and embedded at the same time', '16')
    .option('--batch-size <n>', 'records per transaction (and per resume step)', '100')
    .option('--writers <n>', 'batch transactions written at once, committed in order (default: GLIMPSE_IMPORT_WRITERS)')
    .option(
      '--rejects <file>',
      'where rejected records and images are written (JSON Lines; default: FILE.rejects.jsonl)',
    )
    .option(
      '--model <id>',
      'model to embed with: "test", a model id or folder (default: the active model, else GLIMPSE_MODEL)',
    )
    .option(
      '--bulk',
      'defer the vector index and build it once at the end (default when the catalog is empty or small: GLIMPSE_IMPORT_BULK_MAX_ROWS)',
    )
    .option('--no-bulk', 'keep the vector index up to date while writing (default for a live catalog)')
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress output')
    .action(async (file: string, opts: ImportCliOptions) => {
      const concurrency = positiveInt('--concurrency', opts.concurrency, 1024);
      const batchSize = positiveInt('--batch-size', opts.batchSize, 1000);
      const config = loadConfig();
      const writers = opts.writers === undefined ? config.importWriters : positiveInt('--writers', opts.writers, 64);
      const logger = createCliLogger();
      // a connection per writer, the job's lock and the reader's look-ups
      const db = await openCliDatabase(config, writers + 3);
      const registry = new ModelRegistry(db.sql);
      const model = await resolveCliModel(config, registry, opts.model, logger).catch(async (err) => {
        await db.close();
        throw err;
      });
      const active = await registry.active();
      if (active && active.id !== model.row.id) {
        process.stderr.write(
          `warning: writing vectors of model ${model.row.id}; the active model is ${active.id} (searches use the server's model)\n`,
        );
      }

      const abort = new AbortController();
      let interrupts = 0;
      const onSignal = () => {
        interrupts++;
        if (interrupts > 1) process.exit(130);
        process.stderr.write(
          '\nstopping after the current batch (Ctrl-C again to quit at once; the import stays resumable)\n',
        );
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);

      const tty = opts.progress && Boolean(process.stderr.isTTY);
      const bar = new cliProgress.SingleBar(
        {
          format:
            ' import |{bar}| {percentage}% | {value}/{total} records | {ips} images/s | {rejected} rejected | ETA {etaText}',
          hideCursor: true,
          stream: process.stderr,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      let barStarted = false;
      let lastLine = 0;
      let first: ImportProgress | undefined;
      const onProgress = (p: ImportProgress) => {
        first ??= p;
        const secs = Math.max(0.001, p.elapsedMs / 1000);
        const ips = (p.imagesDone / secs).toFixed(1);
        // records/s of this run (resumed records excluded), for the ETA
        const rate = (p.done - first.done) / secs;
        const eta = p.done >= p.total ? '0s' : rate > 0 ? duration((p.total - p.done) / rate) : '?';
        if (tty) {
          if (!barStarted) {
            bar.start(p.total, p.done, { ips, rejected: p.rejected, etaText: eta });
            barStarted = true;
          }
          bar.update(p.done, { ips, rejected: p.rejected, etaText: eta });
          return;
        }
        if (!opts.progress) return;
        const now = Date.now();
        if (now - lastLine < 5000 && p.done < p.total) return;
        lastLine = now;
        const pct = p.total ? ((100 * p.done) / p.total).toFixed(1) : '0.0';
        process.stderr.write(
          `import: ${p.done}/${p.total} records (${pct}%), ${p.imagesDone} images, ${ips} images/s, ${p.rejected} rejected, ETA ${eta}\n`,
        );
      };

      let lastIndexLine = 0;
      const onIndexProgress = (p: IndexBuildProgress) => {
        if (!opts.progress) return;
        if (barStarted) {
          bar.stop();
          barStarted = false;
        }
        const now = Date.now();
        if (now - lastIndexLine < (tty ? 1000 : 5000)) return;
        lastIndexLine = now;
        const pct = p.total ? ` ${((100 * p.done) / p.total).toFixed(1)}%` : '';
        process.stderr.write(`vector index: ${p.phase}${p.total ? ` ${p.done}/${p.total}` : ''}${pct}\n`);
      };
      try {
        const importer = new Importer({
          sql: db.sql,
          config,
          model: { modelId: model.row.id, dimension: model.row.dimension, isTestModel: model.row.isTest },
          embedder: model.load,
          log: logger,
        });
        const summary = await importer.run({
          file,
          format: opts.format,
          imagesDir: opts.images,
          concurrency,
          batchSize,
          writers,
          rejectsFile: opts.rejects,
          onProgress,
          onIndexProgress,
          signal: abort.signal,
          bulk: opts.bulk,
        });
        if (barStarted) bar.stop();
        process.stdout.write(opts.json ? JSON.stringify(summary) + '\n' : formatImportSummary(summary));
        if (summary.state === 'cancelled') process.exitCode = 130;
      } finally {
        if (barStarted) bar.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await model.close();
        await db.close();
      }
    });
}
