// Per-device contexts and the RAII stream/event/guard types.
#include "engine/cuda/context.h"

#include <cublas_v2.h>
#include <cudnn.h>

#include <vector>

#include "engine/cuda/check.h"
#include "engine/cuda/device.h"

namespace nkd::cuda {

DeviceGuard::DeviceGuard(int device) : device_(device) {
  NKD_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device_) NKD_CUDA_CHECK(cudaSetDevice(device_));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0 && previous_ != device_) NKD_CUDA_WARN(cudaSetDevice(previous_));
}

Stream::Stream(int device) {
  DeviceGuard guard(device);
  NKD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}
Stream::~Stream() {
  if (stream_ != nullptr) NKD_CUDA_WARN(cudaStreamDestroy(stream_));
}
Stream::Stream(Stream&& o) noexcept : stream_(o.stream_) { o.stream_ = nullptr; }
Stream& Stream::operator=(Stream&& o) noexcept {
  std::swap(stream_, o.stream_);
  return *this;
}

Event::Event(bool timing) {
  const unsigned flags = timing ? cudaEventDefault : cudaEventDisableTiming;
  NKD_CUDA_CHECK(cudaEventCreateWithFlags(&event_, flags));
}
Event::~Event() {
  if (event_ != nullptr) NKD_CUDA_WARN(cudaEventDestroy(event_));
}
Event::Event(Event&& o) noexcept : event_(o.event_) { o.event_ = nullptr; }
Event& Event::operator=(Event&& o) noexcept {
  std::swap(event_, o.event_);
  return *this;
}
void Event::record(cudaStream_t stream) { NKD_CUDA_CHECK(cudaEventRecord(event_, stream)); }
void Event::block(cudaStream_t stream) const {
  NKD_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0));
}
void Event::synchronize() const { NKD_CUDA_CHECK(cudaEventSynchronize(event_)); }
float Event::elapsed_ms(const Event& start) const {
  float ms = 0;
  NKD_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
  return ms;
}

struct Context::Handles {
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  void* workspace = nullptr;  // [kCublasWorkspaceBytes] for cuBLAS
  ~Handles() {
    if (cudnn != nullptr && cudnnDestroy(cudnn) != CUDNN_STATUS_SUCCESS)
      detail::warn_gpu_error("cudnnDestroy", 0, "failed", __FILE__, __LINE__);
    if (cublas != nullptr && cublasDestroy(cublas) != CUBLAS_STATUS_SUCCESS)
      detail::warn_gpu_error("cublasDestroy", 0, "failed", __FILE__, __LINE__);
    if (workspace != nullptr) NKD_CUDA_WARN(cudaFree(workspace));
  }
};

Context::Context(int device)
    : device_(device), compute_(device), copy_(device), mutex_(std::make_unique<std::mutex>()),
      handles_(std::make_unique<Handles>()) {}
Context::~Context() = default;
Context::Context(Context&& o) noexcept = default;
Context& Context::operator=(Context&& o) noexcept = default;

cublasContext* Context::cublas() {
  std::lock_guard<std::mutex> lock(*mutex_);
  Handles& h = *handles_;
  if (h.cublas == nullptr) {
    DeviceGuard guard(device_);
    if (h.workspace == nullptr) NKD_CUDA_CHECK(cudaMalloc(&h.workspace, kCublasWorkspaceBytes));
    cublasHandle_t handle = nullptr;
    NKD_CUBLAS_CHECK(cublasCreate(&handle));
    try {
      NKD_CUBLAS_CHECK(cublasSetStream(handle, compute_.get()));
      NKD_CUBLAS_CHECK(cublasSetWorkspace(handle, h.workspace, kCublasWorkspaceBytes));
    } catch (...) {
      (void)cublasDestroy(handle);
      throw;
    }
    h.cublas = handle;
  }
  return h.cublas;
}

cudnnContext* Context::cudnn() {
  std::lock_guard<std::mutex> lock(*mutex_);
  Handles& h = *handles_;
  if (h.cudnn == nullptr) {
    DeviceGuard guard(device_);
    cudnnHandle_t handle = nullptr;
    NKD_CUDNN_CHECK(cudnnCreate(&handle));
    try {
      NKD_CUDNN_CHECK(cudnnSetStream(handle, compute_.get()));
    } catch (...) {
      (void)cudnnDestroy(handle);
      throw;
    }
    h.cudnn = handle;
  }
  return h.cudnn;
}

Context& context(int device) {
  static std::mutex mutex;
  // Leaked on purpose: see the header.
  static auto* contexts = new std::vector<std::unique_ptr<Context>>();
  std::lock_guard<std::mutex> lock(mutex);
  const auto visible = static_cast<size_t>(device_count());
  if (contexts->size() < visible) contexts->resize(visible);
  NKD_CHECK(device >= 0 && static_cast<size_t>(device) < visible, "cuda:", device,
            " is not a usable device (", visible, " visible",
            visible == 0 ? "; " + unavailable_reason() : std::string(), ")");
  std::unique_ptr<Context>& slot = (*contexts)[static_cast<size_t>(device)];
  if (!slot) slot = std::make_unique<Context>(device);
  return *slot;
}

}  // namespace nkd::cuda
