import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oodMetrics } from '../src/eval/metrics';
import { readCsv } from '../src/io/csv';
import { CHILD_ENV } from './cli-helpers';

const ROOT = join(__dirname, '..');

function grodd(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'grodd.js'), 'metrics', ...args], { cwd: ROOT, encoding: 'utf8', env: CHILD_ENV });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'grodd-cli-metrics-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

// Ties within and across the two sets, and negative scores, so the tie handling is exercised end to end.
const ID = [2.5, 1, 1, 0.75, 3, -0.5, 2.5, 1.25];
const OOD = [1, 0.75, -2, 0, 1, 2.5, -0.125];
const expected = oodMetrics(ID, OOD);
const asRecord = { n_id: ID.length, n_ood: OOD.length, fpr95: expected.fpr95, auroc: expected.auroc, aupr_in: expected.auprIn, aupr_out: expected.auprOut };

test('--scores with id/ood and 1/0 labels: printed table and JSON output equal oodMetrics', () => {
  const rows = [...ID.map((s, i) => `${s},${i % 2 ? 'id' : '1'}`), ...OOD.map((s, i) => `${s},${i % 2 ? 'OOD' : '0'}`)];
  const scores = file('labeled.csv', `score,label,extra\n${rows.map((r) => `${r},x`).join('\n')}\n`);
  const out = join(dir, 'm.json');
  const r = grodd('--scores', scores, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), asRecord);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /n_id\s+n_ood\s+FPR95%\s+AUROC%\s+AUPR-In%\s+AUPR-Out%/);
  assert.deepEqual(lines[2].trim().split(/\s+/), [
    String(ID.length),
    String(OOD.length),
    ...[expected.fpr95, expected.auroc, expected.auprIn, expected.auprOut].map((x) => (100 * x).toFixed(2)),
  ]);
});

test('--id/--ood with a score column or a bare column of numbers: CSV output equals oodMetrics', async () => {
  const idFile = file('id.csv', `score\n${ID.join('\n')}\n`);
  const oodFile = file('ood.txt', `${OOD.join('\r\n')}`); // headerless, CRLF, no final newline
  const out = join(dir, 'm.csv');
  const r = grodd('--id', idFile, '--ood', oodFile, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const t = await readCsv(out);
  assert.deepEqual(t.columns, Object.keys(asRecord));
  assert.equal(t.rows.length, 1);
  for (const [k, v] of Object.entries(asRecord)) assert.equal(Number(t.rows[0][k]), v, k);
});

// A grodd scores.csv: an ID set and two OOD sets, two score columns (the second reverses the first).
const NEAR = [0.5, 2, -1, 1.5];
const lines = ['dataset,role,index,label,pred,energy,neg'];
ID.forEach((x, i) => lines.push(`digits,id,${i},${i % 3},${i % 2 ? i % 3 : 0},${x},${-x}`));
OOD.forEach((x, i) => lines.push(`noise,ood,${i},,1,${x},${-x}`));
NEAR.forEach((x, i) => lines.push(`near,ood,${i},,0,${x},${-x}`));
const groddScores = file('scores.csv', lines.join('\n') + '\n');

test("a run's scores.csv: every score and OOD set with the average, or the ones chosen; ID accuracy from label and pred", async () => {
  const out = join(dir, 'all.csv');
  const r = grodd('--scores', groddScores, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const rows = (await readCsv(out)).rows;
  assert.deepEqual(rows.map((x) => `${x.score}/${x.ood_set}`), ['energy/noise', 'energy/near', 'energy/average', 'neg/noise', 'neg/near', 'neg/average']);
  const accuracy = ID.filter((_, i) => (i % 2 ? i % 3 : 0) === i % 3).length / ID.length;
  for (const [score, sign] of [['energy', 1], ['neg', -1]] as const) {
    const m1 = oodMetrics(ID.map((x) => sign * x), OOD.map((x) => sign * x));
    const m2 = oodMetrics(ID.map((x) => sign * x), NEAR.map((x) => sign * x));
    const get = (set: string) => rows.find((x) => x.score === score && x.ood_set === set)!;
    assert.equal(Number(get('noise').auroc), m1.auroc);
    assert.equal(Number(get('near').fpr95), m2.fpr95);
    assert.equal(Number(get('average').aupr_in), (m1.auprIn + m2.auprIn) / 2);
    assert.equal(Number(get('noise').n_ood), OOD.length);
    assert.equal(Number(get('noise').id_accuracy), accuracy);
  }
  assert.ok(r.stdout.startsWith(`ID test accuracy: ${(100 * accuracy).toFixed(2)}% (8 samples)\nscore `), r.stdout);

  const one = grodd('--scores', groddScores, '--score-column', 'neg', '--ood-set', 'near', '--out', join(dir, 'one.json'));
  assert.equal(one.status, 0, one.stderr);
  const j = JSON.parse(readFileSync(join(dir, 'one.json'), 'utf8'));
  assert.equal(j.length, 1);
  assert.equal(j[0].auroc, oodMetrics(ID.map((x) => -x), NEAR.map((x) => -x)).auroc);
  assert.deepEqual([j[0].score, j[0].ood_set], ['neg', 'near']);

  // The generic format takes --score-column too.
  const g = grodd('--scores', file('named.csv', 'logit,label\n2,id\n1,ood\n'), '--score-column', 'logit');
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /100\.00/);
});

test('bad input: exit code 2, a message naming file, line and fix, no stack trace', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--scores', file('bad-label.csv', 'score,label\n1,id\n0,ood\n2,maybe\n')], /bad-label\.csv line 4: label "maybe" is not id or ood \(write id\/ood, or 1 for ID and 0 for OOD\)/],
    [['--scores', file('bad-score.csv', 'score,label\n1,id\nabc,ood\n')], /bad-score\.csv line 3: score "abc" is not a finite number/],
    [['--scores', file('nan.csv', 'score,label\n1,id\nNaN,ood\n')], /nan\.csv line 3: score "NaN" is not a finite number/],
    [['--scores', file('empty-score.csv', 'score,label\n,id\n0,ood\n')], /empty-score\.csv line 2: score "" is not a finite number/],
    [['--scores', file('no-label.csv', 'score,kind\n1,id\n')], /no-label\.csv line 1: needs a header with columns score and label, found score,kind/],
    [['--scores', file('only-id.csv', 'score,label\n1,id\n')], /only-id\.csv: no row has label ood/],
    [['--scores', file('ragged.csv', 'score,label\n1,id\n2\n')], /ragged\.csv line 3: 1 fields but the header has 2/],
    [['--scores', join(dir, 'missing.csv')], /missing\.csv: file not found/],
    [['--id', file('two-cols.csv', 'a,b\n1,2\n'), '--ood', file('ok.csv', '1\n')], /two-cols\.csv line 1: no column named score \(found a,b\); name the column score/],
    [['--id', file('words.csv', 'x\n1\n'), '--ood', file('ok2.csv', '1\n')], /words\.csv line 1: no column named score \(found x\)/],
    [['--id', file('bare.csv', '1\n2\nthree\n'), '--ood', file('ok3.csv', '1\n')], /bare\.csv line 3: score "three" is not a finite number/],
    [['--id', file('header-only.csv', 'score\n'), '--ood', file('ok4.csv', '1\n')], /header-only\.csv: the score column has no values/],
    [['--id', file('empty.csv', ''), '--ood', file('ok5.csv', '1\n')], /empty\.csv: file is empty/],
    [['--id', file('ok6.csv', '1\n')], /metrics: --ood FILE is missing; --id and --ood go together/],
    [[], /metrics: no scores given; use --scores FILE/],
    [['--scores', file('ok7.csv', 'score,label\n1,id\n0,ood\n'), '--id', file('ok8.csv', '1\n')], /give either --scores FILE .* or --id FILE --ood FILE, not both/],
    [['--scores', groddScores, '--score-column', 'msp'], /--score-column: .*scores\.csv has no score column "msp" \(it has energy, neg\)/],
    [['--scores', groddScores, '--ood-set', 'far'], /--ood-set: .*scores\.csv has no OOD set "far" \(it has noise, near\)/],
    [['--scores', file('ok9.csv', 'score,label\n1,id\n0,ood\n'), '--ood-set', 'x'], /--ood-set: .*ok9\.csv is not a grodd scores\.csv/],
    [['--scores', file('role.csv', 'dataset,role,energy\na,id,1\nb,test,2\n')], /role\.csv line 3: role "test" is not id or ood/],
    [['--scores', file('noood.csv', 'dataset,role,energy\na,id,1\n')], /noood\.csv: no rows with role ood/],
    [['--scores', file('badval.csv', 'dataset,role,energy\na,id,1\nb,ood,x\n')], /badval\.csv line 3: score "x" is not a finite number/],
  ];
  for (const [args, re] of cases) {
    const r = grodd(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.match(r.stderr, /^grodd: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stdout, '');
  }
});
