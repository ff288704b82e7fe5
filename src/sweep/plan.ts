import * as YAML from 'yaml';
import { configToPlain, parseConfig } from '../config/config';
import { LockHolder, LockState } from '../io/run-lock';
import { UserError } from '../util/errors';
import { firstDifference, Trial } from './grid';
import { isActive } from './slurm';

/**
 * Which trials of a sweep still need work, and what work (pure: the caller observes the trials'
 * directories, e.g. with `observeTrial` of src/sweep/observe.ts, and runs the plan in its own way:
 * child processes here, cluster jobs elsewhere).
 *
 * A trial is
 * - `completed`: its run's status says so; left alone;
 * - `queued`: its Slurm job (of an earlier `--executor slurm` submission) is pending or running; left
 *   alone, so that a resubmission never queues a trial twice;
 * - `busy`: a live process holds its run lock (a training left by a killed sweep, a manual
 *   `train --resume`); left alone, since two processes never write one run;
 * - `resume`: it started (its run directory has config.yaml) and did not complete: continue it with
 *   `grodd train --resume DIR` from its last complete checkpoint;
 * - `new`: it never started, or died before writing its config: start it with
 *   `grodd train --config <trial config> --run-dir DIR`;
 * - `conflict`: it started with another config than the sweep gives now (`diff` names the first
 *   differing key); the caller must not mix the two in one sweep.
 * Configs are compared in their canonical form (`configToPlain`), both sides parsed by the same code,
 * so the spelling of the saved file (snake_case, defaults written out, comments) never matters.
 */

/** What is on disk for one trial. */
export interface TrialObservation {
  /** The run's config.yaml text, when the trial started. */
  runConfig?: { file: string; text: string };
  /** The run's status file (`unknown` without one). */
  status: string;
  lock: LockState;
  /** Its latest Slurm job and that job's state, when it was submitted to Slurm. */
  job?: SlurmJob;
}

export interface SlurmJob {
  /** `<array job>_<task>`. */
  id: string;
  /** As squeue or sacct report it (PENDING, RUNNING, COMPLETED, ...), or `unknown` when neither knows it. */
  state: string;
}

export type TrialAction = 'completed' | 'queued' | 'busy' | 'resume' | 'new' | 'conflict';

export interface PlannedTrial {
  trial: Trial;
  action: TrialAction;
  status: string;
  /** `conflict`: the first dotted key whose value differs, or why the saved config cannot be read. */
  diff?: string;
  /** `busy`: who holds the run. */
  holder?: LockHolder;
  /** `queued`: its Slurm job. */
  job?: SlurmJob;
}

/** The saved config in canonical form, or the reason it cannot be compared. */
function savedConfig(saved: { file: string; text: string }): Record<string, unknown> | string {
  try {
    return configToPlain(parseConfig(YAML.parse(saved.text), saved.file));
  } catch (e) {
    if (e instanceof UserError || e instanceof YAML.YAMLError) return `its config cannot be read (${(e as Error).message.split('\n')[0]})`;
    throw e;
  }
}

/** Plans every trial from its observation (same order). */
export function planTrials(trials: readonly Trial[], seen: readonly TrialObservation[]): PlannedTrial[] {
  return trials.map((trial, i): PlannedTrial => {
    const o = seen[i];
    const base = { trial, status: o.status };
    if (o.runConfig) {
      const before = savedConfig(o.runConfig);
      const diff = typeof before === 'string' ? before : firstDifference(before, configToPlain(trial.config));
      if (diff !== undefined) return { ...base, action: 'conflict', diff };
    }
    if (o.job && isActive(o.job.state)) return { ...base, action: 'queued', job: o.job };
    if (o.lock.state === 'held') return { ...base, action: 'busy', holder: o.lock.holder };
    if (o.runConfig && o.status === 'completed') return { ...base, action: 'completed' };
    return { ...base, action: o.runConfig ? 'resume' : 'new' };
  });
}
