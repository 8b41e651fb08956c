// Shared command-line helpers: the device flag, loading a config with --set overrides, and the
// main() wrapper that turns any error into one clear line on stderr and in the work dir's log, and
// an exit code: 2 for a command-line usage error, 1 for any other.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "train/config.h"
#include "engine/check.h"
#include "engine/device.h"

namespace nkd::train {

// A command-line usage error (a flag's value that cannot be used): run_main exits 2.
class UsageError : public Error {
 public:
  using Error::Error;
};
// The exit code of a command line the parser rejected: 0 for --help (code 0), else 2.
int usage_exit(int parser_code);
// Where run_main also writes a fatal error: the run's log file (TrainLog registers its own), or,
// while none is open, a new <timestamp>.log in the work dir when it exists (a run that fails before
// it starts creates no work dir).
void set_error_log_file(const std::string& path);
void set_error_log_dir(const std::string& work_dir);

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
// Runs body(); an exception becomes "<program>: error: <message>" on stderr and in the error log
// (set_error_log_*), and exit 2 (UsageError) or 1.
int run_main(const char* program, const std::function<int()>& body);

}  // namespace nkd::train
