// Stubs for a build without MPI (CMake did not find it): the MPI backend reports how to get it.
#include "engine/check.h"
#include "engine/dist/backends.h"

namespace nkd::dist {

bool built_with_mpi() { return false; }

namespace detail {

std::unique_ptr<Communicator> make_mpi(const LaunchEnv& env) {
  NKD_FAIL("this nkd was built without MPI, so a CPU data-parallel run (", env.launcher.empty() ? "mpirun" : env.launcher,
           ", world size ", env.world, ") cannot communicate: install libopenmpi-dev openmpi-bin "
           "(tools/install_deps.sh) and reconfigure");
}
void mpi_broadcast_bytes(void*, size_t, int) {
  NKD_FAIL("this nkd was built without MPI: the NCCL unique id cannot be broadcast over MPI; use nkd_distill --gpus N, "
           "or set MASTER_ADDR/MASTER_PORT (torchrun variables)");
}
void mpi_abort(int) noexcept {}
void mpi_finalize() {}

}  // namespace detail
}  // namespace nkd::dist
