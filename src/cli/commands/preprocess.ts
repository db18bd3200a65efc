/**
 * `glimpse preprocess IMAGE --out FILE`: run the CLIP image preprocessing and write the tensor as raw
 * little-endian float32, CHW (3x224x224 for CLIP). Bad input exits non-zero with the error's code and message
 * (UNSUPPORTED_IMAGE, CORRUPT_IMAGE, IMAGE_TOO_LARGE).
 */
import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { preprocessImage, type PreprocessorConfig } from '../../embedding/image-preprocess.js';

interface PreprocessCliOptions {
  out: string;
  config?: string;
  maxBytes?: string;
  maxPixels?: string;
  applyIcc?: boolean;
}

function positive(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw Object.assign(new Error(`${name} must be a positive integer, got ${v}`), { code: 'USAGE' });
  return n;
}

export default function register(program: Command): void {
  program
    .command('preprocess')
    .description('Preprocess an image for CLIP and write the float32 little-endian CHW tensor to a file')
    .argument('<image>', 'image file (JPEG, PNG, WebP, AVIF, GIF, TIFF; detected from its content)')
    .requiredOption('--out <file>', 'where to write the tensor')
    .option('--config <file>', "a model's preprocessor_config.json (default: CLIP's)")
    .option('--max-bytes <n>', 'largest accepted file size in bytes (default: GLIMPSE_MAX_IMAGE_BYTES)')
    .option('--max-pixels <n>', 'largest accepted width x height (default: GLIMPSE_MAX_IMAGE_PIXELS)')
    .option('--apply-icc', 'convert through the embedded ICC profile (default: pixel values as stored, like PIL/HF)')
    .action(async (image: string, opts: PreprocessCliOptions) => {
      const cfg = loadConfig();
      const config = opts.config
        ? (JSON.parse(await fs.readFile(opts.config, 'utf8')) as PreprocessorConfig)
        : undefined;
      const input = await fs.readFile(image);
      const r = await preprocessImage(input, {
        maxBytes: positive(opts.maxBytes, '--max-bytes') ?? cfg.maxImageBytes,
        maxPixels: positive(opts.maxPixels, '--max-pixels') ?? cfg.maxImagePixels,
        applyIccProfile: opts.applyIcc ?? false,
        ...(config ? { config } : {}),
      });
      const bytes = Buffer.alloc(r.pixels.length * 4);
      for (let i = 0; i < r.pixels.length; i++) bytes.writeFloatLE(r.pixels[i]!, i * 4);
      await fs.writeFile(opts.out, bytes);
      process.stderr.write(
        `${image}: ${r.format} ${r.width}x${r.height} -> ${opts.out} (float32 LE, ${r.dims.join('x')})\n`,
      );
    });
}
