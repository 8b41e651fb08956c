// Naive reference helpers.
#include "tests/support/reference.h"

#include <algorithm>

#include "engine/factory.h"

namespace nkd::testing {

HostArray::HostArray(const Tensor& t) : shape(t.shape()), v(to_vector<double>(t)) {}
HostArray::HostArray(Shape s, double fill) : shape(std::move(s)), v(numel(shape), fill) {}

int64_t HostArray::index(const std::vector<int64_t>& idx) const {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + idx[d];
  return flat;
}

Tensor HostArray::tensor() const { return from_vector(v, shape); }

void for_each_index(const Shape& shape, const std::function<void(const std::vector<int64_t>&)>& fn) {
  const int64_t n = numel(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    fn(idx);
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

Tensor ref_unary(const Tensor& x, const std::function<double(double)>& f) {
  HostArray h(x);
  for (double& e : h.v) e = f(e);
  return h.tensor();
}

Tensor ref_binary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
  const HostArray ha(a), hb(b);
  const size_t n = std::max(ha.shape.size(), hb.shape.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i + ha.shape.size() < n ? 1 : ha.shape[i + ha.shape.size() - n];
    const int64_t db = i + hb.shape.size() < n ? 1 : hb.shape[i + hb.shape.size() - n];
    out[i] = std::max(da, db);
  }
  HostArray r(out);
  auto pick = [&](const HostArray& h, const std::vector<int64_t>& idx) {
    std::vector<int64_t> j(h.shape.size());
    for (size_t d = 0; d < h.shape.size(); ++d) {
      const int64_t od = idx[d + n - h.shape.size()];
      j[d] = h.shape[d] == 1 ? 0 : od;
    }
    return h.at(j);
  };
  for_each_index(out, [&](const std::vector<int64_t>& idx) { r.at(idx) = f(pick(ha, idx), pick(hb, idx)); });
  return r.tensor();
}

}  // namespace nkd::testing
