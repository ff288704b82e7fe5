/**
 * ATen operators by schema name (`aten::name.overload`), resolved to the
 * addon's op ids once, on first use. Arguments follow the schema: tensors as
 * handles, int[] as arrays, ScalarType as a dtype code, null for None or a
 * default (see grodd_native.cc's toIValue).
 */
import { loadAddon, type NativeAddon } from './addon';

let addon: NativeAddon | undefined;

/** The loaded addon (kernels only run once the backend, and so the addon, exists). */
export function nativeAddon(): NativeAddon {
  if (addon) return addon;
  const a = loadAddon();
  if ('why' in a) throw new Error(`native backend: ${a.why}`);
  addon = a;
  return a;
}

/** An op of one output: returns its handle (or number). */
export function aten(name: string, overload = ''): (...args: unknown[]) => number {
  let id = -1;
  return (...args: unknown[]): number => {
    const a = nativeAddon();
    if (id < 0) id = a.op(name, overload);
    return a.call(id, ...args) as number;
  };
}

/** An op of several outputs (or a tensor list): returns their handles. */
export function atenMulti(name: string, overload = ''): (...args: unknown[]) => number[] {
  let id = -1;
  return (...args: unknown[]): number[] => {
    const a = nativeAddon();
    if (id < 0) id = a.op(name, overload);
    return a.call(id, ...args) as number[];
  };
}

/** Frees intermediate handles. */
export function free(...hs: number[]): void {
  nativeAddon().free(...hs);
}
