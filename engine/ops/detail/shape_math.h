// Kernel functors of the shape and indexing ops (shape_ops.cpp, shape_index.cpp), shared by the
// CPU loops and the CUDA kernels. All tensors are contiguous, row-major, at most kMaxDims dims.
// Functors that write through an index run one thread per "column" (every coordinate but the
// indexed dim) and walk the indexed dim in order, so duplicates sum (or overwrite) deterministically.
#pragma once
#include <cstdint>

#include "engine/host_device.h"
#include "engine/ops/detail/indexing.h"

namespace nkd::ops::math {

// Index tensor of shape `size` addressing a tensor with strides `xstride` along `dim`.
struct GatherGeometry {
  int ndim = 0, dim = 0;
  int64_t size[kMaxDims] = {};     // the index's shape
  int64_t xstride[kMaxDims] = {};  // strides of the indexed tensor (contiguous)
  int64_t istride[kMaxDims] = {};  // strides of the index (contiguous)

  // Offset in x of index element i, without the indexed dim's term.
  NKD_HD int64_t x_base(int64_t i) const {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t c = i % size[d];
      i /= size[d];
      if (d != dim) off += c * xstride[d];
    }
    return off;
  }
  // Column c (a coordinate for every dim but `dim`): its x offset and first index element.
  NKD_HD void column(int64_t c, int64_t& x_off, int64_t& i_off) const {
    x_off = 0;
    i_off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      if (d == dim) continue;
      const int64_t k = c % size[d];
      c /= size[d];
      x_off += k * xstride[d];
      i_off += k * istride[d];
    }
  }
};

// out[i] = x[i with coordinate `dim` replaced by index[i]]   (torch.gather).
template <typename T>
struct GatherKernel {
  GatherGeometry geo;
  const T* x;              // the indexed tensor
  const int64_t* index;    // [geo.size]
  T* out;                  // [geo.size]
  NKD_HD void operator()(int64_t i) const { out[i] = x[geo.x_base(i) + index[i] * geo.xstride[geo.dim]]; }
};

enum class ScatterMode { Add, Assign, Zero };

// Per column: for j along dim, x[... index ...] (+)= src[j], or = 0. Runs over columns.
template <typename T, ScatterMode kMode>
struct ScatterColumnsKernel {
  GatherGeometry geo;
  const int64_t* index;  // [geo.size]
  const T* src;          // [geo.size]; unused for Zero
  T* x;                  // the indexed tensor, written in place
  NKD_HD void operator()(int64_t c) const {
    int64_t x_off = 0, i_off = 0;
    geo.column(c, x_off, i_off);
    for (int64_t j = 0; j < geo.size[geo.dim]; ++j) {
      const int64_t e = i_off + j * geo.istride[geo.dim];
      T& dst = x[x_off + index[e] * geo.xstride[geo.dim]];
      if constexpr (kMode == ScatterMode::Add) dst += src[e];
      else if constexpr (kMode == ScatterMode::Assign) dst = src[e];
      else dst = T(0);
    }
  }
};

// x viewed as [outer, D, inner], out as [outer, J, inner]: out[o, j, i] = x[o, index[j], i].
struct SelectGeometry {
  int64_t outer = 1, d = 1, j = 1, inner = 1;
};

template <typename T>
struct IndexSelectKernel {
  SelectGeometry geo;
  const T* x;            // [outer, D, inner]
  const int64_t* index;  // [J]
  T* out;                // [outer, J, inner]
  NKD_HD void operator()(int64_t e) const {
    const int64_t i = e % geo.inner, j = (e / geo.inner) % geo.j, o = e / (geo.inner * geo.j);
    out[e] = x[(o * geo.d + index[j]) * geo.inner + i];
  }
};

// gx[o, index[j], i] += g[o, j, i], j in order; runs over the outer * inner columns.
template <typename T>
struct IndexAddKernel {
  SelectGeometry geo;
  const T* g;            // [outer, J, inner]
  const int64_t* index;  // [J]
  T* gx;                 // [outer, D, inner], zero-initialised
  NKD_HD void operator()(int64_t c) const {
    const int64_t o = c / geo.inner, i = c % geo.inner;
    for (int64_t j = 0; j < geo.j; ++j)
      gx[(o * geo.d + index[j]) * geo.inner + i] += g[(o * geo.j + j) * geo.inner + i];
  }
};

// The same sums per gx element: gx[o, k, i] = the sum over j with index[j] == k of g[o, j, i], in
// j order from zero: IndexAddKernel's additions in its order, so both give the same bits. Each
// thread scans the whole index, which pays on the GPU when D * J is small and the columns few
// (Swin's relative position bias: D = 169, J = 2401, 3-24 columns walking 2401 steps each).
template <typename T>
struct IndexAddScanKernel {
  SelectGeometry geo;
  const T* g;            // [outer, J, inner]
  const int64_t* index;  // [J]
  T* gx;                 // [outer, D, inner]
  NKD_HD void operator()(int64_t e) const {
    const int64_t i = e % geo.inner, k = (e / geo.inner) % geo.d, o = e / (geo.inner * geo.d);
    T acc = T(0);
    for (int64_t j = 0; j < geo.j; ++j)
      if (index[j] == k) acc += g[(o * geo.j + j) * geo.inner + i];
    gx[e] = acc;
  }
};
// IndexAddScanKernel's work is D * J per column: the GPU uses it up to this.
inline constexpr int64_t kIndexAddScanMaxWork = int64_t{1} << 20;

// out[n, c] = (index[n] == c) for n < N, c < C.
template <typename T>
struct OneHotKernel {
  int64_t classes = 1;
  const int64_t* index;  // [N]
  T* out;                // [N, C]
  NKD_HD void operator()(int64_t e) const { out[e] = index[e / classes] == e % classes ? T(1) : T(0); }
};

// Per-dim source coordinates for roll and pad: out coordinate k maps to input k - left[d]
// (pad; outside [0, in) gives `value`) or (k - shift[d]) mod size[d] (roll).
struct ShiftGeometry {
  int ndim = 0;
  int64_t out_size[kMaxDims] = {};
  int64_t in_size[kMaxDims] = {};
  int64_t shift[kMaxDims] = {};  // roll: in [0, size); pad: the left padding (may be negative)
  bool fast = false;             // outputs below 2^31 elements: 32-bit divisions by out_div
  FastDivmod out_div[kMaxDims];

  // Sets fast and out_div from out_size (host; after out_size is final).
  void prepare_division() {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= out_size[d];
    fast = n < (int64_t{1} << 31);
    for (int d = 0; fast && d < ndim; ++d)
      out_div[d] = FastDivmod(static_cast<uint32_t>(out_size[d] > 0 ? out_size[d] : 1));
  }
  // The coordinate of dim d in the flat output index `rest`, which becomes rest / out_size[d].
  NKD_HD int64_t next_coordinate(int d, int64_t& rest) const {
    if (fast) {
      const uint32_t r = static_cast<uint32_t>(rest), q = out_div[d].div(r);
      rest = q;
      return r - q * out_div[d].divisor;
    }
    const int64_t k = rest % out_size[d];
    rest /= out_size[d];
    return k;
  }
};

template <typename T>
struct RollKernel {
  ShiftGeometry geo;
  const T* x;  // [in_size]
  T* y;        // [out_size] == [in_size]
  NKD_HD void operator()(int64_t e) const {
    int64_t src = 0, stride = 1, rest = e;
    for (int d = geo.ndim - 1; d >= 0; --d) {
      const int64_t n = geo.in_size[d], k = geo.next_coordinate(d, rest);
      const int64_t s = k >= geo.shift[d] ? k - geo.shift[d] : k - geo.shift[d] + n;
      src += s * stride;
      stride *= n;
    }
    y[e] = x[src];
  }
};

template <typename T>
struct PadKernel {
  ShiftGeometry geo;
  T value;
  const T* x;  // [in_size]
  T* y;        // [out_size]
  NKD_HD void operator()(int64_t e) const {
    int64_t src = 0, stride = 1, rest = e;
    for (int d = geo.ndim - 1; d >= 0; --d) {
      const int64_t k = geo.next_coordinate(d, rest);
      const int64_t s = k - geo.shift[d];
      if (s < 0 || s >= geo.in_size[d]) {
        y[e] = value;
        return;
      }
      src += s * stride;
      stride *= geo.in_size[d];
    }
    y[e] = x[src];
  }
};

}  // namespace nkd::ops::math

// The functors the shape ops launch (nkd::launch), X(functor type) for element type T:
// shape_cuda.cu builds the data movers for every type of dispatch_all (NKD_ALL_FLOAT_TYPES and
// NKD_INT_TYPES) and the accumulating ones for NKD_FLOAT_TYPES. A new functor adds its entry here.
#define NKD_SHAPE_DATA_KERNELS(X, T) \
  X(GatherKernel<T>) X(IndexSelectKernel<T>) X(OneHotKernel<T>) X(RollKernel<T>) X(PadKernel<T>)
#define NKD_SHAPE_FLOAT_KERNELS(X, T)                                   \
  X(ScatterColumnsKernel<T, ::nkd::ops::math::ScatterMode::Assign>)     \
  X(ScatterColumnsKernel<T, ::nkd::ops::math::ScatterMode::Add>)        \
  X(ScatterColumnsKernel<T, ::nkd::ops::math::ScatterMode::Zero>)       \
  X(IndexAddKernel<T>) X(IndexAddScanKernel<T>)
