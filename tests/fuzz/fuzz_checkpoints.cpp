// libFuzzer target for the checkpoint readers: the first input byte picks the reader (.pth zip +
// restricted unpickler, safetensors, or the load_checkpoint front that detects the format from the
// bytes), the rest is the file. A reader may throw nkd::Error on malformed input; anything else (a
// crash, a sanitizer report, another exception) is a finding.
#include <cstddef>
#include <cstdint>

#include "engine/check.h"
#include "io/checkpoint.h"
#include "io/pth.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    if (data[0] & 2) {
      nkd::io::parse_checkpoint(data + 1, size - 1, "fuzz");
    } else if (data[0] & 1) {
      nkd::io::parse_pth(data + 1, size - 1, "fuzz");
    } else {
      nkd::io::parse_safetensors(data + 1, size - 1, "fuzz");
    }
  } catch (const nkd::Error&) {
  }
  return 0;
}
