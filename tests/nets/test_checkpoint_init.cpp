// Save/load through safetensors is bit-exact (parameters and buffers, and so the outputs), and the
// mmcls initialisations: Kaiming fan_out, zero_init_residual, ShuffleNetV2's normal stds, the head.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <unistd.h>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "io/safetensors.h"
#include "nets/classifier.h"
#include "tests/nets/net_test_util.h"

namespace nkd::nets {
namespace {

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.raw_data(), bc.raw_data(), static_cast<size_t>(a.numel()) * size_of(a.dtype())) == 0;
}

TEST(NetsCheckpoint, SaveLoadRoundTripIsBitExact) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("nkd_nets_ckpt_" + std::to_string(::getpid()) + ".safetensors")).string();
  for (const char* name : {"resnet18", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2"}) {
    SCOPED_TRACE(name);
    const NetOptions o{.num_classes = 5, .width = 0.25, .small_input = true};
    const auto a = build_net(name, o, 1);
    Generator gen(4);
    const Tensor x = randn({2, 3, 16, 16}, gen);
    a->forward(x);  // one training-mode forward: running statistics and num_batches_tracked move
    io::save_safetensors(path, a->state_dict(), {{"net", name}});
    const auto b = build_net(name, o, 2);
    b->load_state_dict(io::load_safetensors(path).tensors);
    const layers::NamedTensors sa = a->state_dict(), sb = b->state_dict();
    ASSERT_EQ(sa.size(), sb.size());
    for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(bit_equal(sa[i].second, sb[i].second)) << sa[i].first;
    NoGradGuard no_grad;
    a->eval();
    b->eval();
    EXPECT_TRUE(bit_equal(a->forward(x), b->forward(x)));
  }
  std::filesystem::remove(path);
}

double stddev(const Tensor& t) {
  const std::vector<double> v = to_vector<double>(t.to(DType::F64));
  double s = 0, s2 = 0;
  for (double x : v) s += x, s2 += x * x;
  const double n = static_cast<double>(v.size());
  return std::sqrt(s2 / n - (s / n) * (s / n));
}

Tensor param(ImageClassifier& net, const std::string& name) {
  for (const auto& [n, t] : net.state_dict())
    if (n == name) return t;
  NKD_FAIL("no tensor ", name);
}

TEST(NetsInit, ResNetKaimingAndZeroInitResidual) {
  const auto net = build_net("resnet18", {.num_classes = 1000, .width = 0.5}, 0);
  // conv [64, 32, 3, 3]: std sqrt(2 / (64 * 9)); stem [32, 3, 7, 7]: sqrt(2 / (32 * 49)).
  EXPECT_NEAR(stddev(param(*net, "backbone.layer2.0.conv1.weight")), std::sqrt(2.0 / (64 * 9)), 0.002);
  EXPECT_NEAR(stddev(param(*net, "backbone.conv1.weight")), std::sqrt(2.0 / (32 * 49)), 0.002);
  for (const auto& [n, t] : net->state_dict()) {
    const bool gamma = n.size() > 7 && n.substr(n.size() - 7) == ".weight" && n.find("bn") != std::string::npos;
    if (!gamma) continue;
    const double expect = n.find("bn2") != std::string::npos ? 0.0 : 1.0;  // BasicBlock: last BN is bn2
    for (float v : to_vector<float>(t)) ASSERT_EQ(v, expect) << n;
  }
  EXPECT_NEAR(stddev(param(*net, "head.fc.weight")), 0.01, 0.0005);
  for (float v : to_vector<float>(param(*net, "head.fc.bias"))) ASSERT_EQ(v, 0.0f);
  const auto r50 = build_net("resnet50", {.num_classes = 10, .width = 0.25}, 0);
  for (float v : to_vector<float>(param(*r50, "backbone.layer3.1.bn3.weight"))) ASSERT_EQ(v, 0.0f);
  for (float v : to_vector<float>(param(*r50, "backbone.layer3.1.bn2.weight"))) ASSERT_EQ(v, 1.0f);
}

TEST(NetsInit, ShuffleNetStdsAndSeeds) {
  const auto net = build_net("shufflenet_v2", {.num_classes = 1000}, 0);
  EXPECT_NEAR(stddev(param(*net, "backbone.conv1.conv.weight")), 0.01, 0.002);
  // 1x1 conv 116 -> 116 (stage 3 branch1): std 1 / 116; depthwise: std 1.
  EXPECT_NEAR(stddev(param(*net, "backbone.layers.1.0.branch1.1.conv.weight")), 1.0 / 116, 0.0005);
  EXPECT_NEAR(stddev(param(*net, "backbone.layers.2.1.branch2.1.conv.weight")), 1.0, 0.05);
  // Same seed -> same weights; another seed -> different weights.
  const auto same = build_net("shufflenet_v2", {.num_classes = 1000}, 0);
  const auto other = build_net("shufflenet_v2", {.num_classes = 1000}, 1);
  const std::string k = "backbone.layers.0.0.branch2.0.conv.weight";
  EXPECT_TRUE(bit_equal(param(*net, k), param(*same, k)));
  EXPECT_FALSE(bit_equal(param(*net, k), param(*other, k)));
}

}  // namespace
}  // namespace nkd::nets
