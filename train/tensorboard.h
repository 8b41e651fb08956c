// TensorBoard event files written without TensorFlow or libprotobuf: a small protobuf encoder for
// the few Event/Summary fields nkd writes (file version, scalars, text, session start), each event
// framed as a TFRecord (uint64 length, masked CRC-32C of it, the bytes, masked CRC-32C of them).
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

namespace nkd::train {

uint32_t crc32c(const void* data, size_t n);         // Castagnoli, as TFRecord uses
uint32_t masked_crc32c(const void* data, size_t n);  // rotated right by 15, plus 0xa282ead8

// Serialized tensorflow.Event messages (proto3: fields at their default value are left out).
std::string encode_file_version_event(double wall_time);  // file_version "brain.Event:2"
std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value);
// A text summary as tf.summary.text writes it: a DT_STRING tensor of shape [1], plugin "text".
std::string encode_text_event(double wall_time, int64_t step, const std::string& tag, const std::string& text);
// SessionLog START: TensorBoard drops what earlier files logged at this step and later (a run
// resumed from a checkpoint replaces the steps its killed predecessor logged after it).
std::string encode_session_start_event(double wall_time, int64_t step);
std::string frame_record(const std::string& event);

// One events.out.tfevents.* file in dir (created if needed), named so that it sorts after the files
// already there: TensorBoard reads a folder's event files in name order.
class EventWriter {
 public:
  explicit EventWriter(const std::string& dir);
  void scalar(const std::string& tag, double value, int64_t step);
  void text(const std::string& tag, const std::string& text, int64_t step);
  void session_start(int64_t step);
  void flush() { out_.flush(); }
  const std::string& path() const { return path_; }

 private:
  void write(const std::string& event);
  std::string path_;
  std::ofstream out_;
};

}  // namespace nkd::train
