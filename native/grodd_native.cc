// grodd's native addon: ATen (libtorch) tensors and ops behind a small Node-API
// surface, for the TensorFlow.js `native` backend in src/engine/native/.
//
// Tensors live in a table here and JavaScript holds integer handles (no GC
// objects per tensor: tfjs disposes explicitly). Ops are called through
// ATen's boxed dispatcher by schema name, with each JavaScript argument
// converted by the type the schema declares, so that one entry point serves
// every op; only the convolutions, whose NHWC/HWIO <-> NCHW/OIHW layout and
// asymmetric padding need care, have entry points of their own.
//
// After each call the handle, dtype and shape of the first outputs are
// written to a shared Int32Array (see emit), so JavaScript learns them
// without another call.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/api/include/torch/version.h>
#include <node_api.h>

#include <c10/core/CPUAllocator.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

// ---- the tensor table -------------------------------------------------------

std::vector<at::Tensor> g_tensors{at::Tensor()};  // handle 0 is never used
std::vector<int32_t> g_free;
int64_t g_live = 0;
c10::Device g_device(c10::kCPU);
// The ATen-op forms that other devices (CUDA) use, also on the CPU: lets the tests check them here.
bool g_generic = false;

int32_t put(at::Tensor t) {
  g_live++;
  if (!g_free.empty()) {
    int32_t h = g_free.back();
    g_free.pop_back();
    g_tensors[h] = std::move(t);
    return h;
  }
  g_tensors.push_back(std::move(t));
  return static_cast<int32_t>(g_tensors.size() - 1);
}

const at::Tensor& get(int32_t h) {
  if (h <= 0 || static_cast<size_t>(h) >= g_tensors.size() || !g_tensors[h].defined()) {
    throw std::runtime_error("invalid tensor handle " + std::to_string(h));
  }
  return g_tensors[h];
}

void release(int32_t h) {
  if (h <= 0 || static_cast<size_t>(h) >= g_tensors.size() || !g_tensors[h].defined()) return;
  g_tensors[h] = at::Tensor();
  g_free.push_back(h);
  g_live--;
}


// ---- a caching CPU allocator -----------------------------------------------------
//
// A training step allocates the same tensor sizes every time. glibc hands
// blocks above its mmap threshold back to the kernel on free and page-faults
// them in again on the next allocation, which left memory-bound kernels
// several times slower than their arithmetic. Freed blocks of 64 KiB and more
// are kept here for reuse (PyTorch's CUDA allocator does the same on the GPU)
// in size classes of 1/8 of a power of two, up to GRODD_CPU_CACHE_MB (default
// 4096) cached bytes; below that malloc serves as before. oneDNN's scratch
// buffers come through here too (ATen routes them to the CPU allocator).

class CachingCpuAllocator final : public c10::Allocator {
 public:
  static constexpr size_t kMinCached = size_t{1} << 16;
  static constexpr size_t kAlignment = 64;

  c10::DataPtr allocate(size_t n) const override {
    void* p = take(n);
    return {p, p, &CachingCpuAllocator::release, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::release; }

  /** Frees every cached block. */
  void emptyCache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& entry : free_) {
      for (void* p : entry.second) std::free(p);
    }
    free_.clear();
    cached_ = 0;
  }
  size_t cachedBytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }
  void setLimit(size_t bytes) { limit_ = bytes; }

 private:
  static size_t sizeClass(size_t n) {
    if (n < kMinCached) return (n + kAlignment - 1) / kAlignment * kAlignment;
    const size_t top = size_t{1} << (63 - __builtin_clzll(n));
    const size_t step = top / 8;
    return (n + step - 1) / step * step;
  }

  void* take(size_t n) const {
    if (n == 0) return nullptr;
    const size_t size = sizeClass(n);
    if (size >= kMinCached) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        sizes_[p] = size;
        return p;
      }
    }
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, size) != 0) {
      const_cast<CachingCpuAllocator*>(this)->emptyCache();
      if (posix_memalign(&p, kAlignment, size) != 0) {
        TORCH_CHECK(false, "out of memory: could not allocate ", size, " bytes");
      }
    }
    if (size >= kMinCached) {
      std::lock_guard<std::mutex> lock(mu_);
      sizes_[p] = size;
    }
    return p;
  }

  static void release(void* p);
  void give(void* p) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) {
      lock.unlock();
      std::free(p);
      return;
    }
    const size_t size = it->second;
    sizes_.erase(it);
    if (cached_ + size > limit_) {
      lock.unlock();
      std::free(p);
      return;
    }
    free_[size].push_back(p);
    cached_ += size;
  }

  mutable std::mutex mu_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable size_t cached_ = 0;
  size_t limit_ = size_t{4096} << 20;
};

CachingCpuAllocator g_allocator;

void CachingCpuAllocator::release(void* p) {
  if (p != nullptr) g_allocator.give(p);
}

/** Installs the allocator (once), with the cache limit from GRODD_CPU_CACHE_MB. */
void installAllocator() {
  static bool done = false;
  if (done) return;
  done = true;
  if (const char* mb = std::getenv("GRODD_CPU_CACHE_MB")) g_allocator.setLimit(static_cast<size_t>(std::atoll(mb)) << 20);
  c10::SetCPUAllocator(&g_allocator, /*priority=*/10);
}

// ---- dtype codes shared with src/engine/native/addon.ts ---------------------

enum Code : int32_t { F32 = 0, I32 = 1, BOOL = 2, I64 = 3, F64 = 4, OTHER = 5 };

at::ScalarType scalarType(int32_t code) {
  switch (code) {
    case F32: return at::kFloat;
    case I32: return at::kInt;
    case BOOL: return at::kBool;
    case I64: return at::kLong;
    case F64: return at::kDouble;
    default: throw std::runtime_error("unknown dtype code " + std::to_string(code));
  }
}

int32_t code(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return F32;
    case at::kInt: return I32;
    case at::kBool: return BOOL;
    case at::kLong: return I64;
    case at::kDouble: return F64;
    default: return OTHER;
  }
}

// ---- the metadata scratch ----------------------------------------------------

constexpr int META_STRIDE = 11;  // per output: handle, dtype, rank, up to 8 dims
constexpr int META_OUTPUTS = 4;
int32_t* g_meta = nullptr;
napi_ref g_meta_ref = nullptr;

/** Stores t under a new handle and writes its handle, dtype and shape to output slot `slot`. */
int32_t emit(int slot, at::Tensor t) {
  const int64_t rank = t.dim();
  if (rank > META_STRIDE - 3) throw std::runtime_error("rank " + std::to_string(rank) + " exceeds 8");
  const int32_t h = put(t);
  if (g_meta == nullptr || slot >= META_OUTPUTS) return h;
  int32_t* m = g_meta + slot * META_STRIDE;
  m[0] = h;
  m[1] = code(t.scalar_type());
  m[2] = static_cast<int32_t>(rank);
  for (int64_t i = 0; i < rank; i++) m[3 + i] = static_cast<int32_t>(t.size(i));
  return h;
}

// ---- Node-API helpers --------------------------------------------------------

struct JsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(napi_env env, napi_status s, const char* what) {
  if (s != napi_ok) throw JsError(std::string("Node-API call failed: ") + what);
}

int64_t toInt(napi_env env, napi_value v) {
  int64_t r;
  check(env, napi_get_value_int64(env, v, &r), "expected an integer");
  return r;
}

double toDouble(napi_env env, napi_value v) {
  double r;
  check(env, napi_get_value_double(env, v, &r), "expected a number");
  return r;
}

bool toBool(napi_env env, napi_value v) {
  bool r;
  check(env, napi_get_value_bool(env, v, &r), "expected a boolean");
  return r;
}

std::string toString(napi_env env, napi_value v) {
  size_t n;
  check(env, napi_get_value_string_utf8(env, v, nullptr, 0, &n), "expected a string");
  std::string s(n, '\0');
  check(env, napi_get_value_string_utf8(env, v, s.data(), n + 1, &n), "expected a string");
  return s;
}

napi_valuetype typeOf(napi_env env, napi_value v) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t), "typeof");
  return t;
}

bool isNullish(napi_env env, napi_value v) {
  napi_valuetype t = typeOf(env, v);
  return t == napi_null || t == napi_undefined;
}

uint32_t arrayLength(napi_env env, napi_value v) {
  uint32_t n;
  check(env, napi_get_array_length(env, v, &n), "expected an array");
  return n;
}

napi_value element(napi_env env, napi_value arr, uint32_t i) {
  napi_value e;
  check(env, napi_get_element(env, arr, i, &e), "array element");
  return e;
}

std::vector<int64_t> toInts(napi_env env, napi_value v) {
  const uint32_t n = arrayLength(env, v);
  std::vector<int64_t> r(n);
  for (uint32_t i = 0; i < n; i++) r[i] = toInt(env, element(env, v, i));
  return r;
}

napi_value fromInt(napi_env env, int64_t x) {
  napi_value r;
  check(env, napi_create_int64(env, x, &r), "create int");
  return r;
}

napi_value fromDouble(napi_env env, double x) {
  napi_value r;
  check(env, napi_create_double(env, x, &r), "create number");
  return r;
}

napi_value fromString(napi_env env, const std::string& s) {
  napi_value r;
  check(env, napi_create_string_utf8(env, s.data(), s.size(), &r), "create string");
  return r;
}

napi_value undefinedValue(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

/** Reads up to `max` arguments; the count read goes to *argc. */
std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t max, size_t* argc) {
  std::vector<napi_value> v(max);
  *argc = max;
  check(env, napi_get_cb_info(env, info, argc, v.data(), nullptr, nullptr), "arguments");
  return v;
}

/** The tensor a handle argument names. */
const at::Tensor& tensorArg(napi_env env, napi_value v) { return get(static_cast<int32_t>(toInt(env, v))); }

/** Emits each tensor (output slot i) and returns their handles as an array. */
napi_value emitAll(napi_env env, const std::vector<at::Tensor>& ts) {
  napi_value arr;
  check(env, napi_create_array_with_length(env, ts.size(), &arr), "create array");
  for (size_t i = 0; i < ts.size(); i++) check(env, napi_set_element(env, arr, i, fromInt(env, emit(static_cast<int>(i), ts[i]))), "set element");
  return arr;
}

/** Runs f, turning C++ and ATen errors into JavaScript exceptions. */
template <typename F>
napi_value guarded(napi_env env, F&& f) {
  try {
    c10::InferenceMode inference;  // no autograd bookkeeping: tfjs-core differentiates
    return f();
  } catch (const c10::Error& e) {
    napi_throw_error(env, "GRODD_NATIVE", e.what_without_backtrace());
  } catch (const std::exception& e) {
    napi_throw_error(env, "GRODD_NATIVE", e.what());
  }
  return nullptr;
}

// ---- tensors in and out ------------------------------------------------------

/** fromArray(typedArray, shape, dtype) -> handle: copies the values into a new tensor. */
napi_value FromArray(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 3, &argc);
    if (argc != 3) throw JsError("fromArray(values, shape, dtype)");
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value buffer;
    size_t offset;
    check(env, napi_get_typedarray_info(env, a[0], &type, &length, &data, &buffer, &offset), "expected a typed array");
    const auto shape = toInts(env, a[1]);
    const at::ScalarType st = scalarType(static_cast<int32_t>(toInt(env, a[2])));
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
    const size_t bytes = t.numel() * t.element_size();
    size_t given = length;
    switch (type) {
      case napi_float32_array: case napi_int32_array: case napi_uint32_array: given *= 4; break;
      case napi_uint8_array: case napi_int8_array: case napi_uint8_clamped_array: break;
      case napi_float64_array: given *= 8; break;
      default: throw JsError("unsupported typed array");
    }
    if (given != bytes) {
      throw JsError("fromArray: " + std::to_string(given) + " bytes given for a tensor of " + std::to_string(bytes));
    }
    if (bytes > 0) std::memcpy(t.data_ptr(), data, bytes);
    if (g_device != c10::Device(c10::kCPU)) t = t.to(g_device);
    return fromInt(env, emit(0, std::move(t)));
  });
}

/** toArray(handle) -> Float32Array | Int32Array | Uint8Array of its values, row-major. */
napi_value ToArray(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 1, &argc);
    at::Tensor t = tensorArg(env, a[0]);
    if (t.scalar_type() == at::kLong || t.scalar_type() == at::kDouble) {
      t = t.to(t.scalar_type() == at::kLong ? at::kInt : at::kFloat);
    }
    t = t.to(c10::kCPU).contiguous();
    const size_t n = t.numel();
    const size_t bytes = n * t.element_size();
    void* out;
    napi_value ab;
    check(env, napi_create_arraybuffer(env, bytes, &out, &ab), "allocate result");
    if (bytes > 0) std::memcpy(out, t.data_ptr(), bytes);
    napi_typedarray_type type = t.scalar_type() == at::kFloat ? napi_float32_array
                                : t.scalar_type() == at::kInt ? napi_int32_array
                                                               : napi_uint8_array;
    if (t.scalar_type() != at::kFloat && t.scalar_type() != at::kInt && t.scalar_type() != at::kBool) {
      throw JsError(std::string("toArray: unsupported dtype ") + c10::toString(t.scalar_type()));
    }
    napi_value arr;
    check(env, napi_create_typedarray(env, type, n, ab, 0, &arr), "create typed array");
    return arr;
  });
}

/** free(h, ...) releases handles (unknown or already-freed handles are ignored). */
napi_value Free(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 32, &argc);
    for (size_t i = 0; i < argc; i++) release(static_cast<int32_t>(toInt(env, a[i])));
    return undefinedValue(env);
  });
}

/** alias(h) -> a new handle to the same tensor (shares its storage). */
napi_value Alias(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 1, &argc);
    return fromInt(env, emit(0, tensorArg(env, a[0])));
  });
}

/** meta(h): writes h, its dtype and shape to slot 0 of the metadata scratch. */
napi_value Meta(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 1, &argc);
    const int32_t h = static_cast<int32_t>(toInt(env, a[0]));
    const at::Tensor& t = get(h);
    if (g_meta != nullptr) {
      g_meta[0] = h;
      g_meta[1] = code(t.scalar_type());
      g_meta[2] = static_cast<int32_t>(t.dim());
      for (int64_t i = 0; i < t.dim() && i < META_STRIDE - 3; i++) g_meta[3 + i] = static_cast<int32_t>(t.size(i));
    }
    return undefinedValue(env);
  });
}

// ---- boxed op calls ----------------------------------------------------------

std::vector<c10::OperatorHandle> g_ops;

/** op(name, overload) -> op id, or throws if ATen has no such schema. */
napi_value Op(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 2, &argc);
    const std::string name = "aten::" + toString(env, a[0]);
    const std::string overload = argc > 1 ? toString(env, a[1]) : "";
    auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
    if (!handle.has_value()) throw JsError("ATen has no operator " + name + (overload.empty() ? "" : "." + overload));
    g_ops.push_back(*handle);
    return fromInt(env, static_cast<int64_t>(g_ops.size() - 1));
  });
}

/** schema(opId) -> the schema's text, for error messages and tests. */
napi_value Schema(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 1, &argc);
    const auto id = toInt(env, a[0]);
    if (id < 0 || static_cast<size_t>(id) >= g_ops.size()) throw JsError("unknown op id");
    return fromString(env, c10::toString(g_ops[id].schema()));
  });
}

c10::IValue toIValue(napi_env env, napi_value v, const c10::TypePtr& type);

c10::IValue toListIValue(napi_env env, napi_value v, const c10::TypePtr& elem) {
  const uint32_t n = arrayLength(env, v);
  switch (elem->kind()) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      c10::List<int64_t> l;
      l.reserve(n);
      for (uint32_t i = 0; i < n; i++) l.push_back(toInt(env, element(env, v, i)));
      return l;
    }
    case c10::TypeKind::FloatType: {
      c10::List<double> l;
      for (uint32_t i = 0; i < n; i++) l.push_back(toDouble(env, element(env, v, i)));
      return l;
    }
    case c10::TypeKind::BoolType: {
      c10::List<bool> l;
      for (uint32_t i = 0; i < n; i++) l.push_back(toBool(env, element(env, v, i)));
      return l;
    }
    case c10::TypeKind::TensorType: {
      c10::List<at::Tensor> l;
      l.reserve(n);
      for (uint32_t i = 0; i < n; i++) l.push_back(get(static_cast<int32_t>(toInt(env, element(env, v, i)))));
      return l;
    }
    default:
      throw JsError("unsupported list element type " + elem->str());
  }
}

c10::IValue toIValue(napi_env env, napi_value v, const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::OptionalType:
      if (isNullish(env, v)) return c10::IValue();
      return toIValue(env, v, type->castRaw<c10::OptionalType>()->getElementType());
    case c10::TypeKind::TensorType:
      return get(static_cast<int32_t>(toInt(env, v)));
    case c10::TypeKind::ScalarTypeType:  // given as a dtype code (see Code)
      return static_cast<int64_t>(scalarType(static_cast<int32_t>(toInt(env, v))));
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
    case c10::TypeKind::LayoutType:
    case c10::TypeKind::MemoryFormatType:
      return toInt(env, v);
    case c10::TypeKind::FloatType:
      return toDouble(env, v);
    case c10::TypeKind::BoolType:
      return toBool(env, v);
    case c10::TypeKind::NumberType: {
      // A Scalar: integral JavaScript numbers become integer scalars, so that
      // int32 tensors stay int32 (as tfjs's do); anything else is a double.
      if (typeOf(env, v) == napi_boolean) return toBool(env, v);
      const double d = toDouble(env, v);
      if (std::isfinite(d) && d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
      return d;
    }
    case c10::TypeKind::ListType:
      return toListIValue(env, v, type->castRaw<c10::ListType>()->getElementType());
    case c10::TypeKind::DeviceObjType:
      return c10::Device(toString(env, v));
    case c10::TypeKind::StringType:
      return toString(env, v);
    default:
      throw JsError("unsupported argument type " + type->str());
  }
}

napi_value fromIValue(napi_env env, const c10::IValue& v, int slot) {
  if (v.isTensor()) return fromInt(env, emit(slot, v.toTensor()));
  if (v.isInt()) return fromInt(env, v.toInt());
  if (v.isDouble()) return fromDouble(env, v.toDouble());
  if (v.isBool()) {
    napi_value r;
    napi_get_boolean(env, v.toBool(), &r);
    return r;
  }
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    napi_value arr;
    check(env, napi_create_array_with_length(env, list.size(), &arr), "create array");
    for (size_t i = 0; i < list.size(); i++) {
      check(env, napi_set_element(env, arr, i, fromInt(env, emit(static_cast<int>(i), list.get(i)))), "set element");
    }
    return arr;
  }
  if (v.isNone()) return undefinedValue(env);
  throw JsError("unsupported return type " + v.tagKind());
}

/**
 * call(opId, ...args): runs the op. Missing trailing arguments take the
 * schema's defaults; factory ops without a device get the current device.
 * Returns a handle (or number) for one output, an array for several.
 */
napi_value Call(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 24, &argc);
    if (argc < 1) throw JsError("call(opId, ...args)");
    const auto id = toInt(env, a[0]);
    if (id < 0 || static_cast<size_t>(id) >= g_ops.size()) throw JsError("unknown op id");
    const c10::OperatorHandle& op = g_ops[id];
    const auto& schema = op.schema();
    const auto& params = schema.arguments();
    if (argc - 1 > params.size()) throw JsError("too many arguments for " + c10::toString(schema));
    torch::jit::Stack stack;
    stack.reserve(params.size());
    for (size_t i = 0; i < params.size(); i++) {
      const auto& p = params[i];
      if (i + 1 < argc && !(isNullish(env, a[i + 1]) && p.default_value().has_value())) {
        try {
          stack.push_back(toIValue(env, a[i + 1], p.real_type()));
        } catch (const JsError& e) {
          throw JsError(std::string(e.what()) + " for argument '" + p.name() + "' of " + c10::toString(schema));
        }
      } else if (p.type()->kind() == c10::TypeKind::OptionalType &&
                 p.type()->castRaw<c10::OptionalType>()->getElementType()->kind() == c10::TypeKind::DeviceObjType) {
        stack.push_back(g_device);
      } else if (p.default_value().has_value()) {
        stack.push_back(*p.default_value());
      } else {
        throw JsError("missing argument '" + p.name() + "' of " + c10::toString(schema));
      }
    }
    op.callBoxed(&stack);
    if (stack.size() == 1) return fromIValue(env, stack[0], 0);
    napi_value arr;
    check(env, napi_create_array_with_length(env, stack.size(), &arr), "create array");
    for (size_t i = 0; i < stack.size(); i++) {
      check(env, napi_set_element(env, arr, i, fromIValue(env, stack[i], static_cast<int>(i))), "set element");
    }
    return arr;
  });
}

// ---- convolutions --------------------------------------------------------------
//
// tfjs tensors are NHWC, filters HWIO. ATen takes NCHW logical shapes: an NHWC
// buffer permuted to NCHW is a channels-last tensor, for which ATen picks
// oneDNN's channels-last kernels with no copy; `nchw` instead copies to plain
// NCHW first (faster for small maps with many channels, see conv-layout.ts).
// Padding is [top, bottom, left, right]; ATen pads symmetrically, so an
// asymmetric padding is applied to the input first (or cropped from the input
// gradient).

struct ConvGeom {
  std::vector<int64_t> stride, dilation, pad;  // pad: top, bottom, left, right
  bool nchw;
  bool symmetric() const { return pad[0] == pad[1] && pad[2] == pad[3]; }
  std::vector<int64_t> atenPad() const {
    return symmetric() ? std::vector<int64_t>{pad[0], pad[2]} : std::vector<int64_t>{0, 0};
  }
};

ConvGeom geom(napi_env env, napi_value stride, napi_value dilation, napi_value pad, napi_value nchw) {
  ConvGeom g{toInts(env, stride), toInts(env, dilation), toInts(env, pad), toBool(env, nchw)};
  if (g.stride.size() != 2 || g.dilation.size() != 2 || g.pad.size() != 4) throw JsError("conv geometry: stride[2], dilation[2], pad[4]");
  return g;
}

/** NHWC tensor -> NCHW logical view (channels-last strides), or a plain NCHW copy. */
at::Tensor toNchw(const at::Tensor& x, const ConvGeom& g) {
  at::Tensor v = x.permute({0, 3, 1, 2});
  return g.nchw ? v.contiguous() : v.contiguous(at::MemoryFormat::ChannelsLast);
}

/** NCHW result -> NHWC contiguous tensor. */
at::Tensor toNhwc(const at::Tensor& y) { return y.permute({0, 2, 3, 1}).contiguous(); }

at::Tensor padInput(const at::Tensor& x, const ConvGeom& g) {
  if (g.symmetric()) return x;
  return at::constant_pad_nd(x, {0, 0, g.pad[2], g.pad[3], g.pad[0], g.pad[1]}, 0);
}

/** HWIO filter -> OIHW in the memory format the input uses. */
at::Tensor toOihw(const at::Tensor& w, const ConvGeom& g) {
  at::Tensor v = w.permute({3, 2, 0, 1});
  return g.nchw ? v.contiguous() : v.contiguous(at::MemoryFormat::ChannelsLast);
}

at::MemoryFormat format(const ConvGeom& g) { return g.nchw ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast; }

/** conv2d(x, filter, stride, dilation, pad, nchw) -> y (NHWC). */
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 6, &argc);
    if (argc != 6) throw JsError("conv2d(x, filter, stride, dilation, pad, nchw)");
    const at::Tensor& x = tensorArg(env, a[0]);
    const at::Tensor& w = tensorArg(env, a[1]);
    const ConvGeom g = geom(env, a[2], a[3], a[4], a[5]);
    at::Tensor y = at::convolution(toNchw(padInput(x, g), g), toOihw(w, g), {}, g.stride, g.atenPad(), g.dilation, false, {0, 0}, 1);
    at::Tensor out = toNhwc(y);
    return fromInt(env, emit(0, std::move(out)));
  });
}

/** conv2dBackpropInput(dy, filter, inputShape NHWC, stride, dilation, pad, nchw) -> dx (NHWC). */
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 7, &argc);
    if (argc != 7) throw JsError("conv2dBackpropInput(dy, filter, inputShape, stride, dilation, pad, nchw)");
    const at::Tensor& dy = tensorArg(env, a[0]);
    const at::Tensor& w = tensorArg(env, a[1]);
    const auto s = toInts(env, a[2]);
    const ConvGeom g = geom(env, a[3], a[4], a[5], a[6]);
    if (s.size() != 4) throw JsError("inputShape must be [N, H, W, C]");
    const int64_t h = s[1] + (g.symmetric() ? 0 : g.pad[0] + g.pad[1]);
    const int64_t wd = s[2] + (g.symmetric() ? 0 : g.pad[2] + g.pad[3]);
    // Only the input's shape and memory format are read.
    at::Tensor shapeOnly = at::empty({s[0], s[3], h, wd}, dy.options().memory_format(format(g)));
    auto grads = at::convolution_backward(toNchw(dy, g), shapeOnly, toOihw(w, g), c10::nullopt, g.stride, g.atenPad(),
                                          g.dilation, false, {0, 0}, 1, {true, false, false});
    at::Tensor dx = std::get<0>(grads).permute({0, 2, 3, 1});
    if (!g.symmetric()) dx = dx.slice(1, g.pad[0], g.pad[0] + s[1]).slice(2, g.pad[2], g.pad[2] + s[2]);
    dx = dx.contiguous();
    return fromInt(env, emit(0, std::move(dx)));
  });
}

/** conv2dBackpropFilter(x, dy, filterShape HWIO, stride, dilation, pad, nchw) -> dw (HWIO). */
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 7, &argc);
    if (argc != 7) throw JsError("conv2dBackpropFilter(x, dy, filterShape, stride, dilation, pad, nchw)");
    const at::Tensor& x = tensorArg(env, a[0]);
    const at::Tensor& dy = tensorArg(env, a[1]);
    const auto f = toInts(env, a[2]);
    const ConvGeom g = geom(env, a[3], a[4], a[5], a[6]);
    if (f.size() != 4) throw JsError("filterShape must be [kh, kw, in, out]");
    at::Tensor shapeOnly = at::empty({f[3], f[2], f[0], f[1]}, x.options().memory_format(format(g)));
    auto grads = at::convolution_backward(toNchw(dy, g), toNchw(padInput(x, g), g), shapeOnly, c10::nullopt, g.stride,
                                          g.atenPad(), g.dilation, false, {0, 0}, 1, {false, true, false});
    at::Tensor dw = std::get<1>(grads).permute({2, 3, 1, 0}).contiguous();
    return fromInt(env, emit(0, std::move(dw)));
  });
}


// ---- batch normalisation (training mode) -------------------------------------------
//
// On NHWC tensors over all axes but the channels (M = N·H·W values each). The
// forward and backward passes are ATen's fused kernels on the channels-last
// view; the double backward (the gradient of the backward pass, which the
// gradient regularizer differentiates) is two loops here, with
// x̂ = (x − μ)·r, E[·] the per-channel mean, P(v) = v − E[v] − x̂·E[v·x̂],
// upstream a (for dx), b (for dγ), c (for dβ), and K = E[a·g] − E[a]E[g] − E[a·x̂]E[g·x̂]:
//   d/dg = γ r P(a) + b x̂ + c
//   d/dx = −γ r² (x̂ K + E[a·x̂] P(g) + E[g·x̂] P(a)) + b r P(g)
//   d/dγ = M r K

at::Tensor nchwView(const at::Tensor& x) { return x.permute({0, 3, 1, 2}); }

/** bnTrain(x, gamma, beta, eps) -> [y, mean, biased variance, invstd]. */
napi_value BnTrain(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 4, &argc);
    if (argc != 4) throw JsError("bnTrain(x, gamma, beta, eps)");
    const at::Tensor& x = tensorArg(env, a[0]);
    const at::Tensor& gamma = tensorArg(env, a[1]);
    const at::Tensor& beta = tensorArg(env, a[2]);
    const double eps = toDouble(env, a[3]);
    if (x.dim() != 4) throw JsError("bnTrain: x must be NHWC");
    const int64_t c = x.size(3);
    const int64_t m = x.numel() / std::max<int64_t>(c, 1);
    // With momentum 1 the "running" buffers receive this batch's mean and unbiased variance.
    at::Tensor mean = at::zeros({c}, x.options());
    at::Tensor var = at::ones({c}, x.options());
    auto out = at::native_batch_norm(nchwView(x).contiguous(at::MemoryFormat::ChannelsLast), gamma, beta, mean, var, true, 1.0, eps);
    at::Tensor y = std::get<0>(out).permute({0, 2, 3, 1}).contiguous();
    if (m > 1) var.mul_(static_cast<double>(m - 1) / static_cast<double>(m));
    else var.zero_();
    return emitAll(env, {y, mean, var, std::get<2>(out)});
  });
}

/** bnBackward(dy, x, gamma, mean, invstd, eps) -> [dx, dgamma, dbeta]. */
napi_value BnBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 6, &argc);
    if (argc != 6) throw JsError("bnBackward(dy, x, gamma, mean, invstd, eps)");
    const at::Tensor& dy = tensorArg(env, a[0]);
    const at::Tensor& x = tensorArg(env, a[1]);
    const at::Tensor& gamma = tensorArg(env, a[2]);
    const at::Tensor& mean = tensorArg(env, a[3]);
    const at::Tensor& invstd = tensorArg(env, a[4]);
    const double eps = toDouble(env, a[5]);
    const auto cl = at::MemoryFormat::ChannelsLast;
    auto out = at::native_batch_norm_backward(nchwView(dy).contiguous(cl), nchwView(x).contiguous(cl), gamma, c10::nullopt, c10::nullopt, mean,
                                              invstd, true, eps, {true, true, true});
    return emitAll(env, {std::get<0>(out).permute({0, 2, 3, 1}).contiguous(), std::get<1>(out), std::get<2>(out)});
  });
}

/** bnDoubleBackward(a, b, c, dy, x, gamma, mean, invstd) -> [d/d dy, d/dx, d/dgamma] (see above). */
napi_value BnDoubleBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto v = args(env, info, 8, &argc);
    if (argc != 8) throw JsError("bnDoubleBackward(a, b, c, dy, x, gamma, mean, invstd)");
    auto tensor = [&](int i) { return tensorArg(env, v[i]).contiguous(); };
    const at::Tensor ga = tensor(0), gb = tensor(1), gc = tensor(2), g = tensor(3), x = tensor(4), gamma = tensor(5), mu = tensor(6), r = tensor(7);
    if (x.dim() != 4 || x.scalar_type() != at::kFloat) throw JsError("bnDoubleBackward: float32 NHWC tensors");
    const int64_t c = x.size(3);
    const int64_t m = x.numel() / c;
    if (!x.is_cpu() || g_generic) {
      // Other devices (CUDA): the same formulas as ATen ops.
      const std::vector<int64_t> axes{0, 1, 2};
      const at::Tensor xh = (x - mu) * r;
      const at::Tensor ea = ga.mean(axes), eg = g.mean(axes), eax = (ga * xh).mean(axes), egx = (g * xh).mean(axes), eag = (ga * g).mean(axes);
      const at::Tensor pa = ga - ea - xh * eax, pg = g - eg - xh * egx;
      const at::Tensor k = eag - ea * eg - eax * egx;
      const at::Tensor gr = gamma * r;
      return emitAll(env, {gr * pa + gb * xh + gc, -gr * r * (xh * k + eax * pg + egx * pa) + gb * r * pg, r * k * static_cast<double>(m)});
    }
    const float* __restrict A = ga.data_ptr<float>();
    const float* __restrict G = g.data_ptr<float>();
    const float* __restrict X = x.data_ptr<float>();
    const float* B = gb.data_ptr<float>();
    const float* Cc = gc.data_ptr<float>();
    const float* Gm = gamma.data_ptr<float>();
    const float* Mu = mu.data_ptr<float>();
    const float* R = r.data_ptr<float>();
    // Pass 1: per-channel sums of a, g, a·x̂, g·x̂, a·g: in float over blocks of
    // rows (so the channel loop vectorises), the blocks added in double.
    // Each chunk's sums are kept apart and added in the order of the chunks, so
    // that the result does not depend on which thread finishes first.
    std::map<int64_t, std::vector<double>> partial;
    std::mutex mu_sums;
    at::parallel_for(0, m, 256, [&](int64_t begin, int64_t end) {
      std::vector<double> s(5 * c, 0.0);
      std::vector<float> blk(5 * c);
      float* __restrict sa = blk.data();
      float* __restrict sg = sa + c;
      float* __restrict sax = sg + c;
      float* __restrict sgx = sax + c;
      float* __restrict sag = sgx + c;
      for (int64_t i0 = begin; i0 < end; i0 += 64) {
        std::fill(blk.begin(), blk.end(), 0.0f);
        for (int64_t i = i0; i < std::min(end, i0 + 64); i++) {
          const float* __restrict a = A + i * c;
          const float* __restrict gg = G + i * c;
          const float* __restrict xx = X + i * c;
          for (int64_t k = 0; k < c; k++) {
            const float xh = (xx[k] - Mu[k]) * R[k];
            sa[k] += a[k];
            sg[k] += gg[k];
            sax[k] += a[k] * xh;
            sgx[k] += gg[k] * xh;
            sag[k] += a[k] * gg[k];
          }
        }
        for (int64_t k = 0; k < 5 * c; k++) s[k] += blk[k];
      }
      std::lock_guard<std::mutex> lock(mu_sums);
      partial[begin] = std::move(s);
    });
    std::vector<double> sums(5 * c, 0.0);
    for (const auto& chunk : partial) {
      for (int64_t k = 0; k < 5 * c; k++) sums[k] += chunk.second[k];
    }
    // Per-channel coefficients.
    std::vector<float> ea(c), eg(c), eax(c), egx(c), kk(c);
    at::Tensor dgamma = at::empty({c}, x.options());
    float* dG = dgamma.data_ptr<float>();
    for (int64_t k = 0; k < c; k++) {
      const double Ea = sums[k] / m, Eg = sums[c + k] / m, Eax = sums[2 * c + k] / m, Egx = sums[3 * c + k] / m, Eag = sums[4 * c + k] / m;
      const double K = Eag - Ea * Eg - Eax * Egx;
      ea[k] = static_cast<float>(Ea);
      eg[k] = static_cast<float>(Eg);
      eax[k] = static_cast<float>(Eax);
      egx[k] = static_cast<float>(Egx);
      kk[k] = static_cast<float>(K);
      dG[k] = static_cast<float>(m * R[k] * K);
    }
    // Pass 2: the two full-size gradients.
    at::Tensor ddy = at::empty_like(x);
    at::Tensor dx = at::empty_like(x);
    float* __restrict dDy = ddy.data_ptr<float>();
    float* __restrict dX = dx.data_ptr<float>();
    at::parallel_for(0, m, 256, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; i++) {
        const int64_t o = i * c;
        for (int64_t k = 0; k < c; k++) {
          const float xh = (X[o + k] - Mu[k]) * R[k];
          const float pa = A[o + k] - ea[k] - xh * eax[k];
          const float pg = G[o + k] - eg[k] - xh * egx[k];
          const float gr = Gm[k] * R[k];
          dDy[o + k] = gr * pa + B[k] * xh + Cc[k];
          dX[o + k] = -gr * R[k] * (xh * kk[k] + eax[k] * pg + egx[k] * pa) + B[k] * R[k] * pg;
        }
      }
    });
    return emitAll(env, {ddy, dx, dgamma});
  });
}


// ---- optimizer updates ---------------------------------------------------------------
//
// One pass over each parameter instead of the eight elementwise kernels (and
// their scalar tensors) the composite update takes; the arithmetic is
// PyTorch's SGD and Adam (L2 weight decay added to the gradient), one float32
// rounding per operation as in the composite form.

const float* floats(const at::Tensor& t) {
  if (t.scalar_type() != at::kFloat || !t.is_contiguous()) throw JsError("optimizer update: float32 contiguous tensors");
  return t.data_ptr<float>();
}

/** sgdUpdate(w, g, buf, lr, momentum, weightDecay, nesterov) -> [w', buf'] (buf 0 and no buf' without momentum). */
napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 7, &argc);
    if (argc != 7) throw JsError("sgdUpdate(w, g, buf, lr, momentum, weightDecay, nesterov)");
    const at::Tensor w = tensorArg(env, a[0]).contiguous();
    const at::Tensor g = tensorArg(env, a[1]).contiguous();
    const float lr = static_cast<float>(toDouble(env, a[3]));
    const float mom = static_cast<float>(toDouble(env, a[4]));
    const float wd = static_cast<float>(toDouble(env, a[5]));
    const bool nesterov = toBool(env, a[6]);
    at::Tensor b = mom > 0 ? tensorArg(env, a[2]).contiguous() : at::Tensor();
    at::Tensor w2, b2;
    if (!w.is_cpu() || g_generic) {
      // Other devices (CUDA): the same arithmetic as ATen ops.
      at::Tensor d = wd != 0 ? g + w * wd : g;
      if (mom > 0) {
        b2 = b * mom + d;
        d = nesterov ? d + b2 * mom : b2;
      }
      w2 = w - d * lr;
      return mom > 0 ? emitAll(env, {w2, b2}) : emitAll(env, {w2});
    }
    w2 = at::empty_like(w);
    if (mom > 0) b2 = at::empty_like(w);
    const float* W = floats(w);
    const float* G = floats(g);
    const float* B = mom > 0 ? floats(b) : nullptr;
    float* W2 = w2.data_ptr<float>();
    float* B2 = mom > 0 ? b2.data_ptr<float>() : nullptr;
    at::parallel_for(0, w.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; i++) {
        float d = wd != 0 ? G[i] + W[i] * wd : G[i];
        if (mom > 0) {
          const float nb = B[i] * mom + d;
          B2[i] = nb;
          d = nesterov ? d + nb * mom : nb;
        }
        W2[i] = W[i] - d * lr;
      }
    });
    return mom > 0 ? emitAll(env, {w2, b2}) : emitAll(env, {w2});
  });
}

/** adamUpdate(w, g, m, v, lr, beta1, beta2, eps, weightDecay, step) -> [w', m', v']. */
napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 10, &argc);
    if (argc != 10) throw JsError("adamUpdate(w, g, m, v, lr, beta1, beta2, eps, weightDecay, step)");
    auto tensor = [&](int i) { return tensorArg(env, a[i]).contiguous(); };
    const at::Tensor w = tensor(0), g = tensor(1), m = tensor(2), v = tensor(3);
    const double lr = toDouble(env, a[4]), beta1 = toDouble(env, a[5]), beta2 = toDouble(env, a[6]);
    const float eps = static_cast<float>(toDouble(env, a[7]));
    const float wd = static_cast<float>(toDouble(env, a[8]));
    const double t = toDouble(env, a[9]);
    const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
    const float c1m = static_cast<float>(1 - beta1), c2m = static_cast<float>(1 - beta2);
    const float sqrtC2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, t)));
    const float stepSize = static_cast<float>(lr / (1 - std::pow(beta1, t)));
    if (!w.is_cpu() || g_generic) {
      // Other devices (CUDA): the same arithmetic as ATen ops.
      const at::Tensor d = wd != 0 ? g + w * wd : g;
      const at::Tensor nm = m * b1 + d * c1m;
      const at::Tensor nv = v * b2 + (d * d) * c2m;
      const at::Tensor nw = w - (nm / (nv.sqrt() / sqrtC2 + eps)) * stepSize;
      return emitAll(env, {nw, nm, nv});
    }
    at::Tensor w2 = at::empty_like(w), m2 = at::empty_like(w), v2 = at::empty_like(w);
    const float *W = floats(w), *G = floats(g), *M = floats(m), *V = floats(v);
    float *W2 = w2.data_ptr<float>(), *M2 = m2.data_ptr<float>(), *V2 = v2.data_ptr<float>();
    at::parallel_for(0, w.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; i++) {
        const float d = wd != 0 ? G[i] + W[i] * wd : G[i];
        const float nm = M[i] * b1 + d * c1m;
        const float nv = V[i] * b2 + (d * d) * c2m;
        M2[i] = nm;
        V2[i] = nv;
        const float denom = std::sqrt(nv) / sqrtC2 + eps;
        W2[i] = W[i] - (nm / denom) * stepSize;
      }
    });
    return emitAll(env, {w2, m2, v2});
  });
}

// ---- the library -----------------------------------------------------------------

/** init(metaInt32Array): keeps the scratch the dtype and shape of outputs are written to. */
napi_value Init(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 1, &argc);
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value buffer;
    size_t offset;
    check(env, napi_get_typedarray_info(env, a[0], &type, &length, &data, &buffer, &offset), "expected an Int32Array");
    if (type != napi_int32_array || length < static_cast<size_t>(META_STRIDE * META_OUTPUTS)) {
      throw JsError("init: the scratch must be an Int32Array of at least 44 elements");
    }
    if (g_meta_ref != nullptr) napi_delete_reference(env, g_meta_ref);
    check(env, napi_create_reference(env, a[0], 1, &g_meta_ref), "keep the scratch");
    g_meta = static_cast<int32_t*>(data);
    return undefinedValue(env);
  });
}

/** setGeneric(on): use the device-generic ATen-op forms of the fused kernels on the CPU too (for tests). */
napi_value SetGeneric(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 1, &argc);
    g_generic = toBool(env, a[0]);
    return undefinedValue(env);
  });
}

/** setThreads(n): ATen's intra-op threads. */
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 1, &argc);
    const int64_t n = toInt(env, a[0]);
    if (n < 1) throw JsError("threads must be >= 1");
    at::set_num_threads(static_cast<int>(n));
    return fromInt(env, at::get_num_threads());
  });
}

/** setDevice('cpu' | 'cuda' | 'cuda:N'): where new tensors are made. */
napi_value SetDevice(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc;
    auto a = args(env, info, 1, &argc);
    c10::Device d(toString(env, a[0]));
    if (d.is_cuda() && !at::hasCUDA()) throw JsError("this libtorch has no CUDA device available");
    g_device = d;
    return fromString(env, g_device.str());
  });
}

void setProp(napi_env env, napi_value obj, const char* key, napi_value v) {
  check(env, napi_set_named_property(env, obj, key, v), key);
}

/** info() -> { torch, threads, device, cuda, cudaDevices, mkldnn, config }. */
napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    napi_value obj;
    check(env, napi_create_object(env, &obj), "create object");
    setProp(env, obj, "torch", fromString(env, TORCH_VERSION));
    setProp(env, obj, "threads", fromInt(env, at::get_num_threads()));
    setProp(env, obj, "device", fromString(env, g_device.str()));
    napi_value b;
    napi_get_boolean(env, at::hasCUDA(), &b);
    setProp(env, obj, "cuda", b);
    napi_get_boolean(env, at::hasMKLDNN(), &b);
    setProp(env, obj, "mkldnn", b);
    setProp(env, obj, "config", fromString(env, at::show_config()));
    return obj;
  });
}

/** memory() -> { tensors, bytes, cachedBytes }: live handles, the bytes of their distinct storages, and the allocator's cache. */
napi_value Memory(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    std::unordered_set<const void*> seen;
    int64_t bytes = 0;
    for (const auto& t : g_tensors) {
      if (!t.defined()) continue;
      const void* impl = t.storage().unsafeGetStorageImpl();
      if (seen.insert(impl).second) bytes += static_cast<int64_t>(t.storage().nbytes());
    }
    napi_value obj;
    check(env, napi_create_object(env, &obj), "create object");
    setProp(env, obj, "tensors", fromInt(env, g_live));
    setProp(env, obj, "bytes", fromInt(env, bytes));
    setProp(env, obj, "cachedBytes", fromInt(env, static_cast<int64_t>(g_allocator.cachedBytes())));
    return obj;
  });
}

/** emptyCache(): returns the allocator's cached blocks, and the heap pages malloc keeps, to the system. */
napi_value EmptyCache(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    g_allocator.emptyCache();
#ifdef __GLIBC__
    // Freed blocks below glibc's (self-raising) mmap threshold stay in its arenas otherwise.
    malloc_trim(0);
#endif
    return undefinedValue(env);
  });
}

napi_value InitModule(napi_env env, napi_value exports) {
  installAllocator();
  const napi_property_descriptor props[] = {
      {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fromArray", nullptr, FromArray, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"toArray", nullptr, ToArray, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"free", nullptr, Free, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"alias", nullptr, Alias, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"meta", nullptr, Meta, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"op", nullptr, Op, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"schema", nullptr, Schema, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"call", nullptr, Call, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnTrain", nullptr, BnTrain, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnBackward", nullptr, BnBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnDoubleBackward", nullptr, BnDoubleBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgdUpdate", nullptr, SgdUpdate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamUpdate", nullptr, AdamUpdate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setGeneric", nullptr, SetGeneric, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setDevice", nullptr, SetDevice, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"memory", nullptr, Memory, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"emptyCache", nullptr, EmptyCache, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, InitModule)
