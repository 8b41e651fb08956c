// GPU-vs-CPU parity over the op table (label gpu): every case runs in F32 on the CPU and on the
// GPU, and outputs and input gradients must agree within the case's F32 tolerances. A new op's
// cases join by themselves (the op table is the registry).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "engine/autograd/node.h"
#include "engine/cuda/math_mode.h"
#include "engine/factory.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"
#include "tests/support/op_table.h"

namespace nkd::testing {
namespace {

// An error meaning "this op has no CUDA path yet" (require_cpu, or a CPU tensor made inside fn).
std::string missing_cuda_path(const Error& e) {
  const std::string what = e.what();
  if (what.find("not implemented for cuda") != std::string::npos) return "not implemented for cuda";
  if (what.find("tensors on different devices") != std::string::npos)
    return "mixes CPU and CUDA tensors";
  return "";
}

std::vector<Tensor> gpu_inputs(const OpCase& c) {
  std::vector<Tensor> out;
  const std::vector<Tensor> host = make_inputs(c, DType::F32, true);
  for (const Tensor& h : host) {
    Tensor g = h.detach().to(gpu());
    if (h.requires_grad()) g.set_requires_grad(true);
    out.push_back(g);
  }
  return out;
}

// Backward of sum_k <c_k, out_k> with the cotangents on the outputs' device and dtype.
void backward_with(const std::vector<Tensor>& outs, const std::vector<Tensor>& cot64) {
  std::vector<Tensor> roots, grads;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!cot64[k].defined() || !outs[k].requires_grad()) continue;
    roots.push_back(outs[k]);
    grads.push_back(cot64[k].to(outs[k].dtype()).to(outs[k].device()));
  }
  if (!roots.empty()) run_backward(roots, grads, false);
}

class CudaParity : public ::testing::TestWithParam<OpCase> {};

std::string param_name(const ::testing::TestParamInfo<OpCase>& info) {
  std::string s = info.param.name;
  std::replace_if(
      s.begin(), s.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
  return s;
}

TEST_P(CudaParity, ForwardAndBackward) {
  NKD_REQUIRE_CUDA();
  const cuda::ExactConvGuard exact(true);  // compared with the CPU at 1e-4: no FFT / Winograd
  const OpCase& c = GetParam();
  const std::vector<Tensor> cpu_in = make_inputs(c, DType::F32, true);
  const std::vector<Tensor> gpu_in = gpu_inputs(c);
  const std::vector<Tensor> cpu_out = c.fn(cpu_in);
  std::vector<Tensor> gpu_out;
  const std::vector<Tensor> cot = random_cotangents(cpu_out, 7);
  try {
    gpu_out = c.fn(gpu_in);
    backward_with(gpu_out, cot);
  } catch (const Error& e) {
    const std::string why = missing_cuda_path(e);
    if (why.empty()) throw;
    GTEST_SKIP() << "op " << c.op << ": " << why << " (" << e.what() << ")";
  }
  backward_with(cpu_out, cot);
  ASSERT_EQ(gpu_out.size(), cpu_out.size()) << c.name;
  for (size_t k = 0; k < cpu_out.size(); ++k) {
    EXPECT_TRUE(gpu_out[k].is_cuda()) << c.name << " output " << k << " left the GPU";
    EXPECT_EQ(gpu_out[k].dtype(), cpu_out[k].dtype()) << c.name;
    EXPECT_TRUE(all_close(gpu_out[k], cpu_out[k], c.atol32, c.rtol32,
                          c.name + " output " + std::to_string(k)));
  }
  for (size_t j = 0; j < cpu_in.size(); ++j) {
    const Tensor& gg = gpu_in[j].grad();
    if (!cpu_in[j].grad().defined()) continue;
    ASSERT_TRUE(gg.defined()) << c.name << " input " << j << ": no gradient on the GPU";
    EXPECT_TRUE(gg.is_cuda()) << c.name << " input " << j << ": gradient left the GPU";
    EXPECT_TRUE(all_close(gg, cpu_in[j].grad(), c.atol32, c.rtol32,
                          c.name + " grad of input " + std::to_string(j)));
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaParity, ::testing::ValuesIn(op_cases()), param_name);

// Every op of the op table runs on the GPU: the GPU side of an op is compiled with it (a functor
// missing from its family's list is a link error of the CUDA build), so an op without a CUDA path
// fails here with its name.
TEST(CudaCoverage, BackendOpsRunOnGpu) {
  NKD_REQUIRE_CUDA();
  std::map<std::string, std::string> missing;  // op -> first error
  std::set<std::string> ran;
  for (const OpCase& c : op_cases()) {
    try {
      (void)c.fn(gpu_inputs(c));
      ran.insert(c.op);
    } catch (const Error& e) {
      if (missing_cuda_path(e).empty()) throw;
      missing.emplace(c.op, e.what());
    }
  }
  for (const auto& [op, why] : missing) ADD_FAILURE() << op << " should run on the GPU: " << why;
  std::cout << "[ CUDA    ] " << ran.size() << " op families run on the GPU\n";
  EXPECT_FALSE(ran.empty());
}

}  // namespace
}  // namespace nkd::testing
