// The thread's tracer and op-nesting depth (engine/trace.h).
#include "engine/trace.h"

#include "engine/check.h"

namespace nkd::trace {
namespace {
thread_local Tracer* tl_tracer = nullptr;
thread_local int tl_depth = 0;
}  // namespace

const std::vector<int64_t>& OpAttrs::ints_of(const std::string& name) const {
  for (const auto& [n, v] : ints)
    if (n == name) return v;
  NKD_FAIL("trace: op attribute '", name, "' was not recorded");
}

double OpAttrs::float_of(const std::string& name) const {
  for (const auto& [n, v] : floats)
    if (n == name) return v;
  NKD_FAIL("trace: op attribute '", name, "' was not recorded");
}

TraceScope::TraceScope(Tracer& tracer) {
  NKD_CHECK(tl_tracer == nullptr, "trace: a tracer is already installed on this thread");
  tl_tracer = &tracer;
  tl_depth = 0;
}

TraceScope::~TraceScope() { tl_tracer = nullptr; }

OpScope::OpScope() : tracer_(tl_tracer), outermost_(tl_tracer != nullptr && tl_depth == 0) {
  if (tracer_) ++tl_depth;
}

OpScope::~OpScope() {
  if (tracer_) --tl_depth;
}

Tensor OpScope::done(const char* op, std::vector<Tensor> inputs, Tensor output, OpAttrs attrs) {
  if (outermost_ && tl_tracer == tracer_) {
    for (const Tensor& in : inputs)
      if (in.defined() && in.same(output)) return output;
    tracer_->on_op({op, std::move(inputs), {output}, std::move(attrs)});
  }
  return output;
}

}  // namespace nkd::trace
