/**
 * CSV rows that survive bad data: a supplier feed with one stray or unclosed quote must cost that row, not the
 * import. csv-parse (strict RFC 4180) parses each row; this module only decides where a row starts and ends,
 * so that a malformed row becomes an error row with the file line it starts on, and reading goes on at the next
 * line. A streaming parser cannot do that itself: after an unclosed quote it reads the rest of the file as one
 * cell and reports the error at the last line.
 *
 * A row starts on a physical line. It is parsed alone; if csv-parse says a quoted cell is still open, the next
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

/** The header (first non-empty line) and then every data row, well-formed or not; throws only for a bad header. */
export async function* readCsvRows(file: string, maxRowChars: number): AsyncGenerator<CsvRow, void, undefined> {
  const lines = new Lines(file);
  let width = -1;
  for (let first = await lines.next(); first; first = await lines.next()) {
    if (first.text === '') continue;
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
    let row: CsvRow;
    if ('cells' in parsed && (width === -1 || parsed.cells.length === width)) {
      row = { line: first.no, cells: parsed.cells };
    } else if ('cells' in parsed && group.length === 1) {
      row = {
        line: first.no,
        error: `has ${parsed.cells.length} columns, the header has ${width}`,
        readable: parsed.cells,
      };
    } else {
      // a row that did not parse, or whose quoted cell closed lines later into the wrong number of columns: the
      // quote on its first line was the mistake, and the lines after it are rows of their own
      lines.unread(group.slice(1));
      const error =
        'cells' in parsed || parsed.code === 'CSV_QUOTE_NOT_CLOSED' || group.length > 1
          ? chars > maxRowChars
            ? `a quoted cell opened on line ${first.no} is not closed within ${maxRowChars} characters`
            : `a quoted cell opened on line ${first.no} is never closed`
          : describe(parsed.code, parsed.message);
      row = { line: first.no, error, readable: readableCells(first.text) };
    }
    if (width === -1) {
      if (!row.cells) throw new Error(`the CSV header (line ${first.no}) is malformed: ${row.error}`);
      width = row.cells.length;
    }
    yield row;
  }
}
