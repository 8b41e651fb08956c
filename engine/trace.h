// Op tracing: while a Tracer is installed on the calling thread (TraceScope), every traced op
// reports itself once, at its outermost call: its name (the engine's op name: "conv2d", "relu",
// "reshape", ...), its input and output tensors and its attributes. Ops that an op calls inside
// itself are not reported. The ONNX export (export/) records a net's forward this way, so the
// exported graph is whatever forward() computes. Without a tracer an op pays one thread-local read.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace nkd::trace {

struct OpAttrs {
  std::vector<std::pair<std::string, std::vector<int64_t>>> ints;
  std::vector<std::pair<std::string, double>> floats;
  OpAttrs& set(std::string name, std::vector<int64_t> v) {
    ints.emplace_back(std::move(name), std::move(v));
    return *this;
  }
  OpAttrs& set_float(std::string name, double v) {
    floats.emplace_back(std::move(name), v);
    return *this;
  }
  // The attribute `name` (throws nkd::Error naming the op when absent).
  const std::vector<int64_t>& ints_of(const std::string& name) const;
  int64_t int_of(const std::string& name) const { return ints_of(name).at(0); }
  double float_of(const std::string& name) const;
};

struct OpRecord {
  std::string op;
  std::vector<Tensor> inputs;  // an undefined tensor: an optional input left out (no bias)
  std::vector<Tensor> outputs;
  OpAttrs attrs;
};

class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual void on_op(OpRecord record) = 0;
};

// Installs `tracer` on this thread for the scope's lifetime (not nestable).
class TraceScope {
 public:
  explicit TraceScope(Tracer& tracer);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;
};

// At the top of a traced op: marks the ops it calls as inner ones; done() reports the op when it
// is the outermost op call under a tracer (an output that is one of the inputs is not reported:
// the op changed nothing), and returns the output.
class OpScope {
 public:
  OpScope();
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  Tensor done(const char* op, std::vector<Tensor> inputs, Tensor output, OpAttrs attrs = {});

 private:
  Tracer* tracer_;
  bool outermost_;
};

}  // namespace nkd::trace
