// OnnxGraph: nodes, value names and initializers.
#include "export/onnx_graph.h"

#include "engine/check.h"

namespace nkd::exporter {

std::string OnnxGraph::fresh(const std::string& stem) { return stem + "_" + std::to_string(next_++); }

onnx::NodeProto& OnnxGraph::node(const std::string& op_type, const std::vector<std::string>& inputs) {
  onnx::NodeProto& n = *g_->add_node();
  n.set_op_type(op_type);
  n.set_name(fresh(op_type));
  for (const std::string& in : inputs) n.add_input(in);
  n.add_output(fresh("v"));
  return n;
}

std::string OnnxGraph::add(const std::string& op_type, const std::vector<std::string>& inputs) {
  return node(op_type, inputs).output(0);
}

std::string OnnxGraph::initializer(const Tensor& t, std::string name) {
  if (name.empty()) name = fresh("const");
  if (!names_.insert(name).second) name = fresh(name);  // a module called twice: its weights twice
  onnx::TensorProto& p = *g_->add_initializer();
  p.set_name(name);
  for (int64_t d : t.shape()) p.add_dims(d);
  const Tensor c = t.to(kCPU).contiguous();
  if (c.dtype() == DType::F32) {
    p.set_data_type(onnx::TensorProto::FLOAT);
    p.set_raw_data(c.raw_data(), static_cast<size_t>(c.numel()) * sizeof(float));
  } else if (c.dtype() == DType::I64) {
    p.set_data_type(onnx::TensorProto::INT64);
    p.set_raw_data(c.raw_data(), static_cast<size_t>(c.numel()) * sizeof(int64_t));
  } else {
    NKD_FAIL("export: constant ", describe(t), " has a dtype the ONNX export does not write (F32 and I64 only)");
  }
  return name;
}

std::string OnnxGraph::ints(const std::vector<int64_t>& values) {
  onnx::TensorProto& p = *g_->add_initializer();
  p.set_name(fresh("ints"));
  p.add_dims(static_cast<int64_t>(values.size()));
  p.set_data_type(onnx::TensorProto::INT64);
  for (int64_t v : values) p.add_int64_data(v);
  return p.name();
}

std::string OnnxGraph::scalar(float value) {
  onnx::TensorProto& p = *g_->add_initializer();
  p.set_name(fresh("scalar"));
  p.set_data_type(onnx::TensorProto::FLOAT);
  p.add_float_data(value);
  return p.name();
}

void set_attr(onnx::NodeProto& node, const std::string& name, int64_t value) {
  onnx::AttributeProto& a = *node.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(value);
}

void set_attr(onnx::NodeProto& node, const std::string& name, float value) {
  onnx::AttributeProto& a = *node.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::FLOAT);
  a.set_f(value);
}

void set_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto& a = *node.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a.add_ints(v);
}

}  // namespace nkd::exporter
