// Which OpenBLAS kernel set the process runs, and the fix for CPUs that OpenBLAS does not know.
//
// Debian's OpenBLAS is a DYNAMIC_ARCH build: it picks its kernels from the CPU's family and model
// when it loads. 0.3.21 (Debian 12) does not know CPUs newer than it, and on them falls back to
// "Prescott" (SSE3): on the build machine's Xeon (family 6 model 207, AVX-512) its SGEMM ran 3-5x
// slower than with its own SkylakeX kernels (docs/PERF.md, "OpenBLAS on CPUs it does not know").
// upgrade_blas_core() switches such a fallback to the best kernel set the CPU supports, through
// OpenBLAS's own selection (OPENBLAS_CORETYPE, then its dynamic re-initialisation); a user's
// OPENBLAS_CORETYPE is left alone, and so is any library without the DYNAMIC_ARCH entry points.
#pragma once

#include <string>

namespace nkd::cpu {

// The kernel set OpenBLAS uses now ("SkylakeX", "Haswell", "Zen", ...), "" when it does not say.
std::string blas_core();

// Once per process, before the first BLAS call (gemm does it): when OpenBLAS runs a pre-AVX2
// kernel set on a CPU with AVX2 + FMA, switch to SkylakeX (AVX-512F/BW/DQ/VL) or Haswell, and
// export OPENBLAS_CORETYPE so that child processes (the PyTorch side of nkd_bench) get the same
// kernels. Returns what it did, e.g. "Prescott -> SkylakeX", or the core name when it kept it.
const std::string& upgrade_blas_core();

}  // namespace nkd::cpu
