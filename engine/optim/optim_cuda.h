// Fused multi-tensor optimizer updates and gradient clipping on CUDA devices (optim_cuda.cu),
// called by optimizer.cpp. Each launch covers a list of tensors (their pointers, sizes and per-group
// lr / weight decay travel in the kernel parameters, up to kMaxTensors per launch) and runs the
// functors of optim_math.h, so the result is bit for bit the CPU's. Everything is queued on the
// device's compute stream; nothing synchronises the host. CUDA-free header; optimizer.cpp calls the
// launchers only under `if constexpr (kBuiltWithCuda)`, so a CPU-only build needs no definition.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/device.h"

namespace nkd::optim::gpu {

inline constexpr int kMaxTensors = 24;             // tensors per launch (kernel parameters < 4 KiB)
inline constexpr int64_t kChunk = int64_t{1} << 16;  // elements per block

// One parameter of an SGD step; buf is null when momentum == 0. lr: the group's learning rate, or
// with a device learning rate (sgd_step's device_lr) the group's multiplier of it.
template <typename T>
struct SgdItem {
  T* p;
  const T* g;
  T* buf;
  int64_t n;
  double lr, weight_decay;
  bool first_step;
};
// device_lr: null, or one double the kernels read when they run (Optimizer::set_device_lr).
template <typename T>
void sgd_step(Device device, const std::vector<SgdItem<T>>& items, double momentum, bool nesterov,
              const double* device_lr);

// One parameter of an AdamW step.
template <typename T>
struct AdamWItem {
  T* p;
  const T* g;
  T* m;
  T* v;
  int64_t n;
  double lr, weight_decay;
};
template <typename T>
void adamw_step(Device device, const std::vector<AdamWItem<T>>& items, double beta1, double beta2, double eps,
                double bias_correction1, double bias_correction2);

// A contiguous gradient.
template <typename T>
struct GradSlice {
  T* g;
  int64_t n;
};
// Blocks (partial sums) grad_square_partials writes for these sizes.
inline int64_t num_partials(const std::vector<int64_t>& sizes) {
  int64_t blocks = 0;
  for (int64_t n : sizes) blocks += (n + kChunk - 1) / kChunk;
  return blocks;
}
// partial[b] = sum of g^2 (in double) over block b's chunk, blocks numbered in list order: the
// same split for the same sizes, so the norm is deterministic.
template <typename T>
void grad_square_partials(Device device, const std::vector<GradSlice<T>>& grads, double* partial);
// norm_factor = {sqrt(sum of partial[0, count)), clip_factor(norm, max_norm)} (one block, fixed order).
void finish_norm(Device device, const double* partial, int64_t count, double max_norm, double* norm_factor);
// g *= factor where factor = norm_factor[1] < 1 (ClipScaleKernel over every listed gradient).
template <typename T>
void scale_grads(Device device, const std::vector<GradSlice<T>>& grads, const double* norm_factor);

}  // namespace nkd::optim::gpu
