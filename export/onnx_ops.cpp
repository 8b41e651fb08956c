// emit_graph: one emitter per engine op (the names engine/trace.h reports), opset 17.
#include "export/onnx_ops.h"

#include <cmath>
#include <map>

#include "engine/check.h"
#include "engine/factory.h"
#include "layers/bn_fold.h"

namespace nkd::exporter {
namespace {

using Names = std::vector<std::string>;

class Emitter {
 public:
  Emitter(OnnxGraph& g, const TracedGraph& t, layers::Module& net, const std::string& input, bool fold)
      : g_(g), t_(t), input_(input), fold_(fold), outs_(t.ops.size()), uses_(t.ops.size()) {
    for (const auto& [name, tensor] : net.state_dict()) params_[&tensor.impl()] = name;
    for (auto& [name, m] : net.named_modules())
      if (auto* bn = dynamic_cast<layers::BatchNorm2d*>(m)) bns_[&bn->running_mean.impl()] = bn;
    for (size_t i = 0; i < t.ops.size(); ++i) uses_[i].resize(t.ops[i].record.outputs.size());
    for (const TracedOp& op : t.ops)
      for (const ValueRef& r : op.inputs)
        if (r.kind == ValueRef::Kind::kOp) ++uses_[r.op][r.slot];
    ++uses_[t.output.op][t.output.slot];
  }

  EmitResult run() {
    for (size_t i = 0; i < t_.ops.size(); ++i)
      if (outs_[i].empty()) outs_[i] = emit(i);
    return {value(t_.output), folded_};
  }

 private:
  // The value name of an op input: the graph input, an op's output or a constant (an initializer
  // named after the parameter it is, written once).
  std::string value(const ValueRef& r) {
    switch (r.kind) {
      case ValueRef::Kind::kAbsent: return "";
      case ValueRef::Kind::kInput: return input_;
      case ValueRef::Kind::kOp: return outs_[r.op].at(r.slot);
      case ValueRef::Kind::kConst: break;
    }
    const TensorImpl* key = &r.tensor.impl();
    if (auto it = consts_.find(key); it != consts_.end()) return it->second;
    const auto p = params_.find(key);
    return consts_[key] = g_.initializer(r.tensor, p == params_.end() ? "" : p->second);
  }
  std::string in(size_t i, size_t k) { return value(t_.ops[i].inputs.at(k)); }
  const Tensor& in_tensor(size_t i, size_t k) { return t_.ops[i].inputs.at(k).tensor; }
  const Tensor& out_tensor(size_t i) { return t_.ops[i].record.outputs.at(0); }
  const trace::OpAttrs& attrs(size_t i) { return t_.ops[i].record.attrs; }
  static int64_t norm_dim(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }
  std::string param_name(const Tensor& t, const std::string& fallback) {
    const auto p = params_.find(&t.impl());
    return p == params_.end() ? g_.fresh(fallback) : p->second;
  }

  Names emit(size_t i);
  Names conv(size_t i);
  Names batch_norm(size_t i);
  Names linear(size_t i);
  Names pool(size_t i, const std::string& type);
  Names reshape(size_t i);
  Names expand(size_t i);
  Names roll(size_t i);
  Names gelu(size_t i);

  OnnxGraph& g_;
  const TracedGraph& t_;
  std::string input_;
  bool fold_;
  std::vector<Names> outs_;
  std::vector<std::vector<int>> uses_;
  std::map<const TensorImpl*, std::string> params_, consts_;
  std::map<const TensorImpl*, layers::BatchNorm2d*> bns_;
  size_t folded_ = 0;
};

Names Emitter::emit(size_t i) {
  const std::string& op = t_.ops[i].record.op;
  static const std::map<std::string, std::string> kUnary = {
      {"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"neg", "Neg"}, {"exp", "Exp"},
      {"log", "Log"},   {"sqrt", "Sqrt"},       {"clone", "Identity"}};
  static const std::map<std::string, std::string> kBinary = {
      {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}, {"matmul", "MatMul"}};
  if (auto u = kUnary.find(op); u != kUnary.end()) return {g_.add(u->second, {in(i, 0)})};
  if (auto b = kBinary.find(op); b != kBinary.end()) return {g_.add(b->second, {in(i, 0), in(i, 1)})};
  const auto f = [&](const char* name) { return static_cast<float>(attrs(i).float_of(name)); };
  if (op == "add_scalar") return {g_.add("Add", {in(i, 0), g_.scalar(f("value"))})};
  if (op == "mul_scalar") return {g_.add("Mul", {in(i, 0), g_.scalar(f("value"))})};
  if (op == "pow") return {g_.add("Pow", {in(i, 0), g_.scalar(f("exponent"))})};
  if (op == "relu6") return {g_.add("Clip", {in(i, 0), g_.scalar(0.f), g_.scalar(6.f)})};
  if (op == "gelu") return gelu(i);
  if (op == "conv2d") return conv(i);
  if (op == "batch_norm") return batch_norm(i);
  if (op == "linear") return linear(i);
  if (op == "max_pool2d") return pool(i, "MaxPool");
  if (op == "avg_pool2d") return pool(i, "AveragePool");
  if (op == "reshape") return reshape(i);
  if (op == "expand") return expand(i);
  if (op == "roll") return roll(i);
  const int64_t rank = in_tensor(i, 0).ndim();
  if (op == "global_avg_pool") {
    onnx::NodeProto& n = g_.node("Flatten", {g_.add("GlobalAveragePool", {in(i, 0)})});
    set_attr(n, "axis", int64_t{1});
    return {n.output(0)};
  }
  if (op == "adaptive_avg_pool2d") {
    const std::vector<int64_t>& size = attrs(i).ints_of("output_size");
    NKD_CHECK(size[0] == 1 && size[1] == 1, "export: adaptive_avg_pool2d to ", size[0], "x", size[1],
              " has no ONNX form here (only 1x1)");
    return {g_.add("GlobalAveragePool", {in(i, 0)})};
  }
  if (op == "softmax" || op == "log_softmax") {
    onnx::NodeProto& n = g_.node(op == "softmax" ? "Softmax" : "LogSoftmax", {in(i, 0)});
    set_attr(n, "axis", norm_dim(attrs(i).int_of("dim"), rank));
    return {n.output(0)};
  }
  if (op == "layer_norm") {
    const Shape ns = attrs(i).ints_of("normalized_shape");
    std::string scale = in(i, 1);
    if (scale.empty()) scale = g_.initializer(ones(ns));
    Names ins = {in(i, 0), scale};
    if (!in(i, 2).empty()) ins.push_back(in(i, 2));
    onnx::NodeProto& n = g_.node("LayerNormalization", ins);
    set_attr(n, "axis", -static_cast<int64_t>(ns.size()));
    set_attr(n, "epsilon", f("eps"));
    return {n.output(0)};
  }
  if (op == "permute") {
    std::vector<int64_t> perm = attrs(i).ints_of("dims");
    for (int64_t& d : perm) d = norm_dim(d, rank);
    onnx::NodeProto& n = g_.node("Transpose", {in(i, 0)});
    set_attr(n, "perm", perm);
    return {n.output(0)};
  }
  if (op == "narrow") {
    const int64_t d = norm_dim(attrs(i).int_of("dim"), rank), start = attrs(i).int_of("start");
    return {g_.add("Slice", {in(i, 0), g_.ints({start}), g_.ints({start + attrs(i).int_of("length")}), g_.ints({d})})};
  }
  if (op == "concat") {
    Names ins;
    for (size_t k = 0; k < t_.ops[i].inputs.size(); ++k) ins.push_back(in(i, k));
    onnx::NodeProto& n = g_.node("Concat", ins);
    set_attr(n, "axis", norm_dim(attrs(i).int_of("dim"), rank));
    return {n.output(0)};
  }
  if (op == "pad") {
    const std::vector<int64_t>& p = attrs(i).ints_of("pads");  // F.pad order: (left, right) from the last dim
    std::vector<int64_t> pads(2 * static_cast<size_t>(rank), 0);
    for (size_t k = 0; k < p.size() / 2; ++k) {
      const size_t d = static_cast<size_t>(rank) - 1 - k;
      pads[d] = p[2 * k];
      pads[d + static_cast<size_t>(rank)] = p[2 * k + 1];
    }
    return {g_.add("Pad", {in(i, 0), g_.ints(pads), g_.scalar(f("value"))})};
  }
  if (op == "index_select") {
    onnx::NodeProto& n = g_.node("Gather", {in(i, 0), in(i, 1)});
    set_attr(n, "axis", norm_dim(attrs(i).int_of("dim"), rank));
    return {n.output(0)};
  }
  NKD_FAIL("export: the engine op '", op, "' has no ONNX form yet (export/onnx_ops.cpp)");
}

// x * 0.5 * (1 + erf(x / sqrt(2))): the exact GELU of ops::gelu.
Names Emitter::gelu(size_t i) {
  const std::string x = in(i, 0);
  const std::string erf = g_.add("Erf", {g_.add("Div", {x, g_.scalar(static_cast<float>(std::sqrt(2.0)))})});
  const std::string phi = g_.add("Mul", {g_.add("Add", {erf, g_.scalar(1.f)}), g_.scalar(0.5f)});
  return {g_.add("Mul", {x, phi})};
}

Names Emitter::conv(size_t i) {
  const trace::OpAttrs& a = attrs(i);
  const Tensor& w = in_tensor(i, 1);
  std::string weight, bias;
  // Fold the batch norm that alone reads this convolution's output.
  size_t bn_op = 0;
  layers::BatchNorm2d* bn = nullptr;
  const bool consts = t_.ops[i].inputs[1].kind == ValueRef::Kind::kConst &&
                      t_.ops[i].inputs[2].kind != ValueRef::Kind::kOp;
  if (fold_ && consts && uses_[i][0] == 1)
    for (size_t j = i + 1; j < t_.ops.size() && !bn; ++j) {
      const TracedOp& next = t_.ops[j];
      if (next.record.op != "batch_norm" || next.inputs[0].kind != ValueRef::Kind::kOp || next.inputs[0].op != i)
        continue;
      const auto it = bns_.find(&next.inputs[3].tensor.impl());
      if (it != bns_.end() && next.record.attrs.int_of("training") == 0) {
        bn = it->second;
        bn_op = j;
      }
    }
  if (bn) {  // only the folded weights are written
    const layers::FoldedWeights folded = layers::fold_batch_norm(w, in_tensor(i, 2), *bn);
    const std::string stem = param_name(w, "conv.weight");
    weight = g_.initializer(folded.weight, stem + "_folded");
    bias = g_.initializer(folded.bias, stem.substr(0, stem.rfind('.') + 1) + "bias_folded");
  } else {
    weight = in(i, 1);
    bias = in(i, 2);
  }
  Names ins = {in(i, 0), weight};
  if (!bias.empty()) ins.push_back(bias);
  onnx::NodeProto& n = g_.node("Conv", ins);
  const std::vector<int64_t>& pad = a.ints_of("padding");
  set_attr(n, "kernel_shape", std::vector<int64_t>{w.size(2), w.size(3)});
  set_attr(n, "strides", a.ints_of("stride"));
  set_attr(n, "pads", std::vector<int64_t>{pad[0], pad[1], pad[0], pad[1]});
  set_attr(n, "dilations", a.ints_of("dilation"));
  set_attr(n, "group", a.int_of("groups"));
  if (bn) {
    outs_[bn_op] = {n.output(0)};
    ++folded_;
  }
  return {n.output(0)};
}

// A batch norm that was not folded: BatchNormalization in inference form.
Names Emitter::batch_norm(size_t i) {
  NKD_CHECK(attrs(i).int_of("training") == 0, "export: batch_norm in training mode (the net is not in eval mode)");
  const int64_t c = in_tensor(i, 0).size(1);
  std::string scale = in(i, 1), bias = in(i, 2);
  if (scale.empty()) scale = g_.initializer(ones({c}));
  if (bias.empty()) bias = g_.initializer(zeros({c}));
  onnx::NodeProto& n = g_.node("BatchNormalization", {in(i, 0), scale, bias, in(i, 3), in(i, 4)});
  set_attr(n, "epsilon", static_cast<float>(attrs(i).float_of("eps")));
  return {n.output(0)};
}

// x @ w^T + b: Gemm for [N, in], else MatMul with the transposed weight and Add.
Names Emitter::linear(size_t i) {
  const std::string x = in(i, 0), w = in(i, 1), b = in(i, 2);
  if (in_tensor(i, 0).ndim() == 2) {
    onnx::NodeProto& n = g_.node("Gemm", b.empty() ? Names{x, w} : Names{x, w, b});
    set_attr(n, "transB", int64_t{1});
    return {n.output(0)};
  }
  onnx::NodeProto& tr = g_.node("Transpose", {w});
  set_attr(tr, "perm", std::vector<int64_t>{1, 0});
  const std::string y = g_.add("MatMul", {x, tr.output(0)});
  return {b.empty() ? y : g_.add("Add", {y, b})};
}

Names Emitter::pool(size_t i, const std::string& type) {
  const trace::OpAttrs& a = attrs(i);
  const std::vector<int64_t>& pad = a.ints_of("padding");
  onnx::NodeProto& n = g_.node(type, {in(i, 0)});
  set_attr(n, "kernel_shape", a.ints_of("kernel"));
  set_attr(n, "strides", a.ints_of("stride"));
  set_attr(n, "pads", std::vector<int64_t>{pad[0], pad[1], pad[0], pad[1]});
  set_attr(n, "ceil_mode", a.int_of("ceil_mode"));
  if (type == "MaxPool") set_attr(n, "dilations", a.ints_of("dilation"));
  else set_attr(n, "count_include_pad", a.int_of("count_include_pad"));
  return {n.output(0)};
}

// The recorded output shape with the one batch-dependent dim (if any) as -1.
Names Emitter::reshape(size_t i) {
  Shape shape = out_tensor(i).shape();
  int varying = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    if (t_.ops[i].varying[0][d]) {
      shape[d] = -1;
      ++varying;
    }
  NKD_CHECK(varying <= 1, "export: op #", i, " (reshape to ", to_string(out_tensor(i).shape()), ") has ", varying,
            " batch-dependent dims; ONNX Reshape can infer one");
  return {g_.add("Reshape", {in(i, 0), g_.ints(shape)})};
}

// Expand broadcasts: a dim kept from the input is written 1, so the batch dim stays dynamic.
Names Emitter::expand(size_t i) {
  const Shape &out = out_tensor(i).shape(), &x = in_tensor(i, 0).shape();
  const size_t lead = out.size() - x.size();
  std::vector<int64_t> shape(out.size());
  for (size_t d = 0; d < out.size(); ++d) {
    const bool kept = d >= lead && x[d - lead] == out[d];
    NKD_CHECK(kept || !t_.ops[i].varying[0][d], "export: op #", i, " (expand) broadcasts a batch-dependent dim");
    shape[d] = kept ? 1 : out[d];
  }
  return {g_.add("Expand", {in(i, 0), g_.ints(shape)})};
}

// torch.roll along each dim: the last `shift` entries moved to the front (Slice + Concat).
Names Emitter::roll(size_t i) {
  const std::vector<int64_t>&shifts = attrs(i).ints_of("shifts"), &dims = attrs(i).ints_of("dims");
  NKD_CHECK(!dims.empty(), "export: roll without dims (a flattened roll) has no ONNX form here");
  const Tensor& x = in_tensor(i, 0);
  std::string y = in(i, 0);
  for (size_t k = 0; k < dims.size(); ++k) {
    const int64_t d = norm_dim(dims[k], x.ndim()), n = x.size(d);
    NKD_CHECK(!t_.ops[i].varying[0][static_cast<size_t>(d)], "export: op #", i, " rolls the batch dim");
    const int64_t s = ((shifts[k] % n) + n) % n;
    if (s == 0) continue;
    const std::string tail = g_.add("Slice", {y, g_.ints({n - s}), g_.ints({n}), g_.ints({d})});
    const std::string head = g_.add("Slice", {y, g_.ints({0}), g_.ints({n - s}), g_.ints({d})});
    onnx::NodeProto& c = g_.node("Concat", {tail, head});
    set_attr(c, "axis", d);
    y = c.output(0);
  }
  if (y == in(i, 0)) y = g_.add("Identity", {y});
  return {y};
}

}  // namespace

EmitResult emit_graph(OnnxGraph& g, const TracedGraph& traced, layers::Module& net, const std::string& input,
                      bool fold) {
  return Emitter(g, traced, net, input, fold).run();
}

}  // namespace nkd::exporter
