// The native BF16 kernels (batch norm, batch_norm_act, layer norm, the pools) give exactly what the
// widen path gives - op(x.to(F32), F32 parameters).to(BF16), with the gradients through the two
// conversions - bit for bit: outputs, BF16 input gradients, F32 parameter gradients and updated
// running statistics, over odd sizes and strided inputs. Widening is exact and both compute in F32
// / double with one rounding per stored BF16 value, so any difference is a bug in a native kernel
// (the same NKD_HD functors and scalar formulas the GPU runs; tests/engine/cuda/
// test_cuda_bf16_native.cpp compares the GPU with these).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "engine/ops/pool.h"

namespace nkd {
namespace {

using ops::Act;

// Same dtype, shape and values (BF16 and F32 widen to F64 exactly).
::testing::AssertionResult same(const Tensor& a, const Tensor& b, const std::string& what) {
  if (a.defined() != b.defined()) return ::testing::AssertionFailure() << what << ": defined differs";
  if (!a.defined()) return ::testing::AssertionSuccess();
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << what << ": " << describe(a) << " vs " << describe(b);
  const std::vector<double> va = to_vector<double>(a.to(DType::F64)), vb = to_vector<double>(b.to(DType::F64));
  for (size_t i = 0; i < va.size(); ++i)
    if (!(va[i] == vb[i]) && !(va[i] != va[i] && vb[i] != vb[i]))
      return ::testing::AssertionFailure() << what << ": element " << i << " is " << va[i] << " (native) vs "
                                           << vb[i] << " (widened)";
  return ::testing::AssertionSuccess();
}

Tensor leaf(const Tensor& t) {
  Tensor l = t.detach().clone();
  l.set_requires_grad(true);
  return l;
}

// A leaf holding a BF16 input of shape s with N(0, scale^2) values (rounded), and the input: the leaf
// itself, or, when `strided`, the transpose(2, 3) view of a leaf stored [.., W, H].
struct Input {
  Tensor leaf, x;
};
Input bf16_input(Shape s, Generator& gen, bool strided, double scale = 1.0) {
  if (strided) std::swap(s[2], s[3]);
  const Tensor l = leaf(ops::mul(randn(s, gen), scale).to(DType::BF16));
  return {l, strided ? l.transpose(2, 3) : l};
}

Tensor widen(const Tensor& t) { return t.defined() ? t.to(DType::F32) : t; }

// ---- batch norm and batch_norm_act ------------------------------------------------------------

struct BnCase {
  Shape shape;
  bool training, affine, strided, residual;
  Act act;
};

struct BnRun {
  Tensor y, rm, rv, gx, gw, gb, gr;
};

// One step on copies of the same inputs: native (the op on BF16 x) or widened (the op on x.to(F32),
// the result rounded to BF16, the residual add and activation as separate BF16 ops).
BnRun bn_run(const BnCase& c, bool native) {
  Generator gen(11);
  const int64_t C = c.shape[1];
  const Input in = bf16_input(c.shape, gen, c.strided && c.shape.size() == 4, 3.0);
  Tensor w = leaf(randn({C}, gen)), b = leaf(randn({C}, gen));
  Tensor r = leaf(randn(c.shape, gen).to(DType::BF16)), g = randn(c.shape, gen).to(DType::BF16);
  BnRun out{.rm = randn({C}, gen), .rv = uniform({C}, 0.5, 2.0, gen)};
  const Tensor& xin = in.x;
  const Tensor wa = c.affine ? w : Tensor(), ba = c.affine ? b : Tensor(), ra = c.residual ? r : Tensor();
  const ops::BatchNormOptions o{.training = c.training, .momentum = 0.1, .eps = 1e-5};
  if (native) {
    out.y = c.act == Act::kNone && !c.residual ? ops::batch_norm(xin, wa, ba, out.rm, out.rv, o)
                                               : ops::batch_norm_act(xin, wa, ba, out.rm, out.rv, o, c.act, ra);
  } else {
    out.y = ops::batch_norm(widen(xin), wa, ba, out.rm, out.rv, o).to(DType::BF16);
    if (c.residual) out.y = ops::add(out.y, r);
    out.y = ops::activate(out.y, c.act);
  }
  out.y.backward(g);
  out.gx = in.leaf.grad();
  out.gw = w.grad();
  out.gb = b.grad();
  out.gr = r.grad();
  return out;
}

std::string bn_name(const BnCase& c) {
  std::string s = to_string(c.shape) + (c.training ? " training" : " inference");
  if (!c.affine) s += " no-affine";
  if (c.strided) s += " strided";
  if (c.residual) s += " +residual";
  if (c.act == Act::kReLU) s += " relu";
  if (c.act == Act::kReLU6) s += " relu6";
  return s;
}

TEST(Bf16Native, BatchNormMatchesTheWidenPath) {
  std::vector<BnCase> cases;
  for (const Shape& s : {Shape{3, 5, 7, 9}, Shape{2, 3, 1, 1}, Shape{4, 6}, Shape{5, 4, 13}})
    for (bool training : {true, false})
      for (bool affine : {true, false}) cases.push_back({s, training, affine, s.size() == 4 && !affine, false, Act::kNone});
  for (const BnCase& c : cases) {
    const BnRun a = bn_run(c, true), e = bn_run(c, false);
    const std::string n = bn_name(c);
    EXPECT_EQ(a.y.dtype(), DType::BF16) << n;
    EXPECT_TRUE(same(a.y, e.y, n + " y"));
    EXPECT_TRUE(same(a.gx, e.gx, n + " gx"));
    EXPECT_TRUE(same(a.gw, e.gw, n + " gw"));
    EXPECT_TRUE(same(a.gb, e.gb, n + " gb"));
    EXPECT_TRUE(same(a.rm, e.rm, n + " running_mean"));
    EXPECT_TRUE(same(a.rv, e.rv, n + " running_var"));
  }
}

// batch_norm_act's fused BF16 kernel against batch norm on the widened input followed by the
// separate BF16 add and activation.
TEST(Bf16Native, BatchNormActMatchesTheSeparateOps) {
  for (const Shape& s : {Shape{3, 5, 7, 9}, Shape{2, 4, 3, 5}, Shape{6, 3}})
    for (Act act : {Act::kNone, Act::kReLU, Act::kReLU6})
      for (bool residual : {false, true})
        for (bool strided : {false, true}) {
          if ((act == Act::kNone && !residual) || (strided && s.size() != 4)) continue;
          const BnCase c{s, true, true, strided, residual, act};
          const BnRun a = bn_run(c, true), e = bn_run(c, false);
          const std::string n = bn_name(c);
          EXPECT_TRUE(same(a.y, e.y, n + " y"));
          EXPECT_TRUE(same(a.gx, e.gx, n + " gx"));
          EXPECT_TRUE(same(a.gw, e.gw, n + " gw"));
          EXPECT_TRUE(same(a.gb, e.gb, n + " gb"));
          EXPECT_TRUE(same(a.gr, e.gr, n + " gresidual"));
          EXPECT_TRUE(same(a.rm, e.rm, n + " running_mean"));
          EXPECT_TRUE(same(a.rv, e.rv, n + " running_var"));
        }
}

// ---- layer norm -------------------------------------------------------------------------------

TEST(Bf16Native, LayerNormMatchesTheWidenPath) {
  struct Case {
    Shape shape, normalized;
    bool affine, strided;
  };
  for (const Case& c : {Case{{3, 5, 7, 9}, {9}, true, false}, Case{{3, 5, 7, 9}, {7, 9}, true, true},
                        Case{{4, 33}, {33}, false, false}, Case{{2, 3, 5, 70}, {70}, true, true}}) {
    std::vector<Tensor> outs[2];
    for (int native = 0; native < 2; ++native) {
      Generator gen(5);
      const Input in = bf16_input(c.shape, gen, c.strided, 2.0);
      const Tensor& x = in.x;
      Tensor w = leaf(randn(c.normalized, gen)), b = leaf(randn(c.normalized, gen));
      const Tensor g = randn(c.shape, gen).to(DType::BF16);
      const Tensor wa = c.affine ? w : Tensor(), ba = c.affine ? b : Tensor();
      Tensor y = native ? ops::layer_norm(x, c.normalized, wa, ba, 1e-5)
                        : ops::layer_norm(widen(x), c.normalized, wa, ba, 1e-5).to(DType::BF16);
      y.backward(g);
      outs[native] = {y, in.leaf.grad(), w.grad(), b.grad()};
    }
    const std::string n = to_string(c.shape) + " over " + to_string(c.normalized);
    EXPECT_EQ(outs[1][0].dtype(), DType::BF16);
    const char* what[] = {" y", " gx", " gw", " gb"};
    for (int k = 0; k < 4; ++k) EXPECT_TRUE(same(outs[1][k], outs[0][k], n + what[k]));
  }
}

// ---- pools ------------------------------------------------------------------------------------

// f on a BF16 x (native) against f on x.to(F32) rounded back: output and input gradient.
void expect_pool_matches(const std::function<Tensor(const Tensor&)>& f, Shape shape, bool strided,
                         const std::string& n) {
  Tensor outs[2][2];
  for (int native = 0; native < 2; ++native) {
    Generator gen(3);
    // Coarse values (multiples of 1/4 in [-2, 2]): ties inside a window test the first-maximum rule.
    Shape stored = shape;
    if (strided) std::swap(stored[2], stored[3]);
    std::vector<double> v = to_vector<double>(randn(stored, gen));
    for (double& e : v) e = std::round(e * 4.0) / 4.0;
    const Tensor xl = leaf(from_vector(v, stored).to(DType::BF16));
    const Tensor x = strided ? xl.transpose(2, 3) : xl;  // strided: a view of a tensor stored [N, C, W, H]
    Tensor y = native ? f(x) : f(widen(x)).to(DType::BF16);
    Generator gg(4);
    y.backward(randn(y.shape(), gg).to(DType::BF16));
    outs[native][0] = y;
    outs[native][1] = xl.grad();
  }
  EXPECT_EQ(outs[1][0].dtype(), DType::BF16) << n;
  EXPECT_TRUE(same(outs[1][0], outs[0][0], n + " y"));
  EXPECT_TRUE(same(outs[1][1], outs[0][1], n + " gx"));
}

TEST(Bf16Native, PoolsMatchTheWidenPath) {
  for (bool strided : {false, true}) {
    const std::string st = strided ? " strided" : "";
    for (const Shape& s : {Shape{2, 3, 13, 11}, Shape{1, 4, 8, 8}, Shape{3, 2, 5, 7}}) {
      const std::string sn = to_string(s) + st;
      ops::Pool2dOptions m3{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
      expect_pool_matches([&](const Tensor& x) { return ops::max_pool2d(x, m3); }, s, strided, "max 3x3/2" + sn);
      ops::Pool2dOptions m2{.kernel = {2, 3}, .stride = {1, 2}, .dilation = {2, 1}, .ceil_mode = true};
      expect_pool_matches([&](const Tensor& x) { return ops::max_pool2d(x, m2); }, s, strided, "max dilated" + sn);
      for (bool pad : {true, false}) {
        ops::Pool2dOptions a{.kernel = {3, 2}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true,
                             .count_include_pad = pad};
        expect_pool_matches([&](const Tensor& x) { return ops::avg_pool2d(x, a); }, s, strided,
                            std::string("avg ") + (pad ? "include_pad" : "exclude_pad") + sn);
      }
      expect_pool_matches([](const Tensor& x) { return ops::adaptive_avg_pool2d(x, 3, 2); }, s, strided,
                          "adaptive 3x2" + sn);
      expect_pool_matches([](const Tensor& x) { return ops::global_avg_pool(x); }, s, strided, "global" + sn);
    }
  }
}

}  // namespace
}  // namespace nkd
