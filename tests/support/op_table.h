// The op table: every engine op registers cases here (tests/engine/ops/*_cases.cpp), and
// tests/engine/test_op_table.cpp runs each case through every mode:
//   gradcheck      F64 central differences on random inputs
//   accumulate     two backward passes through one graph give exactly twice the gradients
//   reference      forward values against an independent reference (naive loops), F64 and F32
//   parity         forward and backward against PyTorch (label `parity`, tests/parity/)
// Odd shapes (batch 1, odd H/W, stride 2, groups > 1, dilation 2, C = 2) are separate cases.
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "tests/support/gradcheck.h"

namespace nkd::testing {

enum class InputKind {
  Normal,    // N(0, 1)
  Positive,  // U(0.5, 2): denominators, log, sqrt
  Kinkless,  // N(0, 1) moved at least 0.05 away from 0 and 6 (relu, relu6 kinks)
  Distinct,  // a random permutation of a spaced grid: no ties for max / max-pool
  Index,     // I64 uniform in [0, high); never differentiable
};

struct InputSpec {
  Shape shape;
  InputKind kind = InputKind::Normal;
  bool differentiable = true;
  int64_t high = 0;  // Index: exclusive upper bound
};

struct OpCase {
  std::string op;    // op family as named in the coverage list ("conv2d")
  std::string name;  // unique case name ("conv2d/stride2_groups2")
  std::vector<InputSpec> inputs;
  OpFn fn;           // the op under test (must be deterministic: seed any RNG inside)
  OpFn reference;    // independent forward reference on the same inputs; null if none
  // PyTorch expression over x0, x1, ... (torch, F = torch.nn.functional available); its value is a
  // tensor or a tuple of tensors matching fn's outputs. Empty: no PyTorch equivalent.
  std::string torch;
  double atol = 1e-6, rtol = 1e-5;        // F64 checks (gradcheck, reference, parity)
  double atol32 = 1e-5, rtol32 = 1e-4;    // F32 reference check
  double eps = 1e-6;                      // gradcheck step
  bool check_f32 = true;                  // run the F32 reference check
};

std::vector<OpCase>& op_cases();
inline void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

// Registers cases at static-initialisation time: NKD_OP_CASES(conv) { add({...}); ... }
struct OpCaseRegistrar {
  explicit OpCaseRegistrar(void (*fn)(std::vector<OpCase>&)) { fn(op_cases()); }
};
#define NKD_OP_CASES(tag)                                                    \
  static void nkd_op_cases_##tag(std::vector<::nkd::testing::OpCase>& cases); \
  static const ::nkd::testing::OpCaseRegistrar nkd_op_registrar_##tag(nkd_op_cases_##tag); \
  static void nkd_op_cases_##tag(std::vector<::nkd::testing::OpCase>& cases)

// Deterministic inputs for a case (seeded by the case name), in `dtype` for floating inputs.
std::vector<Tensor> make_inputs(const OpCase& c, DType dtype, bool requires_grad);

}  // namespace nkd::testing
