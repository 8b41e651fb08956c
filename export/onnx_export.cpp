// export_onnx: trace, emit, name the graph's input and output, check, serialise.
#include "export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include "engine/check.h"
#include "export/onnx_graph.h"
#include "export/onnx_ops.h"
#include "export/trace_graph.h"
#include "io/safetensors.h"

namespace nkd::exporter {
namespace {

void set_float_tensor_type(onnx::ValueInfoProto& v, const std::string& name, const std::vector<int64_t>& dims) {
  v.set_name(name);
  onnx::TypeProto_Tensor& t = *v.mutable_type()->mutable_tensor_type();
  t.set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto& shape = *t.mutable_shape();
  shape.add_dim()->set_dim_param("batch");
  for (int64_t d : dims) shape.add_dim()->set_dim_value(d);
}

// onnx::checker plus shape inference in strict mode (Python's check_model(full_check=True)).
void check(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    NKD_FAIL("export: the ONNX checker rejects the model: ", e.what());
  }
}

}  // namespace

std::string export_onnx(nets::ImageClassifier& net, const OnnxOptions& o, OnnxSummary* summary) {
  NKD_CHECK(o.channels > 0 && o.height > 0 && o.width > 0, "export: input size ", o.channels, "x", o.height, "x",
            o.width, " must be positive");
  const TracedGraph traced = trace_net(net, o.channels, o.height, o.width);
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("nkd");
  model.set_producer_version(NKD_VERSION);
  onnx::OperatorSetIdProto& opset = *model.add_opset_import();
  opset.set_domain("");
  opset.set_version(kOnnxOpset);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name(o.graph_name);
  set_float_tensor_type(*graph.add_input(), "input", {o.channels, o.height, o.width});
  OnnxGraph g(&graph);
  const EmitResult emitted = emit_graph(g, traced, net, "input", o.fold_batch_norm);
  onnx::NodeProto& out = *graph.add_node();
  out.set_op_type("Identity");
  out.set_name("logits");
  out.add_input(emitted.logits);
  out.add_output("logits");
  const Tensor& logits = traced.output.tensor;
  NKD_CHECK(logits.ndim() == 2, "export: the net's output is ", describe(logits), ", expected [batch, classes]");
  set_float_tensor_type(*graph.add_output(), "logits", {logits.size(1)});
  check(model);
  std::string bytes;
  NKD_CHECK(model.SerializeToString(&bytes), "export: protobuf serialisation failed (a model over 2 GB?)");
  if (summary) {
    summary->nodes = static_cast<size_t>(graph.node_size());
    summary->initializers = static_cast<size_t>(graph.initializer_size());
    summary->folded_batch_norms = emitted.folded_batch_norms;
    summary->traced_ops = traced.ops.size();
    summary->bytes = bytes.size();
  }
  return bytes;
}

OnnxSummary save_onnx(nets::ImageClassifier& net, const std::string& path, const OnnxOptions& options) {
  OnnxSummary summary;
  io::write_file_atomic(path, export_onnx(net, options, &summary));
  return summary;
}

}  // namespace nkd::exporter
