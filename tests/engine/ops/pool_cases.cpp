// Op-table cases: max_pool2d, avg_pool2d, adaptive_avg_pool2d, global_avg_pool. References are
// naive loops over kernel offsets (padding handled by bounds tests, divisors counted position by
// position); "_nhwc" cases feed a permuted (channels-last strided) view.
#include <cmath>
#include <limits>

#include "engine/ops/pool.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;
using K = InputKind;
using ops::Pool2dOptions;

// x0 as NCHW: x0 itself, or x0 [N, H, W, C] permuted (a strided view).
Tensor nchw(const Tensor& x, bool nhwc) { return nhwc ? x.permute({0, 3, 1, 2}) : x; }

// Output size by the definition: floor or ceil of the span over the stride, plus one; with ceil,
// a last window starting past the input and its left padding is dropped.
int64_t ref_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const double span = static_cast<double>(in + 2 * p - d * (k - 1) - 1) / static_cast<double>(s);
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(span) : std::floor(span)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct Geo {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil_mode, include_pad;
};

Geo geo(const Pool2dOptions& o) {
  return {o.kernel[0],
          o.kernel[1],
          o.stride[0] ? o.stride[0] : o.kernel[0],
          o.stride[1] ? o.stride[1] : o.kernel[1],
          o.padding[0],
          o.padding[1],
          o.dilation[0],
          o.dilation[1],
          o.ceil_mode,
          o.count_include_pad};
}

Tensor ref_max_pool(const HostArray& x, const Geo& g) {
  const int64_t H = x.shape[2], W = x.shape[3];
  HostArray y({x.shape[0], x.shape[1], ref_out(H, g.kh, g.sh, g.ph, g.dh, g.ceil_mode),
               ref_out(W, g.kw, g.sw, g.pw, g.dw, g.ceil_mode)});
  for_each_index(y.shape, [&](const std::vector<int64_t>& o) {
    double best = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t h = o[2] * g.sh - g.ph + i * g.dh, w = o[3] * g.sw - g.pw + j * g.dw;
        if (h >= 0 && h < H && w >= 0 && w < W) best = std::max(best, x.at({o[0], o[1], h, w}));
      }
    }
    y.at(o) = best;
  });
  return y.tensor();
}

// Window positions inside the padded input count towards the count_include_pad divisor; those
// inside the input also towards the valid count.
Tensor ref_avg_pool(const HostArray& x, const Geo& g) {
  const int64_t H = x.shape[2], W = x.shape[3];
  HostArray y({x.shape[0], x.shape[1], ref_out(H, g.kh, g.sh, g.ph, 1, g.ceil_mode),
               ref_out(W, g.kw, g.sw, g.pw, 1, g.ceil_mode)});
  for_each_index(y.shape, [&](const std::vector<int64_t>& o) {
    double sum = 0;
    int64_t padded = 0, valid = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t h = o[2] * g.sh - g.ph + i, w = o[3] * g.sw - g.pw + j;
        if (h < H + g.ph && w < W + g.pw) ++padded;
        if (h < 0 || h >= H || w < 0 || w >= W) continue;
        ++valid;
        sum += x.at({o[0], o[1], h, w});
      }
    }
    y.at(o) = sum / static_cast<double>(g.include_pad ? padded : valid);
  });
  return y.tensor();
}

Tensor ref_adaptive(const HostArray& x, int64_t P, int64_t Q) {
  const int64_t H = x.shape[2], W = x.shape[3];
  HostArray y({x.shape[0], x.shape[1], P, Q});
  for_each_index(y.shape, [&](const std::vector<int64_t>& o) {
    const auto lo = [](int64_t i, int64_t n, int64_t m) {
      return static_cast<int64_t>(std::floor(static_cast<double>(i * n) / static_cast<double>(m)));
    };
    const auto hi = [](int64_t i, int64_t n, int64_t m) {
      return static_cast<int64_t>(
          std::ceil(static_cast<double>((i + 1) * n) / static_cast<double>(m)));
    };
    double sum = 0;
    int64_t count = 0;
    for (int64_t h = lo(o[2], H, P); h < hi(o[2], H, P); ++h)
      for (int64_t w = lo(o[3], W, Q); w < hi(o[3], W, Q); ++w, ++count)
        sum += x.at({o[0], o[1], h, w});
    y.at(o) = sum / static_cast<double>(count);
  });
  return y.tensor();
}

Tensor ref_global(const HostArray& x) {
  HostArray y({x.shape[0], x.shape[1]});
  for_each_index(x.shape, [&](const std::vector<int64_t>& i) { y.at({i[0], i[1]}) += x.at(i); });
  for (double& e : y.v) e /= static_cast<double>(x.shape[2] * x.shape[3]);
  return y.tensor();
}

// One case: `torch` uses X for the NCHW input expression.
void add(std::vector<OpCase>& cases, const std::string& op, const std::string& tag, Shape s,
         bool nhwc, K kind, std::function<Tensor(const Tensor&)> f,
         std::function<Tensor(const HostArray&)> ref, std::string torch) {
  const std::string xexpr = nhwc ? "x0.permute(0, 3, 1, 2)" : "x0";
  for (size_t at = torch.find('X'); at != std::string::npos; at = torch.find('X'))
    torch.replace(at, 1, xexpr);
  cases.push_back(
      {.op = op,
       .name = op + "/" + tag + (nhwc ? "_nhwc" : ""),
       .inputs = {{s, kind}},
       .fn = [f, nhwc](const V& x) { return V{f(nchw(x[0], nhwc))}; },
       .reference = [ref, nhwc](const V& x) { return V{ref(HostArray(nchw(x[0], nhwc)))}; },
       .torch = torch});
}

void max_case(std::vector<OpCase>& cases, const std::string& tag, Shape s, Pool2dOptions o,
              const std::string& args, bool nhwc = false) {
  add(
      cases, "max_pool2d", tag, std::move(s), nhwc, K::Distinct,
      [o](const Tensor& x) { return ops::max_pool2d(x, o); },
      [o](const HostArray& x) { return ref_max_pool(x, geo(o)); }, "F.max_pool2d(X, " + args + ")");
}

void avg_case(std::vector<OpCase>& cases, const std::string& tag, Shape s, Pool2dOptions o,
              const std::string& args, bool nhwc = false) {
  add(
      cases, "avg_pool2d", tag, std::move(s), nhwc, K::Normal,
      [o](const Tensor& x) { return ops::avg_pool2d(x, o); },
      [o](const HostArray& x) { return ref_avg_pool(x, geo(o)); }, "F.avg_pool2d(X, " + args + ")");
}

void adaptive_case(std::vector<OpCase>& cases, Shape s, int64_t P, int64_t Q,
                   const std::string& args, bool nhwc = false) {
  const std::string tag = "to_" + std::to_string(P) + "x" + std::to_string(Q) + "_from_" +
                          std::to_string(s[nhwc ? 1 : 2]) + "x" + std::to_string(s[nhwc ? 2 : 3]);
  add(
      cases, "adaptive_avg_pool2d", tag, std::move(s), nhwc, K::Normal,
      [P, Q](const Tensor& x) { return ops::adaptive_avg_pool2d(x, P, Q); },
      [P, Q](const HostArray& x) { return ref_adaptive(x, P, Q); },
      "F.adaptive_avg_pool2d(X, " + args + ")");
}

}  // namespace

NKD_OP_CASES(max_pool2d) {
  max_case(cases, "stem_k3s2p1_batch1", {1, 2, 9, 9},
           {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}, "3, stride=2, padding=1");
  max_case(cases, "k2_default_stride", {2, 3, 6, 6}, {.kernel = {2, 2}}, "2");
  max_case(cases, "odd_k3s2p1_ceil", {2, 2, 7, 5},
           {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true},
           "3, stride=2, padding=1, ceil_mode=True");
  max_case(cases, "k2_ceil_odd", {1, 2, 5, 5}, {.kernel = {2, 2}, .ceil_mode = true},
           "2, ceil_mode=True");
  max_case(cases, "dilation2", {1, 3, 7, 7},
           {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}, .dilation = {2, 2}},
           "3, stride=1, padding=1, dilation=2");
  max_case(cases, "dilation2_stride2_ceil", {2, 2, 8, 7},
           {.kernel = {2, 2},
            .stride = {2, 2},
            .padding = {1, 1},
            .dilation = {2, 2},
            .ceil_mode = true},
           "2, stride=2, padding=1, dilation=2, ceil_mode=True");
  max_case(cases, "rect_k2x3_s1x2_p0x1", {2, 2, 5, 8},
           {.kernel = {2, 3}, .stride = {1, 2}, .padding = {0, 1}},
           "(2, 3), stride=(1, 2), padding=(0, 1)");
  max_case(cases, "k3s2p1", {2, 6, 6, 3}, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
           "3, stride=2, padding=1", true);
}

NKD_OP_CASES(avg_pool2d) {
  avg_case(cases, "k2_default_stride", {2, 3, 6, 6}, {.kernel = {2, 2}}, "2");
  avg_case(cases, "stem_k3s2p1_batch1", {1, 2, 9, 9},
           {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}, "3, stride=2, padding=1");
  avg_case(cases, "k3s2p1_exclude_pad", {2, 2, 7, 5},
           {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .count_include_pad = false},
           "3, stride=2, padding=1, count_include_pad=False");
  avg_case(cases, "k2_ceil_odd", {1, 2, 5, 5}, {.kernel = {2, 2}, .ceil_mode = true},
           "2, ceil_mode=True");
  // The last windows run past the padded input and are clipped (divisor 2 x 3, not 3 x 3).
  avg_case(cases, "k3s2p1_ceil_clipped", {2, 2, 6, 7},
           {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true},
           "3, stride=2, padding=1, ceil_mode=True");
  avg_case(cases, "k3s2p1_ceil_exclude_pad", {1, 3, 5, 6},
           {.kernel = {3, 3},
            .stride = {2, 2},
            .padding = {1, 1},
            .ceil_mode = true,
            .count_include_pad = false},
           "3, stride=2, padding=1, ceil_mode=True, count_include_pad=False");
  avg_case(cases, "rect_k3x2_s2x1_p1x0", {2, 2, 5, 8},
           {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 0}},
           "(3, 2), stride=(2, 1), padding=(1, 0)");
  avg_case(cases, "k2s1", {2, 5, 5, 3}, {.kernel = {2, 2}, .stride = {1, 1}}, "2, stride=1", true);
}

NKD_OP_CASES(adaptive_avg_pool2d) {
  adaptive_case(cases, {2, 3, 7, 5}, 3, 2, "(3, 2)");
  adaptive_case(cases, {1, 2, 6, 6}, 4, 4, "4");  // overlapping windows
  adaptive_case(cases, {2, 2, 3, 3}, 5, 5, "5");  // output larger than input
  adaptive_case(cases, {2, 3, 4, 4}, 1, 1, "1");
  adaptive_case(cases, {2, 5, 7, 3}, 2, 3, "(2, 3)", true);
}

NKD_OP_CASES(global_avg_pool) {
  const auto f = [](const Tensor& x) { return ops::global_avg_pool(x); };
  add(cases, "global_avg_pool", "2x3x5x7", {2, 3, 5, 7}, false, K::Normal, f, ref_global,
      "X.mean(dim=(2, 3))");
  add(cases, "global_avg_pool", "batch1_1x1", {1, 2, 1, 1}, false, K::Normal, f, ref_global,
      "X.mean(dim=(2, 3))");
  add(cases, "global_avg_pool", "2x4x3x5", {2, 4, 3, 5}, true, K::Normal, f, ref_global,
      "X.mean(dim=(2, 3))");
}

}  // namespace nkd::testing
