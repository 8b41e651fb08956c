// Parameter-free layers and Sequential.
#include "layers/basic.h"

#include "engine/ops/activation.h"
#include "engine/ops/dropout.h"

namespace nkd::layers {

std::shared_ptr<UnaryModule> relu() { return std::make_shared<Activation>(ops::Act::kReLU); }
std::shared_ptr<UnaryModule> relu6() { return std::make_shared<Activation>(ops::Act::kReLU6); }
std::shared_ptr<UnaryModule> gelu() { return std::make_shared<Lambda>([](const Tensor& x) { return ops::gelu(x); }); }
std::shared_ptr<UnaryModule> identity() { return std::make_shared<Lambda>([](const Tensor& x) { return x; }); }
std::shared_ptr<UnaryModule> max_pool2d(const ops::Pool2dOptions& o) {
  return std::make_shared<Lambda>([o](const Tensor& x) { return ops::max_pool2d(x, o); });
}
std::shared_ptr<UnaryModule> avg_pool2d(const ops::Pool2dOptions& o) {
  return std::make_shared<Lambda>([o](const Tensor& x) { return ops::avg_pool2d(x, o); });
}
std::shared_ptr<UnaryModule> global_avg_pool() {
  return std::make_shared<Lambda>([](const Tensor& x) { return ops::global_avg_pool(x); });
}

Tensor Dropout::forward(const Tensor& x) { return ops::dropout(x, p_, is_training(), gen_); }
Tensor DropPath::forward(const Tensor& x) { return ops::drop_path(x, p_, is_training(), gen_); }

namespace {
std::vector<RandomLayer*> random_layers(Module& root) {
  std::vector<RandomLayer*> out;
  for (auto& [name, m] : root.named_modules())
    if (auto* r = dynamic_cast<RandomLayer*>(m)) out.push_back(r);
  return out;
}
}  // namespace

void seed_random_layers(Module& root, uint64_t seed) {
  uint64_t stream = 0;
  for (RandomLayer* r : random_layers(root)) r->generator() = Generator(seed, 1000 + stream++);
}

std::vector<uint64_t> random_layer_offsets(Module& root) {
  std::vector<uint64_t> out;
  for (RandomLayer* r : random_layers(root)) out.push_back(r->generator().offset());
  return out;
}

void set_random_layer_offsets(Module& root, const std::vector<uint64_t>& offsets) {
  const std::vector<RandomLayer*> layers = random_layers(root);
  NKD_CHECK(layers.size() == offsets.size(), "RNG state has ", offsets.size(), " offsets, the model has ",
            layers.size(), " random layers");
  for (size_t i = 0; i < layers.size(); ++i) layers[i]->generator().set_offset(offsets[i]);
}

Sequential& Sequential::add(std::shared_ptr<UnaryModule> m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& m : layers_) y = m->forward(y);
  return y;
}

}  // namespace nkd::layers
