import { Batch, Dataset, checkIndices } from './dataset';

/**
 * A view of `base` restricted to `indices`, optionally mapping labels through
 * `relabel` (old label -> new label), e.g. to turn digits 0..5 into classes 0..5
 * or classes [3, 7] into [0, 1].
 */
export class SubsetDataset implements Dataset {
  readonly shape;

  constructor(
    readonly name: string,
    readonly base: Dataset,
    readonly indices: readonly number[],
    readonly numClasses: number,
    private readonly relabel?: ReadonlyMap<number, number>,
  ) {
    this.shape = base.shape;
  }

  get size(): number {
    return this.indices.length;
  }

  async labels(): Promise<Int32Array> {
    const all = await this.base.labels();
    return Int32Array.from(this.indices, (i) => {
      const y = all[i];
      return this.relabel ? (this.relabel.get(y) ?? -1) : y;
    });
  }

  async read(indices: readonly number[]): Promise<Batch> {
    checkIndices(this.name, this.indices.length, indices);
    const mapped = indices.map((i) => this.indices[i]);
    const batch = await this.base.read(mapped);
    if (this.relabel) {
      for (let i = 0; i < batch.n; i++) batch.y[i] = this.relabel.get(batch.y[i]) ?? -1;
    }
    return batch;
  }
}
