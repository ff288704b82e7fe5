/**
 * Filters rearranged for a kernel (flipped, cut into stride phases), kept per
 * source filter. Conv2DBackpropInput rearranges the layer's weights on every
 * call, twice per layer in a GReg step, and every new filter tensor also makes
 * XNNPACK pack its weights again; for ResNet-18's 3x3x512x512 filters at a
 * small spatial size this took longer than the convolution. An entry is freed
 * once its source filter's data is disposed (checked at every lookup), which
 * happens to the weights at each optimizer step.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type AnyBackend, release } from './wasm-call';

const cache = new Map<object, Map<string, TensorInfo[]>>();

interface DataStorage {
  has(dataId: object): boolean;
}

/** Frees the entries of filters whose data the backend no longer holds. */
function purge(backend: AnyBackend): void {
  const live = (backend as { dataIdMap: DataStorage }).dataIdMap;
  for (const [id, byKey] of cache) {
    if (live.has(id)) continue;
    for (const infos of byKey.values()) release(backend, ...infos);
    cache.delete(id);
  }
}

/**
 * The tensors `make` derives from `filter` for layout `key` (everything the
 * result depends on besides the filter's values), made once per filter data.
 * The caller must not release them.
 */
export function derivedFilters(filter: TensorInfo, key: string, backend: AnyBackend, make: () => TensorInfo[]): TensorInfo[] {
  purge(backend);
  let byKey = cache.get(filter.dataId);
  if (byKey === undefined) {
    byKey = new Map();
    cache.set(filter.dataId, byKey);
  }
  let infos = byKey.get(key);
  if (infos === undefined) {
    infos = make();
    byKey.set(key, infos);
  }
  return infos;
}
