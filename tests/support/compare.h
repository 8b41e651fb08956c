// Tensor comparison for tests: |actual - expected| <= atol + rtol * |expected| elementwise,
// reporting the worst element, its index and both values on failure.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "engine/tensor.h"

namespace nkd::testing {

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol,
                                     double rtol, const std::string& what = "");

}  // namespace nkd::testing

#define NKD_EXPECT_CLOSE(actual, expected, atol, rtol) \
  EXPECT_TRUE(::nkd::testing::all_close((actual), (expected), (atol), (rtol), #actual))
