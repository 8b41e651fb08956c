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

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

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

// A module with one input and one output.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace nkd::layers
