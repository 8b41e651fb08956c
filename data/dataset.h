// Dataset: indexed samples with integer labels. load() returns the decoded pixels of sample i
// (for files: reading + decoding with the pipeline's plan) and throws DecodeError on bad input.
#pragma once
#include <cstdint>
#include <string>

#include "data/decode.h"

namespace nkd::data {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;
  virtual int64_t num_classes() const = 0;
  // Names sample i in messages: its file path, or "<file>[i]" for IDX.
  virtual std::string describe(int64_t index) const = 0;
  virtual Decoded load(int64_t index, const DecodeOptions& options, const PlanFn& plan) const = 0;
};

}  // namespace nkd::data
