// Helpers shared by the checkpoint-format tests (tests/io).
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "engine/tensor.h"

namespace nkd::io::testing {

// The tensor's elements as raw bytes (row-major).
inline std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.numel() * size_of(c.dtype()));
}

// Same names, dtypes, shapes and bytes, in the same order.
inline void expect_same(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype()) << a[i].first;
    EXPECT_EQ(a[i].second.shape(), b[i].second.shape()) << a[i].first;
    EXPECT_EQ(bytes_of(a[i].second), bytes_of(b[i].second)) << a[i].first;
  }
}

}  // namespace nkd::io::testing
