// Module bookkeeping: recursive name collection, state dicts, train/eval, device moves.
#include "layers/module.h"

#include <unordered_map>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/copy.h"

namespace nkd::layers {

std::string LoadReport::str() const {
  std::string s;
  auto list = [&](const char* what, const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    s += std::string(s.empty() ? "" : "; ") + what + " (" + std::to_string(keys.size()) + "): ";
    for (size_t i = 0; i < keys.size() && i < 20; ++i) s += (i ? ", " : "") + keys[i];
    if (keys.size() > 20) s += ", ...";
  };
  list("missing keys", missing);
  list("unexpected keys", unexpected);
  list("shape mismatches", mismatched);
  return s.empty() ? "all keys matched" : s;
}

Tensor Module::register_parameter(std::string name, Tensor value) {
  if (value.defined()) value.set_requires_grad(true);
  params_.emplace_back(std::move(name), value);
  return value;
}

Tensor Module::register_buffer(std::string name, Tensor value) {
  buffers_.emplace_back(std::move(name), value);
  return value;
}

void Module::add_child(std::string name, std::shared_ptr<Module> child) {
  NKD_CHECK(child != nullptr, "register_module: child '", name, "' is null");
  children_.emplace_back(std::move(name), std::move(child));
}

void Module::collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const {
  if (params)
    for (const auto& [n, t] : params_)
      if (t.defined()) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_)
      if (t.defined()) out.emplace_back(prefix + n, t);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const {
  std::vector<std::pair<std::string, Module*>> out;
  for (const auto& [n, c] : children_) out.emplace_back(n, c.get());
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

LoadReport Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::unordered_map<std::string, const Tensor*> given;
  for (const auto& [n, t] : state) given.emplace(n, &t);
  LoadReport report;
  const NamedTensors mine = state_dict();
  std::unordered_map<std::string, bool> known;
  for (const auto& [n, t] : mine) {
    known.emplace(n, true);
    auto it = given.find(n);
    if (it == given.end()) {
      report.missing.push_back(n);
    } else if (it->second->shape() != t.shape()) {
      report.mismatched.push_back(n + ": checkpoint " + to_string(it->second->shape()) +
                                  " vs module " + to_string(t.shape()));
    }
  }
  for (const auto& [n, t] : state)
    if (!known.count(n)) report.unexpected.push_back(n);
  NKD_CHECK(!strict || report.ok(), "load_state_dict: ", report.str());
  NoGradGuard no_grad;
  for (const auto& [n, t] : mine) {
    auto it = given.find(n);
    if (it != given.end() && it->second->shape() == t.shape()) ops::copy_(t, it->second->to(t.device()));
  }
  return report;
}

void Module::train(bool on) {
  training_ = on;
  on_train(on);
  for (auto& [n, c] : children_) c->train(on);
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto& [n, t] : state_dict()) {
    if (t.device() == device) continue;
    const Tensor moved = t.detach().to(device);
    TensorImpl& impl = t.impl();
    impl.storage = moved.storage();
    impl.offset = moved.offset();
    impl.strides = moved.strides();
    const Tensor& g = t.grad();
    if (g.defined()) t.set_grad(g.to(device));
  }
}

void Module::reset_parameters(Generator& gen) {
  for (auto& [n, c] : children_) c->reset_parameters(gen);
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  std::vector<std::pair<std::string, Module*>> stack = {{"", this}};
  while (!stack.empty()) {
    auto [name, m] = stack.back();
    stack.pop_back();
    if (m != this) out.emplace_back(name, m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(name.empty() ? it->first : name + "." + it->first, it->second.get());
  }
  return out;
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters()) t.zero_grad();
}

}  // namespace nkd::layers
