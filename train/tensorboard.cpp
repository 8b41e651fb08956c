// The event-file encoder and writer (see tensorboard.h). Field numbers from TensorFlow's
// event.proto, summary.proto, tensor.proto and tensor_shape.proto.
#include "train/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "engine/check.h"

namespace nkd::train {

namespace {

constexpr std::array<uint32_t, 256> crc32c_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = crc32c_table();

// Protobuf wire format: varints, field keys, fixed-width and length-delimited fields.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}
void put_key(std::string& out, int field, int wire_type) { put_varint(out, uint64_t(field) << 3 | uint64_t(wire_type)); }
void put_varint_field(std::string& out, int field, uint64_t v) {
  if (v == 0) return;
  put_key(out, field, 0);
  put_varint(out, v);
}
void put_bytes_field(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}
template <class T>
void put_fixed(std::string& out, T v) {  // little-endian, as on every platform nkd builds for
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

// Event{wall_time = 1, step = 2} followed by the event's one `what` field.
std::string event_header(double wall_time, int64_t step) {
  std::string e;
  if (wall_time != 0) {
    put_key(e, 1, 1);
    put_fixed(e, wall_time);
  }
  put_varint_field(e, 2, uint64_t(step));
  return e;
}

std::string summary_event(double wall_time, int64_t step, const std::string& value) {
  std::string summary;
  put_bytes_field(summary, 1, value);  // Summary.value
  std::string e = event_header(wall_time, step);
  put_bytes_field(e, 5, summary);      // Event.summary
  return e;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = kCrcTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string encode_file_version_event(double wall_time) {
  std::string e = event_header(wall_time, 0);
  put_bytes_field(e, 3, "brain.Event:2");  // Event.file_version
  return e;
}

std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value) {
  std::string v;
  put_bytes_field(v, 1, tag);  // Summary.Value.tag
  put_key(v, 2, 5);            // Summary.Value.simple_value
  put_fixed(v, value);
  return summary_event(wall_time, step, v);
}

std::string encode_text_event(double wall_time, int64_t step, const std::string& tag, const std::string& text) {
  std::string dim, shape, tensor, plugin, metadata, v;
  put_varint_field(dim, 1, 1);        // TensorShapeProto.Dim.size = 1
  put_bytes_field(shape, 2, dim);     // TensorShapeProto.dim
  put_varint_field(tensor, 1, 7);     // TensorProto.dtype = DT_STRING
  put_bytes_field(tensor, 2, shape);  // TensorProto.tensor_shape
  put_bytes_field(tensor, 8, text);   // TensorProto.string_val
  put_bytes_field(plugin, 1, "text");  // PluginData.plugin_name
  put_bytes_field(metadata, 1, plugin);  // SummaryMetadata.plugin_data
  put_bytes_field(v, 1, tag);
  put_bytes_field(v, 8, tensor);    // Summary.Value.tensor
  put_bytes_field(v, 9, metadata);  // Summary.Value.metadata
  return summary_event(wall_time, step, v);
}

std::string encode_session_start_event(double wall_time, int64_t step) {
  std::string log;
  put_varint_field(log, 1, 1);  // SessionLog.status = START
  std::string e = event_header(wall_time, step);
  put_bytes_field(e, 7, log);   // Event.session_log
  return e;
}

std::string frame_record(const std::string& event) {
  std::string r;
  const uint64_t n = event.size();
  put_fixed(r, n);
  put_fixed(r, masked_crc32c(r.data(), sizeof n));
  r += event;
  put_fixed(r, masked_crc32c(event.data(), event.size()));
  return r;
}

namespace {

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The seconds of the name: now, or one more than the newest file's when that is not earlier (a
// resumed run started within the second of its predecessor's file still sorts after it).
int64_t file_seconds(const std::string& dir) {
  int64_t secs = int64_t(wall_time());
  const std::string prefix = "events.out.tfevents.";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const int64_t s = std::atoll(name.c_str() + prefix.size());
    if (s >= secs) secs = s + 1;
  }
  return secs;
}

}  // namespace

EventWriter::EventWriter(const std::string& dir) {
  std::filesystem::create_directories(dir);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  char secs[32];
  std::snprintf(secs, sizeof secs, "%010lld", static_cast<long long>(file_seconds(dir)));
  path_ = dir + "/events.out.tfevents." + secs + "." + host + "." + std::to_string(getpid()) + ".0";
  out_.open(path_, std::ios::binary | std::ios::app);
  NKD_CHECK(out_.good(), "cannot write the TensorBoard event file '", path_, "'");
  write(encode_file_version_event(wall_time()));
  flush();
}

void EventWriter::scalar(const std::string& tag, double value, int64_t step) {
  write(encode_scalar_event(wall_time(), step, tag, float(value)));
}

void EventWriter::text(const std::string& tag, const std::string& text, int64_t step) {
  write(encode_text_event(wall_time(), step, tag, text));
}

void EventWriter::session_start(int64_t step) { write(encode_session_start_event(wall_time(), step)); }

void EventWriter::write(const std::string& event) { out_ << frame_record(event); }

}  // namespace nkd::train
