// The op tracer (engine/trace.h) and the ONNX export's own checks (export/onnx_export.h); the
// numbers of the exported nets are checked against onnxruntime by export.onnx_parity.
#include <gtest/gtest.h>

#include <functional>

#include "engine/factory.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/pool.h"
#include "engine/ops/reduce.h"
#include "engine/ops/view.h"
#include "engine/trace.h"
#include "export/onnx_export.h"
#include "layers/conv.h"

namespace nkd {
namespace {

class Recorder final : public trace::Tracer {
 public:
  void on_op(trace::OpRecord r) override { ops.push_back(std::move(r)); }
  std::vector<trace::OpRecord> ops;
};

TEST(Trace, RecordsOutermostOpsOnly) {
  Generator gen(1, 0);
  const Tensor x = randn({2, 3, 4}, gen), w = randn({5, 4}, gen);
  Recorder rec;
  {
    trace::TraceScope scope(rec);
    const Tensor t = ops::transpose(x, 0, 1);  // permute inside
    ops::reshape(t, {6, 4});                  // clone + view inside
    ops::linear(x, w);
  }
  ASSERT_EQ(rec.ops.size(), 3u);
  EXPECT_EQ(rec.ops[0].op, "permute");
  EXPECT_EQ(rec.ops[0].attrs.ints_of("dims"), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(rec.ops[1].op, "reshape");
  EXPECT_EQ(rec.ops[1].outputs[0].shape(), (Shape{6, 4}));
  EXPECT_EQ(rec.ops[2].op, "linear");
  EXPECT_TRUE(rec.ops[2].inputs[1].same(w));
  EXPECT_FALSE(rec.ops[2].inputs[2].defined());
  ops::reshape(x, {6, 4});  // no tracer: nothing recorded
  EXPECT_EQ(rec.ops.size(), 3u);
}

TEST(Trace, ReportsConvAttributes) {
  Generator gen(2, 0);
  Recorder rec;
  {
    trace::TraceScope scope(rec);
    ops::conv2d(randn({1, 4, 9, 9}, gen), randn({6, 2, 3, 3}, gen), Tensor(),
                {.stride = {2, 1}, .padding = 1, .dilation = 1, .groups = 2});
  }
  ASSERT_EQ(rec.ops.size(), 1u);
  EXPECT_EQ(rec.ops[0].attrs.ints_of("stride"), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(rec.ops[0].attrs.int_of("groups"), 2);
}

TEST(OnnxExport, FoldsEveryBatchNormOfResNet18) {
  auto net = nets::build_net("resnet18", {.num_classes = 7, .width = 0.125}, 3);
  exporter::OnnxSummary s;
  const std::string bytes = exporter::export_onnx(*net, {.height = 32, .width = 32}, &s);
  EXPECT_EQ(s.folded_batch_norms, 20u);  // stem + 2 per block x 8 + 3 downsamples
  EXPECT_EQ(s.bytes, bytes.size());
  EXPECT_GT(s.nodes, 40u);
  EXPECT_FALSE(net->is_training());
}

// A conv, then `tail`: the export's own refusals are tested through the tail.
class TailBackbone final : public nets::Backbone {
 public:
  explicit TailBackbone(std::function<Tensor(const Tensor&)> tail) : tail_(std::move(tail)) {
    conv = register_module("conv", std::make_shared<layers::Conv2d>(layers::Conv2dOptions{.in = 3, .out = 4}));
  }
  std::vector<Tensor> forward_stages(const Tensor& x) override {
    const Tensor y = conv->forward(x);
    return {y, tail_(y)};
  }
  int64_t out_channels() const override { return 4; }
  int64_t mid_channels() const override { return 4; }
  void init_weights(Generator&) override {}
  std::shared_ptr<layers::Conv2d> conv;

 private:
  std::function<Tensor(const Tensor&)> tail_;
};

std::string export_error(std::function<Tensor(const Tensor&)> tail) {
  nets::ImageClassifier net(std::make_shared<TailBackbone>(std::move(tail)), 3);
  net.init_weights(1);
  try {
    exporter::export_onnx(net, {.height = 8, .width = 8});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A value computed by an op the tracer does not record (a reduction) would be frozen into the
// graph as a constant: refused.
TEST(OnnxExport, RefusesAValueComputedOutsideTheTrace) {
  const std::string e = export_error([](const Tensor& y) { return ops::reshape(ops::mean(y, {2, 3}), {-1, 4, 1, 1}); });
  EXPECT_NE(e.find("not produced by a traced op"), std::string::npos) << e;
}

TEST(OnnxExport, RefusesAnOpWithoutOnnxForm) {
  const std::string e = export_error([](const Tensor& y) { return ops::adaptive_avg_pool2d(y, 2, 2); });
  EXPECT_NE(e.find("adaptive_avg_pool2d to 2x2 has no ONNX form"), std::string::npos) << e;
}

TEST(OnnxExport, RefusesAReshapeWithTwoBatchDims) {
  const std::string e = export_error([](const Tensor& y) {
    const int64_t n = y.size(0);  // a Gram matrix [N, N], reshaped to [N, N, 1, 1]: two batch dims
    const Tensor rows = ops::reshape(y, {n, 256});
    const Tensor gram = ops::reshape(ops::matmul(rows, ops::transpose(rows, 0, 1)), {n, n, 1, 1});
    return ops::add(y, ops::narrow(gram, 1, 0, 1));
  });
  EXPECT_NE(e.find("batch-dependent dims"), std::string::npos) << e;
}

TEST(OnnxExport, RefusesAnEmptyInputSize) {
  auto net = nets::build_net("resnet18", {.num_classes = 3, .width = 0.125}, 1);
  EXPECT_THROW(exporter::export_onnx(*net, {.height = 0, .width = 32}), Error);
}

}  // namespace
}  // namespace nkd
