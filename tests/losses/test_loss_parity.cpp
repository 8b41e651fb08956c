// Loss parity with PyTorch: every loss, label format and option set is evaluated by nkd and by
// tests/losses/torch_losses.py (the losses written from NKD_SPEC.md in PyTorch 1.13, F64, CPU) on the
// same inputs; values and input gradients must agree within 1e-10. Skips when torch is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "losses/losses.h"
#include "tests/losses/loss_inputs.h"
#include "tests/parity/torch_available.h"
#include "tests/support/compare.h"

namespace nkd::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
constexpr double kTol = 1e-10;
const double kCotangents[2] = {1.0, 0.7};  // d(total)/d(output k): tf-NKD's terms get distinct weights

using LossFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

struct ParityCase {
  std::string loss;  // function name in torch_losses.py
  json options;
  std::vector<std::string> names;  // input names, in the order fn takes them
  std::vector<Tensor> inputs;      // F64 (labels: I64 or F64); floating non-label inputs require grad
  LossFn fn;
};

std::vector<ParityCase> parity_cases() {
  std::vector<ParityCase> cases;
  const struct { int64_t n, c; } shapes[] = {{6, 10}, {1, 5}, {4, 2}};
  for (const auto s : shapes) {
    const int64_t n = s.n, c = s.c;
    const Tensor z = logits_for(n, c, 1), v = logits_for(n, c, 2, 3.0, DType::F64, false);
    const Tensor h = logits_for(n, 4, 3, 1.0), w = logits_for(c, 4, 4, 0.8);
    Tensor b = logits_for(1, c, 5, 0.3, DType::F64, false).reshape({c});
    b.set_requires_grad(true);
    for (const Tensor& y : {index_labels(n, c, 6), soft_labels(n, c, 7, {0, 3})}) {
      for (double eps : {0.0, 0.1})
        cases.push_back({"cross_entropy", {{"label_smoothing", eps}}, {"logits", "labels"}, {z, y},
                         [=](const auto& x) { return std::vector{losses::cross_entropy(x[0], x[1], {eps})}; }});
      for (const losses::NkdOptions o : {losses::NkdOptions{1, 1.5}, losses::NkdOptions{3, 3.5}})
        cases.push_back({"nkd", {{"T", o.temperature}, {"gamma", o.gamma}}, {"student", "teacher", "labels"},
                         {z, v, y}, [=](const auto& x) { return std::vector{losses::nkd_loss(x[0], x[1], x[2], o)}; }});
      cases.push_back({"tf_nkd", json::object(), {"logits", "labels"}, {z, y},
                       [](const auto& x) { return losses::tf_nkd_loss(x[0], x[1]); }});
      const losses::UskdOptions head_cifar{.alpha = 0.1, .beta = 0.1, .mu = 0.1, .rank_with_log_probs = true};
      for (const losses::UskdOptions& o : {losses::UskdOptions{}, head_cifar})
        cases.push_back({"uskd",
                         {{"alpha", o.alpha}, {"beta", o.beta}, {"mu", o.mu}, {"log_rank", o.rank_with_log_probs}},
                         {"fea_mid", "logits", "labels", "fc_weight", "fc_bias"}, {h, z, y, w, b},
                         [=](const auto& x) {
                           return std::vector{losses::uskd_loss(x[0], x[1], x[2], x[3], x[4], o)};
                         }});
    }
    for (const double t : {1.0, 4.0})
      cases.push_back({"kd", {{"T", t}, {"alpha", 0.5}}, {"student", "teacher"}, {z, v},
                       [=](const auto& x) { return std::vector{losses::kd_loss(x[0], x[1], {t, 0.5})}; }});
    for (const losses::DkdOptions o : {losses::DkdOptions{4, 1, 6}, losses::DkdOptions{1, 1, 0.5}})
      cases.push_back({"dkd", {{"T", o.temperature}, {"alpha", o.alpha}, {"beta", o.beta}},
                       {"student", "teacher", "labels"}, {z, v, index_labels(n, c, 8)},
                       [=](const auto& x) { return std::vector{losses::dkd_loss(x[0], x[1], x[2], o)}; }});
  }
  return cases;
}

json write_tensor(const fs::path& dir, const std::string& file, const Tensor& t) {
  const bool is_index = t.dtype() == DType::I64;
  std::ofstream out(dir / file, std::ios::binary);
  if (is_index) {
    const std::vector<int64_t> v = to_vector<int64_t>(t);
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
  } else {
    const std::vector<double> v = to_vector<double>(t.detach());
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
  }
  return {{"file", file}, {"shape", t.shape()}, {"dtype", is_index ? "I64" : "F64"}};
}

Tensor read_tensor(const fs::path& dir, const json& j) {
  const Shape shape = j.at("shape").get<Shape>();
  std::vector<double> v(numel(shape));
  std::ifstream in(dir / j.at("file").get<std::string>(), std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
  return from_vector(v, shape);
}

struct Computed {
  std::vector<double> values;
  std::vector<Tensor> grads;  // per input, undefined when it takes none
};

Computed compute(const ParityCase& pc) {
  for (const Tensor& x : pc.inputs) x.zero_grad();
  const std::vector<Tensor> outs = pc.fn(pc.inputs);
  Computed r;
  std::vector<Tensor> cot;
  for (size_t k = 0; k < outs.size(); ++k) {
    r.values.push_back(outs[k].item());
    cot.push_back(full({}, kCotangents[k], {DType::F64, kCPU}));
  }
  run_backward(outs, cot, false);
  for (const Tensor& x : pc.inputs) r.grads.push_back(x.requires_grad() ? x.grad() : Tensor());
  return r;
}

TEST(LossParity, LossesMatchPyTorch) {
  if (!torch_available()) GTEST_SKIP() << "PyTorch not importable by /usr/bin/python3; loss parity skipped";
  const fs::path dir = fs::temp_directory_path() / ("nkd_loss_parity_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<ParityCase> cases = parity_cases();
  json manifest = json::array();
  std::vector<Computed> ours;
  for (size_t i = 0; i < cases.size(); ++i) {
    const ParityCase& pc = cases[i];
    std::string id = "c";
    id += std::to_string(i);
    json jc = {{"id", id}, {"loss", pc.loss}, {"options", pc.options}, {"cotangents", kCotangents}};
    for (size_t k = 0; k < pc.inputs.size(); ++k) {
      json ji = write_tensor(dir, id + "." + pc.names[k] + ".bin", pc.inputs[k]);
      ji["name"] = pc.names[k];
      ji["requires_grad"] = pc.inputs[k].requires_grad();
      jc["inputs"].push_back(ji);
    }
    manifest.push_back(jc);
    ours.push_back(compute(pc));
  }
  std::ofstream(dir / "cases.json") << manifest.dump();
  const std::string cmd = std::string(kPython) + " " + NKD_SOURCE_DIR + "/tests/losses/torch_losses.py " + dir.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "failed: " << cmd;
  json results;
  std::ifstream(dir / "results.json") >> results;
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& r = results.at(manifest[i]["id"].get<std::string>());
    SCOPED_TRACE(cases[i].loss + " " + manifest[i]["options"].dump() + " inputs " + manifest[i]["inputs"].dump());
    ASSERT_FALSE(r.contains("error")) << r["error"].get<std::string>();
    ASSERT_EQ(r["values"].size(), ours[i].values.size());
    for (size_t k = 0; k < ours[i].values.size(); ++k) {
      const double expected = r["values"][k].get<double>();
      EXPECT_NEAR(ours[i].values[k], expected, kTol * (1 + std::abs(expected))) << "value " << k;
    }
    for (size_t k = 0; k < ours[i].grads.size(); ++k)
      if (ours[i].grads[k].defined()) {
        EXPECT_TRUE(all_close(ours[i].grads[k], read_tensor(dir, r["grads"][k]), kTol, kTol,
                              cases[i].loss + " grad of " + cases[i].names[k]));
      }
  }
  std::cout << "[ parity   ] " << cases.size() << " loss cases compared with PyTorch\n";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace nkd::testing
