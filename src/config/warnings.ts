import { DataSection, OpenedData, sectionSets } from '../data/section';
import { DatasetSpec } from '../data/spec';
import { Config } from './config';

/**
 * Settings that are valid but quietly do something other than what they seem to ask for (pure: the
 * caller prints them, `grodd: warning: ...`).
 */
export function configWarnings(c: Config): string[] {
  const out: string[] = [];
  const t = c.train;
  const usesMargins = t.energy_loss.weight > 0 || t.grad_reg.weight > 0;
  if (t.margins.mode === 'percentile' && usesMargins && c.data.aux && t.margins.warmup_epochs >= t.epochs) {
    out.push(
      `train.margins.warmup_epochs (${t.margins.warmup_epochs}) >= train.epochs (${t.epochs}): every epoch is warm-up, so ${t.method} trains as plain cross-entropy (no energy loss, no gradient regularizer); lower warmup_epochs or raise epochs`,
    );
  }
  if (t.schedule.name === 'multistep') {
    const m = t.schedule.milestones;
    if (m.some((v, i) => i > 0 && v <= m[i - 1])) out.push(`train.schedule.milestones [${m.join(', ')}] are not in increasing order; the learning rate drops once per milestone passed, so list each epoch once, in order`);
    if (m.some((v) => v > t.epochs)) out.push(`train.schedule.milestones [${m.join(', ')}]: epochs after the last one (${t.epochs}) never come, so their drops never happen`);
  }
  const overlap = auxIdOverlap(c.data);
  if (overlap) out.push(overlap);
  if (c.data.ood.length === 0) out.push('data.ood is empty: the run trains, but no metrics (FPR95, AUROC, ...) will be computed and metrics.csv stays empty; add OOD test sets to measure detection');
  return out;
}

/** The data a set is drawn from, whatever its split: sets with the same source share classes. */
function sourceKey(s: DatasetSpec): string {
  return JSON.stringify([s.format, s.dir ?? s.path ?? s.images ?? '', s.variant ?? '', s.label ?? '']);
}

/** An auxiliary class that is also an ID class of the same data (in-distribution images used as outliers). */
function auxIdOverlap(d: DataSection): string | undefined {
  const aux = d.aux;
  const id = d.id.train;
  if (!aux || sourceKey(aux) !== sourceKey(id)) return undefined;
  const both = aux.classes === undefined ? (id.classes ?? 'all') : id.classes === undefined ? aux.classes : aux.classes.filter((k) => id.classes!.includes(k));
  if (both !== 'all' && both.length === 0) return undefined;
  const which = both === 'all' ? 'every class' : `class(es) [${both.join(', ')}]`;
  return `data.aux draws ${which} of the same ${aux.format} data as data.id.train: those "outliers" are in-distribution images; give data.aux classes that data.id.train does not use`;
}

/** A `limit` above what a set holds (after `classes`) keeps the whole set; say so, with its size. */
export function dataWarnings(section: DataSection, data: OpenedData): string[] {
  return sectionSets(section, data)
    .filter(([, spec, ds]) => spec.limit !== undefined && spec.limit > ds.size)
    .map(([where, spec, ds]) => `${where}.limit (${spec.limit}) is larger than ${ds.name} (${ds.size} samples${spec.classes ? ' of the chosen classes' : ''}): the whole set is used`);
}
