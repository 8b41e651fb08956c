// Shared by the direct 3x3 convolution tests (tests/engine/test_conv3x3_direct.cpp, stride 1, and
// test_conv3x3s2_direct.cpp, stride 2): one conv2d (padding 1) forward and backward in a dtype, its
// results widened to double, the F32 error relative to the F64 scale, and the ConvGeom the kernels'
// applicability checks take.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/conv.h"
#include "engine/ops/detail/conv_cpu.h"

namespace nkd::test {

struct Conv3x3Shape {
  int64_t n, c, k, h, w;
};

struct Conv3x3Result {
  std::vector<double> y, gx, gw, gb;
};

// y = conv2d(x, w, b) with stride `stride`, padding 1, then backward of a random gy; x, w, b, gy drawn
// from Generator(seed) in F32 order and converted to dt.
inline Conv3x3Result run_conv3x3(const Conv3x3Shape& s, DType dt, bool bias, int64_t stride, uint64_t seed) {
  Generator gen(seed);
  Tensor x = randn({s.n, s.c, s.h, s.w}, gen).to(dt);
  Tensor w = randn({s.k, s.c, 3, 3}, gen).to(dt);
  Tensor b = bias ? randn({s.k}, gen).to(dt) : Tensor();
  const int64_t p = (s.h - 1) / stride + 1, q = (s.w - 1) / stride + 1;
  const Tensor gy = randn({s.n, s.k, p, q}, gen).to(dt);
  x.set_requires_grad();
  w.set_requires_grad();
  if (bias) b.set_requires_grad();
  const Tensor y = ops::conv2d(x, w, b, {.stride = stride, .padding = 1});
  y.backward(gy);
  auto f64 = [](const Tensor& t) { return to_vector<double>(t.to(DType::F64)); };
  return {f64(y), f64(x.grad()), f64(w.grad()), bias ? f64(b.grad()) : std::vector<double>{}};
}

// max |a - b| / (max |b| + 1): the F32 result's error relative to the F64 one's scale.
inline double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return err / (scale + 1);
}

inline ops::detail::ConvGeom conv3x3_geom(const Conv3x3Shape& s, int64_t stride) {
  return {.n = s.n, .c = s.c, .h = s.h, .w = s.w, .k = s.k, .r = 3, .s = 3, .p = (s.h - 1) / stride + 1,
          .q = (s.w - 1) / stride + 1, .stride_h = stride, .stride_w = stride, .pad_h = 1, .pad_w = 1,
          .dil_h = 1, .dil_w = 1, .groups = 1};
}

}  // namespace nkd::test
