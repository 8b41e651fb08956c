// Module: parameters, buffers and child modules registered by name, so state_dict() names are
// stable and match mmcls / PyTorch ("backbone.layer1.0.conv1.weight"). Registration order is the
// state_dict order: a module's parameters, then its buffers, then its children, recursively.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace nkd::layers {

using nkd::NamedTensors;

struct LoadReport {
  std::vector<std::string> missing;     // in the module, absent from the state dict
  std::vector<std::string> unexpected;  // in the state dict, absent from the module
  std::vector<std::string> mismatched;  // "name: checkpoint [a, b] vs module [c, d]"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string str() const;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Module*>> named_children() const;
  int64_t num_parameters() const;

  // Parameters and buffers by full name, in registration order.
  NamedTensors state_dict() const;
  // Copies matching entries into this module's tensors (dtype converted, shapes must match).
  // strict: throws nkd::Error listing missing / unexpected / mismatched keys; otherwise returns them.
  LoadReport load_state_dict(const NamedTensors& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter and buffer to `device` in place: existing Tensor handles (held by
  // optimizers) see the new storage.
  void to(Device device);
  void zero_grad();
  // Re-initialises parameters: leaf layers apply PyTorch's defaults; the default visits children.
  virtual void reset_parameters(Generator& gen);
  // Every module below this one (depth first, registration order) with its dotted name.
  std::vector<std::pair<std::string, Module*>> named_modules();

 protected:
  Tensor register_parameter(std::string name, Tensor value);  // sets requires_grad
  Tensor register_buffer(std::string name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> child) {
    add_child(std::move(name), child);
    return child;
  }
  virtual void on_train(bool) {}

 private:
  void add_child(std::string name, std::shared_ptr<Module> child);
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;

  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// torch.nn.ModuleList: children of type M named "0", "1", ... in the order they are added.
template <typename M = Module>
class ModuleList final : public Module {
 public:
  ModuleList() = default;
  explicit ModuleList(const std::vector<std::shared_ptr<M>>& modules) {
    for (const auto& m : modules) add(m);
  }
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    register_module(std::to_string(items_.size()), m);
    items_.push_back(m);
    return m;
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) { return *items_.at(i); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

// torch.nn.ModuleDict: children of type M under the names given, in the order they are added.
template <typename M = Module>
class ModuleDict final : public Module {
 public:
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    register_module(name, m);
    items_.emplace_back(name, m);
    return m;
  }
  size_t size() const { return items_.size(); }
  // The child named `name`, or null.
  std::shared_ptr<M> find(const std::string& name) const {
    for (const auto& [n, m] : items_)
      if (n == name) return m;
    return nullptr;
  }

 private:
  std::vector<std::pair<std::string, std::shared_ptr<M>>> items_;
};

// A module with one input and one output.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace nkd::layers
