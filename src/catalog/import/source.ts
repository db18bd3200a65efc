/**
 * Reads a catalog file (JSON Lines or CSV) as a stream of records, one per product, each tagged with its
 * record number so an import can resume after the last committed record and report rejects by line.
 * Records are mapped to one shape here; validation of the product itself is the catalog's (products.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { readCsvRows } from './csv-rows.js';

export type CatalogFormat = 'jsonl' | 'csv';

/** An image reference in a catalog record: a file (relative to --images), a URL, and optionally its vector. */
export interface ImportImageRef {
  path?: string;
  url?: string;
  /** precomputed embedding (catalogs migrating from another system, benchmarks) */
  embedding?: number[];
  /** model that made `embedding`; must equal the active model id */
  model?: string;
}

export interface ImportRecord {
  /** 1-based record number (JSONL: line; CSV: data row, header excluded) */
  n: number;
  /** file line the record starts on */
  line: number;
  /** the sku cell of a record that could not be parsed, when it could still be read */
  sku?: string;
  /** the record with documented column names; undefined when the line could not be parsed */
  fields?: Record<string, unknown>;
  images: ImportImageRef[];
  parseError?: string;
}

export function detectFormat(file: string, explicit?: string): CatalogFormat {
  if (explicit === 'jsonl' || explicit === 'csv') return explicit;
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  throw new Error(`cannot tell the format of ${file} from its extension: pass --format jsonl|csv`);
}

const MAX_LINE_CHARS = 4 * 1024 * 1024; // a record with 4 precomputed 1024-d vectors is ~80 KB

function imagesOf(value: unknown): ImportImageRef[] {
  if (value === undefined || value === null || value === '') return [];
  const list = Array.isArray(value)
    ? value
    : String(value)
        .split('|')
        .map((s) => s.trim())
        .filter(Boolean);
  return list.map((item): ImportImageRef => {
    if (typeof item === 'string') return /^https?:\/\//i.test(item) ? { url: item } : { path: item };
    if (item && typeof item === 'object') {
      const o = item as Record<string, unknown>;
      const ref: ImportImageRef = {};
      if (typeof o.url === 'string') ref.url = o.url;
      if (typeof o.path === 'string') ref.path = o.path;
      if (typeof o.file === 'string') ref.path = o.file;
      if (Array.isArray(o.embedding)) ref.embedding = o.embedding as number[];
      if (typeof o.model === 'string') ref.model = o.model;
      return ref;
    }
    return {};
  });
}

/** Columns the catalog requires: kept when empty, so validation says "must not be empty" as the API does. */
const REQUIRED_COLUMNS = new Set(['sku', 'title']);

/** CSV cells are strings: tags are `|`-separated, attributes a JSON object, in_stock true/false/1/0/yes/no. */
function fromCsv(row: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row };
  if (typeof row.tags === 'string')
    out.tags = row.tags
      .split('|')
      .map((t) => t.trim())
      .filter(Boolean);
  if (typeof row.attributes === 'string' && row.attributes.trim()) {
    try {
      out.attributes = JSON.parse(row.attributes);
    } catch {
      throw new Error('attributes is not valid JSON');
    }
  } else delete out.attributes;
  if (typeof row.in_stock === 'string' && row.in_stock.trim()) {
    const v = row.in_stock.trim().toLowerCase();
    if (['true', '1', 'yes', 'y'].includes(v)) out.in_stock = true;
    else if (['false', '0', 'no', 'n'].includes(v)) out.in_stock = false;
    else throw new Error(`in_stock must be true/false, got ${JSON.stringify(row.in_stock)}`);
  } else delete out.in_stock;
  for (const k of Object.keys(out)) if (out[k] === '' && !REQUIRED_COLUMNS.has(k)) delete out[k];
  return out;
}

export async function* readCatalog(file: string, format: CatalogFormat): AsyncGenerator<ImportRecord> {
  if (format === 'jsonl') {
    const rl = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
    let n = 0;
    for await (const line of rl) {
      n++;
      if (!line.trim()) {
        yield { n, line: n, images: [], parseError: 'empty line' };
        continue;
      }
      if (line.length > MAX_LINE_CHARS) {
        yield { n, line: n, images: [], parseError: `line longer than ${MAX_LINE_CHARS} characters` };
        continue;
      }
      try {
        const obj = JSON.parse(line) as unknown;
        if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('a line must be one JSON object');
        const fields = { ...(obj as Record<string, unknown>) };
        const images = imagesOf(fields.images);
        delete fields.images;
        yield { n, line: n, fields, images };
      } catch (err) {
        yield { n, line: n, images: [], parseError: `invalid JSON: ${(err as Error).message}` };
      }
    }
    return;
  }
  let header: string[] | undefined;
  let n = 0;
  for await (const row of readCsvRows(file, MAX_LINE_CHARS)) {
    if (!header) {
      header = row.cells!.map((c) => c.trim().toLowerCase());
      continue;
    }
    n++;
    const skuAt = header.indexOf('sku');
    const cells = row.cells ?? row.readable ?? [];
    const sku = skuAt !== -1 && skuAt < cells.length ? cells[skuAt]!.trim() || undefined : undefined;
    if (!row.cells) {
      yield { n, line: row.line, images: [], parseError: row.error ?? 'malformed CSV row', ...(sku ? { sku } : {}) };
      continue;
    }
    try {
      const fields = fromCsv(Object.fromEntries(header.map((h, k) => [h, row.cells![k]!])));
      const images = imagesOf(fields.images);
      delete fields.images;
      yield { n, line: row.line, fields, images };
    } catch (err) {
      yield { n, line: row.line, images: [], parseError: (err as Error).message, ...(sku ? { sku } : {}) };
    }
  }
}
