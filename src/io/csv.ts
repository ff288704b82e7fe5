import { promises as fsp } from 'fs';
import { stringify } from 'csv-stringify/sync';
import { UserError } from '../util/errors';
import { writeFileAtomic } from './atomic-write';

/**
 * CSV files (RFC 4180: comma-separated, a field containing a comma, quote or line break is wrapped in
 * double quotes with inner quotes doubled). Writing goes through csv-stringify; reading is a small
 * parser whose errors name the file and the line, since these files are often edited by hand.
 */

export interface CsvRecord {
  fields: string[];
  /** 1-based line of the file on which the record starts (a quoted field may span lines). */
  line: number;
}

export interface CsvTable {
  columns: string[];
  /** Line of the header row (1 unless blank lines precede it; 0 for an empty file). */
  headerLine: number;
  rows: Record<string, string>[];
  /** `lines[i]` is the line of `rows[i]` in the file, for error messages about a row's values. */
  lines: number[];
}

/**
 * Splits CSV text into records. Accepts \n and \r\n line ends, a UTF-8 byte-order mark, and skips
 * empty lines (a trailing newline, blank lines left by editing). `source` prefixes errors.
 */
export function parseCsvRecords(text: string, source: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < text.length) {
    const start = line;
    const fields: string[] = [];
    let emptyLine = true;
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        emptyLine = false;
        const open = line;
        i++;
        for (;;) {
          if (i >= text.length) throw new UserError(`${source} line ${open}: a quoted field starts here but its closing quote is missing`);
          const c = text[i++];
          if (c === '"') {
            if (text[i] === '"') { field += '"'; i++; }
            else break;
          } else {
            if (c === '\n') line++;
            field += c;
          }
        }
        const next = text[i];
        if (i < text.length && next !== ',' && next !== '\n' && !(next === '\r' && text[i + 1] === '\n')) {
          throw new UserError(`${source} line ${line}: unexpected ${JSON.stringify(next)} after a closing quote; a field must be quoted whole`);
        }
      } else {
        const from = i;
        while (i < text.length && text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n')) {
          if (text[i] === '"') {
            throw new UserError(`${source} line ${line}: stray quote inside an unquoted field; quote the whole field and double inner quotes ("")`);
          }
          i++;
        }
        field = text.slice(from, i);
        if (field !== '') emptyLine = false;
      }
      fields.push(field);
      if (text[i] === ',') { emptyLine = false; i++; continue; }
      break; // end of line or of text
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') { i++; line++; }
    if (!emptyLine) records.push({ fields, line: start });
  }
  return records;
}

/** Parses CSV text whose first record is the header; every row must have one field per column. */
export function parseCsv(text: string, source: string): CsvTable {
  const [header, ...body] = parseCsvRecords(text, source);
  if (!header) return { columns: [], headerLine: 0, rows: [], lines: [] };
  const columns = header.fields;
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c)) throw new UserError(`${source} line ${header.line}: column "${c}" appears twice in the header`);
    seen.add(c);
  }
  const rows = body.map(({ fields, line }) => {
    if (fields.length !== columns.length) {
      throw new UserError(`${source} line ${line}: ${fields.length} fields but the header has ${columns.length} (${columns.join(',')})`);
    }
    const row: Record<string, string> = {};
    columns.forEach((c, k) => (row[c] = fields[k]));
    return row;
  });
  return { columns, headerLine: header.line, rows, lines: body.map((r) => r.line) };
}

async function readText(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${file}: file not found`);
    if (code === 'EISDIR') throw new UserError(`${file}: is a directory, expected a CSV file`);
    if (code === 'EACCES') throw new UserError(`${file}: permission denied`);
    throw e;
  }
}

/** Reads a CSV file's records without interpreting a header (for files that may have none). */
export async function readCsvRecords(file: string): Promise<CsvRecord[]> {
  return parseCsvRecords(await readText(file), file);
}

/** Reads a CSV file with a header row; errors name the file and line. */
export async function readCsv(file: string): Promise<CsvTable> {
  return parseCsv(await readText(file), file);
}

/** Column order when none is given: every key, in order of first appearance. */
function columnsOf(rows: readonly Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

/**
 * CSV text, with a header row unless `header` is false. Numbers keep their shortest round-trip form (String(x)); booleans are
 * written true/false (csv-stringify's default would write 1 and an empty field); null and undefined
 * are empty fields; a key of a row that is not among `columns` is an error rather than silently lost.
 */
export function formatCsv(
  rows: readonly Record<string, unknown>[],
  columns?: readonly string[],
  source = 'csv',
  header = true,
): string {
  const cols = columns ? [...columns] : columnsOf(rows);
  if (columns) {
    const known = new Set(cols);
    rows.forEach((r, i) => {
      const extra = Object.keys(r).find((k) => !known.has(k));
      if (extra !== undefined) throw new UserError(`${source}: row ${i + 1} has column "${extra}", which is not among the columns ${cols.join(',')}`);
    });
  }
  return stringify(rows as Record<string, unknown>[], { header, columns: cols, cast: { boolean: (v) => String(v) } });
}

/** Writes rows as a CSV file with a header row, atomically (temporary file, fsync, rename). */
export async function writeCsv(file: string, rows: readonly Record<string, unknown>[], columns?: readonly string[]): Promise<void> {
  await writeFileAtomic(file, formatCsv(rows, columns, file));
}

/**
 * Appends one row to a CSV log, creating the file with a header when it is missing or empty. The row
 * must fit the existing header (an appended row under the wrong header would corrupt the log), so the
 * file is read first; these logs are small. Not atomic: a crash can leave a partial last line.
 */
export async function appendCsvRow(file: string, row: Record<string, unknown>, columns?: readonly string[]): Promise<void> {
  let existing: string | undefined;
  try {
    existing = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const header = existing ? parseCsvRecords(existing, file)[0] : undefined;
  if (!header) {
    await fsp.writeFile(file, formatCsv([row], columns, file));
    return;
  }
  const cols = header.fields;
  if (columns && columns.join('\u0000') !== cols.join('\u0000')) {
    throw new UserError(`${file} line ${header.line}: header is ${cols.join(',')} but the row to append has columns ${columns.join(',')}`);
  }
  const lineEnd = existing!.endsWith('\n') ? '' : '\n';
  await fsp.appendFile(file, lineEnd + formatCsv([row], cols, file, false));
}
