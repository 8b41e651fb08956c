// all_close: elementwise tolerance check with a readable failure report.
#include "tests/support/compare.h"

#include <cmath>
#include <sstream>

#include "engine/factory.h"

namespace nkd::testing {

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol,
                                     double rtol, const std::string& what) {
  if (!actual.defined() || !expected.defined()) {
    if (actual.defined() == expected.defined()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << what << ": one tensor is undefined (actual " << describe(actual) << ", expected "
           << describe(expected) << ")";
  }
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << what << ": shape " << to_string(actual.shape())
                                         << " != expected " << to_string(expected.shape());
  const std::vector<double> a = to_vector<double>(actual), e = to_vector<double>(expected);
  double worst = -1;
  size_t worst_i = 0;
  size_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - e[i]);
    const bool ok = err <= atol + rtol * std::abs(e[i]) || (std::isnan(a[i]) && std::isnan(e[i])) ||
                    (std::isinf(a[i]) && a[i] == e[i]);
    if (!ok) ++bad;
    const double excess = std::isnan(err) ? INFINITY : err - rtol * std::abs(e[i]);
    if (!ok && excess > worst) {
      worst = excess;
      worst_i = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os << what << ": " << bad << " of " << a.size() << " elements differ (atol " << atol << ", rtol "
     << rtol << "); worst at flat index " << worst_i << ": actual " << a[worst_i] << ", expected "
     << e[worst_i];
  return ::testing::AssertionFailure() << os.str();
}

}  // namespace nkd::testing
