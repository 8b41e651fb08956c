// Internal: the backend constructors behind make_communicator, and the process-wide registry of
// live communicators that abort_all() tears down. A build without MPI (or without CUDA) links the
// stubs in no_mpi.cpp (no_nccl.cpp), which throw "built without ...".
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "engine/dist/communicator.h"

namespace nkd::dist::detail {

std::unique_ptr<Communicator> make_mpi(const LaunchEnv& env);
std::unique_ptr<Communicator> make_nccl(const LaunchEnv& env, Device device);
std::string nccl_unique_id_hex();
// MPI_Bcast of raw bytes over MPI_COMM_WORLD (initialising MPI if needed); NCCL's unique id.
void mpi_broadcast_bytes(void* data, size_t bytes, int root);
// MPI_Abort when MPI is initialised and not finalised; MPI_Finalize at a normal exit.
void mpi_abort(int code) noexcept;
void mpi_finalize();

void register_live(Communicator* c);
void unregister_live(Communicator* c);

}  // namespace nkd::dist::detail
