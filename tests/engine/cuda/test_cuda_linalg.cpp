// GPU tests of matmul/bmm/linear (cuBLAS, cuBLASLt), softmax/log_softmax and layer_norm (label
// gpu; skipped with the reason without a GPU): F64 gradient checks through the GPU, the shapes of a
// ResNet-50 head and a Swin block against the CPU in F32, non-contiguous inputs, the TF32 switch
// (off: F32-exact), deterministic layer-norm parameter gradients, and empty sums.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/cuda/math_mode.h"
#include "engine/factory.h"
#include "engine/ops/matmul.h"
#include "engine/ops/norm.h"
#include "engine/ops/softmax.h"
#include "engine/ops/view.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/support/gradcheck.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;
using Fn = std::function<Tensor(const V&)>;

// max |a - b| / max |b| over all elements: the error relative to the tensor's scale (element-wise
// relative errors mean little where a sum cancels to near zero). NaN anywhere gives infinity.
double rel_err(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<double> va = to_vector<double>(a.to(kCPU).to(DType::F64));
  const std::vector<double> vb = to_vector<double>(b.to(kCPU).to(DType::F64));
  double num = 0, den = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) {
    const double d = std::abs(va[i] - vb[i]);
    num = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(num, d);
    den = std::max(den, std::abs(vb[i]));
  }
  return den == 0 ? num : num / den;
}

// Standard-normal tensors of dtype dt on the CPU.
V random_inputs(const std::vector<Shape>& shapes, DType dt, uint64_t seed) {
  Generator gen(seed);
  V out;
  for (const Shape& s : shapes) out.push_back(randn(s, gen, {dt, kCPU}));
  return out;
}

// The output of fn on `device` and the input gradients for a cotangent drawn (on the CPU, so the
// same on both devices) from `seed`.
struct Outcome {
  Tensor out;
  V grads;
};
Outcome run_on(const Fn& fn, const V& host, Device device, uint64_t seed) {
  V in;
  for (const Tensor& h : host) {
    Tensor t = device.is_cpu() ? h.detach().clone() : h.detach().to(device);
    t.set_requires_grad(true);
    in.push_back(t);
  }
  Outcome r;
  r.out = fn(in);
  EXPECT_EQ(r.out.device(), device);
  Generator gen(seed);
  const Tensor cot = randn(r.out.shape(), gen, {r.out.dtype(), kCPU});
  r.out.backward(cot.to(device));
  for (const Tensor& t : in) {
    EXPECT_TRUE(t.grad().defined());
    if (t.grad().defined()) {
      EXPECT_EQ(t.grad().device(), device);
    }
    r.grads.push_back(t.grad());
  }
  return r;
}

// fn on the GPU against the CPU in the inputs' dtype: the output and every input gradient within
// rel_err <= tol.
void expect_gpu_matches_cpu(const std::string& what, const Fn& fn, const V& host, double tol) {
  const Outcome c = run_on(fn, host, kCPU, 99);
  const Outcome g = run_on(fn, host, gpu(), 99);
  EXPECT_LE(rel_err(g.out, c.out), tol) << what << ": output";
  for (size_t i = 0; i < host.size(); ++i) {
    if (!c.grads[i].defined() || !g.grads[i].defined()) continue;
    EXPECT_LE(rel_err(g.grads[i], c.grads[i]), tol) << what << ": gradient of input " << i;
  }
}

using cuda::Tf32Guard;

// F64 central-difference gradient check of fn run on the GPU (inputs moved there and the outputs
// back inside fn, both differentiable).
void gradcheck_on_gpu(const std::string& what, const Fn& fn, const std::vector<Shape>& shapes,
                      uint64_t seed = 3) {
  V in = random_inputs(shapes, DType::F64, seed);
  for (Tensor& t : in) t.set_requires_grad(true);
  bool off_gpu = false;  // an output not on the GPU (checked once, not per evaluation)
  const OpFn through_gpu = [&fn, &off_gpu](const V& x) {
    V g;
    for (const Tensor& t : x) g.push_back(t.to(gpu()));
    const Tensor out = fn(g);
    off_gpu = off_gpu || !out.is_cuda();
    return V{out.to(kCPU)};
  };
  const GradcheckResult r = gradcheck(through_gpu, in);
  EXPECT_TRUE(r.ok) << what << ": " << r.report;
  EXPECT_FALSE(off_gpu) << what << ": the output left the GPU";
}

TEST(CudaLinalg, GradcheckF64) {
  NKD_REQUIRE_CUDA();
  gradcheck_on_gpu("matmul 2d", [](const V& x) { return ops::matmul(x[0], x[1]); }, {{3, 4}, {4, 5}});
  gradcheck_on_gpu("matmul broadcast batch", [](const V& x) { return ops::matmul(x[0], x[1]); },
                   {{2, 1, 3, 4}, {3, 4, 2}});
  gradcheck_on_gpu("matmul 3d by 2d", [](const V& x) { return ops::matmul(x[0], x[1]); },
                   {{2, 3, 4}, {4, 5}});
  gradcheck_on_gpu("matmul 1d by 3d", [](const V& x) { return ops::matmul(x[0], x[1]); },
                   {{3}, {2, 3, 4}});
  gradcheck_on_gpu(
      "matmul transposed views",
      [](const V& x) { return ops::matmul(ops::transpose(x[0], -1, -2), ops::transpose(x[1], 0, 1)); },
      {{2, 4, 3}, {5, 4}});
  gradcheck_on_gpu("bmm", [](const V& x) { return ops::bmm(x[0], x[1]); }, {{3, 2, 4}, {3, 4, 5}});
  gradcheck_on_gpu("linear bias (F64: GEMM + bias fill)",
                   [](const V& x) { return ops::linear(x[0], x[1], x[2]); }, {{2, 3, 4}, {5, 4}, {5}});
  gradcheck_on_gpu("linear no bias", [](const V& x) { return ops::linear(x[0], x[1]); }, {{3, 6}, {2, 6}});
  for (bool log : {false, true}) {
    const auto sm = [log](int64_t dim) {
      return [log, dim](const V& x) { return log ? ops::log_softmax(x[0], dim) : ops::softmax(x[0], dim); };
    };
    const std::string name = log ? "log_softmax" : "softmax";
    gradcheck_on_gpu(name + " last dim", sm(-1), {{3, 7}});
    gradcheck_on_gpu(name + " middle dim (strided rows)", sm(1), {{2, 5, 3}});
    gradcheck_on_gpu(name + " row of 1030 (block per row)", sm(-1), {{1, 1030}});
  }
  gradcheck_on_gpu("layer_norm affine",
                   [](const V& x) { return ops::layer_norm(x[0], {5}, x[1], x[2], 1e-5); },
                   {{3, 5}, {5}, {5}});
  gradcheck_on_gpu("layer_norm two trailing dims",
                   [](const V& x) { return ops::layer_norm(x[0], {4, 5}, x[1], x[2], 1e-5); },
                   {{2, 3, 4, 5}, {4, 5}, {4, 5}});
  gradcheck_on_gpu("layer_norm no affine",
                   [](const V& x) { return ops::layer_norm(x[0], {6}, {}, {}, 1e-5); }, {{2, 3, 6}});
  // Long rows: weight and bias fixed (not checked: the parameter-gradient kernel does not depend
  // on the row length), keeping the number of evaluations small.
  const V wb = random_inputs({{1030}, {1030}}, DType::F64, 21);
  gradcheck_on_gpu("layer_norm row of 1030 (block per row)",
                   [wb](const V& x) {
                     return ops::layer_norm(x[0], {1030}, wb[0].to(gpu()), wb[1].to(gpu()), 1e-5);
                   },
                   {{1, 1030}});
}

// ResNet-50 head: linear 2048 -> 1000 on a batch of 64 (cuBLASLt bias epilogue), F32-exact.
TEST(CudaLinalg, ResNet50HeadF32) {
  NKD_REQUIRE_CUDA();
  const Tf32Guard exact(false);
  const V in = random_inputs({{64, 2048}, {1000, 2048}, {1000}}, DType::F32, 5);
  expect_gpu_matches_cpu("linear 2048->1000 bias", [](const V& x) { return ops::linear(x[0], x[1], x[2]); },
                         in, 1e-5);
  expect_gpu_matches_cpu("linear 2048->1000 no bias", [](const V& x) { return ops::linear(x[0], x[1]); },
                         {in[0], in[1]}, 1e-5);
  // F64 takes the GEMM + bias-fill path.
  const V in64 = random_inputs({{64, 256}, {100, 256}, {100}}, DType::F64, 6);
  expect_gpu_matches_cpu("linear F64 bias", [](const V& x) { return ops::linear(x[0], x[1], x[2]); }, in64,
                         1e-12);
}

// Swin window attention: q k^T [B*heads, 49, 32] x [.., 32, 49], softmax over 49, then @ v.
TEST(CudaLinalg, SwinAttentionShapesF32) {
  NKD_REQUIRE_CUDA();
  const Tf32Guard exact(false);
  const int64_t bh = 64 * 3;
  expect_gpu_matches_cpu("bmm [192,49,32]x[192,32,49]", [](const V& x) { return ops::bmm(x[0], x[1]); },
                         random_inputs({{bh, 49, 32}, {bh, 32, 49}}, DType::F32, 7), 1e-5);
  expect_gpu_matches_cpu(
      "attention q k^T (transposed view) -> softmax -> @ v",
      [](const V& x) {
        const Tensor attn = ops::softmax(ops::bmm(x[0], ops::transpose(x[1], 1, 2)), -1);
        return ops::bmm(attn, x[2]);
      },
      random_inputs({{bh, 49, 32}, {bh, 49, 32}, {bh, 49, 32}}, DType::F32, 8), 1e-5);
  expect_gpu_matches_cpu("matmul 4-D batch [4,3,49,32]x[4,3,32,49]",
                         [](const V& x) { return ops::matmul(x[0], x[1]); },
                         random_inputs({{4, 3, 49, 32}, {4, 3, 32, 49}}, DType::F32, 9), 1e-5);
}

// Swin stage-1 layer norm [64, 3136, 96] with affine parameters; the parameter gradients are
// deterministic (two bitwise-equal backward passes).
TEST(CudaLinalg, LayerNormSwinShapeF32) {
  NKD_REQUIRE_CUDA();
  const Fn ln = [](const V& x) { return ops::layer_norm(x[0], {96}, x[1], x[2], 1e-5); };
  const V in = random_inputs({{64, 3136, 96}, {96}, {96}}, DType::F32, 10);
  expect_gpu_matches_cpu("layer_norm [64,3136,96]", ln, in, 1e-5);
  const Outcome a = run_on(ln, in, gpu(), 4), b = run_on(ln, in, gpu(), 4);
  for (size_t i = 1; i < 3; ++i) {
    const std::vector<float> ga = to_vector<float>(a.grads[i].to(kCPU));
    const std::vector<float> gb = to_vector<float>(b.grads[i].to(kCPU));
    EXPECT_EQ(ga, gb) << "layer_norm parameter gradient " << i << " differs between two runs";
  }
}

// Softmax rows of 49 (warp per row), 1000 (warp) and 5000 (block per row), and a middle dim.
TEST(CudaLinalg, SoftmaxRowsF32) {
  NKD_REQUIRE_CUDA();
  for (bool log : {false, true}) {
    const std::string name = log ? "log_softmax" : "softmax";
    for (const auto& [shape, dim] : std::vector<std::pair<Shape, int64_t>>{
             {{4096, 49}, -1}, {{64, 1000}, -1}, {{16, 5000}, -1}, {{8, 1000, 3}, 1}, {{3, 7, 5000}, 1}}) {
      const Fn fn = [log, dim](const V& x) {
        return log ? ops::log_softmax(x[0], dim) : ops::softmax(x[0], dim);
      };
      expect_gpu_matches_cpu(name + " " + to_string(shape) + " dim " + std::to_string(dim), fn,
                             random_inputs({shape}, DType::F32, 12), 1e-5);
    }
  }
}

// Logits of +-1e4 stay finite and exact; a NaN poisons its own row only, as on the CPU.
TEST(CudaLinalg, SoftmaxExtremeValues) {
  NKD_REQUIRE_CUDA();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (int64_t n : {5, 3000}) {
    std::vector<float> v(static_cast<size_t>(3 * n));
    for (int64_t j = 0; j < n; ++j) {
      v[j] = (j % 2 ? 1e4f : -1e4f) + static_cast<float>(j);
      v[n + j] = static_cast<float>(j % 7);
      v[2 * n + j] = j == 0 ? -inf : static_cast<float>(j % 3);
    }
    v[n + n / 2] = nan;
    const Tensor x = from_vector(v, {3, n});
    for (bool log : {false, true}) {
      const Tensor c = log ? ops::log_softmax(x, -1) : ops::softmax(x, -1);
      const Tensor g = (log ? ops::log_softmax(x.to(gpu()), -1) : ops::softmax(x.to(gpu()), -1)).to(kCPU);
      const std::vector<float> vc = to_vector<float>(c), vg = to_vector<float>(g);
      for (size_t i = 0; i < vc.size(); ++i) {
        if (std::isnan(vc[i])) {
          EXPECT_TRUE(std::isnan(vg[i])) << "n " << n << " element " << i;
        } else if (std::isinf(vc[i])) {
          EXPECT_EQ(vg[i], vc[i]) << "n " << n << " element " << i;
        } else {
          EXPECT_NEAR(vg[i], vc[i], 1e-5 * std::max(1.0f, std::abs(vc[i]))) << "n " << n << " element " << i;
        }
      }
    }
  }
}

// Transposed, narrowed and permuted views reach the GPU ops (trans flags or contiguous copies).
TEST(CudaLinalg, NonContiguousInputsF32) {
  NKD_REQUIRE_CUDA();
  const Tf32Guard exact(false);
  expect_gpu_matches_cpu(
      "matmul of transposed views",
      [](const V& x) { return ops::matmul(ops::transpose(x[0], -1, -2), ops::transpose(x[1], -1, -2)); },
      random_inputs({{6, 40, 33}, {6, 17, 40}}, DType::F32, 13), 1e-5);
  expect_gpu_matches_cpu(
      "matmul of narrowed rows and a permuted batch",
      [](const V& x) {
        return ops::matmul(ops::narrow(x[0], 1, 3, 20), ops::permute(x[1], {1, 0, 2, 3}));
      },
      random_inputs({{5, 30, 16}, {5, 2, 16, 9}}, DType::F32, 14), 1e-5);
  expect_gpu_matches_cpu(
      "linear with a transposed weight view and a narrowed input",
      [](const V& x) { return ops::linear(ops::narrow(x[0], 1, 2, 64), ops::transpose(x[1], 0, 1), x[2]); },
      random_inputs({{10, 70}, {64, 48}, {48}}, DType::F32, 15), 1e-5);
  expect_gpu_matches_cpu(
      "layer_norm of a transposed input",
      [](const V& x) { return ops::layer_norm(ops::transpose(x[0], 0, 1), {40}, x[1], x[2]); },
      random_inputs({{40, 30}, {40}, {40}}, DType::F32, 16), 1e-5);
  expect_gpu_matches_cpu("softmax of a permuted input",
                         [](const V& x) { return ops::softmax(ops::permute(x[0], {2, 0, 1}), 0); },
                         random_inputs({{6, 7, 33}}, DType::F32, 17), 1e-5);
}

// TF32 off (the default unless NKD_ALLOW_TF32 is set): F32 GEMMs match the CPU to 1e-5 of their
// scale. On: still close (TF32 keeps 10 mantissa bits of the inputs).
TEST(CudaLinalg, Tf32SwitchF32) {
  NKD_REQUIRE_CUDA();
  if (std::getenv("NKD_ALLOW_TF32") == nullptr) {
    EXPECT_FALSE(cuda::allow_tf32());
  }
  const V in = random_inputs({{256, 2048}, {2048, 512}}, DType::F32, 18);
  const Tensor ref = ops::matmul(in[0], in[1]);
  const Tensor a = in[0].to(gpu()), b = in[1].to(gpu());
  {
    const Tf32Guard exact(false);
    EXPECT_LE(rel_err(ops::matmul(a, b), ref), 1e-5);
    // cuBLASLt with the bias epilogue (zero bias) and a column-major weight view.
    const Tensor zero_bias = zeros({512}, {DType::F32, gpu()});
    EXPECT_LE(rel_err(ops::linear(a, ops::transpose(b, 0, 1), zero_bias), ref), 1e-5);
  }
  {
    const Tf32Guard fast(true);
    EXPECT_TRUE(cuda::allow_tf32());
    EXPECT_LE(rel_err(ops::matmul(a, b), ref), 1e-2);
  }
}

// Empty sums and empty batches: k = 0 gives zeros (linear: the bias rows), no rows gives nothing.
TEST(CudaLinalg, EmptyProducts) {
  NKD_REQUIRE_CUDA();
  const Tensor a = zeros({3, 0}, {DType::F32, gpu()}), b = zeros({0, 4}, {DType::F32, gpu()});
  const Tensor c = ops::matmul(a, b);
  ASSERT_TRUE(c.is_cuda());
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  for (float v : to_vector<float>(c.to(kCPU))) EXPECT_EQ(v, 0.0f);
  const Tensor bias = full({4}, 2.5, {DType::F32, gpu()});
  const Tensor y = ops::linear(zeros({3, 0}, {DType::F32, gpu()}), zeros({4, 0}, {DType::F32, gpu()}), bias);
  for (float v : to_vector<float>(y.to(kCPU))) EXPECT_EQ(v, 2.5f);
  EXPECT_EQ(ops::bmm(zeros({0, 2, 3}, {DType::F32, gpu()}), zeros({0, 3, 4}, {DType::F32, gpu()})).shape(),
            (Shape{0, 2, 4}));
  EXPECT_EQ(ops::softmax(zeros({0, 5}, {DType::F32, gpu()}), -1).numel(), 0);
  EXPECT_EQ(ops::layer_norm(zeros({0, 5}, {DType::F32, gpu()}), {5}, {}, {}).numel(), 0);
}

}  // namespace
}  // namespace nkd::testing
