// Vectorised F32 CPU kernels for GELU and softmax rows (AVX-512F; gelu_cpu.cpp, softmax_cpu.cpp).
// Each returns false, having done nothing, when the CPU lacks AVX-512F; the caller then runs the
// scalar functors of elementwise_math.h / softmax_math.h. They evaluate in double, as those do for
// the softmax, and round once to F32.
#pragma once
#include <cstdint>

namespace nkd::ops::detail {

// y[i] = x[i] Phi(x[i]) over n elements (on the calling thread).
bool gelu_forward_avx512(const float* x, float* y, int64_t n);
// gx[i] = g[i] (Phi(x[i]) + x[i] phi(x[i])) over n elements (on the calling thread).
bool gelu_backward_avx512(const float* g, const float* x, float* gx, int64_t n);
// Softmax of rows [begin, end) of x [rows, d] (contiguous) into y; the row maximum in F32, the
// exponentials and their sum in double. Rows with a NaN or an infinity go to math::softmax_row.
bool softmax_rows_avx512(const float* x, float* y, int64_t d, int64_t begin, int64_t end);

}  // namespace nkd::ops::detail
