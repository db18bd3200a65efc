/**
 * `glimpse embed --text "…" | --image FILE [--model DIR|test]`: print one L2-normalised embedding as a JSON array.
 * Model details and warnings go to stderr, so stdout is only the vector.
 */
import fs from 'node:fs/promises';
import { Command, Option } from 'commander';
import { loadConfig } from '../../config.js';
import { createCliLogger } from '../../logger.js';
import { Embedder } from '../../embedding/embedder.js';

interface EmbedOptions {
  text?: string;
  image?: string;
  model?: string;
  dtype?: 'fp32' | 'fp16';
  ep?: 'cpu' | 'cuda';
  meta?: boolean;
}

export default function register(program: Command): void {
  program
    .command('embed')
    .description('Embed a text or an image with the configured model and print the normalised vector as JSON')
    .option('--text <text>', 'text to embed')
    .option('--image <file>', 'image file to embed (JPEG, PNG, WebP, AVIF, GIF, TIFF)')
    .option(
      '--model <name>',
      'model: a folder, a Hugging Face repo id in the cache, or "test" (default: GLIMPSE_MODEL)',
    )
    .addOption(
      new Option('--dtype <dtype>', 'ONNX weights to use (default: GLIMPSE_MODEL_DTYPE)').choices(['fp32', 'fp16']),
    )
    .addOption(new Option('--ep <provider>', 'execution provider (default: GLIMPSE_EP)').choices(['cpu', 'cuda']))
    .option('--meta', 'print {model, dimension, device, testModel, embedding} instead of the bare vector')
    .action(async (opts: EmbedOptions) => {
      if ((opts.text === undefined) === (opts.image === undefined))
        throw Object.assign(new Error('give exactly one of --text or --image'), { code: 'USAGE' });
      const config = loadConfig(process.env, {
        ...(opts.model ? { model: opts.model } : {}),
        ...(opts.dtype ? { modelDtype: opts.dtype } : {}),
        ...(opts.ep ? { executionProvider: opts.ep } : {}),
        inferenceWorkers: 1,
        maxBatchWaitMs: 0,
      });
      const logger = createCliLogger();
      const embedder = await Embedder.load(config, logger);
      try {
        const vec =
          opts.text !== undefined
            ? await embedder.embedText(opts.text)
            : await embedder.embedImage(await fs.readFile(opts.image!));
        const embedding = Array.from(vec);
        const out = opts.meta
          ? {
              model: embedder.modelId,
              dimension: embedder.dimension,
              device: embedder.device,
              testModel: embedder.isTestModel,
              embedding,
            }
          : embedding;
        process.stdout.write(JSON.stringify(out) + '\n');
      } finally {
        await embedder.close();
      }
    });
}
