// Parity with torchvision (PyTorch 1.13, CPU): torchvision_reference.py exports a model's F32 weights
// (torchvision names) and, computed in F64, eval and train logits, CE-loss gradients and running stats.
// nkd (F32) maps the names, loads the weights and matches within 1e-4 relative per tensor; in train
// mode, where PyTorch's own F32 result is further off than that, within 10x PyTorch F32's error.
// MobileNet v1 uses the script's own definition with mmcls names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "io/safetensors.h"
#include "nets/classifier.h"
#include "nets/torchvision_names.h"
#include "tests/nets/net_test_util.h"
#include "tests/parity/torch_available.h"

namespace nkd::nets {
namespace {

namespace fs = std::filesystem;
constexpr double kRelTol = 1e-4;
// Train-mode BN nets at batch 2 are ill-conditioned (F32 rounding is amplified through the batch
// statistics): there a tensor passes within this factor of PyTorch float32's own error.
constexpr double kConditioning = 10;
constexpr double kGradFloor = 1e-3;  // gradients are measured against >= 1e-3 x the net's largest

bool torchvision_available() {
  static const bool ok = std::system((std::string(testing::kPython) +
                                      " -c 'import torch, torchvision' > /dev/null 2>&1").c_str()) == 0;
  return ok;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : to_vector<double>(t.to(DType::F64))) m = std::max(m, std::abs(v));
  return m;
}

// max |actual - expected| / max(max |expected|, floor), in double.
double rel_error(const Tensor& actual, const Tensor& expected, double floor = 0) {
  EXPECT_EQ(actual.shape(), expected.shape());
  const std::vector<double> a = to_vector<double>(actual.to(DType::F64));
  const std::vector<double> b = to_vector<double>(expected.to(DType::F64));
  double diff = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  return diff / std::max({max_abs(expected), floor, 1e-30});
}

// The reference file: names without a prefix, and prefixed groups with names mapped to mmcls.
struct Reference {
  std::map<std::string, Tensor> plain;
  std::map<std::string, std::map<std::string, Tensor>> group;
  layers::NamedTensors params;  // in file order, for load_state_dict
};

Reference read_reference(const std::string& net, const std::string& path) {
  Reference ref;
  for (auto& [name, t] : io::load_safetensors(path).tensors) {
    const size_t dot = name.find('.');
    if (dot == std::string::npos) {
      ref.plain[name] = t;
      continue;
    }
    const std::string rest = name.substr(dot + 1), prefix = name.substr(0, dot);
    const std::string mapped = has_torchvision_names(net) ? from_torchvision_name(net, rest) : rest;
    ref.group[prefix][mapped] = t;
    if (prefix == "param") ref.params.emplace_back(mapped, t);
  }
  return ref;
}

// The worst error of a group of tensors and whether each stayed within its tolerance.
struct Worst {
  double err = 0, tol = kRelTol;
  std::string name;
  void add(const std::string& n, double e, double t) {
    EXPECT_LE(e, t) << n << " (tolerance " << t << ")";
    if (e / t > err / tol) err = e, tol = t, name = n;
  }
};

// Tolerance of one train-mode tensor: 1e-4, or kConditioning x PyTorch float32's own error.
double train_tol(const Reference& ref, const std::string& err_name) {
  const size_t dot = err_name.find('.');
  const Tensor& e = dot == std::string::npos
                        ? ref.plain.at(err_name)
                        : ref.group.at(err_name.substr(0, dot)).at(err_name.substr(dot + 1));
  return std::max(kRelTol, kConditioning * e.item());
}

Worst compare_grads(ImageClassifier& net, const Reference& ref, const std::string& mode) {
  const std::map<std::string, Tensor>& expected = ref.group.at(mode + "_grad");
  double largest = 0;
  for (const auto& [n, g] : expected) largest = std::max(largest, max_abs(g));
  Worst w;
  EXPECT_EQ(expected.size(), net.named_parameters().size());
  for (const auto& [n, p] : net.named_parameters()) {
    EXPECT_TRUE(expected.count(n) && p.grad().defined()) << n;
    if (!expected.count(n) || !p.grad().defined()) continue;
    const double tol = mode == "train" ? train_tol(ref, "err_train_grad." + n) : kRelTol;
    w.add(n, rel_error(p.grad(), expected.at(n), kGradFloor * largest), tol);
  }
  return w;
}

class TorchvisionParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionParity, LogitsGradientsAndRunningStats) {
  if (!torchvision_available())
    GTEST_SKIP() << "torchvision not importable by " << testing::kPython << "; net parity skipped";
  const std::string net_name = GetParam();
  const fs::path file = fs::temp_directory_path() /
                        ("nkd_net_parity_" + std::to_string(::getpid()) + "_" + net_name + ".safetensors");
  const std::string cmd = std::string(testing::kPython) + " " + NKD_SOURCE_DIR +
                          "/tests/nets/torchvision_reference.py " + net_name + " " + file.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "failed: " << cmd;
  const Reference ref = read_reference(net_name, file.string());
  fs::remove(file);

  const auto net = build_net(net_name, {.num_classes = 10});
  net->load_state_dict(ref.params);  // strict: every name must map
  const Tensor x = ref.plain.at("input"), labels = ref.plain.at("labels");
  Worst eval_logits, train_logits, stats;

  net->eval();
  Tensor logits = net->forward(x);
  eval_logits.add("eval logits", rel_error(logits, ref.plain.at("eval_logits")), kRelTol);
  testing::cross_entropy(logits, labels).backward();
  const Worst eval_grads = compare_grads(*net, ref, "eval");

  net->zero_grad();
  net->train();
  logits = net->forward(x);
  train_logits.add("train logits", rel_error(logits, ref.plain.at("train_logits")),
                   train_tol(ref, "err_train_logits"));
  testing::cross_entropy(logits, labels).backward();
  const Worst train_grads = compare_grads(*net, ref, "train");
  std::map<std::string, Tensor> state;
  for (auto& [n, t] : net->state_dict()) state[n] = t;
  for (const auto& [n, t] : ref.group.at("train_after"))
    stats.add(n, rel_error(state.at(n), t), train_tol(ref, "err_train_after." + n));

  std::printf("[ parity ] %-13s eval: logits %.1e grads %.1e | train: logits %.1e (tol %.0e) grads %.1e "
              "(tol %.0e, %s) running stats %.1e (tol %.0e)\n",
              net_name.c_str(), eval_logits.err, eval_grads.err, train_logits.err, train_logits.tol,
              train_grads.err, train_grads.tol, train_grads.name.c_str(), stats.err, stats.tol);
}

INSTANTIATE_TEST_SUITE_P(Nets, TorchvisionParity,
                         ::testing::Values("resnet18", "resnet34", "resnet50", "mobilenet_v1", "mobilenet_v2",
                                           "shufflenet_v2"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace nkd::nets
