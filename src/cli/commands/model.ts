/**
 * `glimpse model fetch [NAME] [--dtype fp32|fp16] [--text]`, `glimpse model list`, `glimpse model path [NAME]`:
 * manage the embedding model cache (GLIMPSE_MODEL_DIR). `--text` fetches a text tower (GLIMPSE_TEXT_MODELS).
 */
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../../config.js';
import {
  fetchModel,
  listCachedModels,
  missingFiles,
  parseModelName,
  type ModelDtype,
} from '../../embedding/model-files.js';
import { ensureTestModel } from '../../embedding/test-model.js';
import { ensureTestTextTower, TEST_TEXT_TOWER_NAME } from '../../embedding/test-text-tower.js';
import { fetchTextTower } from '../../embedding/text-tower-files.js';

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export default function register(program: Command): void {
  const model = program.command('model').description('Manage embedding models (cache: GLIMPSE_MODEL_DIR)');

  model
    .command('fetch')
    .description(
      'Download a Hugging Face model (transformers.js layout) into the model cache; resumes interrupted downloads',
    )
    .argument(
      '[name]',
      'repo id, e.g. Xenova/clip-vit-large-patch14 (default: GLIMPSE_MODEL); "test" generates the test model',
    )
    .addOption(
      new Option('--dtype <dtype>', 'which ONNX weights (default: GLIMPSE_MODEL_DTYPE)').choices(['fp32', 'fp16']),
    )
    .option('--no-progress', 'no progress bar')
    .option(
      '--text',
      'a text tower in the Immich export layout (default: the first of GLIMPSE_TEXT_MODELS); "test-multilingual" generates the test tower',
    )
    .action(async (name: string | undefined, opts: { dtype?: ModelDtype; progress: boolean; text?: boolean }) => {
      const config = loadConfig();
      const repo = name ?? (opts.text ? config.textModels[0] : config.model);
      if (!repo) throw Object.assign(new Error('name a text model (GLIMPSE_TEXT_MODELS is empty)'), { code: 'USAGE' });
      if (opts.text && repo === TEST_TEXT_TOWER_NAME) {
        process.stdout.write(`${await ensureTestTextTower(config.modelDir)}\n`);
        return;
      }
      const dtype = opts.dtype ?? config.modelDtype;
      const spec = parseModelName(repo, config.modelDir);
      if (spec.kind === 'test') {
        const r = await ensureTestModel(config.modelDir);
        process.stdout.write(
          `${r.generated ? 'generated' : 'up to date'}: Glimpse TEST model (not CLIP; tests and demos only) in ${r.dir}\n`,
        );
        return;
      }
      if (spec.kind === 'dir')
        throw Object.assign(new Error(`${repo} is a local folder; nothing to fetch`), { code: 'USAGE' });
      const interactive = opts.progress && process.stderr.isTTY;
      const bar = new cliProgress.SingleBar(
        {
          format: ' {file} |{bar}| {percentage}% {done}/{size}',
          hideCursor: true,
          stream: process.stderr,
          noTTYOutput: false,
        },
        cliProgress.Presets.shades_classic,
      );
      let current = '';
      process.stderr.write(`fetching ${spec.repo} (${dtype}) from ${config.hfEndpoint} into ${spec.dir}\n`);
      const fetcher = opts.text ? fetchTextTower : fetchModel;
      const result = await fetcher({
        repo: spec.repo!,
        dtype,
        modelDir: config.modelDir,
        endpoint: config.hfEndpoint,
        onProgress: (p) => {
          if (!interactive) return;
          const total = p.total ?? p.received;
          if (current !== p.file) {
            if (current) bar.stop();
            current = p.file;
            bar.start(total, p.received, {
              file: `[${p.fileIndex + 1}/${p.fileCount}] ${p.file}`,
              done: mb(p.received),
              size: mb(total),
            });
          }
          bar.setTotal(total);
          bar.update(p.received, { done: mb(p.received), size: mb(total) });
        },
        onFileDone: (file, info) => {
          if (current === file) {
            bar.stop();
            current = '';
          }
          process.stderr.write(
            `  ${file}: ${info.skipped ? 'already present' : `downloaded ${mb(info.bytes)}, verified by ${info.verified}`}\n`,
          );
        },
      }).finally(() => {
        if (current) bar.stop();
      });
      process.stdout.write(`${result.dir}\n`);
    });

  model
    .command('list')
    .description('List models in the cache')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const models = await listCachedModels(config.modelDir);
      if (opts.json) {
        process.stdout.write(JSON.stringify(models, null, 2) + '\n');
        return;
      }
      if (!models.length) process.stdout.write(`no models in ${config.modelDir}\n`);
      for (const m of models) {
        const flags = [
          m.dtypes.length ? m.dtypes.join(',') : 'incomplete',
          m.isTestModel ? 'TEST model' : '',
          m.name === config.model ? 'configured' : '',
        ].filter(Boolean);
        process.stdout.write(`${m.name}\t${flags.join(' ')}\t${m.dir}\n`);
      }
    });

  model
    .command('path')
    .description('Print the folder a model is (or would be) stored in')
    .argument('[name]', 'model name (default: GLIMPSE_MODEL)')
    .addOption(new Option('--dtype <dtype>', 'check the files of this dtype').choices(['fp32', 'fp16']))
    .action((name: string | undefined, opts: { dtype?: ModelDtype }) => {
      const config = loadConfig();
      const spec = parseModelName(name ?? config.model, config.modelDir);
      process.stdout.write(`${spec.dir}\n`);
      const missing = missingFiles(spec.dir, opts.dtype ?? config.modelDtype);
      if (missing.length && spec.kind !== 'test') process.stderr.write(`missing: ${missing.join(', ')}\n`);
    });
}
