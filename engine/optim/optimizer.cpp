// SGD, AdamW and gradient clipping: validation and state handling here, the per-element update in
// optim_math.h (run by cpu::launch on the CPU; on CUDA parameters, collected into lists and run by
// the multi-tensor kernels of optim_cuda.h, a few launches per step and no host synchronisation;
// those launchers are called only under `if constexpr (kBuiltWithCuda)`).
#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>

#include "engine/autograd/grad_mode.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/optim_cuda.h"
#include "engine/optim/optim_math.h"
#include "engine/optim/optimizer.h"

namespace nkd::optim {
namespace {

void check_param(const Tensor& p, const char* opt) {
  NKD_CHECK(p.is_contiguous(), opt, ": parameter ", describe(p), " must be contiguous");
  const Tensor& g = p.grad();
  NKD_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(), opt, ": gradient ",
            describe(g), " does not match parameter ", describe(p));
}

// The CUDA parameters of one step, one list per type of NKD_FLOAT_TYPES, launched together after
// the loop over the groups (each list by launch(fn): fn(device, items) for every non-empty list).
template <template <typename> class Item, typename Types = FloatTypes>
struct GpuLists;
template <template <typename> class Item, typename... Ts>
struct GpuLists<Item, TypeList<Ts...>> {
  Device device;
  std::tuple<std::vector<Item<Ts>>...> lists;
  template <typename T>
  void add(const Item<T>& it, Device d) {
    NKD_CHECK(empty() || d == device, "optimizer: parameters on ", device.str(), " and ", d.str(),
              " (one device per optimizer)");
    device = d;
    std::get<std::vector<Item<T>>>(lists).push_back(it);
  }
  bool empty() const { return (std::get<std::vector<Item<Ts>>>(lists).empty() && ...); }
  template <typename Fn>
  void launch(const Fn& fn) const {
    const auto one = [&](const auto& items) {
      if (!items.empty()) fn(device, items);
    };
    (one(std::get<std::vector<Item<Ts>>>(lists)), ...);
  }
};

std::string key(size_t group, size_t index, const char* buffer) {
  return "state." + std::to_string(group) + "." + std::to_string(index) + "." + buffer;
}

// Restores named buffers into `slots` (shape-checked against the parameters).
void load_buffers(const std::vector<std::pair<std::string, Tensor>>& state,
                  const std::vector<ParamGroup>& groups, const char* buffer,
                  std::vector<std::vector<Tensor>>& slots) {
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (size_t pi = 0; pi < groups[gi].params.size(); ++pi) {
      const std::string k = key(gi, pi, buffer);
      slots[gi][pi] = Tensor();
      for (const auto& [n, t] : state) {
        if (n != k) continue;
        NKD_CHECK(t.shape() == groups[gi].params[pi].shape(), "optimizer state ", k, ": ",
                  describe(t), " does not match parameter ", describe(groups[gi].params[pi]));
        const Tensor& p = groups[gi].params[pi];
        slots[gi][pi] = t.to(p.dtype()).to(p.device()).contiguous().clone();  // a CUDA run: state on its GPU
      }
    }
}

std::vector<std::vector<Tensor>> empty_slots(const std::vector<ParamGroup>& groups) {
  std::vector<std::vector<Tensor>> s;
  for (const ParamGroup& g : groups) s.emplace_back(g.params.size());
  return s;
}

}  // namespace

void Optimizer::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

void Optimizer::set_device_lr(const Tensor& lr) {
  NKD_CHECK(!lr.defined() || (lr.is_cuda() && lr.dtype() == DType::F64 && lr.numel() == 1 && lr.is_contiguous()),
            "set_device_lr: expected one contiguous F64 element on a GPU, got ", describe(lr));
  device_lr_ = lr;
}

Sgd::Sgd(std::vector<ParamGroup> groups, const SgdOptions& options)
    : Optimizer(std::move(groups)), options_(options), momentum_(empty_slots(groups_)) {
  NKD_CHECK(options.momentum >= 0 && options.weight_decay >= 0, "SGD: momentum and weight_decay must be >= 0");
  NKD_CHECK(!options.nesterov || options.momentum > 0, "SGD: nesterov needs momentum > 0");
}

void Sgd::step(double step_lr) {
  NoGradGuard no_grad;
  GpuLists<gpu::SgdItem> gpu_items;
  std::vector<Tensor> keep;  // contiguous copies of non-contiguous gradients, alive until launched
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& grp = groups_[gi];
    for (size_t pi = 0; pi < grp.params.size(); ++pi) {
      const Tensor& p = grp.params[pi];
      if (!p.grad().defined()) continue;
      check_param(p, "SGD");
      Tensor& buf = momentum_[gi][pi];
      const bool first = !buf.defined();
      if (first && options_.momentum != 0) buf = empty_like(p);
      const Tensor g = p.grad().contiguous();
      dispatch_float(p.dtype(), "SGD", [&]<typename T>() {
        T* bp = buf.defined() ? buf.data<T>() : nullptr;
        const double lr = step_lr * grp.lr_mult, wd = options_.weight_decay * grp.decay_mult;
        if (p.is_cuda()) {
          keep.push_back(g);
          NKD_CHECK(!device_lr_.defined() || device_lr_.device() == p.device(), "SGD: the device learning rate is on ",
                    device_lr_.device().str(), ", parameter ", describe(p), " is not");
          // With a device learning rate the item carries the group's multiplier (SgdItem::lr).
          gpu_items.add(gpu::SgdItem<T>{p.data<T>(), g.data<T>(), bp, p.numel(),
                                        device_lr_.defined() ? grp.lr_mult : lr, wd, first},
                        p.device());
          return;
        }
        NKD_CHECK(!device_lr_.defined(), "SGD: a device learning rate needs CUDA parameters, got ", describe(p));
        cpu::launch(p.numel(), SgdKernel<T>{p.data<T>(), g.data<T>(), bp, lr, options_.momentum, wd,
                                            options_.nesterov, first});
      });
      p.storage()->bump_version();
    }
  }
  gpu_items.launch([&](Device d, const auto& items) {
    if constexpr (kBuiltWithCuda)
      gpu::sgd_step(d, items, options_.momentum, options_.nesterov,
                    device_lr_.defined() ? device_lr_.data<double>() : nullptr);
  });
}

std::vector<std::pair<std::string, Tensor>> Sgd::state() const {
  std::vector<std::pair<std::string, Tensor>> s;
  for (size_t gi = 0; gi < momentum_.size(); ++gi)
    for (size_t pi = 0; pi < momentum_[gi].size(); ++pi)
      if (momentum_[gi][pi].defined()) s.emplace_back(key(gi, pi, "momentum_buffer"), momentum_[gi][pi]);
  return s;
}

void Sgd::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  load_buffers(state, groups_, "momentum_buffer", momentum_);
}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Optimizer(std::move(groups)), options_(options), m_(empty_slots(groups_)),
      v_(empty_slots(groups_)) {
  NKD_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
            "AdamW: betas must be in [0, 1)");
}

void AdamW::step(double step_lr) {
  NKD_CHECK(!device_lr_.defined(), "AdamW: a device learning rate is not supported (its bias correction "
            "changes every step as well)");
  NoGradGuard no_grad;
  ++steps_;
  const double bc1 = 1 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bc2 = 1 - std::pow(options_.beta2, static_cast<double>(steps_));
  GpuLists<gpu::AdamWItem> gpu_items;
  std::vector<Tensor> keep;  // contiguous copies of non-contiguous gradients, alive until launched
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& grp = groups_[gi];
    for (size_t pi = 0; pi < grp.params.size(); ++pi) {
      const Tensor& p = grp.params[pi];
      if (!p.grad().defined()) continue;
      check_param(p, "AdamW");
      if (!m_[gi][pi].defined()) {
        m_[gi][pi] = zeros_like(p);
        v_[gi][pi] = zeros_like(p);
      }
      const Tensor g = p.grad().contiguous();
      dispatch_float(p.dtype(), "AdamW", [&]<typename T>() {
        T *m = m_[gi][pi].data<T>(), *v = v_[gi][pi].data<T>();
        const double lr = step_lr * grp.lr_mult, wd = options_.weight_decay * grp.decay_mult;
        if (p.is_cuda()) {
          keep.push_back(g);
          gpu_items.add(gpu::AdamWItem<T>{p.data<T>(), g.data<T>(), m, v, p.numel(), lr, wd}, p.device());
          return;
        }
        cpu::launch(p.numel(), AdamWKernel<T>{p.data<T>(), g.data<T>(), m, v, lr, options_.beta1, options_.beta2,
                                              options_.eps, wd, bc1, bc2});
      });
      p.storage()->bump_version();
    }
  }
  const AdamWOptions& o = options_;
  gpu_items.launch([&](Device d, const auto& items) {
    if constexpr (kBuiltWithCuda) gpu::adamw_step(d, items, o.beta1, o.beta2, o.eps, bc1, bc2);
  });
}

std::vector<std::pair<std::string, Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, Tensor>> s = {
      {"state.step", from_vector<int64_t>({steps_}, {})}};
  for (size_t gi = 0; gi < m_.size(); ++gi)
    for (size_t pi = 0; pi < m_[gi].size(); ++pi) {
      if (!m_[gi][pi].defined()) continue;
      s.emplace_back(key(gi, pi, "exp_avg"), m_[gi][pi]);
      s.emplace_back(key(gi, pi, "exp_avg_sq"), v_[gi][pi]);
    }
  return s;
}

void AdamW::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  steps_ = 0;
  for (const auto& [n, t] : state)
    if (n == "state.step") steps_ = static_cast<int64_t>(t.item());
  load_buffers(state, groups_, "exp_avg", m_);
  load_buffers(state, groups_, "exp_avg_sq", v_);
}

namespace {

// Blocks (partial sums) grad_square_partials writes for these gradients.
template <typename T>
int64_t partials_of(const std::vector<gpu::GradSlice<T>>& slices) {
  std::vector<int64_t> sizes;
  for (const gpu::GradSlice<T>& s : slices) sizes.push_back(s.n);
  return gpu::num_partials(sizes);
}

// The GPU path of clip_grad_norm_async: partial sums of squares per block (one list per type of
// NKD_FLOAT_TYPES, in that order), the norm and factor finished on the device, then every gradient
// scaled by the factor when it is < 1. Without CUDA no gradient is on a GPU.
template <typename... Ts>
Tensor clip_grad_norm_cuda(const std::vector<Tensor>& grads, double max_norm, TypeList<Ts...>) {
  const Device dev = grads.front().device();
  std::tuple<std::vector<gpu::GradSlice<Ts>>...> slices;
  for (const Tensor& g : grads) {
    NKD_CHECK(g.device() == dev, "clip_grad_norm: gradients on ", dev.str(), " and ", g.device().str());
    NKD_CHECK(g.is_contiguous(), "clip_grad_norm: gradient ", describe(g), " is not contiguous");
    dispatch_float(g.dtype(), "clip_grad_norm", [&]<typename T>() {
      std::get<std::vector<gpu::GradSlice<T>>>(slices).push_back({g.data<T>(), g.numel()});
    });
  }
  const int64_t total = (partials_of(std::get<std::vector<gpu::GradSlice<Ts>>>(slices)) + ... + 0);
  const Tensor partial = empty({std::max<int64_t>(total, 1)}, {DType::F64, dev});
  const Tensor norm_factor = empty({2}, {DType::F64, dev});
  double* part = partial.data<double>();
  double* nf = norm_factor.data<double>();
  if constexpr (kBuiltWithCuda) {
    int64_t offset = 0;
    const auto squares = [&](const auto& s) {
      if (!s.empty()) gpu::grad_square_partials(dev, s, part + offset);
      offset += partials_of(s);
    };
    (squares(std::get<std::vector<gpu::GradSlice<Ts>>>(slices)), ...);
    gpu::finish_norm(dev, part, total, max_norm, nf);
    const auto scale = [&](const auto& s) {
      if (!s.empty()) gpu::scale_grads(dev, s, nf);
    };
    (scale(std::get<std::vector<gpu::GradSlice<Ts>>>(slices)), ...);
  }
  for (const Tensor& g : grads) g.storage()->bump_version();
  return norm_factor.narrow(0, 0, 1).reshape({});
}

}  // namespace

Tensor clip_grad_norm_async(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    if (!p.grad().defined()) continue;
    if (p.grad().is_cuda() && !p.grad().is_contiguous()) p.set_grad(p.grad().contiguous());
    grads.push_back(p.grad());
  }
  if (!grads.empty() && grads.front().is_cuda()) return clip_grad_norm_cuda(grads, max_norm, FloatTypes{});
  double sq = 0;
  for (const Tensor& g : grads) {
    ops::require_cpu("clip_grad_norm", {&g});
    for (double v : to_vector<double>(g)) sq += v * v;
  }
  const double norm = std::sqrt(sq);
  const double factor = clip_factor(norm, max_norm);
  if (factor < 1.0)
    for (const Tensor& g : grads) ops::mul_(g, factor);
  return full({}, norm, {DType::F64, kCPU});
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  return clip_grad_norm_async(params, max_norm).item();  // SYNC on a GPU: the norm is read back
}

}  // namespace nkd::optim
