// The net registry: one line per net, name -> backbone factory.
#include <functional>
#include <map>

#include "nets/classifier.h"
#include "nets/mobilenet_v1.h"
#include "nets/mobilenet_v2.h"
#include "nets/resnet.h"
#include "nets/shufflenet_v2.h"
#include "nets/swin.h"

namespace nkd::nets {
namespace {

using BackboneFactory = std::function<std::shared_ptr<Backbone>(const NetOptions&)>;

const std::map<std::string, BackboneFactory>& registry() {
  static const std::map<std::string, BackboneFactory> nets = {
      {"resnet18", [](const NetOptions& o) { return resnet_backbone(18, o); }},
      {"resnet34", [](const NetOptions& o) { return resnet_backbone(34, o); }},
      {"resnet50", [](const NetOptions& o) { return resnet_backbone(50, o); }},
      {"mobilenet_v1", mobilenet_v1_backbone},
      {"mobilenet_v2", mobilenet_v2_backbone},
      {"shufflenet_v2", shufflenet_v2_backbone},
      {"swin_tiny", swin_tiny_backbone},
  };
  return nets;
}

}  // namespace

std::vector<std::string> net_names() {
  std::vector<std::string> names;
  for (const auto& [n, f] : registry()) names.push_back(n);
  return names;
}

std::shared_ptr<ImageClassifier> build_net(const std::string& name, const NetOptions& options,
                                           uint64_t seed) {
  const auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const std::string& n : net_names()) known += (known.empty() ? "" : ", ") + n;
    NKD_FAIL("unknown net '", name, "'; known nets: ", known);
  }
  auto net = std::make_shared<ImageClassifier>(it->second(options), options.num_classes);
  net->init_weights(seed);
  return net;
}

}  // namespace nkd::nets
