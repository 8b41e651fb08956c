// The autograd engine: an iterative walk of the backward graph in a deterministic order
// (newest node first), with per-(node, slot) gradient buffers. Summing into those buffers is the
// only place where non-leaf gradients accumulate; leaves accumulate in AccumulateGrad.
#include <queue>
#include <unordered_map>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"

namespace nkd {
namespace {

struct NodeState {
  std::vector<Tensor> buffer;  // one gradient per output slot of the node
  int pending = 0;             // edges from nodes not yet run
};

// Leaf accumulators first, then newest first. An AccumulateGrad node is often older than every op
// of the step (created at the leaf's first use, possibly steps ago), so by age alone it would run
// only at the very end; run as soon as ready, it hands the data-parallel reducer each gradient
// while backward continues (as PyTorch's engine does). Ties by sequence number: deterministic.
struct NewestFirst {
  static bool leaf(const Node* n) { return dynamic_cast<const AccumulateGrad*>(n) != nullptr; }
  bool operator()(const Node* a, const Node* b) const {
    const bool la = leaf(a), lb = leaf(b);
    if (la != lb) return lb;
    return a->sequence_nr < b->sequence_nr;
  }
};

Node* root_node(const Tensor& t) {
  NKD_CHECK(t.requires_grad(), "backward: tensor ", describe(t),
            " does not require grad and has no grad_fn");
  const AutogradMeta& meta = *t.impl().autograd;
  if (meta.grad_fn) return meta.grad_fn.get();
  if (!meta.accumulator)
    t.impl().autograd->accumulator = std::make_shared<AccumulateGrad>(t.impl_ptr());
  return t.impl().autograd->accumulator.get();
}

void add_to_buffer(NodeState& st, Node* node, uint32_t slot, Tensor grad) {
  if (!grad.defined()) return;
  if (st.buffer.size() <= slot) st.buffer.resize(slot + 1);
  if (slot < node->out_shapes.size()) {
    NKD_ASSERT(grad.shape() == node->out_shapes[slot], node->name(), " slot ", slot,
               ": gradient shape ", to_string(grad.shape()), " != output shape ",
               to_string(node->out_shapes[slot]));
  }
  Tensor& b = st.buffer[slot];
  b = b.defined() ? ops::add(b, grad) : std::move(grad);
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph) {
  NoGradGuard no_grad;
  std::unordered_map<Node*, NodeState> state;

  // 1. Discover the graph iteratively and count the incoming edges of every node.
  std::vector<Node*> stack;
  for (const Tensor& r : roots) {
    Node* n = root_node(r);
    if (state.emplace(n, NodeState{}).second) stack.push_back(n);
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.node) continue;
      auto [it, inserted] = state.emplace(e.node.get(), NodeState{});
      ++it->second.pending;
      if (inserted) stack.push_back(e.node.get());
    }
  }

  // 2. Seed the roots.
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    Tensor g = grads[i];
    if (!g.defined()) {
      NKD_CHECK(r.numel() == 1, "backward: a gradient can be created implicitly only for a scalar;",
                " got ", describe(r), " (pass grad_output)");
      g = full_like(r, 1.0);
    }
    NKD_CHECK(g.shape() == r.shape(), "backward: grad_output ", to_string(g.shape()),
              " does not match the tensor ", to_string(r.shape()));
    const uint32_t slot = r.impl().autograd->grad_fn ? r.impl().autograd->output_nr : 0;
    Node* n = root_node(r);
    add_to_buffer(state[n], n, slot, g);
  }

  // 3. Run nodes whose inputs are complete, newest first.
  std::priority_queue<Node*, std::vector<Node*>, NewestFirst> ready;
  for (auto& [n, st] : state)
    if (st.pending == 0) ready.push(n);
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    NodeState& st = state[n];
    NKD_CHECK(!n->released, "backward: ", n->name(), " was already run and its saved tensors freed;",
              " pass retain_graph=true to backward twice through a graph");
    std::vector<Tensor> in = std::move(st.buffer);
    in.resize(std::max(in.size(), n->out_shapes.size()));
    std::vector<Tensor> out;
    try {
      out = n->apply(std::move(in));
    } catch (const InternalError&) {
      throw;
    } catch (const Error& e) {
      throw Error(detail::cat(e.what(), " (while running ", n->name(), ")"));
    }
    if (!retain_graph && dynamic_cast<AccumulateGrad*>(n) == nullptr) {
      n->release_saved();
      n->released = true;
    }
    for (size_t i = 0; i < n->next_edges.size(); ++i) {
      const Edge& e = n->next_edges[i];
      if (!e.node) continue;
      NodeState& next = state[e.node.get()];
      if (i < out.size()) add_to_buffer(next, e.node.get(), e.input_nr, std::move(out[i]));
      if (--next.pending == 0) ready.push(e.node.get());
    }
  }
}

}  // namespace nkd
