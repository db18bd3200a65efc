/**
 * CSV rows that survive bad data: a supplier feed with one stray or unclosed quote must cost that row, not the
 * import. csv-parse (strict RFC 4180) parses each row; this module only decides where a row starts and ends,
 * so that a malformed row becomes an error row with the file line it starts on, and reading goes on at the next
 * line. A streaming parser cannot do that itself: after an unclosed quote it reads the rest of the file as one
 * cell and reports the error at the last line.
 *
 * Stretches of the file are parsed a chunk of lines at a time; a chunk with anything malformed in it is read
 * again the careful way, row by row. A row starts on a physical line. It is parsed alone; if csv-parse says a quoted cell is still open, the next
 * lines are added (quoted cells may hold line breaks) until the quote count is even again and the row parses,
 * or `maxRowChars` is passed or the file ends. A row that never closes, or closes lines later into the wrong
 * number of columns, is an unclosed quote on its first line, and the lines that were added are read again as
 * rows of their own. Column counts are strict: a row with more or fewer
 * cells than the header is an error row. Error rows carry the cells that could still be read (for the sku).
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { CsvError, parse } from 'csv-parse/sync';

export interface CsvRow {
  /** file line (1-based) the row starts on */
  line: number;
  /** the row's cells, as many as the header's; absent when the row is malformed */
  cells?: string[];
  /** why the row is malformed */
  error?: string;
  /** cells of a malformed row that could be read unambiguously (a prefix, or all of them) */
  readable?: string[];
}

interface Line {
  text: string;
  no: number;
}

const quotes = (s: string): number => s.split('"').length - 1;

/** Lines of the file, with a way to read some again after a row turned out not to span them. */
class Lines {
  private readonly again: Line[] = [];
  private no = 0;
  private readonly it: AsyncIterator<string>;

  constructor(file: string) {
    const rl = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
    this.it = rl[Symbol.asyncIterator]();
  }

  async next(): Promise<Line | undefined> {
    const back = this.again.shift();
    if (back) return back;
    const r = await this.it.next();
    if (r.done) return undefined;
    this.no++;
    const text = this.no === 1 ? r.value.replace(/^\uFEFF/, '') : r.value;
    return { text, no: this.no };
  }

  unread(lines: Line[]): void {
    this.again.unshift(...lines);
  }
}

type Parsed = { cells: string[] } | { code: string; message: string };

function parseRow(text: string): Parsed {
  try {
    const rows = parse(text, { relax_column_count: true }) as string[][];
    if (rows.length !== 1) return { code: 'ROWS', message: 'one row expected' };
    return { cells: rows[0]! };
  } catch (err) {
    if (err instanceof CsvError) return { code: err.code, message: err.message };
    throw err;
  }
}

/** The row's cells as far as they can be trusted: all of them with quotes taken literally, else those before the first quote. */
function readableCells(text: string): string[] {
  try {
    const rows = parse(text, { relax_quotes: true, relax_column_count: true }) as string[][];
    if (rows.length === 1) return rows[0]!;
  } catch {
    // fall through: only the cells before the first quote are certain
  }
  const q = text.indexOf('"');
  return q === -1 ? text.split(',') : text.slice(0, q).split(',').slice(0, -1);
}

function describe(code: string, message: string): string {
  if (code === 'INVALID_OPENING_QUOTE')
    return 'a quote inside an unquoted cell: quote the whole cell and double the inner quotes ("Fifth ""inch"" 5")';
  if (code === 'CSV_INVALID_CLOSING_QUOTE')
    return 'a quoted cell is followed by text before the next comma: double the quotes inside a quoted cell';
  return `malformed CSV row: ${message.replace(/ at line \d+/g, '')}`;
}

/** Lines parsed at once on the fast path: a clean stretch of the file costs one parser, not one per line. */
const CHUNK_LINES = 256;

/** The next row from `lines` (the careful path of the header), or undefined at the end of the file. */
async function nextRow(
  lines: Lines,
  width: number,
  maxRowChars: number,
): Promise<{ row: CsvRow; lastLine: number } | undefined> {
  let first = await lines.next();
  while (first && first.text === '') first = await lines.next();
  if (!first) return undefined;
  const group = [first];
  let chars = first.text.length;
  let parsed = parseRow(first.text);
  let count = quotes(first.text);
  let line: Line | undefined;
  while ('code' in parsed && parsed.code === 'CSV_QUOTE_NOT_CLOSED' && chars <= maxRowChars) {
    if (!(line = await lines.next())) break;
    group.push(line);
    chars += line.text.length + 1;
    count += quotes(line.text);
    // an odd number of quotes cannot close the cell: parse again only when it may have
    if (count % 2 === 0) parsed = parseRow(group.map((l) => l.text).join('\n'));
  }
  if ('cells' in parsed && (width === -1 || parsed.cells.length === width))
    return { row: { line: first.no, cells: parsed.cells }, lastLine: group[group.length - 1]!.no };
  if ('cells' in parsed && group.length === 1)
    return { row: columnCountError(first.no, parsed.cells, width), lastLine: first.no };
  // a row that did not parse, or whose quoted cell closed lines later into the wrong number of columns: the
  // quote on its first line was the mistake, and the lines after it are rows of their own
  lines.unread(group.slice(1));
  const error =
    'cells' in parsed || parsed.code === 'CSV_QUOTE_NOT_CLOSED' || group.length > 1
      ? chars > maxRowChars
        ? `a quoted cell opened on line ${first.no} is not closed within ${maxRowChars} characters`
        : `a quoted cell opened on line ${first.no} is never closed`
      : describe(parsed.code, parsed.message);
  return { row: { line: first.no, error, readable: readableCells(first.text) }, lastLine: first.no };
}

const columnCountError = (line: number, cells: string[], width: number): CsvRow => ({
  line,
  error: `has ${cells.length} columns, the header has ${width}`,
  readable: cells,
});

/**
 * The fast path: `chunk` (consecutive lines) parsed as one text. Undefined when anything in it needs the careful
 * path — a parse error, a cell still open at the chunk's end, a row spanning lines into the wrong width.
 */
function parseChunk(chunk: readonly Line[], width: number, maxRowChars: number): CsvRow[] | undefined {
  let records: { record: string[]; raw: string }[];
  try {
    records = parse(chunk.map((l) => l.text).join('\n'), {
      relax_column_count: true,
      raw: true,
      skip_empty_lines: false,
      max_record_size: maxRowChars,
    }) as unknown as { record: string[]; raw: string }[];
  } catch (err) {
    if (err instanceof CsvError) return undefined;
    throw err;
  }
  const rows: CsvRow[] = [];
  let no = chunk[0]!.no;
  for (const { record, raw } of records) {
    const line = no;
    const breaks = raw.split('\n').length - 1;
    no += Math.max(1, breaks + (raw.endsWith('\n') ? 0 : 1));
    if (raw === '\n' || raw === '') continue; // an empty line
    if (record.length === width) rows.push({ line, cells: record });
    else if (breaks - (raw.endsWith('\n') ? 1 : 0) > 0)
      return undefined; // spans lines: an unclosed quote?
    else rows.push(columnCountError(line, record, width));
  }
  return rows;
}

/** The header (first non-empty line) and then every data row, well-formed or not; throws only for a bad header. */
export async function* readCsvRows(file: string, maxRowChars: number): AsyncGenerator<CsvRow, void, undefined> {
  const lines = new Lines(file);
  const header = await nextRow(lines, -1, maxRowChars);
  if (!header) return;
  if (!header.row.cells) throw new Error(`the CSV header (line ${header.row.line}) is malformed: ${header.row.error}`);
  const width = header.row.cells.length;
  yield header.row;
  for (;;) {
    const chunk: Line[] = [];
    for (let l: Line | undefined; chunk.length < CHUNK_LINES && (l = await lines.next());) chunk.push(l);
    if (!chunk.length) return;
    const fast = parseChunk(chunk, width, maxRowChars);
    if (fast) {
      yield* fast;
      continue;
    }
    // the careful path, row by row, until past the chunk (a row may end beyond it)
    lines.unread(chunk);
    const last = chunk[chunk.length - 1]!.no;
    for (let r = await nextRow(lines, width, maxRowChars); r; r = await nextRow(lines, width, maxRowChars)) {
      yield r.row;
      if (r.lastLine >= last) break;
    }
  }
}
