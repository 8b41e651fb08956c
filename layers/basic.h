// Parameter-free layers (activations, pools, dropout, drop-path) and Sequential.
// Dropout and DropPath draw from their own counter-based Generator; seed_random_layers() gives each
// one a distinct stream from the run's seed, and their offsets are part of a checkpoint's RNG state.
#pragma once
#include <functional>
#include <vector>

#include "engine/ops/activation.h"
#include "engine/ops/pool.h"
#include "layers/module.h"

namespace nkd::layers {

// Wraps a function of one tensor (activations, pools): y = fn(x).
class Lambda final : public UnaryModule {
 public:
  explicit Lambda(std::function<Tensor(const Tensor&)> fn) : fn_(std::move(fn)) {}
  Tensor forward(const Tensor& x) override { return fn_(x); }

 private:
  std::function<Tensor(const Tensor&)> fn_;
};

// ReLU / ReLU6 as a layer; act() lets the inference form (nets/inference.h) fuse it into the
// convolution before it.
class Activation final : public UnaryModule {
 public:
  explicit Activation(ops::Act act) : act_(act) {}
  Tensor forward(const Tensor& x) override { return ops::activate(x, act_); }
  ops::Act act() const { return act_; }

 private:
  ops::Act act_;
};

std::shared_ptr<UnaryModule> relu();   // an Activation
std::shared_ptr<UnaryModule> relu6();  // an Activation
std::shared_ptr<UnaryModule> gelu();
std::shared_ptr<UnaryModule> identity();
std::shared_ptr<UnaryModule> max_pool2d(const ops::Pool2dOptions& options);
std::shared_ptr<UnaryModule> avg_pool2d(const ops::Pool2dOptions& options);
std::shared_ptr<UnaryModule> global_avg_pool();  // [N, C, H, W] -> [N, C]

// Base of the layers that draw random numbers in training mode.
class RandomLayer : public UnaryModule {
 public:
  Generator& generator() { return gen_; }

 protected:
  Generator gen_;
};

class Dropout final : public RandomLayer {
 public:
  explicit Dropout(double p) : p_(p) {}
  Tensor forward(const Tensor& x) override;

 private:
  double p_;
};

class DropPath final : public RandomLayer {
 public:
  explicit DropPath(double p) : p_(p) {}
  Tensor forward(const Tensor& x) override;  // per-sample stochastic depth (identity in eval)
  double p() const { return p_; }

 private:
  double p_;
};

// Gives every RandomLayer under root the generator (seed, stream = its index in named_modules()).
void seed_random_layers(Module& root, uint64_t seed);
// Their generator offsets, in named_modules() order (saved with checkpoints), and their restore.
std::vector<uint64_t> random_layer_offsets(Module& root);
void set_random_layer_offsets(Module& root, const std::vector<uint64_t>& offsets);

class Sequential final : public UnaryModule {
 public:
  Sequential() = default;
  // Children are named "0", "1", ... as in torch.nn.Sequential.
  Sequential& add(std::shared_ptr<UnaryModule> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  UnaryModule& operator[](size_t i) { return *layers_[i]; }

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

}  // namespace nkd::layers
