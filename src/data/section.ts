import { ConfigReader } from '../config/reader';
import { UserError } from '../util/errors';
import { Dataset } from './dataset';
import { DatasetSpec, openDataset, parseDatasetSpec } from './spec';
import { transformedShape } from './transforms';

/**
 * The `data:` section of a config:
 *   id:  { train: SPEC, test: SPEC }   in-distribution data (labelled)
 *   aux: SPEC                          auxiliary outliers for training (optional)
 *   ood: [SPEC, ...]                   OOD test sets, each with a `name`
 */
export interface DataSection {
  id: { train: DatasetSpec; test: DatasetSpec };
  aux?: DatasetSpec;
  ood: DatasetSpec[];
}

export function parseDataSection(r: ConfigReader): DataSection {
  const id = r.object('id', true);
  const section: DataSection = {
    id: {
      train: parseDatasetSpec(id.object('train', true), 'id-train'),
      test: parseDatasetSpec(id.object('test', true), 'id-test'),
    },
    ood: r.objectList('ood').map((o, i) => parseDatasetSpec(o, `ood-${i}`)),
  };
  id.done();
  if (r.has('aux')) section.aux = parseDatasetSpec(r.object('aux'), 'aux');
  else r.object('aux');
  const names = new Set<string>();
  for (const [i, s] of section.ood.entries()) {
    if (names.has(s.name)) r.fail(`ood[${i}].name`, `"${s.name}" is used twice; OOD sets need distinct names`);
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
 * Opens every dataset of the section and checks that they agree: one image
 * shape for all (the model sees them all), and the ID test labels within the
 * ID training classes.
 */
export async function openDataSection(s: DataSection, file: string): Promise<OpenedData> {
  const d: OpenedData = {
    idTrain: await openDataset(s.id.train),
    idTest: await openDataset(s.id.test),
    aux: s.aux ? await openDataset(s.aux) : undefined,
    ood: await Promise.all(s.ood.map((o) => openDataset(o))),
  };
  const all: [string, Dataset, DatasetSpec][] = [
    ['data.id.train', d.idTrain, s.id.train],
    ['data.id.test', d.idTest, s.id.test],
    ...(d.aux && s.aux ? [['data.aux', d.aux, s.aux] as [string, Dataset, DatasetSpec]] : []),
    ...d.ood.map((o, i): [string, Dataset, DatasetSpec] => [`data.ood[${i}]`, o, s.ood[i]]),
  ];
  // the shape the model sees: after each set's transforms
  const shapes = all.map(([p, ds, spec]) => transformedShape(ds.shape, spec.transforms ?? [], `${file}: ${p}.transforms`).join('x'));
  const ref = shapes[0];
  if (shapes.some((sh) => sh !== ref)) {
    throw new UserError(`${file}: datasets differ in image shape (after transforms): ${all.map(([p, ds], i) => `${p} (${ds.name}) is ${shapes[i]}`).join(', ')}; add resize / grayscale / to_rgb transforms so that all match data.id.train (${ref})`);
  }
  if (d.idTrain.numClasses < 2) throw new UserError(`${file}: data.id.train (${d.idTrain.name}) must be labelled with at least 2 classes, it has ${d.idTrain.numClasses}`);
  return d;
}
