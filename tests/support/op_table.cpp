// The op-case registry and input generation.
#include "tests/support/op_table.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "engine/factory.h"

namespace nkd::testing {

std::vector<OpCase>& op_cases() {
  static std::vector<OpCase> cases;
  return cases;
}

namespace {
uint64_t name_seed(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char ch : s) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  return h;
}

std::vector<double> values_for(const InputSpec& in, Generator& gen) {
  const int64_t n = numel(in.shape);
  std::vector<double> v = to_vector<double>(randn({n}, gen, {DType::F64, kCPU}));
  switch (in.kind) {
    case InputKind::Normal:
    case InputKind::Index:
      break;
    case InputKind::Positive:
      for (double& x : v) x = 0.5 + 1.5 / (1.0 + std::exp(-x));
      break;
    case InputKind::Kinkless:
      for (double& x : v) {
        x = x >= 0 ? x + 0.05 : x - 0.05;
        if (std::abs(x - 6) < 0.05) x += 0.1;
      }
      break;
    case InputKind::Distinct: {
      // Spacing 0.01 apart keeps every element far from a tie relative to the gradcheck step.
      std::vector<int64_t> order(n);
      for (int64_t i = 0; i < n; ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return v[a] < v[b]; });
      for (int64_t r = 0; r < n; ++r) v[order[r]] = -0.005 * n + 0.01 * r;
      break;
    }
  }
  return v;
}
}  // namespace

std::vector<Tensor> make_inputs(const OpCase& c, DType dtype, bool requires_grad) {
  Generator gen(name_seed(c.name), 1);
  std::vector<Tensor> out;
  for (const InputSpec& in : c.inputs) {
    if (in.kind == InputKind::Index) {
      const Tensor u = uniform(in.shape, 0.0, static_cast<double>(in.high), gen, {DType::F64, kCPU});
      std::vector<int64_t> idx;
      for (double x : to_vector<double>(u)) idx.push_back(std::min<int64_t>(static_cast<int64_t>(x), in.high - 1));
      out.push_back(from_vector(idx, in.shape));
      continue;
    }
    Tensor t = from_vector(values_for(in, gen), in.shape).to(dtype);
    if (requires_grad && in.differentiable) t.set_requires_grad(true);
    out.push_back(t);
  }
  return out;
}

}  // namespace nkd::testing
