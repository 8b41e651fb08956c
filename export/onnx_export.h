// ONNX export of a classifier of the zoo (nkd_transfer --format onnx): the net's forward in eval
// mode is recorded as engine ops (engine/trace.h, export/trace_graph.h) and each recorded op
// becomes ONNX nodes (export/onnx_ops.cpp); batch norms that follow a convolution are folded into
// it (layers/bn_fold.h). The graph has one input "input" [batch, C, H, W] (batch dynamic, H and W
// fixed at the export size) and one output "logits" [batch, num_classes]; opset 17 (GELU written
// with Erf, LayerNormalization), which onnxruntime and TensorRT read. The protobuf is written with
// Debian's libonnx / libprotobuf and checked with onnx::checker plus strict shape inference.
#pragma once
#include <string>

#include "nets/classifier.h"

namespace nkd::exporter {

struct OnnxOptions {
  int64_t channels = 3, height = 224, width = 224;  // the input size the graph is fixed to (but batch)
  bool fold_batch_norm = true;
  std::string graph_name = "nkd";
};

struct OnnxSummary {
  size_t nodes = 0, initializers = 0, folded_batch_norms = 0, traced_ops = 0;
  size_t bytes = 0;
};

inline constexpr int64_t kOnnxOpset = 17;

// The model in ONNX's binary form, checked (throws nkd::Error with the checker's message).
// Puts `net` in eval mode.
std::string export_onnx(nets::ImageClassifier& net, const OnnxOptions& options, OnnxSummary* summary = nullptr);

// export_onnx written to `path` (atomically: a failed export leaves no file).
OnnxSummary save_onnx(nets::ImageClassifier& net, const std::string& path, const OnnxOptions& options);

}  // namespace nkd::exporter
