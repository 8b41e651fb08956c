// ops::batch_norm_act (batch norm + residual add + ReLU / ReLU6 fused in training on the CPU) gives
// exactly what the separate batch_norm, add and relu / relu6 ops give, bit for bit, in F32 and F64:
// the output, the updated running statistics, and the gradients of x, weight, bias and the residual
// (odd spatial sizes, a strided x, no affine). Inference composes the separate ops; BF16 fuses too
// (test_bf16_native.cpp), as does CUDA (tests/engine/cuda/test_cuda_bf16_native.cpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"

namespace nkd {
namespace {

using ops::Act;

bool same(const Tensor& a, const Tensor& b) {
  return a.defined() == b.defined() &&
         (!a.defined() || (a.shape() == b.shape() && a.dtype() == b.dtype() &&
                           to_vector<double>(a.to(DType::F64)) == to_vector<double>(b.to(DType::F64))));
}

struct Case {
  Shape shape;  // [N, C, H, W] or [N, C]
  Act act;
  bool residual, affine, transposed;  // transposed: x is a [N, C, W, H] tensor's transpose(2, 3)
};

struct Run {
  Tensor y, rm, rv, gx, gw, gb, gr;
};

// One training step of the fused op (fused) or the separate ops on copies of the same inputs.
Run run(const Case& c, DType dt, bool fused, bool training = true) {
  Generator gen(7);
  const int64_t C = c.shape[1];
  Shape xs = c.shape;
  if (c.transposed) std::swap(xs[2], xs[3]);
  Tensor x = randn(xs, gen).to(dt), w = randn({C}, gen).to(dt), b = randn({C}, gen).to(dt);
  Tensor r = randn(c.shape, gen).to(dt), g = randn(c.shape, gen).to(dt);
  Run out{.rm = randn({C}, gen).to(dt), .rv = uniform({C}, 0.5, 2.0, gen).to(dt)};
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  r.set_requires_grad(true);
  const Tensor xin = c.transposed ? x.transpose(2, 3) : x;
  const Tensor wa = c.affine ? w : Tensor(), ba = c.affine ? b : Tensor(), ra = c.residual ? r : Tensor();
  const ops::BatchNormOptions o{.training = training, .momentum = 0.1, .eps = 1e-5};
  if (fused) {
    out.y = ops::batch_norm_act(xin, wa, ba, out.rm, out.rv, o, c.act, ra);
  } else {
    out.y = ops::batch_norm(xin, wa, ba, out.rm, out.rv, o);
    if (c.residual) out.y = ops::add(out.y, r);
    out.y = ops::activate(out.y, c.act);
  }
  out.y.backward(g);
  out.gx = x.grad();
  out.gw = w.grad();
  out.gb = b.grad();
  out.gr = r.grad();
  return out;
}

void expect_same(const Case& c, DType dt, bool training = true) {
  SCOPED_TRACE(std::string(name(dt)) + " " + to_string(c.shape) + " act " + std::to_string(int(c.act)) +
               (c.residual ? " residual" : "") + (c.affine ? " affine" : "") + (c.transposed ? " transposed" : "") +
               (training ? " training" : " inference"));
  const Run f = run(c, dt, true, training), s = run(c, dt, false, training);
  EXPECT_TRUE(same(f.y, s.y)) << "output";
  EXPECT_TRUE(same(f.rm, s.rm)) << "running_mean";
  EXPECT_TRUE(same(f.rv, s.rv)) << "running_var";
  EXPECT_TRUE(same(f.gx, s.gx)) << "grad x";
  EXPECT_TRUE(same(f.gw, s.gw)) << "grad weight";
  EXPECT_TRUE(same(f.gb, s.gb)) << "grad bias";
  EXPECT_TRUE(same(f.gr, s.gr)) << "grad residual";
}

const std::vector<Case> kCases = {
    {{4, 3, 7, 7}, Act::kReLU, false, true, false},  {{4, 3, 7, 7}, Act::kReLU, true, true, false},
    {{3, 5, 5, 3}, Act::kReLU6, true, true, true},   {{2, 4, 6, 6}, Act::kReLU6, false, false, false},
    {{2, 3, 3, 5}, Act::kNone, true, true, false},   {{9, 6}, Act::kReLU, true, true, false},
    {{1, 2, 14, 14}, Act::kReLU, true, false, false},
};

TEST(BatchNormAct, TrainingEqualsSeparateOpsBitForBitF32) {
  for (const Case& c : kCases) expect_same(c, DType::F32);
}

TEST(BatchNormAct, TrainingEqualsSeparateOpsBitForBitF64) {
  for (const Case& c : kCases) expect_same(c, DType::F64);
}

TEST(BatchNormAct, InferenceAndBf16RunTheSeparateOps) {
  for (const Case& c : kCases) expect_same(c, DType::F32, /*training=*/false);
  expect_same(kCases[1], DType::BF16);
}

// ReLU6's clamp: a weight of 8 sends part of each channel above 6 (gradient 0 there).
TEST(BatchNormAct, Relu6ClampMatches) {
  Generator gen(3);
  const Tensor x = randn({4, 2, 5, 5}, gen), w = ops::mul(ones({2}), 8.0);
  const ops::BatchNormOptions o{.training = true};
  const Tensor y = ops::batch_norm_act(x, w, Tensor(), Tensor(), Tensor(), o, Act::kReLU6);
  const Tensor ref = ops::relu6(ops::batch_norm(x, w, Tensor(), Tensor(), Tensor(), o));
  EXPECT_TRUE(same(y, ref));
  double at_six = 0;
  for (double v : to_vector<double>(y.to(DType::F64))) at_six += v == 6.0;
  EXPECT_GT(at_six, 0) << "no value reached the clamp";
}

}  // namespace
}  // namespace nkd
