import { UserError } from '../util/errors';
import { Rng } from '../util/rng';
import { Dataset } from './dataset';
import { DatasetSpec } from './spec';
import { SubsetDataset } from './subset';
import { TransformedDataset } from './transforms';

/**
 * Checks a dataset before any training step, so that bad data stops a run at once, with the sample
 * named, instead of after hours (a NaN pixel blamed on the learning rate; an OOD set's NaN surfacing
 * after the last epoch as "did training diverge?"; a corrupt image met in epoch 7). Headers and
 * counts are checked by each reader when the set is opened; here every label must lie in
 * 0..classes-1, and every sample (`full`) or a seeded sample of them (`sample`) must read (decode,
 * for image files) and hold finite pixel values only. Pixels are checked as stored, before
 * transforms.
 */

export type CheckMode = 'full' | 'sample';
export const CHECK_MODES: readonly CheckMode[] = ['full', 'sample'];

/** Samples read per set by `sample` mode. */
export const CHECK_SAMPLE = 1000;
const BATCH = 256;

export interface CheckedSet {
  /** Where the set is in the config, e.g. `data.ood[0]`. */
  where: string;
  name: string;
  size: number;
  /** Samples read and scanned. */
  checked: number;
}

/** Maps an index of `ds` through its subsets (classes, limit) to the index in the file it reads. */
function fileIndexOf(ds: Dataset): (i: number) => number {
  const maps: (readonly number[])[] = [];
  for (let cur = ds; cur instanceof SubsetDataset; cur = cur.base) maps.push(cur.indices);
  return (i) => maps.reduce((j, m) => m[j], i);
}

/** Where a sample is, for messages: `sample 12` or `sample 12 (sample 4031 of the file)`. */
function sampleAt(i: number, fileIndex: (i: number) => number, source?: string): string {
  const f = fileIndex(i);
  return f === i ? `sample ${i}` : `sample ${i} (sample ${f} of ${source ?? 'the file'})`;
}

function sourceOf(spec: DatasetSpec): string | undefined {
  const s = spec.path ?? spec.images ?? spec.dir;
  return typeof s === 'string' ? s : undefined;
}

/**
 * Checks the opened set `ds` of config entry `spec` at `where` (see the module comment); throws a
 * UserError naming the set, the sample and the fix. `onProgress(done, total)` follows long checks.
 */
export async function checkDataset(ds: Dataset, spec: DatasetSpec, where: string, mode: CheckMode, onProgress?: (done: number, total: number) => void): Promise<CheckedSet> {
  const label = `${where} (${ds.name})`;
  const raw = ds instanceof TransformedDataset ? ds.base : ds; // pixels as stored
  const fileIndex = fileIndexOf(raw);
  const source = sourceOf(spec);
  if (ds.numClasses > 0) {
    const y = await ds.labels();
    const bad = y.findIndex((v) => !(v >= 0 && v < ds.numClasses));
    if (bad >= 0) throw new UserError(`${label}: ${sampleAt(bad, fileIndex, source)} has label ${y[bad]}, outside 0..${ds.numClasses - 1}; fix the labels or set classes`);
  }
  const all = Array.from({ length: ds.size }, (_, i) => i);
  const order = mode === 'full' || ds.size <= CHECK_SAMPLE ? all : Rng.derive(0, `check:${where}`).permutation(ds.size).slice(0, CHECK_SAMPLE).sort((a, b) => a - b);
  for (let k = 0; k < order.length; k += BATCH) {
    const idx = order.slice(k, k + BATCH);
    let b;
    try {
      b = await raw.read(idx);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      const hint = spec.format === 'image-folder' && !spec.skip_corrupt ? `; set skip_corrupt: true on ${where} to skip unreadable images (with a warning and a count)` : '';
      throw new UserError(`${label}: ${e.message}${hint}`);
    }
    const per = b.shape[0] * b.shape[1] * b.shape[2];
    for (let p = 0; p < b.x.length; p++) {
      if (!Number.isFinite(b.x[p])) {
        const i = idx[Math.floor(p / per)];
        throw new UserError(`${label}: ${sampleAt(i, fileIndex, source)} has pixel value ${b.x[p]} (at position ${p % per} of ${per}); every pixel must be a finite number: fix or drop that sample`);
      }
    }
    onProgress?.(Math.min(k + BATCH, order.length), order.length);
    await new Promise((res) => setImmediate(res)); // a long check stays interruptible
  }
  return { where, name: ds.name, size: ds.size, checked: order.length };
}
