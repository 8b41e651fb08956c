// Mixed precision: the run's precision (fp32, tf32, bf16) and the bf16 autocast policy, modelled on
// PyTorch's torch.autocast. While an AutocastGuard is on (a thread-local switch, like grad mode),
// the compute-bound layers - convolutions, linear layers and attention's matrix products - call
// autocast() on their inputs and autocast_weight() on their parameters and run in BF16 (F32
// accumulation, one rounding per output). Everything else keeps its F32 arithmetic: batch norm,
// layer norm and the pools take a BF16 input natively (BF16 in memory, F32 parameters and
// statistics, F32 / double arithmetic); softmax / log-softmax and reductions run it on an F32
// copy (engine/ops/dispatch.h); a BF16 operand meeting an F32 one in add / mul widens to F32; the
// logits are widened to F32 before every loss (widen_to_f32). Parameters, their gradients and the
// optimizer state stay F32 (master weights): a parameter's BF16 copy is made once per guard scope
// (one training step), and its gradient flows back through the conversion into the F32 parameter.
#pragma once
#include <string>

#include "engine/tensor.h"

namespace nkd {

enum class Precision { kFp32, kTf32, kBf16 };

// "fp32", "tf32" or "bf16"; anything else throws, naming `what` (the flag or config key).
Precision parse_precision(const std::string& name, const std::string& what);
const char* precision_name(Precision p);

bool autocast_enabled();

// Turns bf16 autocast on (or off) for its scope on this thread. The outermost guard owns the
// per-scope cache of BF16 parameter copies and drops it when the scope ends.
class AutocastGuard {
 public:
  explicit AutocastGuard(bool on);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_;
};

// A scope at precision p: bf16 turns autocast on; tf32 lets F32 GPU convolutions and GEMMs use
// TF32 tensor cores (cuda::allow_tf32, process-wide, restored after); fp32 changes nothing.
class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision p);
  ~PrecisionGuard();
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  AutocastGuard autocast_;
  bool prev_tf32_;
};

// x as BF16 when autocast is on and x is an F32 tensor (a differentiable conversion); x otherwise
// (undefined, F64 - gradchecks stay exact - or already BF16).
Tensor autocast(const Tensor& x);
// autocast() for a parameter: its BF16 copy is made once per AutocastGuard scope and reused by
// every later call in the scope while the parameter is unchanged (same storage, offset, shape and
// version; made with or without gradient recording as the call needs).
Tensor autocast_weight(const Tensor& w);
// x widened to F32 when it is a 16-bit float tensor (the logits fed to the losses); x otherwise.
Tensor widen_to_f32(const Tensor& x);

// BF16 copies made by autocast_weight in this thread since the process started (the test of "once
// per step, not once per use").
int64_t autocast_weight_conversions();

}  // namespace nkd
