// Internal to export/: the recorded ops of a TracedGraph as ONNX nodes of an OnnxGraph. Each
// engine op has one emitter; an op without one stops the export with its name.
#pragma once
#include <string>

#include "export/onnx_graph.h"
#include "export/trace_graph.h"
#include "layers/module.h"

namespace nkd::exporter {

struct EmitResult {
  std::string logits;  // the value name of the graph's output
  size_t folded_batch_norms = 0;
};

// `net` names the initializers after its parameters and finds the BatchNorm2d of each batch_norm
// op for folding (fold: a batch norm whose input is a convolution's output used only by it).
// The graph's input value is named `input`.
EmitResult emit_graph(OnnxGraph& g, const TracedGraph& traced, layers::Module& net, const std::string& input,
                      bool fold);

}  // namespace nkd::exporter
