// Misuse of the shape and indexing ops throws nkd::Error naming the op and the shapes.
#include <gtest/gtest.h>

#include <string>

#include "engine/factory.h"
#include "engine/ops/shape_ops.h"

namespace nkd {
namespace {

// Runs f, expecting an nkd::Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected one mentioning " << parts[0];
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(ShapeErrors, ConcatMismatchedShapes) {
  const Tensor a = zeros({2, 3}), b = zeros({4, 2});
  expect_error([&] { ops::concat({a, b}, 1); }, {"concat", "[2, 3]", "[4, 2]"});
  expect_error([&] { ops::concat({a, zeros({2, 3, 1})}, 0); }, {"concat", "[2, 3]", "[2, 3, 1]"});
  expect_error([&] { ops::concat({a, zeros({2, 3}, {DType::F64})}, 0); }, {"concat", "F32", "F64"});
  expect_error([] { ops::concat({}, 0); }, {"concat"});
}

TEST(ShapeErrors, GatherIndexOutOfRange) {
  const Tensor x = zeros({3, 5});
  const Tensor index = from_vector<int64_t>({0, 4, 5, 1}, {2, 2});
  expect_error([&] { ops::gather(x, 1, index); }, {"gather", "5", "[3, 5]", "[2, 2]"});
  expect_error([&] { ops::gather(x, 1, from_vector<int64_t>({-1}, {1, 1})); }, {"gather", "-1", "[3, 5]"});
  expect_error([&] { ops::gather(x, 0, zeros({2, 2})); }, {"gather", "I64"});
  expect_error([&] { ops::gather(x, 0, from_vector<int64_t>({0, 0, 0, 0, 0, 0}, {1, 6})); },
               {"gather", "[1, 6]", "[3, 5]"});
  expect_error([&] { ops::index_select(x, 0, from_vector<int64_t>({3}, {1})); }, {"index_select", "3", "[3, 5]"});
}

TEST(ShapeErrors, OneHotOutOfRange) {
  expect_error([] { ops::one_hot(from_vector<int64_t>({0, 3, 1}, {3}), 3); },
               {"one_hot", "3", "num_classes 3", "I64[3]"});
  expect_error([] { ops::one_hot(from_vector<int64_t>({-2}, {1}), 4); }, {"one_hot", "-2"});
  expect_error([] { ops::one_hot(from_vector<int64_t>({0}, {1}), 0); }, {"one_hot", "num_classes"});
}

TEST(ShapeErrors, OtherMisuse) {
  const Tensor x = zeros({2, 6, 3, 3});
  expect_error([&] { ops::split(x, {2, 3}, 1); }, {"split", "[2, 6, 3, 3]"});
  expect_error([&] { ops::channel_shuffle(x, 4); }, {"channel_shuffle", "[2, 6, 3, 3]"});
  expect_error([&] { ops::pad(x, {1, 2, 3}); }, {"pad", "[2, 6, 3, 3]"});
  expect_error([&] { ops::pad(x, {-2, -2}); }, {"pad", "negative size"});
  expect_error([&] { ops::roll(x, {1, 2}, {0}); }, {"roll", "[2, 6, 3, 3]"});
  expect_error([&] { ops::scatter(x, 1, zeros({1, 1, 1, 1}, {DType::I64}), zeros({1, 1, 1, 2})); },
               {"scatter", "[1, 1, 1, 2]", "[1, 1, 1, 1]"});
}

}  // namespace
}  // namespace nkd
