/** Image shape as [height, width, channels] (NHWC without the batch). */
export type ImageShape = [number, number, number];

/** A batch of images in NHWC float32 and their labels (-1 where a set is unlabelled). */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  n: number;
  shape: ImageShape;
}

/**
 * A finite, indexable set of images. Readers may stream from disk, so reading
 * is asynchronous and by index; nothing requires the whole set in memory.
 */
export interface Dataset {
  readonly name: string;
  readonly size: number;
  readonly shape: ImageShape;
  /** Number of classes for a labelled set; 0 for an unlabelled one (e.g. noise, an OOD folder). */
  readonly numClasses: number;
  read(indices: readonly number[]): Promise<Batch>;
  /** Every sample's label in index order (-1 for unlabelled), without decoding images. */
  labels(): Promise<Int32Array>;
}

/** A dataset held in memory. */
export class ArrayDataset implements Dataset {
  constructor(
    readonly name: string,
    readonly shape: ImageShape,
    readonly x: Float32Array,
    readonly y: Int32Array,
    readonly numClasses: number,
  ) {
    const per = shape[0] * shape[1] * shape[2];
    if (x.length !== y.length * per) {
      throw new Error(`ArrayDataset ${name}: ${x.length} pixel values do not make ${y.length} images of ${shape.join('x')}`);
    }
  }

  get size(): number {
    return this.y.length;
  }

  async labels(): Promise<Int32Array> {
    return this.y;
  }

  async read(indices: readonly number[]): Promise<Batch> {
    return gatherBatch(this.x, this.y, this.shape, indices, this.name);
  }
}

/** Checks batch indices, naming the dataset. */
export function checkIndices(name: string, size: number, indices: readonly number[]): void {
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= size) {
      throw new RangeError(`${name}: sample index ${i} is out of range [0, ${size})`);
    }
  }
}

/** Copies the images at `indices` out of flat NHWC arrays. */
export function gatherBatch(
  x: Float32Array,
  y: Int32Array,
  shape: ImageShape,
  indices: readonly number[],
  name: string,
): Batch {
  checkIndices(name, y.length, indices);
  const per = shape[0] * shape[1] * shape[2];
  const out = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  indices.forEach((idx, i) => {
    out.set(x.subarray(idx * per, (idx + 1) * per), i * per);
    labels[i] = y[idx];
  });
  return { x: out, y: labels, n: indices.length, shape };
}
