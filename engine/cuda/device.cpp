// Device discovery: any error from cudaGetDeviceCount means "no device" (35 on a machine without a
// driver); the sticky error is cleared so later calls see a clean state.
#include "engine/cuda/device.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "engine/cuda/allocator.h"
#include "engine/cuda/check.h"
#include "engine/cuda/context.h"

namespace nkd::cuda {
namespace {

struct Probe {
  int count = 0;
  std::string reason;
};

bool force_cpu() {
  const char* v = std::getenv("NKD_FORCE_CPU");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

const Probe& probe() {
  static const Probe result = [] {
    Probe p;
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // clear the error so it does not surface at an unrelated call
      p.reason = nkd::detail::cat("no CUDA device: cudaGetDeviceCount returned ",
                                  static_cast<int>(e), " (", cudaGetErrorString(e), ")");
    } else if (n <= 0) {
      p.reason = "no CUDA device: cudaGetDeviceCount found 0 devices";
    } else {
      p.count = n;
    }
    return p;
  }();
  return result;
}

}  // namespace

namespace gpu {

int device_count() { return force_cpu() ? 0 : probe().count; }

std::string unavailable_reason() {
  if (force_cpu()) return "no CUDA device: NKD_FORCE_CPU=1 hides the GPUs";
  return probe().reason;
}

void init(Device device) {
  NKD_CHECK(device.is_cuda(), "cuda::init: ", device.str(), " is not a CUDA device");
  const int n = device_count();
  NKD_CHECK(n > 0, "cannot use ", device.str(), ": ", unavailable_reason());
  NKD_CHECK(device.index >= 0 && device.index < n, "cannot use ", device.str(), ": only ", n,
            " CUDA device(s) visible");
  static std::once_flag once;
  std::call_once(once, [] { cuda::install_allocator(); });
  (void)context(device.index);
}

void synchronize(Device device) {
  init(device);
  const Context& ctx = context(device.index);
  DeviceGuard guard(device.index);
  const std::lock_guard<std::recursive_mutex> no_capture(capture_mutex());
  NKD_CUDA_CHECK(cudaStreamSynchronize(ctx.compute_stream()));
  NKD_CUDA_CHECK(cudaStreamSynchronize(ctx.copy_stream()));
}

}  // namespace gpu

}  // namespace nkd::cuda
