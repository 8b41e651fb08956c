// State-dict names of the mmcls nets <-> torchvision's models of the same architecture, both ways:
// resnet18/34/50 (backbone.X <-> X, head.fc <-> fc), mobilenet_v2 (features.N...,
// classifier.1) and shufflenet_v2 (conv1.0, stage2.0.branch1.2, conv5.1, fc). Used to load
// torchvision checkpoints and to compare with torchvision in the parity tests.
#pragma once
#include <string>

#include "layers/module.h"

namespace nkd::nets {

// Whether `net` (a registry name) has a torchvision counterpart.
bool has_torchvision_names(const std::string& net);

// One name each way; nkd::Error for a name outside the net's layout.
std::string to_torchvision_name(const std::string& net, const std::string& mmcls_name);
std::string from_torchvision_name(const std::string& net, const std::string& torchvision_name);

// Every entry renamed (order kept).
layers::NamedTensors to_torchvision(const std::string& net, const layers::NamedTensors& state);
layers::NamedTensors from_torchvision(const std::string& net, const layers::NamedTensors& state);

}  // namespace nkd::nets
