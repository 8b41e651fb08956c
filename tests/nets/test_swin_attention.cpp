// Swin numerics without PyTorch: the relative position index (mmcls construction), the shifted-window
// mask (-100 between regions), ShiftWindowMSA against a brute-force per-token reference (shift,
// padding, small maps), PatchMerging's Unfold channel order, and a forward / backward / overfit run.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/softmax.h"
#include "engine/optim/optimizer.h"
#include "layers/init.h"
#include "nets/swin.h"
#include "tests/support/compare.h"

namespace nkd::nets {
namespace {

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  const Tensor picked = ops::gather(ops::log_softmax(logits, 1), 1, labels.reshape({labels.numel(), 1}));
  return ops::neg(ops::mean(picked));
}

TEST(SwinAttention, RelativePositionIndexIsMmclsDoubleStepSeq) {
  for (int64_t w : {3, 7}) {
    // mmcls: coords = double_step_seq(2w - 1, w, 1, w); index = (coords + coords^T).flip(1).
    const int64_t n = w * w;
    std::vector<int64_t> coords(n);
    for (int64_t i = 0; i < w; ++i)
      for (int64_t j = 0; j < w; ++j) coords[i * w + j] = i * (2 * w - 1) + j;
    const std::vector<int64_t> index = to_vector<int64_t>(relative_position_index(w));
    ASSERT_EQ(static_cast<int64_t>(index.size()), n * n);
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = 0; q < n; ++q)
        ASSERT_EQ(index[p * n + q], coords[p] + coords[n - 1 - q]);
  }
  EXPECT_EQ(to_vector<int64_t>(relative_position_index(7))[0], 84);  // (6, 6): the table's centre
}

TEST(SwinAttention, ShiftedWindowMaskSeparatesRegions) {
  const std::vector<float> m = to_vector<float>(shifted_window_mask(14, 14, 7, 3, {}));
  ASSERT_EQ(m.size(), 4u * 49 * 49);
  auto at = [&](int64_t w, int64_t p, int64_t q) { return m[(w * 49 + p) * 49 + q]; };
  int masked[4] = {0, 0, 0, 0};
  for (int64_t w = 0; w < 4; ++w)
    for (int64_t i = 0; i < 49 * 49; ++i) masked[w] += at(w, i / 49, i % 49) == -100.0f;
  EXPECT_EQ(masked[0], 0);  // the top-left window holds one region
  // Last column / row of windows: 2 regions (4 + 3 rows or columns); the corner window 4 regions.
  EXPECT_EQ(masked[1], 2 * 28 * 21);
  EXPECT_EQ(masked[2], 2 * 28 * 21);
  EXPECT_EQ(masked[3], 49 * 49 - (16 * 16 + 12 * 12 + 12 * 12 + 9 * 9));
  EXPECT_EQ(at(3, 0, 3 * 7 + 3), 0.0f);     // (0, 0) and (3, 3): both from the map's interior
  EXPECT_EQ(at(3, 0, 4 * 7 + 0), -100.0f);  // (0, 0) and (4, 0): row 4 wrapped round from the top
  EXPECT_EQ(at(3, 6 * 7 + 6, 4 * 7 + 4), 0.0f);
  // Any map: two tokens of a window may attend iff neither axis puts them a wrap apart.
  const int64_t hp = 21, wp = 14, win = 7, s = 3;
  const std::vector<float> big = to_vector<float>(shifted_window_mask(hp, wp, win, s, {}));
  for (int64_t w = 0; w < 6; ++w)
    for (int64_t p = 0; p < 49; ++p)
      for (int64_t q = 0; q < 49; ++q) {
        auto orig = [&](int64_t t, bool row) {
          const int64_t base = row ? (w / 2) * win + t / win : (w % 2) * win + t % win;
          return (base + s) % (row ? hp : wp);
        };
        const bool same = std::abs(orig(p, true) - orig(q, true)) < win &&
                          std::abs(orig(p, false) - orig(q, false)) < win;
        ASSERT_EQ(big[(w * 49 + p) * 49 + q], same ? 0.0f : -100.0f) << w << " " << p << " " << q;
      }
}

// Brute force: every output token attends over its window of the cyclically shifted, zero-padded map.
struct MsaReference {
  std::vector<double> wq, bq, wo, bo, table, x;  // qkv [3C, C] + [3C], proj [C, C] + [C], x [B, H, W, C]
  int64_t heads, c, h, w, win, shift, hp, wp;

  MsaReference(ShiftWindowMSA& m, const Tensor& input, int64_t window, int64_t s)
      : wq(values(m.w_msa->qkv->weight)), bq(values(m.w_msa->qkv->bias)), wo(values(m.w_msa->proj->weight)),
        bo(values(m.w_msa->proj->bias)), table(values(m.w_msa->relative_position_bias_table)), x(values(input)),
        heads(m.w_msa->num_heads()), c(input.size(3)), h(input.size(1)), w(input.size(2)), win(window),
        shift(s), hp((h + win - 1) / win * win), wp((w + win - 1) / win * win) {}
  static std::vector<double> values(const Tensor& t) { return to_vector<double>(t.to(DType::F64)); }

  // Row o of qkv for the token at shifted position (sh, sw) of image n (zero input when padded).
  double qkv(int64_t n, int64_t sh, int64_t sw, int64_t o) const {
    const int64_t oh = (sh + shift) % hp, ow = (sw + shift) % wp;
    double acc = bq[o];
    if (oh < h && ow < w)
      for (int64_t k = 0; k < c; ++k) acc += wq[o * c + k] * x[((n * h + oh) * w + ow) * c + k];
    return acc;
  }
  // Two shifted rows (columns) that came from opposite sides of the wrap: masked when shifting.
  bool apart(int64_t a, int64_t b, int64_t size) const {
    return shift > 0 && std::abs((a + shift) % size - (b + shift) % size) >= win;
  }
  // Attention of the token at shifted position (sh, sw) over its window; heads concatenated, [C].
  std::vector<double> attend(int64_t n, int64_t sh, int64_t sw) const {
    const int64_t hd = c / heads, h0 = sh / win * win, w0 = sw / win * win;
    std::vector<double> out(c, 0.0), p(win * win);
    for (int64_t head = 0; head < heads; ++head) {
      double mx = -1e300, z = 0;
      for (int64_t t = 0; t < win * win; ++t) {
        const int64_t th = h0 + t / win, tw = w0 + t % win;
        double dot = 0;
        for (int64_t d = 0; d < hd; ++d)
          dot += qkv(n, sh, sw, head * hd + d) * qkv(n, th, tw, c + head * hd + d);
        const int64_t rel = (sh - th + win - 1) * (2 * win - 1) + (sw - tw + win - 1);
        const bool masked = apart(sh, th, hp) || apart(sw, tw, wp);
        p[t] = dot / std::sqrt(static_cast<double>(hd)) + table[rel * heads + head] + (masked ? -100.0 : 0.0);
        mx = std::max(mx, p[t]);
      }
      for (double& l : p) z += (l = std::exp(l - mx));
      for (int64_t t = 0; t < win * win; ++t)
        for (int64_t d = 0; d < hd; ++d)
          out[head * hd + d] += p[t] / z * qkv(n, h0 + t / win, w0 + t % win, 2 * c + head * hd + d);
    }
    return out;
  }
  std::vector<double> output(int64_t batch) const {
    std::vector<double> y(x.size());
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t oh = 0; oh < h; ++oh)
        for (int64_t ow = 0; ow < w; ++ow) {
          const std::vector<double> a = attend(n, (oh - shift + hp) % hp, (ow - shift + wp) % wp);
          for (int64_t o = 0; o < c; ++o) {
            double acc = bo[o];
            for (int64_t k = 0; k < c; ++k) acc += wo[o * c + k] * a[k];
            y[((n * h + oh) * w + ow) * c + o] = acc;
          }
        }
    return y;
  }
};

TEST(SwinAttention, ShiftWindowMsaMatchesBruteForce) {
  struct Case { int64_t h, w, win, shift, expected_shift; };
  // Shifted with bottom padding; unshifted; a map equal to the window (shift off, as mmcls); a map
  // smaller than the window (padded, shift off); a non-square map with padding on both axes.
  for (const Case k : {Case{10, 12, 4, 2, 2}, Case{8, 8, 4, 0, 0}, Case{4, 9, 4, 2, 0}, Case{3, 5, 4, 2, 0},
                       Case{9, 7, 3, 1, 1}}) {
    SCOPED_TRACE(std::to_string(k.h) + "x" + std::to_string(k.w) + " window " + std::to_string(k.win));
    const int64_t b = 2, c = 8;
    ShiftWindowMSA m(c, 2, k.win, k.shift, 0.0);
    EXPECT_EQ(m.effective_shift(k.h, k.w), k.expected_shift);
    Generator gen(11);
    layers::init::normal(m.w_msa->relative_position_bias_table, 0.0, 0.5, gen);
    const Tensor x = randn({b, k.h, k.w, c}, gen);
    const Tensor y = m.forward(x);
    ASSERT_EQ(y.shape(), x.shape());
    const std::vector<double> ref = MsaReference(m, x, k.win, k.expected_shift).output(b);
    EXPECT_TRUE(testing::all_close(y, from_vector(ref, x.shape()), 1e-5, 1e-5, "ShiftWindowMSA"));
  }
}

TEST(SwinAttention, PatchMergingUsesUnfoldChannelOrder) {
  const int64_t c = 3, h = 3, w = 5;  // odd sizes: zero-padded to 4 x 6, as mmcls's corner padding
  PatchMerging merge(c, 4);
  Generator gen(3);
  layers::init::normal(merge.norm->weight, 1.0, 0.3, gen);
  layers::init::normal(merge.norm->bias, 0.0, 0.3, gen);
  const Tensor x = randn({1, h, w, c}, gen);
  const std::vector<float> xv = to_vector<float>(x);
  std::vector<float> merged(2 * 3 * 4 * c, 0.0f);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t kh = 0; kh < 2; ++kh)
          for (int64_t kw = 0; kw < 2; ++kw)
            if (2 * i + kh < h && 2 * j + kw < w)
              merged[(i * 3 + j) * 4 * c + ch * 4 + kh * 2 + kw] = xv[((2 * i + kh) * w + 2 * j + kw) * c + ch];
  const Tensor merged_x = from_vector(merged, {1, 2, 3, 4 * c});
  const Tensor expected = merge.reduction->forward(merge.norm->forward(merged_x));
  const Tensor y = merge.forward(x);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 3, 4}));
  EXPECT_TRUE(testing::all_close(y, expected, 1e-6, 1e-6, "PatchMerging"));
}

TEST(SwinNet, ForwardBackwardAtSmallInput) {
  // 64 x 64: stage maps 16 (padded to 21, shifted), 8 (padded to 14, shifted), 4 and 2 (padded to 7).
  const auto net = build_net("swin_tiny", {.num_classes = 7, .width = 0.25, .drop_path_rate = 0.2}, 3);
  layers::seed_random_layers(*net, 9);
  auto& backbone = dynamic_cast<SwinTransformer&>(net->backbone());
  Generator gen(1);
  const Tensor x = randn({2, 3, 64, 64}, gen);
  const std::vector<Tensor> stages = backbone.forward_stages(x);
  ASSERT_EQ(stages.size(), 4u);
  EXPECT_EQ(stages[0].shape(), (Shape{2, 24, 16, 16}));
  EXPECT_EQ(stages[1].shape(), (Shape{2, 48, 8, 8}));
  EXPECT_EQ(stages[2].shape(), (Shape{2, 96, 4, 4}));
  EXPECT_EQ(stages[3].shape(), (Shape{2, 192, 2, 2}));
  const ClassifierOutput out = net->forward_with_mid(x);
  EXPECT_EQ(out.logits.shape(), (Shape{2, 7}));
  EXPECT_EQ(out.mid_feature.shape(), (Shape{2, 96}));
  // Every parameter, norm0 and norm1 included, gets a gradient through this loss.
  Tensor loss = cross_entropy(out.logits, from_vector<int64_t>({1, 6}, {2}));
  for (const Tensor& s : stages) loss = ops::add(loss, ops::mul(ops::mean(ops::mul(s, s)), 0.01));
  loss.backward();
  for (const auto& [name, p] : net->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    const std::vector<float> g = to_vector<float>(p.grad());
    EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](float v) { return std::isfinite(v); })) << name;
    EXPECT_TRUE(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.0f; })) << name;
  }
  // Drop-path is random in training and off in evaluation.
  const Tensor train_a = net->forward(x), train_b = net->forward(x);
  net->eval();
  const Tensor eval_a = net->forward(x), eval_b = net->forward(x);
  EXPECT_EQ(to_vector<float>(eval_a), to_vector<float>(eval_b));
  EXPECT_NE(to_vector<float>(train_a), to_vector<float>(train_b));
  EXPECT_THROW(backbone.forward_stages(randn({1, 1, 32, 32}, gen)), Error);
}

TEST(SwinNet, OverfitsOneBatch) {
  const auto net = build_net("swin_tiny", {.num_classes = 4, .width = 0.25}, 7);
  Generator gen(2);
  const Tensor x = randn({8, 3, 32, 32}, gen);
  const Tensor labels = from_vector<int64_t>({3, 1, 0, 1, 2, 0, 2, 3}, {8});
  optim::AdamW adamw({{net->parameters()}}, {.weight_decay = 0.0});
  double first = 0, last = 0;
  for (int step = 0; step < 12; ++step) {
    adamw.zero_grad();
    const Tensor loss = cross_entropy(net->forward(x), labels);
    last = loss.item();
    if (step == 0) first = last;
    loss.backward();
    adamw.step(2e-3);
  }
  std::printf("[ overfit ] swin_tiny x0.25 at 32 px: loss %.4f -> %.4f in 12 AdamW steps\n", first, last);
  EXPECT_LT(last, 0.1 * first);
}

}  // namespace
}  // namespace nkd::nets
