// The backward graph: a Node per recorded op, Edges to the nodes of its inputs, and SavedTensor,
// which remembers the storage version a tensor had when saved so an in-place change is caught.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace nkd {

struct Edge {
  std::shared_ptr<Node> node;  // null: that input needs no gradient
  uint32_t input_nr = 0;       // which gradient slot of `node` this feeds
};

class Node {
 public:
  Node();
  virtual ~Node();  // iterative: a long chain of nodes must not recurse in destructors
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  virtual const char* name() const = 0;
  // grads[i] = dL/d(output i), undefined when that output did not reach the loss.
  // Returns one gradient per forward input (undefined = none), in forward argument order.
  // Runs with grad mode off: higher-order gradients are not supported.
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  virtual void release_saved() {}

  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].node; }
  std::vector<Edge> next_edges;   // one per forward input
  std::vector<Shape> out_shapes;  // expected gradient shape per output
  const uint64_t sequence_nr;     // creation order; the engine runs newest first
  bool released = false;
};

// A tensor saved for backward: a detached alias plus the version it had.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  // Returns the tensor; throws if its storage was modified in place after saving.
  Tensor unpack(const char* node_name) const;
  void reset() { tensor_ = Tensor(); }
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;
  uint32_t version_ = 0;
};

// Leaf accumulator: the only place where gradients of leaves are summed. The engine runs it once
// per backward, after every contribution to the leaf has been summed, so when its post hooks run
// the leaf's .grad is final for this backward (the data-parallel reducer starts from there).
class AccumulateGrad final : public Node {
 public:
  using PostHook = std::function<void(const Tensor& grad)>;
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf);
  const char* name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  // Called with the leaf's accumulated gradient after each apply that produced one; returns a
  // handle for remove_post_hook.
  size_t add_post_hook(PostHook hook);
  void remove_post_hook(size_t handle);

 private:
  std::weak_ptr<TensorImpl> leaf_;
  std::vector<std::pair<size_t, PostHook>> post_hooks_;
  size_t next_hook_ = 0;
};

// The accumulator node of a leaf that requires grad (created if needed; lives as long as the leaf).
AccumulateGrad& grad_accumulator(const Tensor& leaf);

// True when recording is on and some input requires grad.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Connects `node` to the graph: edges from `inputs` (undefined tensors give empty edges) and
// outputs[i].grad_fn = node with output_nr i. Call only when any_requires_grad(inputs).
void record(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs);

// Runs backward from `roots` with the given gradients (the autograd engine, engine.cpp).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph);

}  // namespace nkd
