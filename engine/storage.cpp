// Storage allocation: aligned host memory on the CPU, the registered allocator elsewhere.
#include "engine/storage.h"

#include <cstdlib>
#include <mutex>
#include <utility>

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

Storage::Storage(void* data, size_t bytes, Device device, std::function<void(void*)> release, bool pinned)
    : data_(data), bytes_(bytes), device_(device), release_(std::move(release)), pinned_(pinned) {
  NKD_CHECK(release_, "Storage: adopted memory needs a release function");
  NKD_CHECK(!pinned || device.is_cpu(), "Storage: only host memory can be pinned");
}

Storage::~Storage() {
  if (release_) {
    release_(data_);
    return;
  }
  if (data_ == nullptr) return;
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
    g_cuda_allocator.free(data_, device_);
  }
}

}  // namespace nkd
