// Shared command-line helpers: the device flag, loading a config with --set overrides, and the
// main() wrapper that turns any nkd::Error into one clear line and a non-zero exit.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "train/config.h"
#include "engine/device.h"

namespace nkd::train {

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when available, else the CPU).
Device parse_device(const std::string& name);
Config load_config(const std::string& path, const std::vector<std::string>& overrides);
// Runs body(); nkd::Error and std::exception become "<program>: error: <message>" and exit 1.
int run_main(const char* program, const std::function<int()>& body);

}  // namespace nkd::train
