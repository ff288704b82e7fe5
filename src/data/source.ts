import { Dataset } from './dataset';
import { ImageFolderDataset } from './image-folder';
import { SubsetDataset } from './subset';
import { TransformedDataset } from './transforms';

/** Where a sample comes from: its index in the reader's own order (the file or split), and its image file if any. */
export interface SampleSource {
  index: number;
  path?: string;
}

/**
 * The source of sample `i` of `ds`, through subsets (classes, limit) and transforms, so that a
 * per-sample output can be joined back to the data it was computed on.
 */
export function sampleSource(ds: Dataset, i: number): SampleSource {
  if (ds instanceof TransformedDataset) return sampleSource(ds.base, i);
  if (ds instanceof SubsetDataset) return sampleSource(ds.base, ds.indices[i]);
  if (ds instanceof ImageFolderDataset) return { index: i, path: ds.files[i] };
  return { index: i };
}
