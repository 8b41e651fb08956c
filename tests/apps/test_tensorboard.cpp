// The TensorBoard event encoder (train/tensorboard.h) against bytes that TensorBoard's own protobuf
// classes serialize for the same events (tensorboard 2.21, event_pb2.Event(...).SerializeToString()),
// the CRC-32C check value, and the TFRecord framing read back field by field.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "train/tensorboard.h"

namespace nkd::train {
namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

TEST(TensorBoard, Crc32cCheckValues) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);  // the CRC-32C catalogue's check value
  EXPECT_EQ(crc32c("", 0), 0u);
  const uint64_t length = 20;
  EXPECT_EQ(masked_crc32c(&length, 8), 0x15293d5eu);  // tensorboard's masked_crc32c(pack("<Q", 20))
}

TEST(TensorBoard, EventsAsTensorBoardSerializesThem) {
  // Event(wall_time=1.5, step=7, summary.value=[{tag: "train/loss", simple_value: 0.25}])
  EXPECT_EQ(hex(encode_scalar_event(1.5, 7, "train/loss", 0.25f)),
            "09000000000000f83f10072a130a110a0a747261696e2f6c6f7373150000803e");
  // Event(wall_time=2.0, file_version="brain.Event:2")
  EXPECT_EQ(hex(encode_file_version_event(2.0)), "0900000000000000401a0d627261696e2e4576656e743a32");
  // Event(wall_time=2.0, step=300, session_log.status=START)
  EXPECT_EQ(hex(encode_session_start_event(2.0, 300)), "09000000000000004010ac023a020801");
  // Event(wall_time=2.0, step=0, summary.value=[{tag: "config", tensor: DT_STRING [1] "a=1", plugin "text"}])
  EXPECT_EQ(hex(encode_text_event(2.0, 0, "config", "a=1")),
            "0900000000000000402a230a210a06636f6e666967420d08071204120208014203613d314a080a060a0474657874");
}

TEST(TensorBoard, RecordFraming) {
  const std::string event = encode_scalar_event(1.5, 7, "train/loss", 0.25f);
  const std::string r = frame_record(event);
  ASSERT_EQ(r.size(), 8 + 4 + event.size() + 4);
  uint64_t length = 0;
  uint32_t length_crc = 0, data_crc = 0;
  std::memcpy(&length, r.data(), 8);
  std::memcpy(&length_crc, r.data() + 8, 4);
  std::memcpy(&data_crc, r.data() + 12 + event.size(), 4);
  EXPECT_EQ(length, event.size());
  EXPECT_EQ(length_crc, masked_crc32c(r.data(), 8));
  EXPECT_EQ(r.substr(12, event.size()), event);
  EXPECT_EQ(data_crc, masked_crc32c(event.data(), event.size()));
}

TEST(TensorBoard, LongFieldsUseMultiByteLengths) {
  const std::string text(300, 'x');  // a length of 300 is the varint ac 02
  const std::string e = encode_text_event(2.0, 0, "config", text);
  EXPECT_NE(e.find(std::string("\x42\xac\x02", 3) + text), std::string::npos);
}

}  // namespace
}  // namespace nkd::train
