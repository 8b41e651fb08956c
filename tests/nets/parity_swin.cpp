// Swin-T parity with torchvision swin_t (PyTorch 1.13, F32, CPU): torchvision_swin.py exports the
// weights (torchvision names), inputs at 224 x 224 (batch 1) and 100 x 100 (batch 2), eval and train
// logits and mean-CE gradients. nkd loads the weights through swin_from_torchvision, maps its own
// gradients back through swin_to_torchvision, and must match within 1e-4 relative per tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/softmax.h"
#include "io/safetensors.h"
#include "nets/swin.h"
#include "nets/swin_torchvision_names.h"
#include "tests/parity/torch_available.h"

namespace nkd::nets {
namespace {

namespace fs = std::filesystem;
constexpr double kRelTol = 1e-4;

bool torchvision_available() {
  static const bool ok = std::system((std::string(testing::kPython) +
                                      " -c 'import torch, torchvision' > /dev/null 2>&1").c_str()) == 0;
  return ok;
}

// max |a - b| / max |b|, in double.
double rel_error(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.shape(), expected.shape());
  const std::vector<double> a = to_vector<double>(actual.to(DType::F64));
  const std::vector<double> b = to_vector<double>(expected.to(DType::F64));
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / std::max(scale, 1e-30);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  const Tensor picked = ops::gather(ops::log_softmax(logits, 1), 1, labels.reshape({labels.numel(), 1}));
  return ops::neg(ops::mean(picked));
}

// The reference entries: "param.<tv>" as a state dict, everything else by full name.
struct Reference {
  layers::NamedTensors params;
  std::map<std::string, Tensor> entries;
};

Reference run_reference() {
  const fs::path file =
      fs::temp_directory_path() / ("nkd_swin_parity_" + std::to_string(::getpid()) + ".safetensors");
  const std::string cmd =
      std::string(testing::kPython) + " " + NKD_SOURCE_DIR + "/tests/nets/torchvision_swin.py " + file.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "failed: " << cmd;
  Reference ref;
  for (auto& [name, t] : io::load_safetensors(file.string()).tensors) {
    if (name.rfind("param.", 0) == 0) ref.params.emplace_back(name.substr(6), t);
    else ref.entries[name] = t;
  }
  fs::remove(file);
  return ref;
}

// Compares one case (size, batch): eval and train logits, then every parameter's gradient.
void compare_case(ImageClassifier& net, const Reference& ref, const std::string& tag) {
  SCOPED_TRACE(tag);
  const Tensor x = ref.entries.at(tag + ".input"), labels = ref.entries.at(tag + ".labels");
  net.eval();
  double eval_err = 0;
  {
    NoGradGuard no_grad;
    eval_err = rel_error(net.forward(x), ref.entries.at(tag + ".logits_eval"));
  }
  net.train();
  net.zero_grad();
  const Tensor logits = net.forward(x);
  const double train_err = rel_error(logits, ref.entries.at(tag + ".logits_train"));
  cross_entropy(logits, labels).backward();
  layers::NamedTensors grads;
  for (auto& [n, p] : net.named_parameters())
    if (p.grad().defined()) grads.emplace_back(n, p.grad());
  double grad_err = 0;
  std::string worst;
  size_t compared = 0;
  for (auto& [tv, g] : swin_to_torchvision(grads)) {  // the mapping the other way, on gradients
    if (tv.find("relative_position_index") != std::string::npos) continue;
    const double e = rel_error(g, ref.entries.at(tag + ".grad." + tv));
    if (e > grad_err) grad_err = e, worst = tv;
    ++compared;
  }
  EXPECT_EQ(compared, 173u);  // every torchvision parameter (norm0-norm2 get no gradient from the logits)
  std::printf("[ parity ] swin_t %s: logits eval %.1e train %.1e | %zu grads, max %.1e (%s)\n", tag.c_str(),
              eval_err, train_err, compared, grad_err, worst.c_str());
  EXPECT_LE(eval_err, kRelTol);
  EXPECT_LE(train_err, kRelTol);
  EXPECT_LE(grad_err, kRelTol) << "worst gradient: " << worst;
}

TEST(SwinParity, MatchesTorchvisionSwinT) {
  if (!torchvision_available())
    GTEST_SKIP() << "torchvision not importable by " << testing::kPython << "; Swin parity skipped";
  const Reference ref = run_reference();
  ASSERT_FALSE(ref.params.empty());
  // The distillation layout (norm0-norm3); no init_weights: every weight the logits use is loaded.
  auto backbone = std::make_shared<SwinTransformer>(swin_tiny_options({}));
  auto net = std::make_shared<ImageClassifier>(backbone, 1000);
  const layers::LoadReport report = net->load_state_dict(swin_from_torchvision(ref.params), false);
  EXPECT_TRUE(report.unexpected.empty() && report.mismatched.empty()) << report.str();
  std::vector<std::string> missing = report.missing;
  std::sort(missing.begin(), missing.end());
  const std::vector<std::string> extra_norms = {"backbone.norm0.bias", "backbone.norm0.weight",
                                                "backbone.norm1.bias", "backbone.norm1.weight",
                                                "backbone.norm2.bias", "backbone.norm2.weight"};
  EXPECT_EQ(missing, extra_norms);
  compare_case(*net, ref, "s224b1");
  compare_case(*net, ref, "s100b2");
}

}  // namespace
}  // namespace nkd::nets
