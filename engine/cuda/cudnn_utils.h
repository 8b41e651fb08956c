// Move-only RAII owners of cuDNN descriptors (tensor, filter, convolution) and the cuDNN data type
// of a C++ scalar. GPU sources only (includes cudnn.h). Every create/set call is checked; destroy
// failures in destructors are logged, never thrown.
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <utility>

#include "engine/bf16.h"
#include "engine/cuda/check.h"

namespace nkd::cuda {

template <typename T>
constexpr cudnnDataType_t cudnn_dtype();
template <>
constexpr cudnnDataType_t cudnn_dtype<float>() { return CUDNN_DATA_FLOAT; }
template <>
constexpr cudnnDataType_t cudnn_dtype<double>() { return CUDNN_DATA_DOUBLE; }
template <>
constexpr cudnnDataType_t cudnn_dtype<bf16>() { return CUDNN_DATA_BFLOAT16; }
// The type a convolution of T accumulates in: FLOAT for bf16 data (cuDNN's PSEUDO_BFLOAT16_CONFIG:
// bf16 in memory, F32 arithmetic, compute capability 8.0 or newer), T itself otherwise.
template <typename T>
constexpr cudnnDataType_t cudnn_compute_dtype() { return cudnn_dtype<compute_t<T>>(); }

// One descriptor handle H, created by Create and destroyed by Destroy.
template <typename H, cudnnStatus_t (*Create)(H*), cudnnStatus_t (*Destroy)(H)>
class CudnnDescriptor {
 public:
  CudnnDescriptor() { NKD_CUDNN_CHECK(Create(&desc_)); }
  ~CudnnDescriptor() {
    if (desc_ != nullptr) {
      const cudnnStatus_t s = Destroy(desc_);
      if (s != CUDNN_STATUS_SUCCESS)
        detail::warn_gpu_error("cudnnDestroy*Descriptor", static_cast<int>(s),
                               cudnnGetErrorString(s), __FILE__, __LINE__);
    }
  }
  CudnnDescriptor(CudnnDescriptor&& o) noexcept : desc_(std::exchange(o.desc_, nullptr)) {}
  CudnnDescriptor& operator=(CudnnDescriptor&& o) noexcept {
    std::swap(desc_, o.desc_);
    return *this;
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  H get() const { return desc_; }

 private:
  H desc_ = nullptr;
};

// A contiguous NCHW tensor [n, c, h, w] of T.
class TensorDescriptor
    : public CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor,
                             cudnnDestroyTensorDescriptor> {
 public:
  template <typename T>
  static TensorDescriptor nchw(int64_t n, int64_t c, int64_t h, int64_t w) {
    TensorDescriptor d;
    NKD_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d.get(), CUDNN_TENSOR_NCHW, cudnn_dtype<T>(),
                                               static_cast<int>(n), static_cast<int>(c),
                                               static_cast<int>(h), static_cast<int>(w)));
    return d;
  }
};

// A contiguous KCRS filter [k, c, r, s] of T.
class FilterDescriptor
    : public CudnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor,
                             cudnnDestroyFilterDescriptor> {
 public:
  template <typename T>
  static FilterDescriptor kcrs(int64_t k, int64_t c, int64_t r, int64_t s) {
    FilterDescriptor d;
    NKD_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d.get(), cudnn_dtype<T>(), CUDNN_TENSOR_NCHW,
                                               static_cast<int>(k), static_cast<int>(c),
                                               static_cast<int>(r), static_cast<int>(s)));
    return d;
  }
};

// A 2-D cross-correlation with padding, stride, dilation and groups, computing in compute_t<T>.
class ConvolutionDescriptor
    : public CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                             cudnnDestroyConvolutionDescriptor> {
 public:
  template <typename T>
  static ConvolutionDescriptor make(int64_t pad_h, int64_t pad_w, int64_t stride_h,
                                    int64_t stride_w, int64_t dil_h, int64_t dil_w,
                                    int64_t groups) {
    ConvolutionDescriptor d;
    NKD_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
        d.get(), static_cast<int>(pad_h), static_cast<int>(pad_w), static_cast<int>(stride_h),
        static_cast<int>(stride_w), static_cast<int>(dil_h), static_cast<int>(dil_w),
        CUDNN_CROSS_CORRELATION, cudnn_compute_dtype<T>()));
    NKD_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d.get(), static_cast<int>(groups)));
    return d;
  }
  void set_math(cudnnMathType_t math) const {
    NKD_CUDNN_CHECK(cudnnSetConvolutionMathType(get(), math));
  }
};

}  // namespace nkd::cuda
