// Per-device CUDA state: the compute and copy streams, the cuBLAS handle (with its workspace) and
// the cuDNN handle, both created on first use and bound to the compute stream; plus the RAII
// stream, event and device-guard types. GPU sources only (includes the CUDA runtime header).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <mutex>

struct cublasContext;  // cublasHandle_t
struct cudnnContext;   // cudnnHandle_t

namespace nkd::cuda {

// Makes `device` current for the scope and restores the previous device after it.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1, device_ = -1;
};

// A non-blocking stream of one device (it does not synchronise with the legacy default stream).
class Stream {
 public:
  Stream() = default;
  explicit Stream(int device);
  ~Stream();
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// A CUDA event; without timing by default (cheaper), which is all ordering between streams needs.
class Event {
 public:
  explicit Event(bool timing = false);
  ~Event();
  Event(Event&& o) noexcept;
  Event& operator=(Event&& o) noexcept;
  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream);
  void block(cudaStream_t stream) const;  // work queued on `stream` later waits for this event
  void synchronize() const;               // SYNC: the host waits for the event
  float elapsed_ms(const Event& start) const;  // both recorded with timing = true

 private:
  cudaEvent_t event_ = nullptr;
};

class Context {
 public:
  static constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;  // cuBLAS's advice for sm_90

  explicit Context(int device);
  ~Context();
  Context(Context&& o) noexcept;
  Context& operator=(Context&& o) noexcept;

  int device() const { return device_; }
  cudaStream_t compute_stream() const { return compute_.get(); }
  cudaStream_t copy_stream() const { return copy_.get(); }
  cublasContext* cublas();  // created on first use, on the compute stream, with the workspace set
  cudnnContext* cudnn();    // created on first use, on the compute stream

 private:
  struct Handles;  // cuBLAS/cuDNN handles and the workspace; defined in context.cpp
  int device_ = -1;
  Stream compute_, copy_;
  std::unique_ptr<std::mutex> mutex_;  // guards lazy handle creation
  std::unique_ptr<Handles> handles_;
};

// The context of `device`, created on first use; never destroyed (CUDA may already be torn down
// while static destructors run, so streams and handles are left to the driver at exit).
Context& context(int device);

// Held while a CUDA graph is captured on a compute stream (graph.cpp) and by cuda::synchronize:
// a stream synchronisation from another thread (the loader's pinned-buffer fence) during a capture
// would invalidate it, so it waits for the capture to end instead. Recursive: a synchronisation by
// the capturing thread itself is not a deadlock but a failed capture (the step is then eager).
std::recursive_mutex& capture_mutex();

}  // namespace nkd::cuda
