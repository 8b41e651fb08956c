// The PyTorch peer of the benchmarks: runs a tools/*.py timing script with a JSON spec through
// Debian's /usr/bin/python3 (or $NKD_TORCH_PYTHON; the scripts are looked up under $NKD_SOURCE_DIR/tools
// when set, else under the source tree nkd was built from) and returns its JSON result, in the same run
// as the nkd timings.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace nkd::apps {

// `modules`: what the script imports ("torch" or "torch, torchvision"). Empty when they are not
// importable or the script fails (the reason goes to stderr); otherwise the script's JSON output,
// whose "torch" and "threads" are printed to stderr.
std::optional<nlohmann::json> run_torch_peer(const std::string& script, const nlohmann::json& spec,
                                             const std::string& modules);

}  // namespace nkd::apps
