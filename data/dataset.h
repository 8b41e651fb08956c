// Dataset: indexed samples with integer labels. load() returns sample i as stored, with its label:
// the file's encoded bytes (the pipeline decodes them), or the pixels for formats that store them
// (IDX). Reading a file that is missing or unreadable throws DecodeError.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "data/decode.h"
#include "data/image.h"

namespace nkd::data {

struct Sample {
  std::variant<std::vector<uint8_t>, Image> content;  // encoded file (JPEG/PNG) or raw pixels
  int64_t label = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;  // without reading the sample
  virtual int64_t num_classes() const = 0;
  // Names sample i in messages: its file path, or "<file>[i]" for IDX.
  virtual std::string describe(int64_t index) const = 0;
  virtual Sample load(int64_t index) const = 0;
};

}  // namespace nkd::data
