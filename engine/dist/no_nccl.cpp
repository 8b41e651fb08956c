// Stubs for a build without CUDA: the NCCL backend reports that it is missing.
#include "engine/check.h"
#include "engine/dist/backends.h"

namespace nkd::dist::detail {

std::unique_ptr<Communicator> make_nccl(const LaunchEnv&, Device device) {
  NKD_FAIL("data-parallel training on ", device.str(), " needs NCCL, but this nkd was built without CUDA");
}
std::string nccl_unique_id_hex() { NKD_FAIL("--gpus needs NCCL, but this nkd was built without CUDA"); }

}  // namespace nkd::dist::detail
