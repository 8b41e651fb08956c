// Op-table cases: batch_norm (training and inference, [N, C] and [N, C, H, W], with and without
// affine and running stats), batch_norm_act (+ residual, ReLU / ReLU6) and layer_norm (1 and 2
// trailing dims). References gather each group's elements by coordinates and normalise them with a
// textbook mean and variance.
#include <cmath>

#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;
using K = InputKind;

// y = (x - mean) / sqrt(var + eps) * w + b for each group of x; group(idx) names an element's group
// and param(idx) its weight/bias index.
using IndexFn = std::function<int64_t(const std::vector<int64_t>&)>;

Tensor ref_normalize(const HostArray& x, int64_t groups, const IndexFn& group, const IndexFn& param,
                     const std::vector<double>* mean_in, const std::vector<double>* var_in,
                     const HostArray* w, const HostArray* b, double eps) {
  std::vector<double> sum(groups, 0.0), sq(groups, 0.0), count(groups, 0.0);
  for_each_index(x.shape, [&](const std::vector<int64_t>& i) {
    sum[group(i)] += x.at(i);
    count[group(i)] += 1;
  });
  std::vector<double> mean(groups), var(groups);
  for (int64_t g = 0; g < groups; ++g) mean[g] = mean_in ? (*mean_in)[g] : sum[g] / count[g];
  for_each_index(x.shape, [&](const std::vector<int64_t>& i) {
    const double d = x.at(i) - mean[group(i)];
    sq[group(i)] += d * d;
  });
  for (int64_t g = 0; g < groups; ++g) var[g] = var_in ? (*var_in)[g] : sq[g] / count[g];
  HostArray y(x.shape);
  for_each_index(x.shape, [&](const std::vector<int64_t>& i) {
    const int64_t g = group(i), p = param(i);
    y.at(i) =
        (x.at(i) - mean[g]) / std::sqrt(var[g] + eps) * (w ? w->v[p] : 1.0) + (b ? b->v[p] : 0.0);
  });
  return y.tensor();
}

struct BnCase {
  std::string tag;
  Shape shape;  // of x0 ([N, H, W, C] when nhwc)
  bool training, running, affine, nhwc = false;
  // batch_norm_act: act(batch_norm(.) + residual), the residual (NCHW, x's shape) the last input.
  ops::Act act = ops::Act::kNone;
  bool residual = false;
  double wscale = 1;  // weight * wscale (relu6's clamp at 6 reached)
  bool fused() const { return act != ops::Act::kNone || residual; }
};

void bn_case(std::vector<OpCase>& cases, const BnCase& bc) {
  const int64_t C = bc.shape[bc.nhwc ? 3 : 1];
  std::vector<InputSpec> in = {{bc.shape}};
  if (bc.running) {
    in.push_back({{C}, K::Normal, false});
    in.push_back({{C}, K::Positive, false});
  }
  if (bc.affine) {
    in.push_back({{C}});
    in.push_back({{C}});
  }
  if (bc.residual)
    in.push_back({bc.nhwc ? Shape{bc.shape[0], bc.shape[3], bc.shape[1], bc.shape[2]} : bc.shape});
  const size_t wi = bc.running ? 3 : 1;
  const auto fn = [bc, wi](const V& x) {
    const Tensor x0 = bc.nhwc ? x[0].permute({0, 3, 1, 2}) : x[0];
    const ops::BatchNormOptions o{.training = bc.training, .momentum = 0.1, .eps = 1e-5};
    const Tensor w = bc.affine ? ops::mul(x[wi], bc.wscale) : Tensor(), b = bc.affine ? x[wi + 1] : Tensor();
    const Tensor rm = bc.running ? x[1] : Tensor(), rv = bc.running ? x[2] : Tensor();
    if (!bc.fused()) return V{ops::batch_norm(x0, w, b, rm, rv, o)};
    return V{ops::batch_norm_act(x0, w, b, rm, rv, o, bc.act, bc.residual ? x.back() : Tensor())};
  };
  const auto ref = [bc, wi, C](const V& x) {
    const HostArray h(bc.nhwc ? x[0].permute({0, 3, 1, 2}) : x[0]);
    std::vector<double> rm, rv;
    if (!bc.training) {
      rm = HostArray(x[1]).v;
      rv = HostArray(x[2]).v;
    }
    const HostArray w = bc.affine ? HostArray(ops::mul(x[wi], bc.wscale)) : HostArray(Shape{0});
    const HostArray b = bc.affine ? HostArray(x[wi + 1]) : HostArray(Shape{0});
    const auto channel = [](const std::vector<int64_t>& i) { return i[1]; };
    Tensor y = ref_normalize(h, C, channel, channel, bc.training ? nullptr : &rm, bc.training ? nullptr : &rv,
                             bc.affine ? &w : nullptr, bc.affine ? &b : nullptr, 1e-5);
    if (bc.residual) y = ops::add(y, x.back());
    return V{ops::activate(y, bc.act)};
  };
  const std::string x0 = bc.nhwc ? "x0.permute(0, 3, 1, 2)" : "x0";
  const std::string r = bc.running ? "x1, x2" : "None, None";
  const std::string ws = bc.wscale == 1 ? "" : " * " + std::to_string(bc.wscale);
  const std::string a = !bc.affine ? "None, None" : bc.running ? "x3" + ws + ", x4" : "x1" + ws + ", x2";
  std::string torch = "F.batch_norm(" + x0 + ", " + r + ", " + a + ", training=" + (bc.training ? "True" : "False") +
                      ", eps=1e-5)";
  if (bc.residual) torch += " + x" + std::to_string(in.size() - 1);
  if (bc.act == ops::Act::kReLU) torch = "torch.relu(" + torch + ")";
  if (bc.act == ops::Act::kReLU6) torch = "F.relu6(" + torch + ")";
  const std::string op = bc.fused() ? "batch_norm_act" : "batch_norm";
  cases.push_back({.op = op, .name = op + "/" + bc.tag, .inputs = in, .fn = fn, .reference = ref, .torch = torch});
}

void ln_case(std::vector<OpCase>& cases, const std::string& tag, Shape s, Shape ns, bool affine,
             bool transposed, const std::string& torch) {
  std::vector<InputSpec> in = {{s}};
  if (affine) in.insert(in.end(), {{ns}, {ns}});
  const auto fn = [=](const V& x) {
    const Tensor x0 = transposed ? x[0].transpose(0, 1) : x[0];
    return V{ops::layer_norm(x0, ns, affine ? x[1] : Tensor(), affine ? x[2] : Tensor(), 1e-5)};
  };
  const auto ref = [=](const V& x) {
    const HostArray h(transposed ? x[0].transpose(0, 1) : x[0]);
    const int64_t lead = static_cast<int64_t>(h.shape.size() - ns.size());
    const int64_t d = numel(ns);
    // Row = flat index of the leading dims; param = flat index of the trailing dims.
    const auto row = [=](const std::vector<int64_t>& i) {
      int64_t r = 0;
      for (int64_t k = 0; k < lead; ++k) r = r * h.shape[k] + i[k];
      return r;
    };
    const auto col = [=](const std::vector<int64_t>& i) {
      int64_t c = 0;
      for (size_t k = lead; k < i.size(); ++k) c = c * h.shape[k] + i[k];
      return c;
    };
    const HostArray w = affine ? HostArray(x[1]) : HostArray(Shape{0});
    const HostArray b = affine ? HostArray(x[2]) : HostArray(Shape{0});
    return V{ref_normalize(h, numel(h.shape) / d, row, col, nullptr, nullptr, affine ? &w : nullptr,
                           affine ? &b : nullptr, 1e-5)};
  };
  cases.push_back({.op = "layer_norm",
                   .name = "layer_norm/" + tag,
                   .inputs = in,
                   .fn = fn,
                   .reference = ref,
                   .torch = torch});
}

}  // namespace

NKD_OP_CASES(batch_norm) {
  bn_case(cases, {"train_nchw_affine_running", {4, 3, 3, 3}, true, true, true});
  bn_case(cases, {"train_nc_affine", {5, 2}, true, false, true});
  bn_case(cases, {"train_no_affine", {3, 2, 3, 1}, true, true, false});
  bn_case(cases, {"train_batch1_spatial", {1, 2, 3, 3}, true, false, true});
  bn_case(cases, {"train_odd_c2", {2, 3, 5, 2}, true, true, true, true});
  bn_case(cases, {"eval_nchw_affine", {2, 3, 3, 3}, false, true, true});
  bn_case(cases, {"eval_nc_no_affine", {4, 3}, false, true, false});
  bn_case(cases, {"eval_batch1", {1, 2, 3, 3}, false, true, true, true});
}

// The fused training form (CPU F32 / F64) and the composed one (inference, BF16).
NKD_OP_CASES(batch_norm_act) {
  using ops::Act;
  bn_case(cases, {"train_relu", {4, 3, 3, 3}, true, true, true, false, Act::kReLU});
  bn_case(cases, {"train_residual_relu", {3, 4, 3, 2}, true, true, true, false, Act::kReLU, true});
  bn_case(cases, {"train_nc_relu6_no_affine", {6, 3}, true, false, false, false, Act::kReLU6});
  bn_case(cases, {"train_odd_c2_residual_relu6", {2, 3, 5, 2}, true, true, true, true, Act::kReLU6, true});
  bn_case(cases, {"train_relu6_clamped", {4, 2, 3, 3}, true, true, true, false, Act::kReLU6, false, 6.0});
  bn_case(cases, {"train_residual_no_act", {2, 3, 2, 2}, true, false, true, false, Act::kNone, true});
  bn_case(cases, {"eval_residual_relu", {2, 3, 3, 3}, false, true, true, false, Act::kReLU, true});
}

NKD_OP_CASES(layer_norm) {
  ln_case(cases, "d5", {3, 5}, {5}, true, false, "F.layer_norm(x0, (5,), x1, x2, eps=1e-5)");
  ln_case(cases, "d4x5", {2, 3, 4, 5}, {4, 5}, true, false,
          "F.layer_norm(x0, (4, 5), x1, x2, eps=1e-5)");
  ln_case(cases, "d6_no_affine", {2, 3, 6}, {6}, false, false, "F.layer_norm(x0, (6,), eps=1e-5)");
  ln_case(cases, "transposed_d5", {5, 3}, {5}, true, true,
          "F.layer_norm(x0.t(), (5,), x1, x2, eps=1e-5)");
  ln_case(cases, "tokens_d8", {2, 4, 8}, {8}, true, false,
          "F.layer_norm(x0, (8,), x1, x2, eps=1e-5)");
}

}  // namespace nkd::testing
