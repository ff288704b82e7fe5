/**
 * The `native` TensorFlow.js backend: tensors live in ATen (libtorch) through
 * grodd's addon, kernels (./kernels) call ATen ops. tfjs-core's engine and
 * autograd stay on top, so models, losses and double backprop run unchanged.
 *
 * Each dataId maps to one addon handle. Kernels return new handles (Reshape
 * too, as an ATen view), so a handle's shape is always its TensorInfo's
 * shape; Identity and same-dtype Cast share the dataId (reference counted).
 */
import { DataStorage, KernelBackend, engine, type BackendTimingInfo, type DataId, type DataType, type TensorInfo } from '@tensorflow/tfjs-core';
import { dtypeCode, dtypeOf, type NativeAddon } from './addon';

interface NativeData {
  h: number;
  shape: number[];
  dtype: DataType;
  refCount: number;
}

type Values = Float32Array | Int32Array | Uint8Array;

/** Per output: handle, dtype code, rank, up to 8 dims (grodd_native.cc's emit). */
const META_STRIDE = 11;

export class NativeBackend extends KernelBackend {
  private readonly data: DataStorage<NativeData>;
  /** Where the addon writes each call's output handles, dtypes and shapes. */
  private readonly meta = new Int32Array(META_STRIDE * 4);

  constructor(readonly addon: NativeAddon) {
    super();
    addon.init(this.meta);
    this.data = new DataStorage(this, engine());
  }

  override write(values: unknown, shape: number[], dtype: DataType): DataId {
    const dataId = {};
    this.move(dataId, values, shape, dtype, 1);
    return dataId;
  }

  override move(dataId: DataId, values: unknown, shape: number[], dtype: DataType, refCount: number): void {
    const size = shape.reduce((a, b) => a * b, 1);
    const typed = toTyped(values, size, dtype);
    const h = this.addon.fromArray(typed, shape, dtypeCode(dtype));
    this.data.set(dataId, { h, shape, dtype, refCount });
  }

  override readSync(dataId: DataId): Values {
    return this.addon.toArray(this.data.get(dataId).h);
  }

  override read(dataId: DataId): Promise<Values> {
    return Promise.resolve(this.readSync(dataId));
  }

  override disposeData(dataId: DataId, force = false): boolean {
    if (!this.data.has(dataId)) return true;
    const d = this.data.get(dataId);
    d.refCount--;
    if (!force && d.refCount > 0) return false;
    this.addon.free(d.h);
    this.data.delete(dataId);
    return true;
  }

  override refCount(dataId: DataId): number {
    return this.data.has(dataId) ? this.data.get(dataId).refCount : 0;
  }

  override incRef(dataId: DataId): void {
    if (this.data.has(dataId)) this.data.get(dataId).refCount++;
  }

  override numDataIds(): number {
    return this.data.numDataIds();
  }

  /** Live ATen tensors, the bytes of their distinct storages and the allocator's cache, besides tfjs's own counts. */
  override memory(): { unreliable: boolean; nativeTensors: number; nativeBytes: number; nativeCachedBytes: number } {
    const m = this.addon.memory();
    return { unreliable: false, nativeTensors: m.tensors, nativeBytes: m.bytes, nativeCachedBytes: m.cachedBytes };
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override async time(f: () => void): Promise<BackendTimingInfo> {
    const start = performance.now();
    f();
    return { kernelMs: performance.now() - start };
  }

  /** Nothing to release: tensors are freed by disposeData, and the addon lives as long as the process. */
  override dispose(): void {}

  /** The handle behind a kernel input. */
  handle(t: TensorInfo): number {
    const d = this.data.get(t.dataId);
    if (d.shape.length !== t.shape.length || d.shape.some((s, i) => s !== t.shape[i])) {
      throw new Error(`native backend: tensor data of shape [${d.shape}] used as [${t.shape}]`);
    }
    return d.h;
  }

  /**
   * Registers the addon's output handle `h` as a tensor of `dtype` (casting
   * if ATen's dtype differs, e.g. int64 indices to int32). Its dtype and shape
   * come from the scratch slot 0 when the last call wrote h there, else from
   * asking the addon.
   */
  output(h: number, dtype?: DataType): TensorInfo {
    const m = this.meta;
    if (m[0] !== h) this.addon.meta(h);
    const rank = m[2];
    const shape = new Array<number>(rank);
    for (let i = 0; i < rank; i++) shape[i] = m[3 + i];
    const code = m[1];
    const want = dtype ?? dtypeOf(code);
    if (code !== dtypeCode(want)) {
      const cast = castHandle(this.addon, h, want);
      this.addon.free(h);
      h = cast;
    }
    const dataId = {};
    this.data.set(dataId, { h, shape, dtype: want, refCount: 1 });
    return { dataId, shape, dtype: want };
  }

  /** A TensorInfo sharing x's data under another dtype label (no copy; for no-op casts). */
  share(x: TensorInfo): TensorInfo {
    this.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }
}

let toCopy = -1;
/** A copy of h converted to `dtype` (float->int truncates toward zero, x != 0 -> bool, as tfjs). */
export function castHandle(addon: NativeAddon, h: number, dtype: DataType): number {
  if (toCopy < 0) toCopy = addon.op('_to_copy', '');
  return addon.call(toCopy, h, dtypeCode(dtype)) as number;
}

function toTyped(values: unknown, size: number, dtype: DataType): Values {
  if (dtype === 'string' || dtype === 'complex64') {
    throw new Error(`native backend: dtype '${dtype}' is not supported (float32, int32 and bool are)`);
  }
  const Ctor = dtype === 'float32' ? Float32Array : dtype === 'int32' ? Int32Array : Uint8Array;
  if (values == null) return new Ctor(size);
  if (values instanceof Ctor) return values;
  return Ctor.from(values as ArrayLike<number>);
}
