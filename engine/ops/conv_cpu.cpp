// CPU convolution by im2col + OpenBLAS GEMM: forward, backward-data (GEMM + col2im),
// backward-weight (im2col + GEMM) and the bias gradient. How images are spread over GEMMs and
// threads is decided by make_plan (measurements there).
#include <algorithm>
#include <type_traits>

#include "engine/cpu/blas.h"
#include "engine/cpu/parallel.h"
#include "engine/dtype.h"
#include "engine/ops/detail/conv_cpu.h"

namespace nkd::ops::detail {
namespace {

// Zeros column q of rows [p0, p1) of a [P, Q] block: a strided loop, so the compiler does not turn
// it into one memset call per row (the padding border is 1-2 values wide; the calls cost 3-4% of
// the Fashion-MNIST demo step).
template <typename T>
void zero_column(T* block, int64_t Q, int64_t q, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) block[p * Q + q] = T(0);
}

// The im2col rows of one channel: col [R*S, ld], col[r*S + s][p*Q + q] =
// x [H, W] at (p*stride_h - pad_h + r*dil_h, q*stride_w - pad_w + s*dil_w), 0 outside.
template <typename T>
void im2col_plane(const ConvGeom& g, const T* x, T* col, int64_t ld) {
  const int64_t P = g.p, Q = g.q;
  for (int64_t r = 0; r < g.r; ++r) {
    int64_t p0, p1;
    valid_range(r * g.dil_h - g.pad_h, g.stride_h, g.h, P, p0, p1);
    for (int64_t s = 0; s < g.s; ++s) {
      const int64_t off_w = s * g.dil_w - g.pad_w;
      int64_t q0, q1;
      valid_range(off_w, g.stride_w, g.w, Q, q0, q1);
      T* dst = col + (r * g.s + s) * ld;
      std::fill(dst, dst + p0 * Q, T(0));
      for (int64_t p = p0; p < p1; ++p) {
        const T* row = x + (p * g.stride_h + r * g.dil_h - g.pad_h) * g.w;
        T* d = dst + p * Q;
        if (g.stride_w == 1) {  // a plain loop: inlined and vectorized (std::copy calls memmove per row)
          const T* src = row + off_w;
          for (int64_t q = q0; q < q1; ++q) d[q] = src[q];
        } else {
          for (int64_t q = q0; q < q1; ++q) d[q] = row[q * g.stride_w + off_w];
        }
      }
      for (int64_t q = 0; q < q0; ++q) zero_column(dst, Q, q, p0, p1);
      for (int64_t q = q1; q < Q; ++q) zero_column(dst, Q, q, p0, p1);
      std::fill(dst + p1 * Q, dst + P * Q, T(0));
    }
  }
}

// The adjoint of im2col_plane: x [H, W] = sum of the col entries that read each pixel.
template <typename T>
void col2im_plane(const ConvGeom& g, const T* col, int64_t ld, T* x) {
  std::fill(x, x + g.h * g.w, T(0));
  for (int64_t r = 0; r < g.r; ++r) {
    int64_t p0, p1;
    valid_range(r * g.dil_h - g.pad_h, g.stride_h, g.h, g.p, p0, p1);
    for (int64_t s = 0; s < g.s; ++s) {
      const int64_t off_w = s * g.dil_w - g.pad_w;
      int64_t q0, q1;
      valid_range(off_w, g.stride_w, g.w, g.q, q0, q1);
      for (int64_t p = p0; p < p1; ++p) {
        T* row = x + (p * g.stride_h + r * g.dil_h - g.pad_h) * g.w;
        const T* src = col + (r * g.s + s) * ld + p * g.q;
        if (g.stride_w == 1) {  // unit stride: a loop the compiler vectorizes
          T* dst = row + off_w;
          for (int64_t q = q0; q < q1; ++q) dst[q] += src[q];
        } else {
          for (int64_t q = q0; q < q1; ++q) row[q * g.stride_w + off_w] += src[q];
        }
      }
    }
  }
}

// Runs fn(image, channel) over the nb * channels planes of a chunk, in parallel.
template <typename Fn>
void for_planes(int64_t nb, int64_t channels, int64_t plane_work, const Fn& fn) {
  cpu::parallel_for(nb * channels, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(plane_work, 1)),
                    [&](int64_t b, int64_t e) {
                      for (int64_t i = b; i < e; ++i) fn(i / channels, i % channels);
                    });
}

// The im2col matrix [C*R*S, nb*P*Q] of images [n0, n0 + nb): x itself for one pointwise image,
// else written to col.
template <typename T>
const T* columns(const ConvGeom& g, const T* x, int64_t n0, int64_t nb, T* col) {
  const int64_t hw = g.h * g.w, pq = g.p * g.q, ld = nb * pq;
  if (nb == 1 && g.pointwise()) return x + n0 * g.c * hw;
  for_planes(nb, g.c, g.r * g.s * pq, [&](int64_t i, int64_t c) {
    im2col_plane(g, x + ((n0 + i) * g.c + c) * hw, col + c * g.r * g.s * ld + i * pq, ld);
  });
  return col;
}

// dy of images [n0, n0 + nb) as one [K, nb*P*Q] matrix: dy itself for one image, else packed.
template <typename T>
const T* packed_dy(const ConvGeom& g, const T* dy, int64_t n0, int64_t nb, T* pack) {
  const int64_t pq = g.p * g.q, ld = nb * pq;
  if (nb == 1) return dy + n0 * g.k * pq;
  for_planes(nb, g.k, pq, [&](int64_t i, int64_t k) {
    const T* src = dy + ((n0 + i) * g.k + k) * pq;
    std::copy(src, src + pq, pack + k * ld + i * pq);
  });
  return pack;
}

// How the GEMM path splits the work: the batch is cut into `tasks` ranges of images, one per thread,
// each running im2col and single-threaded GEMMs on its own buffers: one parallel region per pass.
// (Measured on the 2-core AMD EPYC below while other jobs kept it loaded, load average ~10: there
// each fork/join can wait a scheduler time slice; the 1x1/2 64->128 56x56 weight gradient, batch 8,
// took 192 ms with two parallel regions per image and 20 ms with one region per pass.)
// Within a range, `images` images share one GEMM so that it has about kChunkCols columns. With fewer
// images than threads (N = 1) there is one task and the GEMM and im2col loops split over the
// threads instead. The weight gradient sums one partial per task, so its last bits depend on the
// thread count (as the GEMMs' do with any threaded BLAS).
struct Plan {
  int64_t tasks;       // image ranges run in parallel
  int64_t images;      // images per GEMM
  int64_t col_elems;   // per task: the im2col matrix [C*R*S, images*P*Q]
  int64_t pack_elems;  // per task: the packed output (gradient) [K, images*P*Q], when images > 1
  int64_t part_elems;  // per task but the first: its partial weight gradient [K, C/G*R*S]

  int64_t task_elems() const { return col_elems + pack_elems + part_elems; }
};

Plan make_plan(const ConvGeom& g) {
  // Output pixels per GEMM. F32 GFLOP/s (forward / backward-data / backward-weight), batch 8, one
  // thread, best of 20, 2-core AMD EPYC (AVX-512) under load, per image vs chunks of ~512 vs ~4096:
  //   3x3 128->128 28x28:  37/46/45   34/42/40   29/32/30
  //   3x3 256->256 14x14:  44/57/52   32/37/37   28/41/36
  //   3x3 512->512 7x7:    33/28/39   54/37/41   36/44/39
  // so images are grouped only when small (7x7: 4 per GEMM).
  constexpr int64_t kChunkCols = 192;
  constexpr int64_t kMinTaskMacs = int64_t{1} << 21;  // below this per task, forking costs more
  const int64_t pq = std::max<int64_t>(g.p * g.q, 1), n = std::max<int64_t>(g.n, 1);
  const int64_t macs = n * g.k * pq * (g.c / g.groups) * g.r * g.s;
  Plan pl{};
  pl.tasks = std::clamp<int64_t>(macs / kMinTaskMacs, 1, std::min(n, cpu::max_threads()));
  const int64_t per_task = (n + pl.tasks - 1) / pl.tasks, wanted = (kChunkCols + pq - 1) / pq;
  const int64_t chunks = (per_task + wanted - 1) / wanted;  // per task, then balanced
  pl.images = (per_task + chunks - 1) / chunks;
  pl.col_elems = g.c * g.r * g.s * pl.images * pq;
  pl.pack_elems = pl.images > 1 ? g.k * pl.images * pq : 0;
  pl.part_elems = pl.tasks > 1 ? g.k * (g.c / g.groups) * g.r * g.s : 0;
  return pl;
}

// Runs fn(task, n0, nb, task_workspace) for every GEMM chunk [n0, n0 + nb) of the plan, the tasks
// in parallel (or one task with the parallelism inside).
template <typename T, typename Fn>
void for_chunks(const ConvGeom& g, const Plan& pl, T* ws, const Fn& fn) {
  cpu::parallel_for(pl.tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t begin = g.n * t / pl.tasks, end = g.n * (t + 1) / pl.tasks;
      for (int64_t n0 = begin; n0 < end; n0 += pl.images)
        fn(t, n0, std::min(pl.images, end - n0), ws + t * pl.task_elems());
    }
  });
}

// Forward of images [n0, n0 + nb): y_g [K/G, nb*P*Q] = w_g [K/G, C/G*R*S] @ col_g, then the
// epilogue (bias, residual, activation) in the pass that moves each plane to y.
template <typename T>
void forward_chunk(const ConvGeom& g, const Plan& pl, int64_t n0, int64_t nb, const T* x, const T* w,
                   const ConvEpilogue<T>& ep, T* y, T* ws) {
  const int64_t pq = g.p * g.q, ld = nb * pq, kg = g.k / g.groups, crs = g.c / g.groups * g.r * g.s;
  const T* col = columns(g, x, n0, nb, ws);
  T* out = nb == 1 ? y + n0 * g.k * pq : ws + pl.col_elems;  // [K, nb*P*Q]
  for (int64_t grp = 0; grp < g.groups; ++grp)
    cpu::gemm_parallel(false, false, kg, ld, crs, T(1), w + grp * kg * crs, crs, col + grp * crs * ld, ld, T(0),
                       out + grp * kg * ld, ld);
  if (nb == 1 && ep.identity()) return;
  for_planes(nb, g.k, pq, [&](int64_t i, int64_t k) {
    const int64_t plane = ((n0 + i) * g.k + k) * pq;
    apply_epilogue(y + plane, out + k * ld + i * pq, pq, ep.bias ? ep.bias[k] : T(0),
                   ep.residual ? ep.residual + plane : nullptr, ep.act);
  });
}

// Backward of images [n0, n0 + nb), with gy the chunk's output gradient [K, nb*P*Q]:
//   dw_part_g (+)= gy_g @ col_g^T;   dcol_g = w_g^T @ gy_g, dx = col2im(dcol) (dcol is dx itself
// for one pointwise image).
template <typename T>
void backward_chunk(const ConvGeom& g, const Plan& pl, int64_t n0, int64_t nb, bool first, const T* dy,
                    const T* x, const T* w, T* dx, T* dw_part, T* ws) {
  const int64_t pq = g.p * g.q, ld = nb * pq, hw = g.h * g.w, kg = g.k / g.groups;
  const int64_t crs = g.c / g.groups * g.r * g.s;
  const T* gy = packed_dy(g, dy, n0, nb, ws + pl.col_elems);
  if (dw_part) {
    const T* col = columns(g, x, n0, nb, ws);
    for (int64_t grp = 0; grp < g.groups; ++grp)
      cpu::gemm_parallel(false, true, kg, crs, ld, T(1), gy + grp * kg * ld, ld, col + grp * crs * ld, ld,
                         first ? T(0) : T(1), dw_part + grp * kg * crs, crs);
  }
  if (!dx) return;
  const bool direct = nb == 1 && g.pointwise();
  T* dcol = direct ? dx + n0 * g.c * hw : ws;
  for (int64_t grp = 0; grp < g.groups; ++grp)
    cpu::gemm_parallel(true, false, crs, ld, kg, T(1), w + grp * kg * crs, crs, gy + grp * kg * ld, ld, T(0),
                       dcol + grp * crs * ld, ld);
  if (direct) return;
  for_planes(nb, g.c, g.r * g.s * pq, [&](int64_t i, int64_t c) {
    col2im_plane(g, dcol + c * g.r * g.s * ld + i * pq, ld, dx + ((n0 + i) * g.c + c) * hw);
  });
}

}  // namespace

int64_t conv_workspace_elems(const ConvGeom& g, bool f32) {
  if (g.depthwise()) return 0;
  if (f32 && conv3x3_direct_applicable(g)) return conv3x3_direct_workspace_elems(g);
  if (f32 && conv3x3s2_direct_applicable(g)) return conv3x3s2_direct_workspace_elems(g);
  const Plan pl = make_plan(g);
  return pl.tasks * pl.task_elems();
}

template <typename T>
void conv2d_forward_cpu(const ConvGeom& g, const T* x, const T* w, const ConvEpilogue<T>& ep, T* y, T* ws) {
  if (g.depthwise()) return depthwise_forward_cpu(g, x, w, ep, y);
  if constexpr (std::is_same_v<T, float>) {
    const bool s1 = conv3x3_direct_applicable(g);
    if (s1 || conv3x3s2_direct_applicable(g)) {
      // the bias goes in with the sums
      (s1 ? conv3x3_direct_forward : conv3x3s2_direct_forward)(g, x, w, ep.bias, y, ws);
      if (!ep.residual && ep.act == Act::kNone) return;
      const int64_t plane = g.p * g.q;  // then residual and activation, one pass per output plane
      cpu::parallel_for(g.n * g.k, std::max<int64_t>(1, cpu::kGrain / plane), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          apply_epilogue(y + i * plane, y + i * plane, plane, T(0), ep.residual ? ep.residual + i * plane : nullptr,
                         ep.act);
      });
      return;
    }
  }
  const Plan pl = make_plan(g);
  for_chunks(g, pl, ws, [&](int64_t, int64_t n0, int64_t nb, T* task_ws) {
    forward_chunk(g, pl, n0, nb, x, w, ep, y, task_ws);
  });
}

// dw = sum over tasks of their partial sums (task 0 writes dw itself), added in task order.
template <typename T>
void conv2d_backward_cpu(const ConvGeom& g, const T* dy, const T* x, const T* w, T* dx, T* dw, T* ws) {
  if (g.depthwise()) {
    if (dx) depthwise_backward_data_cpu(g, dy, w, dx);
    if (dw) depthwise_backward_weight_cpu(g, dy, x, dw);
    return;
  }
  if constexpr (std::is_same_v<T, float>)
  {
    if (conv3x3_direct_applicable(g)) return conv3x3_direct_backward(g, dy, x, w, dx, dw, ws);
    if (conv3x3s2_direct_applicable(g)) return conv3x3s2_direct_backward(g, dy, x, w, dx, dw, ws);
  }
  const Plan pl = make_plan(g);
  for_chunks(g, pl, ws, [&](int64_t t, int64_t n0, int64_t nb, T* task_ws) {
    T* part = !dw ? nullptr : t == 0 ? dw : task_ws + pl.col_elems + pl.pack_elems;
    backward_chunk(g, pl, n0, nb, n0 == g.n * t / pl.tasks, dy, x, w, dx, part, task_ws);
  });
  if (!dw || pl.tasks == 1) return;
  const int64_t n = pl.part_elems, stride = pl.task_elems();
  const T* parts = ws + pl.col_elems + pl.pack_elems;
  cpu::parallel_for(n, cpu::kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      double acc = dw[i];
      for (int64_t t = 1; t < pl.tasks; ++t) acc += parts[t * stride + i];
      dw[i] = static_cast<T>(acc);
    }
  });
}

template <typename T>
void conv2d_backward_bias_cpu(const ConvGeom& g, const T* dy, T* db) {
  const int64_t pq = g.p * g.q;
  cpu::parallel_for(g.k, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(g.n * pq, 1)),
                    [&](int64_t k0, int64_t k1) {
                      for (int64_t k = k0; k < k1; ++k) {
                        double acc = 0;
                        for (int64_t n = 0; n < g.n; ++n) {
                          const T* plane = dy + (n * g.k + k) * pq;
                          for (int64_t j = 0; j < pq; ++j) acc += plane[j];
                        }
                        db[k] = static_cast<T>(acc);
                      }
                    });
}

#define NKD_CONV_CPU_INSTANTIATE(T, D)                                                                \
  template void conv2d_forward_cpu<T>(const ConvGeom&, const T*, const T*, const ConvEpilogue<T>&, T*, T*); \
  template void conv2d_backward_cpu<T>(const ConvGeom&, const T*, const T*, const T*, T*, T*, T*); \
  template void conv2d_backward_bias_cpu<T>(const ConvGeom&, const T*, T*);
NKD_FLOAT_TYPES(NKD_CONV_CPU_INSTANTIATE)
#undef NKD_CONV_CPU_INSTANTIATE

}  // namespace nkd::ops::detail
