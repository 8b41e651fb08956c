// Shared command-line helpers (see cli.h).
#include "train/cli.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/check.h"
#include "engine/cuda/device.h"
#include "engine/dist/communicator.h"

namespace nkd::train {

namespace {
std::string g_error_log_file, g_error_log_dir;

void write_error_log(const std::string& line) {
  std::string path = g_error_log_file;
  if (path.empty() && std::filesystem::is_directory(g_error_log_dir)) {  // a failed start creates no work dir
    const std::time_t t = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", std::localtime(&t));
    path = g_error_log_dir + "/" + stamp + ".log";
  }
  if (path.empty()) return;
  std::ofstream(path, std::ios::app) << line << "\n";
}
}  // namespace

int usage_exit(int parser_code) { return parser_code == 0 ? 0 : 2; }
void set_error_log_file(const std::string& path) { g_error_log_file = path; }
void set_error_log_dir(const std::string& work_dir) { g_error_log_dir = work_dir; }

DeviceFlag parse_device_flag(const std::string& name) {
  if (name == "cpu") return {DeviceFlag::Kind::kCpu};
  if (name == "auto") return {DeviceFlag::Kind::kAuto};
  if (name == "cuda") return {DeviceFlag::Kind::kCuda};
  const std::string digits = name.rfind("cuda:", 0) == 0 ? name.substr(5) : "";
  if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("--device must be cpu, cuda, cuda:N or auto, got '" + name + "'");
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
    const std::string line = std::string(program) + ": error: " + e.what();
    std::cerr << line << std::endl;
    write_error_log(line);
    const int code = dynamic_cast<const UsageError*>(&e) ? 2 : 1;
    dist::abort_all(code);  // data parallel: end every rank of the job now (no-op in a single process)
    return code;
  }
}

}  // namespace nkd::train
