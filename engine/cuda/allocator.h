// CUDA device memory: stream-ordered cudaMallocAsync on the device's compute stream from its
// default pool, which keeps freed memory cached (release threshold UINT64_MAX);
// NKD_CUDA_SYNC_ALLOC=1 uses plain cudaMalloc/cudaFree (for compute-sanitizer). Pinned host buffers.
// CUDA-free header. The inline front functions compile in every build (without CUDA they throw
// "built without CUDA"); allocate/deallocate/install_allocator are for GPU sources only.
#pragma once
#include <cstddef>
#include <utility>

#include "engine/cuda/device.h"

namespace nkd::cuda {

struct MemoryStats {
  size_t current_bytes = 0;    // bytes held by live allocations (as requested)
  size_t peak_bytes = 0;       // maximum of current_bytes since start or reset_peak_memory_stats
  size_t live_allocations = 0;
  size_t total_allocations = 0;  // allocations made since start
  size_t reserved_bytes = 0;   // what the pool holds from the driver (0 with NKD_CUDA_SYNC_ALLOC=1)
};

namespace gpu {  // the CUDA build's definitions (allocator.cpp)
MemoryStats memory_stats(int device);
void reset_peak_memory_stats(int device);
bool sync_alloc_enabled();
void* pin(size_t bytes);        // cudaHostAlloc; null for 0 bytes
void unpin(void* ptr) noexcept;  // cudaFreeHost (null: nothing)
}  // namespace gpu

inline MemoryStats memory_stats(int device = 0) {
  if constexpr (kBuiltWithCuda) return gpu::memory_stats(device);
  NKD_FAIL("cuda::memory_stats: nkd was ", kNoCudaReason);
}
inline void reset_peak_memory_stats(int device = 0) {
  if constexpr (kBuiltWithCuda) return gpu::reset_peak_memory_stats(device);
  NKD_FAIL("cuda::reset_peak_memory_stats: nkd was ", kNoCudaReason);
}
// NKD_CUDA_SYNC_ALLOC=1 (always false without CUDA).
inline bool sync_alloc_enabled() {
  if constexpr (kBuiltWithCuda) return gpu::sync_alloc_enabled();
  return false;
}

// Stream-ordered on the device's compute stream: memory touched by work on another stream must be
// ordered with an event before it is freed. Out of memory throws nkd::OutOfMemoryError with the
// requested, free and peak bytes.
void* allocate(size_t bytes, Device device);
void deallocate(void* ptr, Device device) noexcept;
// Registers allocate/deallocate with Storage (set_device_allocator); called once by init().
void install_allocator();

// Page-locked host memory, so host-device copies can run asynchronously on the copy stream.
// Move-only. Freeing it (cudaFreeHost) synchronises the device: keep such buffers long-lived.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes) : bytes_(bytes) {
    NKD_CHECK(is_available(), "PinnedBuffer: ", unavailable_reason());
    if constexpr (kBuiltWithCuda) data_ = gpu::pin(bytes);
  }
  ~PinnedBuffer() {
    if constexpr (kBuiltWithCuda) gpu::unpin(data_);
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace nkd::cuda
