import * as fs from 'node:fs';
import * as path from 'node:path';
import { readStatus } from '../io/run-dir';
import { lockState, RUN_LOCK } from '../io/run-lock';
import { TrialObservation } from './plan';

/** What is on disk for the trial whose run directory is `dir` (missing or not), for `planTrials`. */
export function observeTrial(dir: string): TrialObservation {
  const file = path.join(dir, 'config.yaml');
  let runConfig: TrialObservation['runConfig'];
  try {
    runConfig = { file, text: fs.readFileSync(file, 'utf8') };
  } catch {
    runConfig = undefined; // not started (or started and killed before its config was written)
  }
  return { runConfig, status: readStatus(dir), lock: lockState(path.join(dir, RUN_LOCK)) };
}
