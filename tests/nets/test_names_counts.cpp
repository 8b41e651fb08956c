// Every registered CNN: exact parameter count at 1000 classes and width 1, mmcls state-dict names
// (spot checks and the total key count), stage output shapes and the registry's error message.
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "nets/classifier.h"
#include "tests/nets/net_test_util.h"

namespace nkd::nets {
namespace {

struct NetFacts {
  std::string name;
  int64_t params;
  size_t keys;  // state_dict entries, buffers included (= torchvision's count)
  std::vector<std::string> some_keys;
};

const std::vector<NetFacts>& facts() {
  static const std::vector<NetFacts> f = {
      {"resnet18", 11689512, 122,
       {"backbone.conv1.weight", "backbone.bn1.running_var", "backbone.layer1.0.conv1.weight",
        "backbone.layer1.1.bn2.num_batches_tracked", "backbone.layer2.0.downsample.0.weight",
        "backbone.layer4.0.downsample.1.running_mean", "backbone.layer4.1.conv2.weight", "head.fc.weight",
        "head.fc.bias"}},
      {"resnet34", 21797672, 218,
       {"backbone.layer3.5.conv2.weight", "backbone.layer2.3.bn1.bias", "backbone.layer4.2.bn2.weight",
        "backbone.layer3.0.downsample.1.weight"}},
      {"resnet50", 25557032, 320,
       {"backbone.layer1.0.conv3.weight", "backbone.layer1.0.downsample.0.weight",
        "backbone.layer3.5.bn3.running_var", "backbone.layer4.2.conv2.weight", "head.fc.weight"}},
      {"mobilenet_v1", 4231976, 164,
       {"backbone.model.0.0.weight", "backbone.model.0.1.running_mean", "backbone.model.1.0.weight",
        "backbone.model.1.4.bias", "backbone.model.11.3.weight", "backbone.s4.0.0.weight",
        "backbone.s4.1.4.num_batches_tracked", "head.fc.weight"}},
      {"mobilenet_v2", 3504872, 314,
       {"backbone.conv1.conv.weight", "backbone.conv1.bn.running_mean", "backbone.layer1.0.conv.0.conv.weight",
        "backbone.layer1.0.conv.1.bn.weight", "backbone.layer2.1.conv.2.conv.weight",
        "backbone.layer7.0.conv.2.bn.num_batches_tracked", "backbone.conv2.conv.weight",
        "backbone.conv2.bn.bias", "head.fc.bias"}},
      {"shufflenet_v2", 2278604, 338,
       {"backbone.conv1.conv.weight", "backbone.conv1.bn.weight", "backbone.layers.0.0.branch1.0.conv.weight",
        "backbone.layers.0.0.branch1.1.bn.running_var", "backbone.layers.1.7.branch2.2.conv.weight",
        "backbone.layers.2.3.branch2.1.bn.bias", "backbone.layers.3.conv.weight",
        "backbone.layers.3.bn.num_batches_tracked", "head.fc.weight"}},
  };
  return f;
}

TEST(Nets, RegistryListsTheCnns) {
  const std::vector<std::string> names = net_names();
  for (const NetFacts& f : facts())
    EXPECT_NE(std::find(names.begin(), names.end(), f.name), names.end()) << f.name;
  try {
    build_net("resnet19", {});
    FAIL() << "no error for an unknown net";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("known nets:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("resnet18"), std::string::npos) << e.what();
  }
}

TEST(Nets, ParameterCountsAndKeysMatchMmcls) {
  for (const NetFacts& f : facts()) {
    SCOPED_TRACE(f.name);
    const auto net = testing::uninitialised_net(f.name, {.num_classes = 1000});
    std::printf("[ counts ] %-13s %10lld parameters, %zu state-dict keys\n", f.name.c_str(),
                static_cast<long long>(net->num_parameters()), net->state_dict().size());
    EXPECT_EQ(net->num_parameters(), f.params);
    const std::vector<std::string> keys = testing::keys_of(net->state_dict());
    EXPECT_EQ(keys.size(), f.keys);
    for (const std::string& k : f.some_keys) EXPECT_NE(std::find(keys.begin(), keys.end(), k), keys.end()) << k;
    EXPECT_EQ(keys.back(), "head.fc.bias");
  }
}

// Other widths against torchvision's counts for the same architectures (mobilenet_v2(width_mult),
// shufflenet_v2_x0_5 / x2_0), which follow the same channel rules as mmcls.
TEST(Nets, WidthVariantsMatchTorchvisionCounts) {
  const std::vector<std::tuple<std::string, double, int64_t>> cases = {
      {"mobilenet_v2", 0.5, 1968680}, {"mobilenet_v2", 1.4, 6108776},
      {"shufflenet_v2", 0.5, 1366792}, {"shufflenet_v2", 2.0, 7393996}};
  for (const auto& [name, width, count] : cases)
    EXPECT_EQ(testing::uninitialised_net(name, {.num_classes = 1000, .width = width})->num_parameters(), count)
        << name << " x" << width;
}

// Stage output shapes at width 1 (batch 1, 64x64): strides and channels of every stage.
TEST(Nets, StageShapes) {
  const std::vector<std::pair<std::string, std::vector<Shape>>> expected = {
      {"resnet18", {{1, 64, 16, 16}, {1, 128, 8, 8}, {1, 256, 4, 4}, {1, 512, 2, 2}}},
      {"resnet50", {{1, 256, 16, 16}, {1, 512, 8, 8}, {1, 1024, 4, 4}, {1, 2048, 2, 2}}},
      {"mobilenet_v1", {{1, 512, 4, 4}, {1, 1024, 2, 2}}},
      {"mobilenet_v2",
       {{1, 16, 32, 32}, {1, 24, 16, 16}, {1, 32, 8, 8}, {1, 64, 4, 4}, {1, 96, 4, 4}, {1, 160, 2, 2},
        {1, 320, 2, 2}, {1, 1280, 2, 2}}},
      {"shufflenet_v2", {{1, 116, 8, 8}, {1, 232, 4, 4}, {1, 464, 2, 2}, {1, 1024, 2, 2}}},
  };
  NoGradGuard no_grad;
  Generator gen(5);
  const Tensor x = randn({1, 3, 64, 64}, gen);
  for (const auto& [name, shapes] : expected) {
    SCOPED_TRACE(name);
    const auto net = testing::uninitialised_net(name, {.num_classes = 10});
    net->eval();
    const std::vector<Tensor> outs = net->backbone().forward_stages(x);
    ASSERT_EQ(outs.size(), shapes.size());
    for (size_t i = 0; i < outs.size(); ++i) EXPECT_EQ(outs[i].shape(), shapes[i]) << "stage " << i;
    EXPECT_EQ(net->backbone().out_channels(), shapes.back()[1]);
    EXPECT_EQ(net->backbone().mid_channels(), shapes[shapes.size() - 2][1]);
  }
}

}  // namespace
}  // namespace nkd::nets
