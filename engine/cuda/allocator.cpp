// The CUDA allocator: cudaMallocAsync from each device's default pool (memory stays cached), or
// cudaMalloc/cudaFree under NKD_CUDA_SYNC_ALLOC=1; byte statistics per device; pinned host buffers.
#include "engine/cuda/allocator.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/cuda/device.h"
#include "engine/storage.h"

namespace nkd::cuda {
namespace {

struct DeviceState {
  bool pool_configured = false;
  MemoryStats stats;
  std::unordered_map<void*, size_t> sizes;  // live allocation -> requested bytes
};

std::mutex g_mutex;
std::vector<DeviceState>& states() {
  static auto* s = new std::vector<DeviceState>();  // leaked: frees may run during exit
  return *s;
}

DeviceState& state_locked(int device) {
  auto& s = states();
  if (s.size() <= static_cast<size_t>(device)) s.resize(static_cast<size_t>(device) + 1);
  return s[static_cast<size_t>(device)];
}

// Keeps freed blocks in the pool instead of returning them to the driver at each synchronisation.
void configure_pool(int device) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (state_locked(device).pool_configured) return;
  }
  cudaMemPool_t pool = nullptr;
  NKD_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t threshold = UINT64_MAX;
  NKD_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  std::lock_guard<std::mutex> lock(g_mutex);
  state_locked(device).pool_configured = true;
}

size_t pool_reserved(int device) {
  if (sync_alloc_enabled()) return 0;
  cudaMemPool_t pool = nullptr;
  uint64_t reserved = 0;
  if (cudaDeviceGetDefaultMemPool(&pool, device) != cudaSuccess ||
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return static_cast<size_t>(reserved);
}

[[noreturn]] void throw_out_of_memory(size_t bytes, int device) {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) (void)cudaGetLastError();
  const MemoryStats s = memory_stats(device);
  throw OutOfMemoryError(nkd::detail::cat(
      "CUDA out of memory on cuda:", device, ": tried to allocate ", bytes,
      " bytes; the device has ", free_bytes, " of ", total_bytes, " bytes free; nkd holds ", s.current_bytes, " bytes (peak ",
      s.peak_bytes, ") and its pool reserves ", s.reserved_bytes, " bytes"));
}

cudaError_t try_allocate(void** ptr, size_t bytes, cudaStream_t stream) {
  return sync_alloc_enabled() ? cudaMalloc(ptr, bytes) : cudaMallocAsync(ptr, bytes, stream);
}

}  // namespace

bool gpu::sync_alloc_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("NKD_CUDA_SYNC_ALLOC");
    return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
  }();
  return enabled;
}

void* allocate(size_t bytes, Device device) {
  if (bytes == 0) return nullptr;
  const int d = device.index;
  const cudaStream_t stream = context(d).compute_stream();
  DeviceGuard guard(d);
  if (!sync_alloc_enabled()) configure_pool(d);
  void* ptr = nullptr;
  cudaError_t e = try_allocate(&ptr, bytes, stream);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    // SYNC: out of memory. Let pending frees complete, return cached blocks to the driver, retry.
    NKD_CUDA_CHECK(cudaStreamSynchronize(stream));
    if (!sync_alloc_enabled()) {
      cudaMemPool_t pool = nullptr;
      NKD_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, d));
      NKD_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
    }
    e = try_allocate(&ptr, bytes, stream);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw_out_of_memory(bytes, d);
    }
  }
  if (e != cudaSuccess)
    detail::throw_gpu_error(sync_alloc_enabled() ? "cudaMalloc" : "cudaMallocAsync", "CUDA",
                            static_cast<int>(e), cudaGetErrorString(e), __FILE__, __LINE__);
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceState& st = state_locked(d);
  st.sizes.emplace(ptr, bytes);
  st.stats.current_bytes += bytes;
  st.stats.peak_bytes = std::max(st.stats.peak_bytes, st.stats.current_bytes);
  ++st.stats.live_allocations;
  ++st.stats.total_allocations;
  return ptr;
}

void deallocate(void* ptr, Device device) noexcept {
  if (ptr == nullptr) return;
  const int d = device.index;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    DeviceState& st = state_locked(d);
    auto it = st.sizes.find(ptr);
    if (it != st.sizes.end()) {
      st.stats.current_bytes -= it->second;
      --st.stats.live_allocations;
      st.sizes.erase(it);
    }
  }
  try {
    cudaError_t e = sync_alloc_enabled() ? cudaFree(ptr)
                                         : cudaFreeAsync(ptr, context(d).compute_stream());
    // At process exit the runtime may already be unloading; the memory goes with it.
    if (e == cudaErrorCudartUnloading) e = cudaSuccess;
    NKD_CUDA_WARN(e);
  } catch (const std::exception& ex) {
    detail::warn_gpu_error("deallocate", 0, ex.what(), __FILE__, __LINE__);
  }
}

void install_allocator() {
  set_device_allocator(DeviceType::CUDA, {.allocate = [](size_t bytes, Device device) {
                                            return allocate(bytes, device);
                                          },
                                          .free = [](void* ptr, Device device) {
                                            deallocate(ptr, device);
                                          }});
}

MemoryStats gpu::memory_stats(int device) {
  MemoryStats s;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    s = state_locked(device).stats;
  }
  s.reserved_bytes = pool_reserved(device);
  return s;
}

void gpu::reset_peak_memory_stats(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  MemoryStats& s = state_locked(device).stats;
  s.peak_bytes = s.current_bytes;
}

void* gpu::pin(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* data = nullptr;
  const cudaError_t e = cudaHostAlloc(&data, bytes, cudaHostAllocPortable);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw OutOfMemoryError(nkd::detail::cat("PinnedBuffer: cannot pin ", bytes, " bytes"));
  }
  if (e != cudaSuccess)
    detail::throw_gpu_error("cudaHostAlloc", "CUDA", static_cast<int>(e), cudaGetErrorString(e),
                            __FILE__, __LINE__);
  return data;
}

void gpu::unpin(void* ptr) noexcept {
  // SYNC: cudaFreeHost waits for the device; pinned buffers are meant to live for a whole run.
  if (ptr != nullptr) NKD_CUDA_WARN(cudaFreeHost(ptr));
}

}  // namespace nkd::cuda
