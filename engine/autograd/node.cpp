// Node bookkeeping, saved tensors, the leaf accumulator and graph recording.
#include "engine/autograd/node.h"

#include <atomic>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/elementwise.h"

namespace nkd {
namespace {
std::atomic<uint64_t> g_next_sequence_nr{0};

// The node a gradient for `t` must flow into: its grad_fn, or its leaf accumulator.
std::shared_ptr<Node> gradient_edge_node(const Tensor& t) {
  AutogradMeta* meta = t.impl().autograd.get();
  if (meta == nullptr) return nullptr;
  if (meta->grad_fn) return meta->grad_fn;
  if (!meta->requires_grad) return nullptr;
  if (!meta->accumulator) meta->accumulator = std::make_shared<AccumulateGrad>(t.impl_ptr());
  return meta->accumulator;
}
}  // namespace

Node::Node() : sequence_nr(g_next_sequence_nr.fetch_add(1)) {}

Node::~Node() {
  // Nodes only this one still owns are emptied here, so each is destroyed without recursion.
  std::vector<std::shared_ptr<Node>> stack;
  for (Edge& e : next_edges)
    if (e.node) stack.push_back(std::move(e.node));
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() != 1) continue;
    for (Edge& e : n->next_edges)
      if (e.node) stack.push_back(std::move(e.node));
  }
}

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  tensor_ = t.detach();
  version_ = t.version();
}

Tensor SavedTensor::unpack(const char* node_name) const {
  if (tensor_.defined()) {
    NKD_CHECK(tensor_.version() == version_, node_name, ": a tensor ", to_string(tensor_.shape()),
              " saved for backward was modified in place (version ", version_, " -> ",
              tensor_.version(), ")");
  }
  return tensor_;
}

AccumulateGrad::AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf) : leaf_(leaf) {
  out_shapes.push_back(leaf->shape);
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  std::shared_ptr<TensorImpl> leaf = leaf_.lock();
  if (!leaf || !grads[0].defined()) return {};
  Tensor& acc = leaf->autograd->grad;
  Tensor& g = grads[0];
  if (!acc.defined()) {
    // Steal the incoming buffer when nothing else can see it; otherwise copy it.
    const bool sole_owner = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 &&
                            g.is_contiguous() && g.offset() == 0;
    acc = sole_owner ? g : g.clone();
  } else {
    ops::add_(acc, g);
  }
  for (const auto& [handle, hook] : post_hooks_) hook(acc);
  return {};
}

size_t AccumulateGrad::add_post_hook(PostHook hook) {
  post_hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

void AccumulateGrad::remove_post_hook(size_t handle) {
  std::erase_if(post_hooks_, [handle](const auto& h) { return h.first == handle; });
}

AccumulateGrad& grad_accumulator(const Tensor& leaf) {
  NKD_CHECK(leaf.defined() && leaf.is_leaf() && leaf.requires_grad(), "grad_accumulator: ",
            leaf.defined() ? describe(leaf) : std::string("an undefined tensor"), " is not a leaf that requires grad");
  std::shared_ptr<Node> n = gradient_edge_node(leaf);
  return static_cast<AccumulateGrad&>(*n);
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs) {
  node->next_edges.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined()) {
      e.node = gradient_edge_node(t);
      e.input_nr = t.impl().autograd && t.impl().autograd->grad_fn ? t.impl().autograd->output_nr : 0;
    }
    node->next_edges.push_back(std::move(e));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    TensorImpl& impl = outputs[i].impl();
    if (!impl.autograd) impl.autograd = std::make_unique<AutogradMeta>();
    impl.autograd->requires_grad = true;
    impl.autograd->grad_fn = node;
    impl.autograd->output_nr = static_cast<uint32_t>(i);
    node->out_shapes.push_back(impl.shape);
  }
}

}  // namespace nkd
