/**
 * `glimpse reembed --model ID [--batch-size N] [--concurrency N] [--no-activate] [--json]`: re-embed every image
 * with another model (src/catalog/reembed.ts; docs/models.md). Resumable: run it again after an interruption.
 * When every image is done the active model switches in one transaction (unless --no-activate).
 */
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../../config.js';
import { ModelRegistry } from '../../catalog/store/models.js';
import { runReembed, type ReembedSummary } from '../../catalog/reembed.js';
import { openCliDatabase } from '../database.js';
import { createCliLogger } from '../../logger.js';
import { duration, resolveCliModel } from './import.js';

export function formatReembedSummary(s: ReembedSummary): string {
  const reasons = Object.entries(s.failures)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  return (
    [
      `re-embed with ${s.model} (${s.dimension}-d) ${s.state === 'succeeded' ? 'finished' : 'stopped (resumable: run the same command again)'}`,
      `  job         ${s.jobId}`,
      `  images      ${s.total}: ${s.embedded} embedded now, ${s.alreadyEmbedded} had a vector already`,
      `  failed      ${s.failed}${reasons ? ` (${reasons})` : ''}`,
      `  active      ${s.activated ? `${s.model} (was ${s.previousModel ?? 'none'})` : `${s.previousModel ?? 'none'} (unchanged)`}`,
      `  time        ${s.seconds.toFixed(1)}s (${s.imagesPerSecond.toFixed(1)} images/s)`,
    ].join('\n') + '\n'
  );
}

export default function register(program: Command): void {
  program
    .command('reembed')
    .description('Re-embed every image with another model (resumable), then make it the active model')
    .requiredOption('--model <id>', 'model: "test", a model id (Hugging Face repo) or a folder')
    .option('--batch-size <n>', 'images per transaction', '64')
    .option('--concurrency <n>', 'images read and embedded at the same time', '16')
    .option('--no-activate', 'do not switch the active model when done')
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress output')
    .action(
      async (opts: {
        model: string;
        batchSize: string;
        concurrency: string;
        activate: boolean;
        json?: boolean;
        progress: boolean;
      }) => {
        const config = loadConfig();
        const logger = createCliLogger();
        const db = await openCliDatabase(config);
        let close = async () => {};
        const abort = new AbortController();
        const onSignal = () => {
          if (abort.signal.aborted) process.exit(130);
          process.stderr.write('\nstopping after the current batch (the job stays resumable)\n');
          abort.abort();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        const tty = opts.progress && Boolean(process.stderr.isTTY);
        const bar = new cliProgress.SingleBar(
          {
            format: ' reembed |{bar}| {percentage}% | {value}/{total} images | {failed} failed | ETA {etaText}',
            hideCursor: true,
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        );
        let barStarted = false;
        let lastLine = 0;
        let startDone: number | undefined;
        try {
          const model = await resolveCliModel(config, new ModelRegistry(db.sql), opts.model, logger);
          close = model.close;
          const embedder = await model.load();
          const summary = await runReembed(
            { sql: db.sql, imageDir: config.imageDir, imageStore: config.imageStore, log: logger },
            embedder,
            {
              batchSize: Number(opts.batchSize) || 64,
              concurrency: Number(opts.concurrency) || 16,
              activate: opts.activate,
              signal: abort.signal,
              onProgress: (p) => {
                startDone ??= p.done;
                const rate = (p.done - startDone) / Math.max(0.001, p.elapsedMs / 1000);
                const etaText = p.done >= p.total ? '0s' : rate > 0 ? duration((p.total - p.done) / rate) : '?';
                if (tty) {
                  if (!barStarted) bar.start(p.total, p.done, { failed: p.failed, etaText });
                  barStarted = true;
                  bar.setTotal(p.total);
                  bar.update(p.done, { failed: p.failed, etaText });
                } else if (opts.progress && Date.now() - lastLine >= 5000) {
                  lastLine = Date.now();
                  process.stderr.write(`reembed: ${p.done}/${p.total} images, ${p.failed} failed, ETA ${etaText}\n`);
                }
              },
            },
          );
          if (barStarted) bar.stop();
          barStarted = false;
          process.stdout.write(opts.json ? JSON.stringify(summary) + '\n' : formatReembedSummary(summary));
          if (summary.state === 'cancelled') process.exitCode = 130;
        } finally {
          if (barStarted) bar.stop();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await close();
          await db.close();
        }
      },
    );
}
