// Name mapping mmcls <-> torchvision. Names are split at dots; each net maps the module path and
// keeps the final tensor name (weight, bias, running_mean, ...).
#include "nets/torchvision_names.h"

#include <numeric>
#include <vector>

#include "engine/check.h"

namespace nkd::nets {
namespace {

using Tokens = std::vector<std::string>;

Tokens split(const std::string& s) {
  Tokens out(1);
  for (char ch : s) {
    if (ch == '.') out.emplace_back();
    else out.back() += ch;
  }
  return out;
}

std::string join(const Tokens& t, size_t from = 0) {
  std::string s;
  for (size_t i = from; i < t.size(); ++i) s += (s.empty() ? "" : ".") + t[i];
  return s;
}

bool starts(const Tokens& t, const Tokens& prefix) {
  if (t.size() <= prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (t[i] != prefix[i]) return false;
  return true;
}

int64_t to_int(const std::string& s) {
  NKD_CHECK(!s.empty() && s.find_first_not_of("0123456789") == std::string::npos, "not an index: '", s, "'");
  return std::stoll(s);
}

[[noreturn]] void unknown(const std::string& net, const std::string& name) {
  NKD_FAIL("torchvision names: '", name, "' is not a ", net, " state-dict name");
}

// --- ResNet: identical module paths under "backbone."; the head's fc is top-level. ---
std::string resnet_to_tv(const Tokens& t) {
  if (starts(t, {"head", "fc"})) return "fc." + join(t, 2);
  if (starts(t, {"backbone"})) return join(t, 1);
  return {};
}
std::string resnet_from_tv(const Tokens& t) {
  if (starts(t, {"fc"})) return "head.fc." + join(t, 1);
  return "backbone." + join(t);
}

// --- MobileNetV2: mmcls layerS.B = torchvision features.F with F = 1 + blocks before. ---
constexpr int64_t kMv2Blocks[7] = {1, 2, 3, 4, 3, 3, 1};
constexpr int64_t kMv2Last = 18;  // features index of conv2

int64_t mv2_first_feature(int64_t stage) {  // stage 1..7
  return 1 + std::accumulate(kMv2Blocks, kMv2Blocks + stage - 1, int64_t{0});
}
int64_t mv2_convs(int64_t stage) { return stage == 1 ? 2 : 3; }  // ConvModules per block

std::string bn_or_conv(const std::string& s, const std::string& conv, const std::string& bn) {
  if (s == "conv") return conv;
  if (s == "bn") return bn;
  return {};
}

std::string mv2_to_tv(const Tokens& t) {
  if (starts(t, {"head", "fc"})) return "classifier.1." + join(t, 2);
  if (!starts(t, {"backbone"}) || t.size() < 4) return {};
  if ((t[1] == "conv1" || t[1] == "conv2") && t.size() == 4) {
    const std::string sub = bn_or_conv(t[2], "0", "1");
    return sub.empty() ? sub : "features." + std::string(t[1] == "conv1" ? "0" : "18") + "." + sub + "." + t[3];
  }
  // backbone.layerS.B.conv.K.{conv,bn}.P
  if (t.size() != 7 || t[1].rfind("layer", 0) != 0 || t[3] != "conv") return {};
  const int64_t s = to_int(t[1].substr(5)), b = to_int(t[2]), k = to_int(t[4]);
  if (s < 1 || s > 7 || b >= kMv2Blocks[s - 1] || k >= mv2_convs(s)) return {};
  const std::string f = "features." + std::to_string(mv2_first_feature(s) + b) + ".conv.";
  if (k < mv2_convs(s) - 1) {
    const std::string sub = bn_or_conv(t[5], "0", "1");
    return sub.empty() ? sub : f + t[4] + "." + sub + "." + t[6];
  }
  const std::string sub = bn_or_conv(t[5], std::to_string(k), std::to_string(k + 1));
  return sub.empty() ? sub : f + sub + "." + t[6];
}

std::string mv2_from_tv(const Tokens& t) {
  if (starts(t, {"classifier", "1"})) return "head.fc." + join(t, 2);
  if (!starts(t, {"features"}) || t.size() < 4) return {};
  const int64_t f = to_int(t[1]);
  if ((f == 0 || f == kMv2Last) && t.size() == 4 && (t[2] == "0" || t[2] == "1"))
    return "backbone." + std::string(f == 0 ? "conv1." : "conv2.") + (t[2] == "0" ? "conv." : "bn.") + t[3];
  int64_t s = 1;
  while (s <= 7 && f >= mv2_first_feature(s) + kMv2Blocks[s - 1]) ++s;
  if (f < 1 || s > 7 || t[2] != "conv") return {};
  const std::string block = "backbone.layer" + std::to_string(s) + "." +
                            std::to_string(f - mv2_first_feature(s)) + ".conv.";
  const int64_t last = mv2_convs(s) - 1, k = to_int(t[3]);
  if (t.size() == 6 && k < last && (t[4] == "0" || t[4] == "1"))
    return block + t[3] + (t[4] == "0" ? ".conv." : ".bn.") + t[5];
  if (t.size() == 5 && (k == last || k == last + 1))
    return block + std::to_string(last) + (k == last ? ".conv." : ".bn.") + t[4];
  return {};
}

// --- ShuffleNetV2: layers.S <-> stageS+2, layers.3 <-> conv5, ConvModule {conv,bn} <-> indices. ---
constexpr int kBranch2Conv[3] = {0, 3, 5};  // torchvision index of branch2's K-th conv (BN follows)

std::string shuffle_to_tv(const Tokens& t) {
  if (starts(t, {"head", "fc"})) return "fc." + join(t, 2);
  if (!starts(t, {"backbone"})) return {};
  const std::string p = t.back();
  if (t.size() == 4 && (t[1] == "conv1")) {
    const std::string sub = bn_or_conv(t[2], "0", "1");
    return sub.empty() ? sub : "conv1." + sub + "." + p;
  }
  if (t.size() == 5 && t[1] == "layers" && t[2] == "3") {
    const std::string sub = bn_or_conv(t[3], "0", "1");
    return sub.empty() ? sub : "conv5." + sub + "." + p;
  }
  // backbone.layers.S.B.branchX.K.{conv,bn}.P
  if (t.size() != 8 || t[1] != "layers" || (t[4] != "branch1" && t[4] != "branch2")) return {};
  const int64_t s = to_int(t[2]), k = to_int(t[5]);
  if (s > 2 || k > (t[4] == "branch1" ? 1 : 2) || (t[6] != "conv" && t[6] != "bn")) return {};
  const int64_t conv = t[4] == "branch1" ? 2 * k : kBranch2Conv[k];
  return "stage" + std::to_string(s + 2) + "." + t[3] + "." + t[4] + "." +
         std::to_string(conv + (t[6] == "bn" ? 1 : 0)) + "." + p;
}

std::string shuffle_from_tv(const Tokens& t) {
  if (starts(t, {"fc"})) return "head.fc." + join(t, 1);
  const std::string p = t.back();
  if (t.size() == 3 && (t[0] == "conv1" || t[0] == "conv5") && (t[1] == "0" || t[1] == "1"))
    return std::string("backbone.") + (t[0] == "conv1" ? "conv1." : "layers.3.") +
           (t[1] == "0" ? "conv." : "bn.") + p;
  if (t.size() != 5 || t[0].rfind("stage", 0) != 0 || (t[2] != "branch1" && t[2] != "branch2")) return {};
  const int64_t s = to_int(t[0].substr(5)) - 2, i = to_int(t[3]);
  if (s < 0 || s > 2) return {};
  for (int64_t k = 0; k < (t[2] == "branch1" ? 2 : 3); ++k) {
    const int64_t conv = t[2] == "branch1" ? 2 * k : kBranch2Conv[k];
    if (i == conv || i == conv + 1)
      return "backbone.layers." + std::to_string(s) + "." + t[1] + "." + t[2] + "." + std::to_string(k) +
             (i == conv ? ".conv." : ".bn.") + p;
  }
  return {};
}

enum class Family { kResNet, kMobileNetV2, kShuffleNetV2, kNone };

Family family(const std::string& net) {
  if (net == "resnet18" || net == "resnet34" || net == "resnet50") return Family::kResNet;
  if (net == "mobilenet_v2") return Family::kMobileNetV2;
  if (net == "shufflenet_v2") return Family::kShuffleNetV2;
  return Family::kNone;
}

Family checked_family(const std::string& net) {
  const Family f = family(net);
  NKD_CHECK(f != Family::kNone, "torchvision names: no torchvision counterpart for net '", net,
            "' (known: resnet18, resnet34, resnet50, mobilenet_v2, shufflenet_v2)");
  return f;
}

}  // namespace

bool has_torchvision_names(const std::string& net) { return family(net) != Family::kNone; }

std::string to_torchvision_name(const std::string& net, const std::string& name) {
  const Tokens t = split(name);
  std::string out;
  switch (checked_family(net)) {
    case Family::kResNet: out = resnet_to_tv(t); break;
    case Family::kMobileNetV2: out = mv2_to_tv(t); break;
    case Family::kShuffleNetV2: out = shuffle_to_tv(t); break;
    case Family::kNone: break;
  }
  if (out.empty()) unknown(net, name);
  return out;
}

std::string from_torchvision_name(const std::string& net, const std::string& name) {
  const Tokens t = split(name);
  std::string out;
  switch (checked_family(net)) {
    case Family::kResNet: out = resnet_from_tv(t); break;
    case Family::kMobileNetV2: out = mv2_from_tv(t); break;
    case Family::kShuffleNetV2: out = shuffle_from_tv(t); break;
    case Family::kNone: break;
  }
  if (out.empty()) unknown(net, name);
  return out;
}

layers::NamedTensors to_torchvision(const std::string& net, const layers::NamedTensors& state) {
  layers::NamedTensors out;
  for (const auto& [name, t] : state) out.emplace_back(to_torchvision_name(net, name), t);
  return out;
}

layers::NamedTensors from_torchvision(const std::string& net, const layers::NamedTensors& state) {
  layers::NamedTensors out;
  for (const auto& [name, t] : state) out.emplace_back(from_torchvision_name(net, name), t);
  return out;
}

}  // namespace nkd::nets
