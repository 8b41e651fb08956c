// Matrix products on the GPU: cublasGemmEx / cublasGemmStridedBatchedEx (64-bit API) for matmul,
// bmm and linear without bias; cuBLASLt with the bias epilogue for linear with bias (F32, BF16).
// BF16 operands are multiplied with F32 accumulation (CUBLAS_COMPUTE_32F, float alpha / beta) and
// the result rounded once to BF16. cuBLAS
// is column-major: a row-major C [m, n] is the column-major C^T [n, m] = B^T A^T, so b is passed
// first, and a row-major operand is read as its column-major transpose (trans flags swap roles).
#include <cublasLt.h>
#include <cublas_v2.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "engine/cuda/allocator.h"
#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/dtype.h"
#include "engine/cuda/math_mode.h"
#include "engine/ops/detail/matmul_cuda.h"

namespace nkd::ops::gpu {
namespace {

template <typename T>
constexpr cudaDataType_t kDataType = std::is_same_v<T, float>  ? CUDA_R_32F
                                     : std::is_same_v<T, bf16> ? CUDA_R_16BF
                                                               : CUDA_R_64F;

// Exact F32 unless TF32 is allowed; F32 accumulation for bf16; F64 for double.
template <typename T>
cublasComputeType_t compute_type() {
  if constexpr (std::is_same_v<T, float>) {
    return cuda::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  } else if constexpr (std::is_same_v<T, bf16>) {
    return CUBLAS_COMPUTE_32F;
  } else {
    return CUBLAS_COMPUTE_64F;
  }
}

cublasOperation_t op_of(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Move-only owners of the cuBLASLt descriptors (destroy statuses are ignored: nothing to do).
struct DescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { (void)cublasLtMatmulDescDestroy(d); }
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const { (void)cublasLtMatrixLayoutDestroy(l); }
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const {
    (void)cublasLtMatmulPreferenceDestroy(p);
  }
};
using MatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter>;
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, DescDeleter>;
using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, DescDeleter>;

// Column-major rows x cols with leading dim ld.
Layout make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t l = nullptr;
  NKD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, static_cast<uint64_t>(rows),
                                              static_cast<uint64_t>(cols), ld));
  return Layout(l);
}

template <typename V>
void set_desc(const MatmulDesc& d, cublasLtMatmulDescAttributes_t attr, const V& value) {
  NKD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.get(), attr, &value, sizeof(value)));
}
template <typename V>
void set_pref(const Preference& p, cublasLtMatmulPreferenceAttributes_t attr, const V& value) {
  NKD_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p.get(), attr, &value, sizeof(value)));
}

// The largest power of two (at most 256) dividing the address: what the heuristic may assume.
uint32_t alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && a % al != 0) al /= 2;
  return al;
}

// Device memory from the engine allocator, freed in stream order when the scope ends.
class Scratch {
 public:
  Scratch(size_t bytes, Device device) : device_(device), ptr_(cuda::allocate(bytes, device)) {}
  ~Scratch() { cuda::deallocate(ptr_, device_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* data() const { return ptr_; }

 private:
  Device device_;
  void* ptr_;
};

constexpr uint64_t kLtMaxWorkspace = uint64_t{32} << 20;

// An unexpected refusal of the bias epilogue: reported once on stderr (so a GPU log shows it),
// then linear falls back to GEMM + bias fill. Returns false for the caller to pass on.
bool warn_lt_declined(const char* call, cublasStatus_t status) {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    cuda::detail::warn_gpu_error(call, static_cast<int>(status), cublasGetStatusString(status), __FILE__,
                                 __LINE__);
  return false;
}

}  // namespace

template <typename T>
void gemm(Device device, const GemmOperand& a, const GemmOperand& b, T* c, int64_t m, int64_t n,
          int64_t k, int64_t batch, double alpha, double beta) {
  const cuda::DeviceGuard guard(device.index);
  cublasHandle_t handle = cuda::context(device.index).cublas();
  // The scale type is the compute type: float for F32 and BF16, double for F64.
  using S = compute_t<T>;
  const S al = static_cast<S>(alpha), be = static_cast<S>(beta);
  const cudaDataType_t dt = kDataType<T>;
  // Column-major C^T [n, m] = op(b) [n, k] @ op(a) [k, m].
  if (batch == 1) {
    NKD_CUBLAS_CHECK(cublasGemmEx_64(handle, op_of(b.trans), op_of(a.trans), n, m, k, &al, b.data,
                                     dt, b.ld, a.data, dt, a.ld, &be, c, dt, n, compute_type<T>(),
                                     CUBLAS_GEMM_DEFAULT));
    return;
  }
  NKD_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(
      handle, op_of(b.trans), op_of(a.trans), n, m, k, &al, b.data, dt, b.ld, b.batch_stride,
      a.data, dt, a.ld, a.batch_stride, &be, c, dt, n, m * n, batch, compute_type<T>(),
      CUBLAS_GEMM_DEFAULT));
}

// Column-major D [out, rows] = op(W) [out, in] @ X^T [in, rows] + bias [out] (broadcast over the
// columns): W row-major [out, in] is column-major [in, out] and needs op T; a column-major W
// (w.trans) is [out, in] already.
template <typename T>
bool linear_bias(Device device, const T* x, const GemmOperand& w, const T* bias, T* y, int64_t rows,
                 int64_t in, int64_t out) {
  if constexpr (std::is_same_v<T, double>) {
    return false;  // the F64 bias epilogue is not offered by cuBLASLt: GEMM + bias fill instead
  } else {
    const cudaDataType_t dt = kDataType<T>;  // F32, or BF16 with F32 accumulation and scale
    const cuda::DeviceGuard guard(device.index);
    cuda::Context& ctx = cuda::context(device.index);
    // A cublasHandle_t is a valid cublasLtHandle_t (cuBLAS documentation, cublasLtHandle_t).
    cublasLtHandle_t lt = reinterpret_cast<cublasLtHandle_t>(ctx.cublas());
    cublasLtMatmulDesc_t raw_desc = nullptr;
    NKD_CUBLAS_CHECK(cublasLtMatmulDescCreate(&raw_desc, compute_type<T>(), CUDA_R_32F));
    const MatmulDesc desc(raw_desc);
    const int32_t op_a = w.trans ? CUBLAS_OP_N : CUBLAS_OP_T, op_b = CUBLAS_OP_N;
    const uint32_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    set_desc(desc, CUBLASLT_MATMUL_DESC_TRANSA, op_a);
    set_desc(desc, CUBLASLT_MATMUL_DESC_TRANSB, op_b);
    set_desc(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue);
    set_desc(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);  // before the heuristic: alignment
    const Layout la = w.trans ? make_layout(dt, out, in, w.ld) : make_layout(dt, in, out, w.ld);
    const Layout lb = make_layout(dt, in, rows, in);
    const Layout ly = make_layout(dt, out, rows, out);
    cublasLtMatmulPreference_t raw_pref = nullptr;
    NKD_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&raw_pref));
    const Preference pref(raw_pref);
    set_pref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, kLtMaxWorkspace);
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment_of(w.data));
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment_of(x));
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment_of(y));
    set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment_of(y));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(lt, desc.get(), la.get(), lb.get(),
                                                             ly.get(), ly.get(), pref.get(), 1,
                                                             &result, &found);
    if (hs == CUBLAS_STATUS_NOT_SUPPORTED || (hs == CUBLAS_STATUS_SUCCESS && found == 0)) return false;
    if (hs != CUBLAS_STATUS_SUCCESS) return warn_lt_declined("cublasLtMatmulAlgoGetHeuristic", hs);
    const Scratch workspace(result.workspaceSize, device);
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t ms = cublasLtMatmul(lt, desc.get(), &one, w.data, la.get(), x, lb.get(), &zero,
                                             y, ly.get(), y, ly.get(), &result.algo, workspace.data(),
                                             result.workspaceSize, ctx.compute_stream());
    if (ms == CUBLAS_STATUS_NOT_SUPPORTED) return false;
    // A configuration cuBLASLt rejects before launching anything: the GEMM path is still exact.
    if (ms == CUBLAS_STATUS_INVALID_VALUE) return warn_lt_declined("cublasLtMatmul", ms);
    NKD_CUBLAS_CHECK(ms);
    return true;
  }
}

#define NKD_INSTANTIATE_MATMUL(T, D)                                                            \
  template void gemm<T>(Device, const GemmOperand&, const GemmOperand&, T*, int64_t, int64_t,     \
                        int64_t, int64_t, double, double);                                        \
  template bool linear_bias<T>(Device, const T*, const GemmOperand&, const T*, T*, int64_t, int64_t, \
                               int64_t);
NKD_ALL_FLOAT_TYPES(NKD_INSTANTIATE_MATMUL)

}  // namespace nkd::ops::gpu
