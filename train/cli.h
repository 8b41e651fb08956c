// Shared command-line helpers: the device flag, loading a config with --set overrides, and the
// main() wrapper that turns any nkd::Error into one clear line and a non-zero exit.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "train/config.h"
#include "engine/device.h"

namespace nkd::train {

// The --device flag as written: "cpu", "auto", "cuda" or "cuda:N". The one parser of the flag, for
// single-process runs (parse_device) and data-parallel ones (init_distributed, distributed.h), which
// then resolve it differently ("cuda" and "auto" mean the rank's GPU there). Throws on any other text.
struct DeviceFlag {
  enum class Kind { kCpu, kAuto, kCuda };
  Kind kind = Kind::kCpu;
  int index = -1;  // kCuda: N of "cuda:N"; -1 for a bare "cuda"
};
DeviceFlag parse_device_flag(const std::string& name);
// CUDA device `index`, checked to exist on this machine before any data or model is loaded: without a
// usable GPU, or with fewer devices, it throws "--device <name>: <reason>".
Device usable_cuda_device(const std::string& name, int index);
// A single-process run's device: "cpu"; "cuda" (cuda:0) or "cuda:N", checked to exist; "auto" (cuda:0
// when CUDA is usable, else the CPU).
Device parse_device(const std::string& name);
Config load_config(const std::string& path, const std::vector<std::string>& overrides);
// Runs body(); nkd::Error and std::exception become "<program>: error: <message>" and exit 1.
int run_main(const char* program, const std::function<int()>& body);

}  // namespace nkd::train
