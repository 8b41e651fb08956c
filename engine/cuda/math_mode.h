// Process-wide numerical modes of the GPU libraries, settable from CPU code (CUDA-free, header-only,
// so CPU-only builds and tests can call the setters too):
//   deterministic  cuDNN algorithms are restricted to deterministic ones (bitwise-repeatable
//                  gradients); env NKD_DETERMINISTIC=1 sets the initial value. Tests turn it on.
//   allow_tf32     float convolutions / GEMMs may use TF32 tensor cores (10-bit mantissa inputs);
//                  off by default, env NKD_ALLOW_TF32=1 sets the initial value.
// The flags are read when an op runs; the conv algorithm cache keys on both.
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

}  // namespace detail

inline bool deterministic() { return detail::deterministic_flag().load(std::memory_order_relaxed); }
inline void set_deterministic(bool on) {
  detail::deterministic_flag().store(on, std::memory_order_relaxed);
}
inline bool allow_tf32() { return detail::allow_tf32_flag().load(std::memory_order_relaxed); }
inline void set_allow_tf32(bool on) { detail::allow_tf32_flag().store(on, std::memory_order_relaxed); }

// Sets the deterministic mode for a scope and restores the previous value after it.
class DeterministicGuard {
 public:
  explicit DeterministicGuard(bool on) : previous_(deterministic()) { set_deterministic(on); }
  ~DeterministicGuard() { set_deterministic(previous_); }
  DeterministicGuard(const DeterministicGuard&) = delete;
  DeterministicGuard& operator=(const DeterministicGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace nkd::cuda
