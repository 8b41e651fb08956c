// SGD, AdamW and gradient clipping: validation and state handling here, the per-element update in
// optim_math.h (run by cpu::launch on the CPU).
#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/optim_math.h"
#include "engine/optim/optimizer.h"

namespace nkd::optim {
namespace {

void check_param(const Tensor& p, const char* opt) {
  NKD_CHECK(p.is_contiguous(), opt, ": parameter ", describe(p), " must be contiguous");
  ops::require_cpu(opt, {&p});
  const Tensor& g = p.grad();
  NKD_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype(), opt, ": gradient ", describe(g),
            " does not match parameter ", describe(p));
}

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
        slots[gi][pi] = t.to(groups[gi].params[pi].dtype()).contiguous().clone();
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

Sgd::Sgd(std::vector<ParamGroup> groups, const SgdOptions& options)
    : Optimizer(std::move(groups), options.lr), options_(options), momentum_(empty_slots(groups_)) {
  NKD_CHECK(options.momentum >= 0 && options.weight_decay >= 0, "SGD: momentum and weight_decay must be >= 0");
  NKD_CHECK(!options.nesterov || options.momentum > 0, "SGD: nesterov needs momentum > 0");
}

void Sgd::step() {
  NoGradGuard no_grad;
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
        cpu::launch(p.numel(), SgdKernel<T>{p.data<T>(), g.data<T>(), buf.defined() ? buf.data<T>() : nullptr,
                                            lr_ * grp.lr_mult, options_.momentum,
                                            options_.weight_decay * grp.decay_mult, options_.nesterov, first});
      });
      p.storage()->bump_version();
    }
  }
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
    : Optimizer(std::move(groups), options.lr), options_(options), m_(empty_slots(groups_)),
      v_(empty_slots(groups_)) {
  NKD_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
            "AdamW: betas must be in [0, 1)");
}

void AdamW::step() {
  NoGradGuard no_grad;
  ++steps_;
  const double bc1 = 1 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bc2 = 1 - std::pow(options_.beta2, static_cast<double>(steps_));
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
        cpu::launch(p.numel(), AdamWKernel<T>{p.data<T>(), g.data<T>(), m_[gi][pi].data<T>(),
                                              v_[gi][pi].data<T>(), lr_ * grp.lr_mult, options_.beta1,
                                              options_.beta2, options_.eps,
                                              options_.weight_decay * grp.decay_mult, bc1, bc2});
      });
      p.storage()->bump_version();
    }
  }
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

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  double sq = 0;
  for (const Tensor& p : params) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    ops::require_cpu("clip_grad_norm", {&g});
    for (double v : to_vector<double>(g)) sq += v * v;
  }
  const double norm = std::sqrt(sq);
  const double factor = max_norm / (norm + 1e-6);
  if (factor < 1.0)
    for (const Tensor& p : params)
      if (p.grad().defined()) ops::mul_(p.grad(), factor);
  return norm;
}

}  // namespace nkd::optim
