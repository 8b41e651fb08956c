// The CUDA backend's runtime entry points in a build without CUDA: no device, and every action
// throws "built without CUDA".
#include "engine/check.h"
#include "engine/cuda/allocator.h"
#include "engine/cuda/device.h"
#include "engine/cuda/memcpy.h"

namespace nkd::cuda {
namespace {
constexpr const char* kReason = "built without CUDA (configure with -DNKD_CUDA=ON)";
[[noreturn]] void fail(const char* what) { NKD_FAIL(what, ": nkd was ", kReason); }
}  // namespace

int device_count() { return 0; }
bool is_available() { return false; }
std::string unavailable_reason() { return kReason; }
void init(Device device) { NKD_FAIL("cannot use ", device.str(), ": nkd was ", kReason); }
void synchronize(Device) { fail("cuda::synchronize"); }

MemoryStats memory_stats(int) { fail("cuda::memory_stats"); }
void reset_peak_memory_stats(int) { fail("cuda::reset_peak_memory_stats"); }
bool sync_alloc_enabled() { return false; }
void* allocate(size_t, Device) { fail("cuda::allocate"); }
void deallocate(void*, Device) noexcept {}
void install_allocator() { fail("cuda::install_allocator"); }
PinnedBuffer::PinnedBuffer(size_t) { fail("PinnedBuffer"); }
PinnedBuffer::~PinnedBuffer() = default;

void memcpy_host_to_device(void*, Device, const void*, size_t) {
  fail("cuda::memcpy_host_to_device");
}
void memcpy_device_to_host(void*, const void*, Device, size_t) {
  fail("cuda::memcpy_device_to_host");
}
void memcpy_device_to_device(void*, Device, const void*, Device, size_t) {
  fail("cuda::memcpy_device_to_device");
}

}  // namespace nkd::cuda
