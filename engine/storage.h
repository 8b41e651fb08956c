// Storage: one allocation of bytes on one device, shared by every view of it.
// The version counter is bumped by in-place writes; autograd compares it with the version a saved
// tensor had when it was saved.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "engine/device.h"

namespace nkd {

// Allocates `bytes` on `device`. CPU memory is 64-byte aligned. CUDA allocation goes through the
// allocator the CUDA backend registers (set_device_allocator); without it, "built without CUDA".
struct DeviceAllocator {
  std::function<void*(size_t bytes, Device device)> allocate;
  std::function<void(void* ptr, Device device)> free;
};
void set_device_allocator(DeviceType type, DeviceAllocator allocator);

class Storage {
 public:
  Storage(size_t bytes, Device device);
  // Adopts memory allocated elsewhere (e.g. a page-locked host buffer from the data loader's pool):
  // `release(data)` runs when the storage dies, instead of the device's free. `pinned` marks
  // page-locked host memory: a host->device copy from it may run asynchronously, so the memory must
  // not be rewritten until that copy has run (the owner's release/recycling must see to that).
  Storage(void* data, size_t bytes, Device device, std::function<void(void*)> release, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  std::atomic<uint32_t> version_{0};
  std::function<void(void*)> release_;  // adopted memory only
  bool pinned_ = false;
};

}  // namespace nkd
