// Misuse of the losses throws nkd::Error whose message names the loss and the shapes involved:
// wrong label shape or dtype, out-of-range labels, student/teacher mismatch, bad USKD head shapes.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "losses/losses.h"
#include "tests/losses/loss_inputs.h"

namespace nkd::testing {
namespace {

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected nkd::Error mentioning " << parts.front();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

class LossErrors : public ::testing::Test {
 protected:
  const Tensor z_ = logits_for(4, 5, 1, 1.0, DType::F64, false);
  const Tensor v_ = logits_for(4, 5, 2, 1.0, DType::F64, false);
  const Tensor y_ = index_labels(4, 5, 3);
};

TEST_F(LossErrors, WrongLabelShape) {
  const Tensor y3 = index_labels(3, 5, 4), soft_wide = soft_labels(4, 6, 5);
  expect_error([&] { losses::cross_entropy(z_, y3); }, {"cross_entropy", "I64[3]", "F64[4, 5]"});
  expect_error([&] { losses::nkd_loss(z_, v_, soft_wide); }, {"nkd_loss", "F64[4, 6]", "F64[4, 5]"});
  expect_error([&] { losses::tf_nkd_loss(z_, y_.reshape({4, 1})); }, {"tf_nkd_loss", "I64[4, 1]", "F64[4, 5]"});
  expect_error([&] { losses::dkd_loss(z_, v_, soft_labels(4, 5, 6)); }, {"dkd_loss", "index labels", "F64[4, 5]"});
  expect_error([&] { losses::cross_entropy(z_, zeros({4}, {DType::I32, kCPU})); }, {"cross_entropy", "I32[4]"});
}

TEST_F(LossErrors, OutOfRangeLabel) {
  const Tensor bad = from_vector<int64_t>({0, 5, 1, 2}, {4}), neg = from_vector<int64_t>({0, 1, -1, 2}, {4});
  expect_error([&] { losses::cross_entropy(z_, bad); }, {"cross_entropy", "label 5", "row 1", "F64[4, 5]"});
  expect_error([&] { losses::nkd_loss(z_, v_, neg); }, {"nkd_loss", "label -1", "row 2"});
  expect_error([&] { losses::dkd_loss(z_, v_, bad); }, {"dkd_loss", "label 5"});
  expect_error([&] { losses::tf_nkd_loss(z_, bad); }, {"tf_nkd_loss", "label 5"});
}

TEST_F(LossErrors, StudentTeacherMismatch) {
  const Tensor v6 = logits_for(4, 6, 7, 1.0, DType::F64, false);
  const Tensor v32 = logits_for(4, 5, 8, 1.0, DType::F32, false);
  expect_error([&] { losses::kd_loss(z_, v6); }, {"kd_loss", "F64[4, 5]", "F64[4, 6]", "shapes"});
  expect_error([&] { losses::nkd_loss(z_, v6, y_); }, {"nkd_loss", "F64[4, 5]", "F64[4, 6]"});
  expect_error([&] { losses::dkd_loss(z_, v6, y_); }, {"dkd_loss", "F64[4, 6]"});
  expect_error([&] { losses::kd_loss(z_, v32); }, {"kd_loss", "F32[4, 5]", "dtypes"});
}

TEST_F(LossErrors, BadLogitsAndOptions) {
  expect_error([&] { losses::cross_entropy(z_.reshape({20}), y_); }, {"cross_entropy", "[N, C]", "F64[20]"});
  expect_error([&] { losses::nkd_loss(z_.narrow(1, 0, 1), v_.narrow(1, 0, 1), zeros({4}, {DType::I64, kCPU})); },
               {"nkd_loss", "at least 2 classes", "F64[4, 1]"});
  expect_error([&] { losses::kd_loss(z_, v_, {.temperature = 0}); }, {"kd_loss", "temperature"});
  expect_error([&] { losses::cross_entropy(z_, y_, {.label_smoothing = 1.5}); }, {"cross_entropy", "label_smoothing"});
  expect_error([&] { losses::cross_entropy(zeros({0, 5}, {DType::F64, kCPU}), zeros({0}, {DType::I64, kCPU})); },
               {"cross_entropy", "empty batch"});
}

TEST_F(LossErrors, UskdHeadShapes) {
  const Tensor h = logits_for(4, 3, 9, 1.0, DType::F64, false);
  const Tensor w = logits_for(5, 3, 10, 1.0, DType::F64, false), b = zeros({5}, {DType::F64, kCPU});
  expect_error([&] { losses::uskd_loss(h, z_, y_, w.narrow(1, 0, 2), b); },
               {"uskd_loss", "fc_weight", "[5, 3]", "F64[5, 2]"});
  expect_error([&] { losses::uskd_loss(h, z_, y_, w, zeros({4}, {DType::F64, kCPU})); },
               {"uskd_loss", "fc_bias", "F64[4]"});
  expect_error([&] { losses::uskd_loss(h.narrow(0, 0, 3), z_, y_, w, b); }, {"uskd_loss", "fea_mid", "F64[3, 3]"});
  expect_error([&] { losses::uskd_loss(h, z_, index_labels(4, 5, 11).reshape({2, 2}), w, b); },
               {"uskd_loss", "I64[2, 2]"});
}

}  // namespace
}  // namespace nkd::testing
