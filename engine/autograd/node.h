// The backward graph: a Node per recorded op, Edges to the nodes of its inputs, and SavedTensor,
// which remembers the storage version a tensor had when saved so an in-place change is caught.
#pragma once
#include <cstdint>
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

// Leaf accumulator: the only place where gradients of leaves are summed.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf);
  const char* name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;

 private:
  std::weak_ptr<TensorImpl> leaf_;
};

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
