/**
 * A detector's statistics of the ID training set in a run directory, so that `grodd score` scores
 * new images exactly as the evaluation did:
 *   detectors/<name>.safetensors   the arrays (float64, or float32 for stored features)
 *   detectors/<name>.json          the numbers, the parameters, and what they were fitted from
 *                                  (the checkpoint, the ID training set); written last, so a JSON
 *                                  file marks a complete pair.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DetectorStats } from '../eval/detectors/detector';
import { UserError } from '../util/errors';
import { encodeSafetensors, readSafetensors } from './safetensors';

export const DETECTORS_DIR = 'detectors';

/** detectors/<name>.json */
export interface DetectorStatsInfo {
  format: 'grodd-detector';
  version: 1;
  detector: string;
  /** The checkpoint whose features the statistics describe (its base name, e.g. epoch-0005). */
  checkpoint: string;
  fitted_on: { dataset: string; n: number };
  params: unknown;
  values: Record<string, number>;
  created: string;
}

export function detectorStatsBase(runDir: string, name: string): string {
  return path.join(runDir, DETECTORS_DIR, name);
}

/** The two files of detector `name`'s statistics, relative to the run directory, the JSON last (for `writeFilesAtomic`). */
export function detectorStatsFiles(name: string, stats: DetectorStats, info: Omit<DetectorStatsInfo, 'format' | 'version' | 'detector' | 'values' | 'created'>): [string, string | Uint8Array][] {
  const base = detectorStatsBase('', name);
  const tensors = Object.fromEntries(
    Object.entries(stats.tensors).map(([k, t]) => [k, { dtype: t.data instanceof Float64Array ? ('F64' as const) : ('F32' as const), shape: t.shape, data: t.data }]),
  );
  const full: DetectorStatsInfo = { format: 'grodd-detector', version: 1, detector: name, ...info, values: stats.values, created: new Date().toISOString() };
  return [
    [`${base}.safetensors`, encodeSafetensors(tensors, { format: 'grodd-detector', detector: name }, `${base}.safetensors`)],
    [`${base}.json`, JSON.stringify(full, null, 2) + '\n'],
  ];
}

/** The stored statistics of detector `name`; the error says how to make them when they are missing. */
export async function readDetectorStats(runDir: string, name: string): Promise<{ stats: DetectorStats; info: DetectorStatsInfo }> {
  const base = detectorStatsBase(runDir, name);
  if (!fs.existsSync(`${base}.json`)) {
    throw new UserError(`${base}.json not found: ${name} needs statistics of the ID training set; run grodd eval --run ${runDir} with ${name} in eval.scores (e.g. --config C) first`);
  }
  let info: DetectorStatsInfo;
  try {
    info = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
  } catch (e) {
    throw new UserError(`${base}.json: cannot read: ${(e as Error).message}`);
  }
  if (info.format !== 'grodd-detector' || info.detector !== name) throw new UserError(`${base}.json: not the statistics of detector ${name}`);
  const { tensors } = await readSafetensors(`${base}.safetensors`);
  const stats: DetectorStats = { tensors: {}, values: info.values ?? {} };
  for (const [k, t] of Object.entries(tensors)) {
    if (!(t.data instanceof Float64Array || t.data instanceof Float32Array)) throw new UserError(`${base}.safetensors: tensor ${k} is ${t.dtype}, expected F64 or F32`);
    stats.tensors[k] = { shape: t.shape, data: t.data };
  }
  return { stats, info };
}
