import { Rng } from '../util/rng';
import { Batch, Dataset, ImageShape } from './dataset';
import { applyTransforms, TransformSpec, transformedShape } from './transforms';

export interface LoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch (seeded by `seed` and the epoch number); false keeps index order. */
  shuffle?: boolean;
  seed?: number;
  /** Drop the last, short batch of an epoch. */
  dropLast?: boolean;
  transforms?: readonly TransformSpec[];
  /** How many batches to read ahead of the one being consumed (0 = none). */
  prefetch?: number;
}

/**
 * Batches over a Dataset: a seeded shuffle per epoch, a fixed batch size, the
 * dataset's transforms (random ones seeded per epoch and batch, so the result
 * does not depend on timing), and reading `prefetch` batches ahead so that file
 * reads and image decoding (libuv / sharp threads) overlap the caller's compute.
 */
export class DataLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly transforms: readonly TransformSpec[];
  readonly prefetch: number;
  /** The shape of the batches produced (after transforms). */
  readonly shape: ImageShape;
  /** Batch reads started, for tests and diagnostics. */
  started = 0;

  constructor(
    readonly dataset: Dataset,
    o: LoaderOptions,
  ) {
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${o.batchSize}`);
    this.batchSize = o.batchSize;
    this.shuffle = o.shuffle ?? true;
    this.seed = o.seed ?? 0;
    this.dropLast = o.dropLast ?? false;
    this.transforms = o.transforms ?? [];
    this.prefetch = Math.max(0, Math.floor(o.prefetch ?? 2));
    this.shape = transformedShape(dataset.shape, this.transforms, `dataset "${dataset.name}": transforms`);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.size;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of an epoch. */
  order(epoch: number): number[] {
    const n = this.dataset.size;
    return this.shuffle ? Rng.derive(this.seed, `loader:${this.dataset.name}:epoch:${epoch}`).permutation(n) : Array.from({ length: n }, (_, i) => i);
  }

  private load(indices: number[], epoch: number, k: number): Promise<Batch> {
    this.started++;
    const rng = Rng.derive(this.seed, `augment:${this.dataset.name}:${epoch}:${k}`);
    return this.dataset.read(indices).then((b) => (this.transforms.length ? applyTransforms(b, this.transforms, rng) : b));
  }

  /** The batches of one epoch, from batch `from` on (a run resumed inside an epoch skips what it trained). */
  async *epoch(epoch = 0, from = 0): AsyncGenerator<Batch, void, undefined> {
    const order = this.order(epoch);
    const count = this.length;
    const queue: Promise<Batch>[] = [];
    let next = from;
    const fill = (target: number): void => {
      while (next < count && queue.length < target) {
        const p = this.load(order.slice(next * this.batchSize, (next + 1) * this.batchSize), epoch, next);
        p.catch(() => undefined); // reported when awaited; avoids an unhandled rejection if the consumer stops early
        queue.push(p);
        next++;
      }
    };
    try {
      for (;;) {
        fill(1);
        const p = queue.shift();
        if (!p) return;
        fill(this.prefetch); // the next `prefetch` batches load while the caller works on this one
        yield await p;
      }
    } finally {
      queue.length = 0;
    }
  }

  /**
   * Batches without end, epoch after epoch starting at `startEpoch` (e.g. an auxiliary set drawn alongside
   * the ID set), less the first `skip` batches of that stream.
   */
  async *forever(startEpoch = 0, skip = 0): AsyncGenerator<Batch & { epoch: number }, never, undefined> {
    if (this.length === 0) throw new RangeError(`dataset "${this.dataset.name}" has fewer samples (${this.dataset.size}) than one batch (${this.batchSize})`);
    let from = skip % this.length;
    for (let e = startEpoch + Math.floor(skip / this.length); ; e++) {
      for await (const b of this.epoch(e, from)) yield { ...b, epoch: e };
      from = 0;
    }
  }
}
