// Batch norm's CPU kernels (detail/batch_norm_cpu.h): channel c of x viewed as contiguous [N, C, L]
// over its M = N L elements, parallel over channels; statistics two-pass in double. The residual add
// and the activation of batch_norm_act ride in the same passes over memory (issue 17: batch norm,
// ReLU and the residual add were ~18% of the Fashion-MNIST demo step as separate passes).
#include "engine/ops/detail/batch_norm_cpu.h"

#include <memory>
#include <type_traits>

#include "engine/dtype.h"
#include "engine/ops/detail/batch_norm_math.h"
#include "engine/ops/detail/elementwise_math.h"

namespace nkd::ops::detail {
namespace {

// The identity activation, with relu's and relu6's interface (math::Relu, math::Relu6).
struct NoAct {
  template <typename T> T fwd(T x) const { return x; }
  template <typename T> T bwd(T g, T, T) const { return g; }
};

// Per channel: statistics, saved as mean and invstd, then bn(x) = x * scale + shift with
// scale = weight * invstd, shift = bias - mean * scale, each value rounded to T and handed to
// out(index, value). For a BF16 T the double rounds to F32 first, then to BF16: the F32 path's
// value rounded back, bit for bit (static_cast<bf16>(double) goes through float).
template <typename T, typename P, typename Out>
[[gnu::always_inline]] inline void bn_forward_channel(const T* x, const NCL& s, int64_t c, bool training, double eps,
                                                      const P* rm, const P* rv, const P* w, const P* b, P* mean,
                                                      P* invstd, double* batch, Out out) {
  double m = 0, v = 0;
  if (training) {
    channel_moments(x, s, c, m, v);
    batch[c] = m;
    batch[s.C + c] = v;
  } else {
    m = rm[c];
    v = rv[c];
  }
  const double is = bn::invstd(v, eps);
  mean[c] = static_cast<P>(m);
  invstd[c] = static_cast<P>(is);
  const bn::Affine af = bn::affine(m, is, w, b, c);
  for (int64_t n = 0; n < s.N; ++n) {
    const int64_t o = (n * s.C + c) * s.L;
    for (int64_t l = 0; l < s.L; ++l) out(o + l, static_cast<T>(bn::apply(double(x[o + l]), af)));
  }
}

// y = act(bn(x) + r) (r null: no add); the add and the activation in T (the add in compute_t<T>,
// rounded once), as the separate ops do.
template <typename T, typename P, typename A>
[[gnu::always_inline]] inline void bn_forward_act(const T* x, const NCL& s, int64_t c, bool training, double eps,
                                                  const P* rm, const P* rv, const P* w, const P* b, const T* r, A act,
                                                  T* y, P* mean, P* invstd, double* batch) {
  using C = compute_t<T>;
  if (r)
    bn_forward_channel(x, s, c, training, eps, rm, rv, w, b, mean, invstd, batch,
                       [=](int64_t i, T v) { y[i] = act.fwd(static_cast<T>(C(v) + C(r[i]))); });
  else
    bn_forward_channel(x, s, c, training, eps, rm, rv, w, b, mean, invstd, batch,
                       [=](int64_t i, T v) { y[i] = act.fwd(v); });
}

// ge = act.bwd(g, y) over one row of L elements into e: a plain select loop, which vectorizes (fused
// into the sums below, the select stayed a scalar branch, mispredicted on activations: the
// backward took 3.5x the time of batch norm's alone).
template <typename T, typename A>
[[gnu::always_inline]] inline void mask_row(const T* __restrict g, const T* __restrict y, T* __restrict e, int64_t L,
                                            A act) {
  for (int64_t l = 0; l < L; ++l) e[l] = act.bwd(g[l], y[l], T(0));
}

// Backward, per channel c over its M elements, with ge = act.bwd(g, y) the gradient reaching batch
// norm's output, xhat = (x - mean) * invstd and k = weight[c] * invstd[c] (weight 1 when absent);
// y = xhat * weight + bias gives
//   gbias[c]   = sum ge
//   gweight[c] = sum ge * xhat
//   inference: gx = k * ge                          (mean, invstd are constants)
//   training:  gx = k * (ge - sum(ge) / M - xhat * sum(ge * xhat) / M)
// the training form from d mean / dx = 1 / M and d invstd / dx = -invstd^3 (x - mean) / M.
// ge is g itself without an activation and a residual; else the first pass writes it to gres (the
// residual's gradient) or, without one, to the channel's scratch (M elements), which the second
// pass reads (3 reads and 1 write per element over both passes instead of the separate ops' 6 and 2;
// the scratch mostly stays in the cache).
template <typename T, typename P, typename A>
[[gnu::always_inline]] inline void bn_backward_channel(const T* x, const T* y, const T* g, const NCL& s, int64_t c,
                                                       bool training, const P* mean, const P* invstd, const P* w,
                                                       A act, T* gx, P* gw, P* gb, T* gres, T* scratch) {
  constexpr bool kMask = !std::is_same_v<A, NoAct>;
  // Where ge of row n (offset o in x) is, once the first pass has run.
  const auto ge_at = [=](int64_t n, int64_t o) -> T* {
    if (gres) return gres + o;
    return kMask ? scratch + n * s.L : const_cast<T*>(g + o);
  };
  const bool write_ge = kMask || gres;
  const bool need_sums = gw || gb || (training && gx);
  const double m = mean[c], is = invstd[c];
  double sg = 0, sgx = 0;
  for (int64_t n = 0; (need_sums || gres) && n < s.N; ++n) {
    const int64_t o = (n * s.C + c) * s.L;
    const T *e = ge_at(n, o), *xp = x + o;
    if (write_ge) mask_row(g + o, y + o, ge_at(n, o), s.L, act);
    if (!need_sums) continue;
    const Sums r = sums_of(s.L, [=](int64_t l) { return Sums{double(e[l]), double(e[l]) * (double(xp[l]) - m)}; });
    sg += r.a;
    sgx += r.b * is;
  }
  if (gw) gw[c] = static_cast<P>(sgx);
  if (gb) gb[c] = static_cast<P>(sg);
  if (!gx) return;
  const double k = w ? w[c] * is : is, inv_m = 1.0 / static_cast<double>(s.count());
  const double a = training ? sg * inv_m : 0.0, bx = training ? sgx * inv_m : 0.0;
  for (int64_t n = 0; n < s.N; ++n) {
    const int64_t o = (n * s.C + c) * s.L;
    const T* e = ge_at(n, o);
    if (kMask && !gres && !need_sums) mask_row(g + o, y + o, ge_at(n, o), s.L, act);  // no first pass ran
    for (int64_t l = 0; l < s.L; ++l)
      gx[o + l] = static_cast<T>(bn::grad_x(double(e[l]), double(x[o + l]), m, is, k, a, bx));
  }
}

// The per-channel loops compiled for AVX2 and for baseline x86-64, picked at load time for the CPU:
// the double-precision loops run 4 wide instead of 2. AVX2 without FMA, so no multiply-add is
// contracted and each clone gives the same bits (issue 17; the batch norms were ~14% of the
// Fashion-MNIST demo step once the 3x3 convolutions went direct). The activation is picked per
// channel, outside the loops. Without an activation y is not read: g stands in for it.
#define NKD_BN_CHANNEL(T, P)                                                                                       \
  [[gnu::target_clones("avx2", "default")]] void bn_forward_c(const T* x, const NCL& s, int64_t c, bool training,   \
                                                              double eps, const P* rm, const P* rv, const P* w,     \
                                                              const P* b, const T* r, Act act, T* y, P* mean,       \
                                                              P* invstd, double* batch) {                           \
    switch (act) {                                                                                                  \
      case Act::kReLU:                                                                                              \
        return bn_forward_act<T, P>(x, s, c, training, eps, rm, rv, w, b, r, math::Relu{}, y, mean, invstd, batch);   \
      case Act::kReLU6:                                                                                             \
        return bn_forward_act<T, P>(x, s, c, training, eps, rm, rv, w, b, r, math::Relu6{}, y, mean, invstd, batch);  \
      case Act::kNone: break;                                                                                       \
    }                                                                                                               \
    bn_forward_act<T, P>(x, s, c, training, eps, rm, rv, w, b, r, NoAct{}, y, mean, invstd, batch);                    \
  }                                                                                                                 \
  [[gnu::target_clones("avx2", "default")]] void bn_backward_c(const T* x, const T* y, const T* g, const NCL& s,   \
                                                               int64_t c, bool training, const P* mean,            \
                                                               const P* invstd, const P* w, Act act, T* gx, P* gw, \
                                                               P* gb, T* gres, T* scratch) {                       \
    switch (act) {                                                                                                  \
      case Act::kReLU:                                                                                              \
        return bn_backward_channel<T, P>(x, y, g, s, c, training, mean, invstd, w, math::Relu{}, gx, gw, gb, gres,     \
                                      scratch);                                                                     \
      case Act::kReLU6:                                                                                             \
        return bn_backward_channel<T, P>(x, y, g, s, c, training, mean, invstd, w, math::Relu6{}, gx, gw, gb, gres,    \
                                      scratch);                                                                     \
      case Act::kNone: break;                                                                                       \
    }                                                                                                               \
    bn_backward_channel<T, P>(x, g, g, s, c, training, mean, invstd, w, NoAct{}, gx, gw, gb, gres, scratch);           \
  }
NKD_BN_CHANNEL(float, float)
NKD_BN_CHANNEL(double, double)
NKD_BN_CHANNEL(bf16, float)
#undef NKD_BN_CHANNEL

}  // namespace

template <typename T, typename P>
void bn_forward(const T* x, const NCL& s, bool training, double eps, const P* rm, const P* rv, const P* w,
                const P* b, const T* residual, Act act, T* y, P* mean, P* invstd, double* batch) {
  cpu::parallel_for(s.C, s.grain(), [=](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c)
      bn_forward_c(x, s, c, training, eps, rm, rv, w, b, residual, act, y, mean, invstd, batch);
  });
}

template <typename T, typename P>
void bn_backward(const T* x, const T* y, const T* g, const NCL& s, bool training, const P* mean,
                 const P* invstd, const P* w, Act act, T* gx, P* gw, P* gb, T* gres) {
  cpu::parallel_for(s.C, s.grain(), [=](int64_t begin, int64_t end) {
    // Uninitialised (a zero-filled vector cost one more pass over the channel's size).
    const std::unique_ptr<T[]> scratch(act == Act::kNone || gres ? nullptr : new T[s.count()]);
    for (int64_t c = begin; c < end; ++c)
      bn_backward_c(x, y, g, s, c, training, mean, invstd, w, act, gx, gw, gb, gres, scratch.get());
  });
}

#define NKD_BN_INSTANTIATE(T, D)                                                                                    \
  template void bn_forward<T, compute_t<T>>(const T*, const NCL&, bool, double, const compute_t<T>*,              \
                                            const compute_t<T>*, const compute_t<T>*, const compute_t<T>*,       \
                                            const T*, Act, T*, compute_t<T>*, compute_t<T>*, double*);            \
  template void bn_backward<T, compute_t<T>>(const T*, const T*, const T*, const NCL&, bool, const compute_t<T>*, \
                                             const compute_t<T>*, const compute_t<T>*, Act, T*, compute_t<T>*,    \
                                             compute_t<T>*, T*);
NKD_ALL_FLOAT_TYPES(NKD_BN_INSTANTIATE)
#undef NKD_BN_INSTANTIATE

}  // namespace nkd::ops::detail
