// StreamTimer in a build without CUDA: constructing one throws "built without CUDA"; ProfileRange
// does nothing.
#include "engine/check.h"
#include "engine/cuda/timer.h"

namespace nkd::cuda {

struct StreamTimer::Events {};

StreamTimer::StreamTimer(Device device) : device_(device) {
  NKD_FAIL("cuda::StreamTimer on ", device.str(), ": nkd was built without CUDA");
}
StreamTimer::~StreamTimer() = default;
double StreamTimer::stop_ms() { NKD_FAIL("cuda::StreamTimer: nkd was built without CUDA"); }

ProfileRange::ProfileRange(const char*) {}
ProfileRange::~ProfileRange() = default;

}  // namespace nkd::cuda
