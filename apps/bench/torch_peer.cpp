// Runs a PyTorch timing script and reads its JSON output.
#include "apps/bench/torch_peer.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "engine/cpu/blas_core.h"

namespace nkd::apps {

namespace {
// "model name (family F model M)" of the first CPU in /proc/cpuinfo: PERF.md records it with each figure.
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, name, family, model;
  auto value = [&] { return line.substr(line.find(':') + 2); };
  while (std::getline(in, line) && (name.empty() || family.empty() || model.empty())) {
    if (line.starts_with("model name")) name = value();
    else if (line.starts_with("cpu family")) family = value();
    else if (line.starts_with("model\t")) model = value();
  }
  return name.empty() ? "unknown CPU" : name + " (family " + family + " model " + model + ")";
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? v : fallback;
}
}  // namespace

std::optional<nlohmann::json> run_torch_peer(const std::string& script, const nlohmann::json& spec,
                                             const std::string& modules) {
  const std::string python = env_or("NKD_TORCH_PYTHON", "/usr/bin/python3");
  const std::string check = python + " -c 'import " + modules + "' > /dev/null 2>&1";
  if (std::system(check.c_str()) != 0) {
    std::cerr << modules << " not importable by " << python << ": no PyTorch column\n";
    return std::nullopt;
  }
  // PyTorch's matrix products go through the same OpenBLAS: it gets the kernels nkd runs.
  std::cerr << "CPU: " << cpu_model() << "; OpenBLAS kernels (nkd and PyTorch): " << cpu::upgrade_blas_core() << "\n";
  std::string cmd = python + " " + env_or("NKD_SOURCE_DIR", NKD_SOURCE_DIR);
  cmd += "/tools/" + script + " '" + spec.dump() + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string text;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  if (pclose(pipe) != 0) {
    std::cerr << "failed: " << cmd << "\n";
    return std::nullopt;
  }
  nlohmann::json r = nlohmann::json::parse(text);
  std::cerr << "PyTorch " << r["torch"].get<std::string>() << ", " << r["threads"].get<int>() << " threads\n";
  return r;
}

}  // namespace nkd::apps
