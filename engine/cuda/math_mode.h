// Process-wide numerical modes of the GPU libraries, settable from CPU code (CUDA-free, header-only,
// so CPU-only builds and tests can call the setters too):
//   deterministic  cuDNN algorithms are restricted to deterministic ones (bitwise-repeatable
//                  gradients); env NKD_DETERMINISTIC=1 sets the initial value. Tests turn it on.
//   allow_tf32     float convolutions / GEMMs may use TF32 tensor cores (10-bit mantissa inputs);
//                  off by default, env NKD_ALLOW_TF32=1 sets the initial value.
//   exact_conv     float convolutions leave out cuDNN's FFT, FFT-tiling and non-fused Winograd
//                  algorithms, whose results can be ~1e-3 (relative) off the exact sum on small
//                  reductions; off by default (as PyTorch's cudnn.benchmark, which admits them: they
//                  are the fastest for many 3x3 convolutions), env NKD_CONV_EXACT=1 sets the
//                  initial value. The CPU-parity tests turn it on; nkd_distill and nkd_eval set it
//                  from runner.conv_algos (train/run_config.h, the env var overriding to exact).
// The flags are read when an op runs; the conv algorithm cache keys on all three.
#pragma once
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace nkd::cuda {
namespace detail {

inline bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
}
inline std::atomic<bool>& deterministic_flag() {
  static std::atomic<bool> flag{env_flag("NKD_DETERMINISTIC")};
  return flag;
}
inline std::atomic<bool>& allow_tf32_flag() {
  static std::atomic<bool> flag{env_flag("NKD_ALLOW_TF32")};
  return flag;
}
inline std::atomic<bool>& exact_conv_flag() {
  static std::atomic<bool> flag{env_flag("NKD_CONV_EXACT")};
  return flag;
}

}  // namespace detail

inline bool deterministic() { return detail::deterministic_flag().load(std::memory_order_relaxed); }
inline void set_deterministic(bool on) {
  detail::deterministic_flag().store(on, std::memory_order_relaxed);
}
inline bool allow_tf32() { return detail::allow_tf32_flag().load(std::memory_order_relaxed); }
inline void set_allow_tf32(bool on) { detail::allow_tf32_flag().store(on, std::memory_order_relaxed); }

inline bool exact_conv() { return detail::exact_conv_flag().load(std::memory_order_relaxed); }
inline void set_exact_conv(bool on) { detail::exact_conv_flag().store(on, std::memory_order_relaxed); }

// Sets one mode for a scope and restores the previous value after it.
template <bool (*Get)(), void (*Set)(bool)>
class ModeGuard {
 public:
  explicit ModeGuard(bool on) : previous_(Get()) { Set(on); }
  ~ModeGuard() { Set(previous_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  bool previous_;
};
using DeterministicGuard = ModeGuard<deterministic, set_deterministic>;
using Tf32Guard = ModeGuard<allow_tf32, set_allow_tf32>;
using ExactConvGuard = ModeGuard<exact_conv, set_exact_conv>;

}  // namespace nkd::cuda
