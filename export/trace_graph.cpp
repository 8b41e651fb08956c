// trace_net: two recordings of a classifier's forward, linked into one graph and checked.
#include "export/trace_graph.h"

#include <cstring>
#include <map>

#include "engine/autograd/grad_mode.h"
#include "engine/check.h"
#include "engine/factory.h"

namespace nkd::exporter {
namespace {

class Recorder final : public trace::Tracer {
 public:
  void on_op(trace::OpRecord record) override { ops.push_back(std::move(record)); }
  std::vector<trace::OpRecord> ops;
};

struct Recording {
  Tensor input, output;
  std::vector<trace::OpRecord> ops;
};

Recording record_forward(nets::ImageClassifier& net, const Shape& shape, uint64_t seed) {
  Generator gen(seed, 0);
  Recording r;
  const std::vector<Tensor> params = net.parameters();
  r.input = randn(shape, gen).to(params.empty() ? kCPU : params.front().device());
  Recorder recorder;
  {
    trace::TraceScope scope(recorder);
    r.output = net.forward(r.input);
  }
  r.ops = std::move(recorder.ops);
  return r;
}

// Each input of op i: absent, the graph input, an earlier op's output (found by its TensorImpl
// in `produced`; the recording holds every tensor, so no address is reused) or a constant.
std::vector<ValueRef> link_inputs(const Recording& r, size_t i,
                                  const std::map<const TensorImpl*, ValueRef>& produced) {
  std::vector<ValueRef> refs;
  for (const Tensor& t : r.ops[i].inputs) {
    ValueRef ref;
    ref.tensor = t;
    if (!t.defined()) {
      ref.kind = ValueRef::Kind::kAbsent;
    } else if (auto it = produced.find(&t.impl()); it != produced.end()) {
      ref = it->second;
    } else {
      ref.kind = ValueRef::Kind::kConst;
    }
    refs.push_back(ref);
  }
  return refs;
}

// The values known before the first op: the graph input.
std::map<const TensorImpl*, ValueRef> graph_input(const Recording& r) {
  return {{&r.input.impl(), {ValueRef::Kind::kInput, 0, 0, r.input}}};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ac = a.to(kCPU).contiguous(), bc = b.to(kCPU).contiguous();
  return std::memcmp(ac.raw_data(), bc.raw_data(), static_cast<size_t>(ac.numel()) * size_of(ac.dtype())) == 0;
}

bool same_attrs(const trace::OpAttrs& a, const trace::OpAttrs& b) { return a.ints == b.ints && a.floats == b.floats; }

std::string where(size_t i, const trace::OpRecord& op) {
  return "op #" + std::to_string(i) + " (" + op.op + ")";
}

}  // namespace

TracedGraph trace_net(nets::ImageClassifier& net, int64_t channels, int64_t height, int64_t width) {
  NoGradGuard no_grad;
  net.eval();
  const Recording a = record_forward(net, {2, channels, height, width}, 1);
  const Recording b = record_forward(net, {3, channels, height, width}, 2);
  NKD_CHECK(a.ops.size() == b.ops.size(), "export: the forward ran ", a.ops.size(), " ops at batch 2 and ",
            b.ops.size(), " at batch 3; a net whose ops depend on the batch size cannot be exported");
  std::map<const TensorImpl*, ValueRef> pa = graph_input(a), pb = graph_input(b);
  TracedGraph g;
  g.input = a.input;
  for (size_t i = 0; i < a.ops.size(); ++i) {
    const trace::OpRecord &ra = a.ops[i], &rb = b.ops[i];
    NKD_CHECK(ra.op == rb.op && ra.inputs.size() == rb.inputs.size() && ra.outputs.size() == rb.outputs.size(),
              "export: ", where(i, ra), " at batch 2 is ", where(i, rb), " at batch 3");
    NKD_CHECK(same_attrs(ra.attrs, rb.attrs), "export: ", where(i, ra),
              " has attributes that depend on the batch size (only reshapes and expands may)");
    TracedOp op{ra, link_inputs(a, i, pa), {}};
    const std::vector<ValueRef> other = link_inputs(b, i, pb);
    for (size_t k = 0; k < op.inputs.size(); ++k) {
      const ValueRef &x = op.inputs[k], &y = other[k];
      NKD_CHECK(x.kind == y.kind && x.op == y.op && x.slot == y.slot, "export: input ", k, " of ", where(i, ra),
                " comes from different places at batch 2 and 3");
      NKD_CHECK(x.kind != ValueRef::Kind::kConst || same_bits(x.tensor, y.tensor), "export: input ", k, " of ",
                where(i, ra), ", ", describe(x.tensor),
                ", was not produced by a traced op and differs between two inputs: an op of the forward "
                "is not recorded (engine/trace.h)");
    }
    for (size_t k = 0; k < ra.outputs.size(); ++k) {
      const Shape &sa = ra.outputs[k].shape(), &sb = rb.outputs[k].shape();
      NKD_CHECK(sa.size() == sb.size(), "export: output ", k, " of ", where(i, ra), " changes rank with the batch");
      std::vector<bool> varying(sa.size());
      for (size_t d = 0; d < sa.size(); ++d) varying[d] = sa[d] != sb[d];
      op.varying.push_back(varying);
      pa[&ra.outputs[k].impl()] = {ValueRef::Kind::kOp, i, k, ra.outputs[k]};
      pb[&rb.outputs[k].impl()] = {ValueRef::Kind::kOp, i, k, rb.outputs[k]};
    }
    g.ops.push_back(std::move(op));
  }
  const auto out_a = pa.find(&a.output.impl()), out_b = pb.find(&b.output.impl());
  NKD_CHECK(out_a != pa.end() && out_b != pb.end() && out_a->second.kind == ValueRef::Kind::kOp &&
                out_a->second.op == out_b->second.op && out_a->second.slot == out_b->second.slot,
            "export: the logits were not produced by a traced op");
  g.output = out_a->second;
  return g;
}

}  // namespace nkd::exporter
