import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as YAML from 'yaml';
import { configToYaml, parseConfig } from '../src/config/config';
import { loadSweep } from '../src/cli/sweep-dir';
import { planTrials, TrialObservation } from '../src/sweep/plan';
import { Trial } from '../src/sweep/grid';
import { repositorySweeps } from './cli-helpers';

/**
 * What a trial's run directory holds once `grodd train` started it: the sweep writes the trial's config
 * file, and train writes the resolved config of that file into the run as config.yaml.
 */
function startedRun(t: Trial, status = 'failed: interrupted by SIGINT'): TrialObservation {
  const trialFile = `# trial ${t.id}\n${configToYaml(t.config)}`;
  const runConfig = `# resolved config of trials/${t.id}.yaml\n${configToYaml(parseConfig(YAML.parse(trialFile), `trials/${t.id}.yaml`))}`;
  return { runConfig: { file: `${t.id}/config.yaml`, text: runConfig }, status, lock: { state: 'free' } };
}

test('every trial of every sweep file in the repository is resumable: its saved config equals the sweep\'s', () => {
  const files = repositorySweeps();
  assert.ok(files.length >= 3, files.join(' '));
  for (const file of files) {
    const { trials } = loadSweep(file);
    const plan = planTrials(trials, trials.map((t) => startedRun(t)));
    assert.deepEqual(plan.map((p) => [p.trial.id, p.action, p.diff]), trials.map((t) => [t.id, 'resume', undefined]), file);
  }
  // the settings the issue found compared in two spellings (snake_case file, camelCase in memory)
  const sampled = loadSweep('bench/sweeps/fmnist-methods.yaml').trials.find((t) => t.config.train.sampling.method === 'energy')!;
  assert.ok(sampled.config.train.sampling.method === 'energy' && sampled.config.train.sampling.poolSize === 384);
  assert.equal(planTrials([sampled], [startedRun(sampled)])[0].action, 'resume');
});

test('the plan: completed trials are left alone, locked ones are busy, a changed config is a conflict naming the key', () => {
  const { trials } = loadSweep('bench/sweeps/quickstart-greg-vs-ce.yaml');
  const [a, b, c, d, e] = trials;
  const changed = startedRun(c);
  changed.runConfig!.text = changed.runConfig!.text.replace('aux_batch_size: 64', 'aux_batch_size: 32');
  const holder = { pid: 4242, host: 'node7', started: '2026-01-01T00:00:00Z', command: 'grodd train --resume x' };
  const plan = planTrials([a, b, c, d, e], [
    startedRun(a, 'completed'),
    { status: 'unknown', lock: { state: 'free' } },
    changed,
    { ...startedRun(d, 'running'), lock: { state: 'held', holder } },
    { ...startedRun(e, 'running'), lock: { state: 'stale', holder } },
  ]);
  assert.deepEqual(plan.map((p) => p.action), ['completed', 'new', 'conflict', 'busy', 'resume']);
  assert.equal(plan[2].diff, 'train.sampling.aux_batch_size');
  assert.deepEqual(plan[3].holder, holder);
  // a run config that no longer parses cannot be compared, and says why
  const broken = startedRun(a);
  broken.runConfig!.text = 'train: [unclosed';
  const p = planTrials([a], [broken])[0];
  assert.equal(p.action, 'conflict');
  assert.match(p.diff!, /its config cannot be read/);
});
