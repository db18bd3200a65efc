/** The CLI's subcommands, in the order `glimpse --help` lists them (src/cli/index.ts registers them). */
import type { Command } from 'commander';
import embed from './embed.js';
import model from './model.js';
import keys from './keys.js';
import serve from './serve.js';
import config from './config.js';
import tokenize from './tokenize.js';
import preprocess from './preprocess.js';
import importCmd from './import.js';
import reembed from './reembed.js';
import models from './models.js';
import demo from './demo.js';
import images from './images.js';
import indexCmd from './index-cmd.js';

/** Every subcommand registers itself here: add one import and one entry per command module. */
export const commands: Array<(program: Command) => void> = [
  embed,
  model,
  keys,
  serve,
  config,
  tokenize,
  preprocess,
  importCmd,
  reembed,
  models,
  demo,
  images,
  indexCmd,
];
