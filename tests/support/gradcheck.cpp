// Central-difference gradient check.
#include "tests/support/gradcheck.h"

#include <cmath>
#include <sstream>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/factory.h"

namespace nkd::testing {
namespace {

// L = sum_k <c_k, out_k>, evaluated in double without recording a graph.
double loss_value(const OpFn& fn, const std::vector<Tensor>& inputs,
                  const std::vector<Tensor>& cotangents) {
  NoGradGuard no_grad;
  const std::vector<Tensor> outs = fn(inputs);
  double l = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!cotangents[k].defined()) continue;
    const std::vector<double> o = to_vector<double>(outs[k]), c = to_vector<double>(cotangents[k]);
    for (size_t i = 0; i < o.size(); ++i) l += o[i] * c[i];
  }
  return l;
}

}  // namespace

std::vector<Tensor> random_cotangents(const std::vector<Tensor>& outputs, uint64_t seed) {
  Generator gen(seed, 0x5eed);
  std::vector<Tensor> c;
  for (const Tensor& o : outputs)
    c.push_back(is_floating(o.dtype()) ? randn(o.shape(), gen, {DType::F64, kCPU}) : Tensor());
  return c;
}

std::vector<Tensor> analytic_grads(const OpFn& fn, const std::vector<Tensor>& inputs,
                                   const std::vector<Tensor>& cotangents) {
  for (const Tensor& x : inputs) x.zero_grad();
  const std::vector<Tensor> outs = fn(inputs);
  std::vector<Tensor> roots, grads;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!cotangents[k].defined() || !outs[k].requires_grad()) continue;
    roots.push_back(outs[k]);
    grads.push_back(cotangents[k].to(outs[k].dtype()));
  }
  if (!roots.empty()) run_backward(roots, grads, false);
  std::vector<Tensor> g;
  for (const Tensor& x : inputs) {
    if (!x.requires_grad()) {
      g.emplace_back();
      continue;
    }
    // An input the outputs do not depend on has zero gradient.
    g.push_back(x.grad().defined() ? x.grad() : zeros_like(x));
  }
  return g;
}

GradcheckResult gradcheck(const OpFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
  std::vector<Tensor> outs;
  {
    NoGradGuard no_grad;
    outs = fn(inputs);
  }
  const std::vector<Tensor> cot = random_cotangents(outs, opt.seed);
  const std::vector<Tensor> analytic = analytic_grads(fn, inputs, cot);

  GradcheckResult result;
  std::ostringstream report;
  for (size_t j = 0; j < inputs.size(); ++j) {
    const Tensor& x = inputs[j];
    if (!x.requires_grad()) continue;
    NKD_CHECK(x.dtype() == DType::F64 && x.is_contiguous() && x.device().is_cpu(),
              "gradcheck: input ", j, " must be a contiguous F64 CPU tensor, got ", describe(x));
    const std::vector<double> a = to_vector<double>(analytic[j]);
    double* p = x.data<double>();
    double worst = 0;
    int64_t worst_i = -1, bad = 0;
    double worst_num = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double saved = p[i];
      p[i] = saved + opt.eps;
      const double lp = loss_value(fn, inputs, cot);
      p[i] = saved - opt.eps;
      const double lm = loss_value(fn, inputs, cot);
      p[i] = saved;
      const double num = (lp - lm) / (2 * opt.eps);
      const double err = std::abs(num - a[i]);
      if (!(err <= opt.atol + opt.rtol * std::abs(num))) {
        ++bad;
        if (worst_i < 0 || err > worst || std::isnan(err)) {
          worst = err;
          worst_i = i;
          worst_num = num;
        }
      }
    }
    if (bad > 0) {
      result.ok = false;
      report << "input " << j << " " << describe(x) << ": " << bad << " of " << x.numel()
             << " gradient elements wrong; worst at " << worst_i << ": analytic " << a[worst_i]
             << ", numerical " << worst_num << "\n";
    }
  }
  result.report = report.str();
  return result;
}

}  // namespace nkd::testing
