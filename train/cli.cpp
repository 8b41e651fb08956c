// Shared command-line helpers (see cli.h).
#include "train/cli.h"

#include <algorithm>
#include <iostream>

#include "engine/check.h"
#include "engine/cuda/device.h"
#include "engine/dist/communicator.h"

namespace nkd::train {

DeviceFlag parse_device_flag(const std::string& name) {
  if (name == "cpu") return {DeviceFlag::Kind::kCpu};
  if (name == "auto") return {DeviceFlag::Kind::kAuto};
  if (name == "cuda") return {DeviceFlag::Kind::kCuda};
  const std::string digits = name.rfind("cuda:", 0) == 0 ? name.substr(5) : "";
  NKD_CHECK(!digits.empty() && digits.size() <= 3 && digits.find_first_not_of("0123456789") == std::string::npos,
            "--device must be cpu, cuda, cuda:N or auto, got '", name, "'");
  return {DeviceFlag::Kind::kCuda, std::stoi(digits)};
}

Device usable_cuda_device(const std::string& name, int index) {
  NKD_CHECK(cuda::is_available(), "--device ", name, ": ", cuda::unavailable_reason());
  NKD_CHECK(index < cuda::device_count(), "--device ", name, ": this machine has ", cuda::device_count(),
            " CUDA device(s)");
  return cuda_device(index);
}

Device parse_device(const std::string& name) {
  const DeviceFlag flag = parse_device_flag(name);
  if (flag.kind == DeviceFlag::Kind::kCpu) return kCPU;
  if (flag.kind == DeviceFlag::Kind::kAuto) return cuda::is_available() ? cuda_device(0) : kCPU;
  return usable_cuda_device(name, std::max(flag.index, 0));  // a bare "cuda" is cuda:0
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
    dist::abort_all(1);  // data parallel: end every rank of the job now (no-op in a single process)
    return 1;
  }
}

}  // namespace nkd::train
