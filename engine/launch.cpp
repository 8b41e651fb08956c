// The error of a GPU launch in a build without CUDA (engine/launch.h).
#include "engine/launch.h"

namespace nkd {

void fail_without_cuda(const char* what, Device device) {
  NKD_FAIL(what, ": ", device.str(), " tensors need a CUDA build (nkd was built without CUDA)");
}

}  // namespace nkd
