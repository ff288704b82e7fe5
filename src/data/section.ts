import { ConfigReader } from '../config/reader';
import { CHECK_MODES, CheckedSet, CheckMode, checkDataset } from './check';
import { UserError } from '../util/errors';
import { Dataset } from './dataset';
import { DatasetSpec, openDataset, parseDatasetSpec } from './spec';
import { TransformedDataset, transformedShape } from './transforms';
import { Rng } from '../util/rng';

/**
 * The `data:` section of a config:
 *   id:  { train: SPEC, test: SPEC }   in-distribution data (labelled)
 *   aux: SPEC                          auxiliary outliers for training (optional)
 *   ood: [SPEC, ...]                   OOD test sets, each with a `name` and optionally a `group`
 *                                      (e.g. near, far: metrics.csv then averages per group too)
 */
export interface DataSection {
  id: { train: DatasetSpec; test: DatasetSpec };
  aux?: DatasetSpec;
  ood: DatasetSpec[];
  /** How the sets are checked before training (src/data/check.ts): every sample, or a sample of each set. */
  check: CheckMode;
}

export function parseDataSection(r: ConfigReader): DataSection {
  const id = r.object('id', true);
  const section: DataSection = {
    id: {
      train: parseDatasetSpec(id.object('train', true), 'id-train'),
      test: parseDatasetSpec(id.object('test', true), 'id-test'),
    },
    ood: r.objectList('ood').map((o, i) => {
      // Read first, so that the entry's own reader knows the key.
      const group = o.optionalString('group');
      if (group !== undefined && !/^[A-Za-z0-9._-]+$/.test(group)) o.fail('group', `use letters, digits, '.', '_' or '-' (it names the metrics.csv row average:${group}), got ${JSON.stringify(group)}`);
      const spec = parseDatasetSpec(o, `ood-${i}`);
      return group === undefined ? spec : { ...spec, group };
    }),
    check: r.oneOf('check', CHECK_MODES, 'full'),
  };
  id.done();
  if (r.has('aux')) section.aux = parseDatasetSpec(r.object('aux'), 'aux');
  else r.object('aux');
  const names = new Set<string>();
  for (const [i, s] of section.ood.entries()) {
    if (names.has(s.name)) r.fail(`ood[${i}].name`, `"${s.name}" is used twice; OOD sets need distinct names`);
    if (s.name === 'average' || s.name.startsWith('average:')) r.fail(`ood[${i}].name`, `"${s.name}" is reserved for the rows of averages in metrics.csv; rename the set`);
    names.add(s.name);
  }
  r.done();
  return section;
}

/** The opened datasets of a data section. */
export interface OpenedData {
  idTrain: Dataset;
  idTest: Dataset;
  aux?: Dataset;
  ood: Dataset[];
}

/**
 * Opens every dataset of the section, each wrapped in its `transforms` (so reads
 * return what the model sees; random transforms draw from an Rng derived from
 * `seed` and the set's role, in read order), and checks that they agree: one
 * image shape for all after transforms, and the ID training set labelled.
 */
export async function openDataSection(s: DataSection, file: string, seed = 0): Promise<OpenedData> {
  const wrap = async (spec: DatasetSpec, where: string): Promise<Dataset> => {
    const ds = await openDataset(spec);
    const list = spec.transforms ?? [];
    if (!list.length) return ds;
    transformedShape(ds.shape, list, `${file}: ${where}.transforms`); // names the config path on an impossible list
    return new TransformedDataset(ds, list, Rng.derive(seed, `transforms:${where}`).getState());
  };
  const d: OpenedData = {
    idTrain: await wrap(s.id.train, 'data.id.train'),
    idTest: await wrap(s.id.test, 'data.id.test'),
    aux: s.aux ? await wrap(s.aux, 'data.aux') : undefined,
    ood: await Promise.all(s.ood.map((o, i) => wrap(o, `data.ood[${i}]`))),
  };
  const all = sectionSets(s, d).map(([p, , ds]): [string, Dataset] => [p, ds]);
  const ref = d.idTrain.shape.join('x');
  const off = all.filter(([, ds]) => ds.shape.join('x') !== ref);
  if (off.length) {
    throw new UserError(`${file}: datasets differ in image shape (after transforms): ${all.map(([p, ds]) => `${p} (${ds.name}) is ${ds.shape.join('x')}`).join(', ')}; add resize / grayscale / to_rgb transforms so that all match data.id.train (${ref})`);
  }
  if (d.idTrain.numClasses < 2) throw new UserError(`${file}: data.id.train (${d.idTrain.name}) must be labelled with at least 2 classes, it has ${d.idTrain.numClasses}`);
  return d;
}

/** Every set of the section with its config path and entry: `[where, spec, dataset]`. */
export function sectionSets(s: DataSection, d: OpenedData): [string, DatasetSpec, Dataset][] {
  return [
    ['data.id.train', s.id.train, d.idTrain],
    ['data.id.test', s.id.test, d.idTest],
    ...(s.aux && d.aux ? [['data.aux', s.aux, d.aux] as [string, DatasetSpec, Dataset]] : []),
    ...s.ood.map((o, i): [string, DatasetSpec, Dataset] => [`data.ood[${i}]`, o, d.ood[i]]),
  ];
}

/**
 * Checks every opened set before training (labels, readability, finite pixels; see src/data/check.ts),
 * in `mode` (default: the section's `check`). `progress(label)` gives a callback for long checks.
 */
export async function checkDataSection(
  s: DataSection,
  d: OpenedData,
  mode: CheckMode = s.check,
  progress: (label: string) => (done: number, total: number) => void = () => () => undefined,
): Promise<CheckedSet[]> {
  const out: CheckedSet[] = [];
  for (const [where, spec, ds] of sectionSets(s, d)) out.push(await checkDataset(ds, spec, where, mode, progress(`checking ${where} (${ds.name})`)));
  return out;
}
