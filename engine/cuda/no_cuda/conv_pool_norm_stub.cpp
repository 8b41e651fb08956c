// The conv2d, batch-norm and pooling GPU launchers (conv_cuda.h, batch_norm_cuda.h, pool_cuda.h)
// in a build without CUDA: each throws. Unreachable in practice (no CUDA tensor can be created),
// but the op code links against them. The algorithm cache is empty.
#include "engine/check.h"
#include "engine/ops/batch_norm_cuda.h"
#include "engine/ops/conv_cuda.h"
#include "engine/ops/pool_cuda.h"

namespace nkd::ops::gpu {
namespace {
[[noreturn]] void fail(const char* what) { NKD_FAIL(what, ": nkd was built without CUDA"); }
}  // namespace

template <typename T>
void conv2d_forward(Device, const detail::ConvGeom&, const T*, const T*, T*) { fail("conv2d"); }
template <typename T>
void conv2d_backward_data(Device, const detail::ConvGeom&, const T*, const T*, T*) {
  fail("conv2d backward");
}
template <typename T>
void conv2d_backward_filter(Device, const detail::ConvGeom&, const T*, const T*, T*) {
  fail("conv2d backward");
}
ConvAlgoCacheStats conv_algo_cache_stats() { return {}; }
void clear_conv_algo_cache() {}

template <typename T>
void batch_norm_forward(Device, const BatchNormShape&, bool, double, double, const T*, const T*,
                        const T*, T*, T*, const T*, const T*, T*, T*, T*, double*) {
  fail("batch_norm");
}
template <typename T>
void batch_norm_backward(Device, const BatchNormShape&, bool, const T*, const T*, const T*,
                         const T*, const T*, T*, T*, T*, double*) {
  fail("batch_norm backward");
}
template <typename T>
void channel_sum(Device, const BatchNormShape&, const T*, T*, double*) {
  fail("conv2d bias backward");
}
template <typename T>
void add_channel_bias(Device, const BatchNormShape&, T*, const T*) { fail("conv2d bias"); }

template <typename T>
void max_pool2d_forward(Device, const pool::Geom&, const T*, T*, int64_t*) { fail("max_pool2d"); }
template <typename T>
void avg_pool2d_forward(Device, const pool::Geom&, bool, bool, const T*, T*) { fail("avg_pool2d"); }
template <typename T>
void pool2d_backward(Device, pool::Kind, const pool::Geom&, bool, const T*, const int64_t*, T*) {
  fail("pool backward");
}
template <typename T>
void global_avg_pool_forward(Device, const pool::Geom&, const T*, T*) { fail("global_avg_pool"); }

#define NKD_INSTANTIATE_STUBS(T)                                                                  \
  template void conv2d_forward<T>(Device, const detail::ConvGeom&, const T*, const T*, T*);      \
  template void conv2d_backward_data<T>(Device, const detail::ConvGeom&, const T*, const T*, T*); \
  template void conv2d_backward_filter<T>(Device, const detail::ConvGeom&, const T*, const T*,   \
                                          T*);                                                   \
  template void batch_norm_forward<T>(Device, const BatchNormShape&, bool, double, double,        \
                                      const T*, const T*, const T*, T*, T*, const T*, const T*,   \
                                      T*, T*, T*, double*);                                       \
  template void batch_norm_backward<T>(Device, const BatchNormShape&, bool, const T*, const T*,   \
                                       const T*, const T*, const T*, T*, T*, T*, double*);        \
  template void channel_sum<T>(Device, const BatchNormShape&, const T*, T*, double*);             \
  template void add_channel_bias<T>(Device, const BatchNormShape&, T*, const T*);                 \
  template void max_pool2d_forward<T>(Device, const pool::Geom&, const T*, T*, int64_t*);         \
  template void avg_pool2d_forward<T>(Device, const pool::Geom&, bool, bool, const T*, T*);       \
  template void pool2d_backward<T>(Device, pool::Kind, const pool::Geom&, bool, const T*,         \
                                   const int64_t*, T*);                                           \
  template void global_avg_pool_forward<T>(Device, const pool::Geom&, const T*, T*);
NKD_INSTANTIATE_STUBS(float)
NKD_INSTANTIATE_STUBS(double)

}  // namespace nkd::ops::gpu
