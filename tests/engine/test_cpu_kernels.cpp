// The CPU kernels' vectorized loops (issue 17): elementwise kernels over lengths that leave vector
// tails, unaligned views and several threads give exactly the scalar definition; the convolution's
// unit-stride col2im (backward data) counts, for all-ones weights, the windows covering each pixel.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/conv.h"

namespace nkd {
namespace {

// ReLU forward and backward over 100003 values (more than one thread's grain; not a multiple of the
// vector width), through a view starting one element in (not 16-byte aligned): exact.
TEST(CpuKernels, ReluForwardBackwardExactOnUnalignedTails) {
  const int64_t n = 100003;
  std::vector<float> xv(n + 1), gv(n);
  for (int64_t i = 0; i <= n; ++i) xv[i] = static_cast<float>((i * 7919) % 201 - 100) * 0.25f;
  for (int64_t i = 0; i < n; ++i) gv[i] = static_cast<float>(i % 13) - 6.5f;
  Tensor base = from_vector(xv, {n + 1});
  Tensor x = base.narrow(0, 1, n).clone();
  x.set_requires_grad();
  const Tensor y = ops::relu(x);
  y.backward(from_vector(gv, {n}));
  const std::vector<float> yo = to_vector<float>(y), gx = to_vector<float>(x.grad());
  for (int64_t i = 0; i < n; ++i) {
    const float xi = xv[i + 1];
    ASSERT_EQ(yo[i], xi > 0 ? xi : 0.0f) << i;
    ASSERT_EQ(gx[i], xi > 0 ? gv[i] : 0.0f) << i;
  }
}

// d sum(conv(x, ones)) / dx at pixel (h, v) = K * (rows covering h) * (columns covering v), exactly:
// 3x3, padding 1, stride 1 (the unit-stride col2im loop) on 28x28 and on an odd 7x5 image.
TEST(CpuKernels, ConvBackwardDataUnitStrideCountsWindows) {
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{28, 28}, {7, 5}}) {
    const int64_t n = 3, c = 2, k = 4;
    Generator gen(3);
    Tensor x = randn({n, c, h, w}, gen, {.dtype = DType::F64});
    x.set_requires_grad();
    const Tensor y = ops::conv2d(x, ones({k, c, 3, 3}, {.dtype = DType::F64}), Tensor(), {.padding = 1});
    y.backward(ones(y.shape(), {.dtype = DType::F64}));
    const std::vector<double> gx = to_vector<double>(x.grad());
    auto cover = [](int64_t i, int64_t size) { return 3 - (i == 0) - (i == size - 1); };
    for (int64_t i = 0; i < n * c * h * w; ++i) {
      const int64_t p = i / w % h, q = i % w;
      ASSERT_EQ(gx[i], static_cast<double>(k * cover(p, h) * cover(q, w))) << "h " << h << " element " << i;
    }
  }
}

}  // namespace
}  // namespace nkd
