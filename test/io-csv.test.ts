import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendCsvRow, formatCsv, parseCsv, parseCsvRecords, readCsv, writeCsv } from '../src/io/csv';
import { UserError } from '../src/util/errors';

const userError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);
const tmp = (): string => mkdtempSync(join(tmpdir(), 'grodd-csv-'));

test('write then read round-trips awkward values', async () => {
  const dir = tmp();
  const file = join(dir, 'out.csv');
  const rows = [
    { name: 'plain', value: 0.1 + 0.2, flag: true, note: null },
    { name: 'comma, "quote"\nand newline', value: -1e-300, flag: false, note: undefined },
    { name: '  spaces  ', value: 3, flag: true, note: '' },
  ];
  await writeCsv(file, rows);
  assert.deepEqual(readdirSync(dir), ['out.csv'], 'no temporary file is left behind');
  const t = await readCsv(file);
  assert.deepEqual(t.columns, ['name', 'value', 'flag', 'note']);
  assert.deepEqual(t.rows, [
    { name: 'plain', value: '0.30000000000000004', flag: 'true', note: '' },
    { name: 'comma, "quote"\nand newline', value: '-1e-300', flag: 'false', note: '' },
    { name: '  spaces  ', value: '3', flag: 'true', note: '' },
  ]);
  assert.deepEqual(t.lines, [2, 3, 5], 'the quoted newline makes row 2 span lines 3-4');
});

test('explicit columns fix the order and refuse unknown keys', async () => {
  assert.equal(formatCsv([{ b: 1, a: 2 }], ['a', 'b']), 'a,b\n2,1\n');
  assert.equal(formatCsv([], ['a', 'b']), 'a,b\n');
  assert.throws(() => formatCsv([{ a: 1, c: 2 }], ['a'], 'x.csv'), userError(/x\.csv: row 1 has column "c", which is not among the columns a/));
  await assert.rejects(writeCsv(join(tmp(), 'missing', 'x.csv'), []), userError(/x\.csv: cannot write: its directory does not exist/));
});

test('parser: CRLF, BOM, blank lines, quoted fields, missing final newline', () => {
  const t = parseCsv('\ufeffscore,label\r\n1.5,id\r\n\r\n"2",\"o""d\"\r\n\n-3,"x\r\ny"', 's.csv');
  assert.deepEqual(t.columns, ['score', 'label']);
  assert.equal(t.headerLine, 1);
  assert.deepEqual(t.rows, [
    { score: '1.5', label: 'id' },
    { score: '2', label: 'o"d' },
    { score: '-3', label: 'x\r\ny' },
  ]);
  assert.deepEqual(t.lines, [2, 4, 6]);
  assert.deepEqual(parseCsv('', 'e.csv'), { columns: [], headerLine: 0, rows: [], lines: [] });
  assert.equal(parseCsv('\n\nscore\n1\n', 'h.csv').headerLine, 3);
  assert.deepEqual(parseCsvRecords('a\n""\n,\n', 'r.csv'), [
    { fields: ['a'], line: 1 },
    { fields: [''], line: 2 },
    { fields: ['', ''], line: 3 },
  ]);
});

test('parser errors name the file and the line', () => {
  const cases: Array<[string, RegExp]> = [
    ['a,b\n1,2\n3\n', /^bad\.csv line 3: 1 fields but the header has 2 \(a,b\)$/],
    ['a,b\n1,"2\n3,4\n', /^bad\.csv line 2: a quoted field starts here but its closing quote is missing$/],
    ['a\n"x"y\n', /^bad\.csv line 2: unexpected "y" after a closing quote/],
    ['a\n\nx"y\n', /^bad\.csv line 3: stray quote inside an unquoted field/],
    ['a,a\n', /^bad\.csv line 1: column "a" appears twice in the header$/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseCsv(text, 'bad.csv'), userError(re), String(re));
});

test('readCsv reports a missing file', async () => {
  await assert.rejects(readCsv(join(tmp(), 'nope.csv')), userError(/nope\.csv: file not found/));
});

test('appendCsvRow creates the header once and checks it afterwards', async () => {
  const file = join(tmp(), 'log.csv');
  await appendCsvRow(file, { epoch: 1, loss: 0.5 });
  await appendCsvRow(file, { epoch: 2, loss: 0.25 }, ['epoch', 'loss']);
  await appendCsvRow(file, { loss: 0.125, epoch: 3 });
  assert.equal(readFileSync(file, 'utf8'), 'epoch,loss\n1,0.5\n2,0.25\n3,0.125\n');
  await assert.rejects(appendCsvRow(file, { epoch: 4 }, ['epoch', 'acc']), userError(/log\.csv line 1: header is epoch,loss but the row to append has columns epoch,acc/));
  await assert.rejects(appendCsvRow(file, { epoch: 4, acc: 1 }), userError(/log\.csv: row 1 has column "acc"/));
  writeFileSync(file, 'epoch,loss\n1,0.5'); // no final newline: the next row still starts on its own line
  await appendCsvRow(file, { epoch: 2, loss: 0.25 });
  assert.equal(readFileSync(file, 'utf8'), 'epoch,loss\n1,0.5\n2,0.25\n');
});
