// Internal to export/: an ONNX GraphProto under construction (Debian's libonnx protobuf classes):
// nodes with fresh value names, initializers from nkd tensors (F32, I64) or small constant lists.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "engine/tensor.h"

namespace nkd::exporter {

class OnnxGraph {
 public:
  explicit OnnxGraph(onnx::GraphProto* graph) : g_(graph) {}

  // A node of `op_type` reading `inputs` ("" for an absent optional input) with one output of a
  // fresh name: node() for setting attributes (its output(0) is the value), add() for the value.
  onnx::NodeProto& node(const std::string& op_type, const std::vector<std::string>& inputs);
  std::string add(const std::string& op_type, const std::vector<std::string>& inputs);

  // Initializers: a tensor's data (F32 or I64; `name` empty: a fresh one), an I64 list, an F32
  // scalar. Each returns the initializer's name.
  std::string initializer(const Tensor& t, std::string name = "");
  std::string ints(const std::vector<int64_t>& values);
  std::string scalar(float value);

  std::string fresh(const std::string& stem);  // stem_<n>, unique in the graph

 private:
  onnx::GraphProto* g_;
  int64_t next_ = 0;
  std::set<std::string> names_;  // of the initializers named after parameters
};

// Node attributes.
void set_attr(onnx::NodeProto& node, const std::string& name, int64_t value);
void set_attr(onnx::NodeProto& node, const std::string& name, float value);
void set_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values);

}  // namespace nkd::exporter
