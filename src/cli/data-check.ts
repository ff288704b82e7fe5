import { CheckMode } from '../data/check';
import { checkDataSection, DataSection, OpenedData } from '../data/section';
import { evalProgress } from './progress';

/**
 * Checks every set of an opened data section (labels, readability, finite pixels) and prints a
 * one-line summary; a problem is a UserError naming the set and the sample. Used before training
 * and by `grodd datasets check`.
 */
export async function runDataCheck(section: DataSection, data: OpenedData, mode: CheckMode = section.check): Promise<void> {
  const started = performance.now();
  const sets = await checkDataSection(section, data, mode, evalProgress);
  const n = sets.reduce((a, s) => a + s.checked, 0);
  const what = mode === 'full' ? `all ${n.toLocaleString('en-US')} samples` : `a sample of ${n.toLocaleString('en-US')} (data.check: sample)`;
  process.stderr.write(`data checked: ${sets.length} set(s), ${what}: labels in range, every image readable, every pixel finite (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
}
