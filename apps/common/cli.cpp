// Shared command-line helpers (see cli.h).
#include "apps/common/cli.h"

#include <iostream>

#include "engine/check.h"
#include "engine/cuda/device.h"

namespace nkd::apps {

Device parse_device(const std::string& name) {
  if (name == "cpu") return kCPU;
  if (name == "auto") return cuda::is_available() ? cuda_device(0) : kCPU;
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    const int index = name == "cuda" ? 0 : std::stoi(name.substr(5));
    NKD_CHECK(cuda::is_available(), "--device ", name, ": ", cuda::unavailable_reason());
    return cuda_device(index);
  }
  NKD_FAIL("--device must be cpu, cuda, cuda:N or auto, got '", name, "'");
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config c = Config::load(path);
  for (const std::string& o : overrides) c.set(o);
  return c;
}

int run_main(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace nkd::apps
