// Initialisers.
#include "layers/init.h"

#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"

namespace nkd::layers::init {
namespace {
void assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  ops::copy_(t, values.to(t.device()));
}
int64_t receptive(const Tensor& w) {
  int64_t r = 1;
  for (int64_t d = 2; d < w.ndim(); ++d) r *= w.size(d);
  return r;
}
}  // namespace

Generator& default_generator() {
  static Generator gen(0, 0xdefa017);
  return gen;
}

int64_t fan_in(const Tensor& w) {
  NKD_CHECK(w.ndim() >= 2, "init: fan of a ", w.ndim(), "-d tensor is undefined");
  return w.size(1) * receptive(w);
}

int64_t fan_out(const Tensor& w) {
  NKD_CHECK(w.ndim() >= 2, "init: fan of a ", w.ndim(), "-d tensor is undefined");
  return w.size(0) * receptive(w);
}

void constant(const Tensor& t, double value) { assign(t, full({}, value, {t.dtype(), kCPU})); }

void normal(const Tensor& t, double mean, double std, Generator& gen) {
  std::vector<double> v = to_vector<double>(randn(t.shape(), gen, {DType::F64, kCPU}));
  for (double& x : v) x = mean + std * x;
  assign(t, from_vector(v, t.shape()));
}

void uniform(const Tensor& t, double low, double high, Generator& gen) {
  assign(t, nkd::uniform(t.shape(), low, high, gen, {DType::F64, kCPU}));
}

void trunc_normal(const Tensor& t, double std, Generator& gen, double mean, double a, double b) {
  // Inverse-CDF sampling of the truncated normal (the method of timm's trunc_normal_).
  auto cdf = [](double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); };
  const double lo = cdf((a - mean) / std), hi = cdf((b - mean) / std);
  std::vector<double> u = to_vector<double>(nkd::uniform(t.shape(), 0, 1, gen, {DType::F64, kCPU}));
  for (double& x : u) {
    const double p = std::min(std::max(2 * (lo + (hi - lo) * x) - 1, -1 + 1e-15), 1 - 1e-15);
    // erfinv by Newton iterations on erf (the domain is kept inside (-1, 1) above).
    double y = 0;
    for (int it = 0; it < 60; ++it) {
      const double err = std::erf(y) - p;
      y -= err / (2 / std::sqrt(M_PI) * std::exp(-y * y));
      if (std::abs(err) < 1e-15) break;
    }
    x = std::min(std::max(mean + std * std::sqrt(2.0) * y, a), b);
  }
  assign(t, from_vector(u, t.shape()));
}

void kaiming_normal(const Tensor& w, bool use_fan_out, Generator& gen) {
  const double fan = static_cast<double>(use_fan_out ? fan_out(w) : fan_in(w));
  normal(w, 0.0, std::sqrt(2.0 / fan), gen);
}

void pytorch_default(const Tensor& w, const Tensor& b, Generator& gen) {
  // kaiming_uniform(a = sqrt(5)): gain = sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / fan_in).
  const double fi = static_cast<double>(fan_in(w));
  const double bound = std::sqrt(1.0 / 3.0) * std::sqrt(3.0 / fi);
  uniform(w, -bound, bound, gen);
  if (b.defined()) uniform(b, -1 / std::sqrt(fi), 1 / std::sqrt(fi), gen);
}

}  // namespace nkd::layers::init
