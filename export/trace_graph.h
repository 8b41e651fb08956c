// Internal to export/: a classifier's forward recorded as engine ops (engine/trace.h) twice, at two
// batch sizes with different random inputs, and the two recordings checked against each other:
// the same ops with the same attributes reading the same values. A tensor an op reads that no
// recorded op produced is a constant (a parameter, a buffer, a precomputed index or mask) and must
// be bit-identical in both recordings, so a value computed outside the traced ops cannot slip into
// the graph frozen. The output dims that differ between the recordings are the batch-dependent ones.
#pragma once
#include <vector>

#include "engine/trace.h"
#include "nets/classifier.h"

namespace nkd::exporter {

// Where an op input comes from.
struct ValueRef {
  enum class Kind { kAbsent, kInput, kOp, kConst };
  Kind kind = Kind::kAbsent;
  size_t op = 0, slot = 0;  // kOp: the producing op and its output slot
  Tensor tensor;            // the value in the first recording
};

struct TracedOp {
  trace::OpRecord record;                  // the first recording's
  std::vector<ValueRef> inputs;            // one per record.inputs
  std::vector<std::vector<bool>> varying;  // per output, per dim: differs between the recordings
};

struct TracedGraph {
  std::vector<TracedOp> ops;
  Tensor input;     // [batch, C, H, W] of the first recording
  ValueRef output;  // the logits
};

// Records net.forward (eval mode, no gradients) on [2, C, H, W] and [3, C, H, W] and checks the two
// recordings; throws nkd::Error naming the first op where they disagree.
TracedGraph trace_net(nets::ImageClassifier& net, int64_t channels, int64_t height, int64_t width);

}  // namespace nkd::exporter
