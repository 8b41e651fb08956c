// The autocast switch and its per-scope cache of BF16 parameter copies (autocast.h).
#include "engine/autocast.h"

#include <tuple>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/cuda/math_mode.h"

namespace nkd {
namespace {

struct Cached {
  Tensor source;  // the parameter (kept alive, so its storage is not reused during the scope)
  uint32_t version = 0;
  bool with_grad = false;
  Tensor converted;
};

struct State {
  bool enabled = false;
  int depth = 0;  // live AutocastGuards that turned autocast on
  std::vector<Cached> cache;
  int64_t conversions = 0;
};
thread_local State t_state;

bool same_view(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape() &&
         a.strides() == b.strides() && a.dtype() == b.dtype();
}

}  // namespace

Precision parse_precision(const std::string& name, const std::string& what) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "bf16") return Precision::kBf16;
  NKD_FAIL(what, " must be fp32, tf32 or bf16, got '", name, "'");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
  }
  return "?";
}

bool autocast_enabled() { return t_state.enabled; }

AutocastGuard::AutocastGuard(bool on) : prev_(t_state.enabled) {
  t_state.enabled = on;
  if (on) ++t_state.depth;
}

AutocastGuard::~AutocastGuard() {
  if (t_state.enabled && --t_state.depth == 0) t_state.cache.clear();
  t_state.enabled = prev_;
}

PrecisionGuard::PrecisionGuard(Precision p)
    : autocast_(p == Precision::kBf16), prev_tf32_(cuda::allow_tf32()) {
  if (p == Precision::kTf32) cuda::set_allow_tf32(true);
}

PrecisionGuard::~PrecisionGuard() { cuda::set_allow_tf32(prev_tf32_); }

Tensor autocast(const Tensor& x) {
  if (!t_state.enabled || !x.defined() || x.dtype() != DType::F32) return x;
  return x.to(DType::BF16);
}

Tensor autocast_weight(const Tensor& w) {
  if (!t_state.enabled || !w.defined() || w.dtype() != DType::F32) return w;
  const bool with_grad = grad_enabled() && w.requires_grad();
  for (const Cached& c : t_state.cache)
    if (c.with_grad == with_grad && c.version == w.version() && same_view(c.source, w)) return c.converted;
  ++t_state.conversions;
  Tensor converted = w.to(DType::BF16);
  t_state.cache.push_back({w, w.version(), with_grad, converted});
  return converted;
}

Tensor widen_to_f32(const Tensor& x) {
  return x.defined() && is_half(x.dtype()) ? x.to(DType::F32) : x;
}

int64_t autocast_weight_conversions() { return t_state.conversions; }

}  // namespace nkd
