// mmcls <-> torchvision state-dict names: known pairs both ways, a round trip of every key of every
// net with a torchvision counterpart (one-to-one), and clear errors for foreign names.
#include <gtest/gtest.h>

#include <set>

#include "nets/classifier.h"
#include "nets/torchvision_names.h"
#include "tests/nets/net_test_util.h"

namespace nkd::nets {
namespace {

struct Pair {
  std::string net, mmcls, tv;
};

const std::vector<Pair>& pairs() {
  static const std::vector<Pair> p = {
      {"resnet18", "backbone.layer1.0.conv1.weight", "layer1.0.conv1.weight"},
      {"resnet18", "backbone.bn1.running_mean", "bn1.running_mean"},
      {"resnet34", "backbone.layer3.0.downsample.1.num_batches_tracked", "layer3.0.downsample.1.num_batches_tracked"},
      {"resnet50", "head.fc.weight", "fc.weight"},
      {"resnet50", "backbone.layer4.2.conv3.weight", "layer4.2.conv3.weight"},
      {"mobilenet_v2", "backbone.conv1.conv.weight", "features.0.0.weight"},
      {"mobilenet_v2", "backbone.conv1.bn.running_var", "features.0.1.running_var"},
      {"mobilenet_v2", "backbone.layer1.0.conv.0.conv.weight", "features.1.conv.0.0.weight"},
      {"mobilenet_v2", "backbone.layer1.0.conv.0.bn.bias", "features.1.conv.0.1.bias"},
      {"mobilenet_v2", "backbone.layer1.0.conv.1.conv.weight", "features.1.conv.1.weight"},
      {"mobilenet_v2", "backbone.layer1.0.conv.1.bn.weight", "features.1.conv.2.weight"},
      {"mobilenet_v2", "backbone.layer2.0.conv.1.conv.weight", "features.2.conv.1.0.weight"},
      {"mobilenet_v2", "backbone.layer2.1.conv.2.conv.weight", "features.3.conv.2.weight"},
      {"mobilenet_v2", "backbone.layer2.1.conv.2.bn.running_mean", "features.3.conv.3.running_mean"},
      {"mobilenet_v2", "backbone.layer7.0.conv.0.bn.weight", "features.17.conv.0.1.weight"},
      {"mobilenet_v2", "backbone.conv2.bn.weight", "features.18.1.weight"},
      {"mobilenet_v2", "head.fc.bias", "classifier.1.bias"},
      {"shufflenet_v2", "backbone.conv1.conv.weight", "conv1.0.weight"},
      {"shufflenet_v2", "backbone.conv1.bn.bias", "conv1.1.bias"},
      {"shufflenet_v2", "backbone.layers.0.0.branch1.0.conv.weight", "stage2.0.branch1.0.weight"},
      {"shufflenet_v2", "backbone.layers.0.0.branch1.0.bn.weight", "stage2.0.branch1.1.weight"},
      {"shufflenet_v2", "backbone.layers.0.0.branch1.1.conv.weight", "stage2.0.branch1.2.weight"},
      {"shufflenet_v2", "backbone.layers.0.0.branch1.1.bn.running_var", "stage2.0.branch1.3.running_var"},
      {"shufflenet_v2", "backbone.layers.1.3.branch2.0.bn.weight", "stage3.3.branch2.1.weight"},
      {"shufflenet_v2", "backbone.layers.1.3.branch2.1.conv.weight", "stage3.3.branch2.3.weight"},
      {"shufflenet_v2", "backbone.layers.2.1.branch2.2.bn.bias", "stage4.1.branch2.6.bias"},
      {"shufflenet_v2", "backbone.layers.3.conv.weight", "conv5.0.weight"},
      {"shufflenet_v2", "backbone.layers.3.bn.num_batches_tracked", "conv5.1.num_batches_tracked"},
      {"shufflenet_v2", "head.fc.weight", "fc.weight"},
  };
  return p;
}

TEST(TorchvisionNames, KnownPairsBothWays) {
  for (const Pair& p : pairs()) {
    EXPECT_EQ(to_torchvision_name(p.net, p.mmcls), p.tv) << p.net;
    EXPECT_EQ(from_torchvision_name(p.net, p.tv), p.mmcls) << p.net;
  }
}

TEST(TorchvisionNames, EveryKeyRoundTripsOneToOne) {
  for (const char* name : {"resnet18", "resnet34", "resnet50", "mobilenet_v2", "shufflenet_v2"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(has_torchvision_names(name));
    const auto net = testing::uninitialised_net(name, {.num_classes = 10});
    const std::vector<std::string> keys = testing::keys_of(net->state_dict());
    const std::vector<std::string> tv = testing::keys_of(to_torchvision(name, net->state_dict()));
    EXPECT_EQ(std::set<std::string>(tv.begin(), tv.end()).size(), keys.size());
    for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(from_torchvision_name(name, tv[i]), keys[i]);
    EXPECT_EQ(tv.front(), std::string(name).rfind("resnet", 0) == 0  ? "conv1.weight"
                          : std::string(name) == "mobilenet_v2" ? "features.0.0.weight"
                                                                : "conv1.0.weight");
  }
}

TEST(TorchvisionNames, ForeignNamesThrow) {
  EXPECT_FALSE(has_torchvision_names("mobilenet_v1"));
  EXPECT_THROW(to_torchvision_name("mobilenet_v1", "backbone.model.0.0.weight"), Error);
  EXPECT_THROW(to_torchvision_name("resnet18", "neck.weight"), Error);
  EXPECT_THROW(to_torchvision_name("mobilenet_v2", "backbone.layer1.0.conv.2.conv.weight"), Error);
  EXPECT_THROW(to_torchvision_name("mobilenet_v2", "backbone.layer8.0.conv.0.conv.weight"), Error);
  EXPECT_THROW(from_torchvision_name("mobilenet_v2", "features.1.conv.3.weight"), Error);
  EXPECT_THROW(from_torchvision_name("mobilenet_v2", "features.19.0.weight"), Error);
  EXPECT_THROW(to_torchvision_name("shufflenet_v2", "backbone.layers.0.1.branch1.2.conv.weight"), Error);
  EXPECT_THROW(from_torchvision_name("shufflenet_v2", "stage2.0.branch2.2.weight"), Error);
  EXPECT_THROW(from_torchvision_name("shufflenet_v2", "stage5.0.branch2.0.weight"), Error);
}

}  // namespace
}  // namespace nkd::nets
