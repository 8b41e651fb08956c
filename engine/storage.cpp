// Storage allocation: aligned host memory on the CPU, the registered allocator elsewhere.
#include "engine/storage.h"

#include <cstdlib>
#include <mutex>

#include "engine/check.h"
#include "engine/cuda/device.h"

namespace nkd {
namespace {
std::mutex g_alloc_mutex;
// Never destroyed: a CUDA tensor held by a static object may be freed after static destruction.
DeviceAllocator& g_cuda_allocator = *new DeviceAllocator();
}  // namespace

void set_device_allocator(DeviceType type, DeviceAllocator allocator) {
  NKD_ASSERT(type == DeviceType::CUDA, "only the CUDA allocator can be replaced");
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  g_cuda_allocator = std::move(allocator);
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    data_ = rounded == 0 ? nullptr : std::aligned_alloc(64, rounded);
    if (rounded != 0 && data_ == nullptr)
      throw OutOfMemoryError(detail::cat("out of host memory allocating ", bytes, " bytes"));
    return;
  }
  bool registered = false;
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    registered = static_cast<bool>(g_cuda_allocator.allocate);
  }
  if (!registered) cuda::init(device);  // the first use of a CUDA device registers its allocator
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  NKD_CHECK(g_cuda_allocator.allocate, "cannot allocate on ", device.str(),
            ": nkd was built without CUDA or no GPU is available");
  data_ = bytes == 0 ? nullptr : g_cuda_allocator.allocate(bytes, device);
}

Storage::~Storage() {
  if (data_ == nullptr) return;
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
    g_cuda_allocator.free(data_, device_);
  }
}

}  // namespace nkd
