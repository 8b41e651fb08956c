// A whole training step on the GPU against the same step on the CPU (label gpu): conv, batch norm
// (training), relu, max pool, conv stride 2, batch norm, relu, global average pool, linear,
// log-softmax cross entropy, backward, SGD with momentum and weight decay; three steps, F32.
// The loss of every step, every gradient and every parameter after the last step must agree.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/cuda/math_mode.h"
#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/norm.h"
#include "engine/ops/pool.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/softmax.h"
#include "engine/optim/optimizer.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/support/compare.h"

namespace nkd::testing {
namespace {

struct TinyNet {
  // conv1 3->8 3x3, bn1, conv2 8->16 3x3/2, bn2, fc 16->5
  std::vector<Tensor> params;   // conv1.w conv1.b bn1.w bn1.b conv2.w bn2.w bn2.b fc.w fc.b
  std::vector<Tensor> buffers;  // bn1 mean/var, bn2 mean/var

  TinyNet to(Device d) const {
    TinyNet t;
    for (const Tensor& p : params) t.params.push_back(p.detach().clone().to(d).set_requires_grad(true));
    for (const Tensor& b : buffers) t.buffers.push_back(b.detach().to(d).clone());
    return t;
  }

  Tensor loss(const Tensor& x, const Tensor& labels) const {
    const auto& p = params;
    Tensor h = ops::conv2d(x, p[0], p[1], {.padding = 1});
    h = ops::relu(ops::batch_norm(h, p[2], p[3], buffers[0], buffers[1], {.training = true}));
    h = ops::max_pool2d(h, {.kernel = {2, 2}});
    h = ops::conv2d(h, p[4], Tensor(), {.stride = 2, .padding = 1});
    h = ops::relu(ops::batch_norm(h, p[5], p[6], buffers[2], buffers[3], {.training = true}));
    const Tensor logits = ops::linear(ops::global_avg_pool(h), p[7], p[8]);
    return ops::neg(ops::mean(ops::gather(ops::log_softmax(logits, 1), 1, labels)));
  }
};

TinyNet make_net() {
  Generator gen(11);
  TinyNet n;
  n.params = {randn({8, 3, 3, 3}, gen), randn({8}, gen),  uniform({8}, 0.5, 1.5, gen), randn({8}, gen),
              randn({16, 8, 3, 3}, gen), uniform({16}, 0.5, 1.5, gen), randn({16}, gen),
              randn({5, 16}, gen),     randn({5}, gen)};
  n.buffers = {zeros({8}), ones({8}), zeros({16}), ones({16})};
  return n;
}

TEST(CudaTrainStep, ThreeSgdStepsMatchTheCpu) {
  NKD_REQUIRE_CUDA();
  const cuda::ExactConvGuard exact(true);  // compared with the CPU: no FFT / Winograd
  const TinyNet base = make_net();
  TinyNet cpu = base.to(kCPU), gpu_net = base.to(gpu());
  optim::Sgd cpu_sgd({{cpu.params}}, {.momentum = 0.9, .weight_decay = 1e-4});
  optim::Sgd gpu_sgd({{gpu_net.params}}, {.momentum = 0.9, .weight_decay = 1e-4});
  Generator gen(5);
  for (int step = 0; step < 3; ++step) {
    const Tensor x = randn({4, 3, 12, 12}, gen);
    const Tensor labels = from_vector<int64_t>({1, 4, 0, 2}, {4, 1});
    cpu_sgd.zero_grad();
    gpu_sgd.zero_grad();
    const Tensor cpu_loss = cpu.loss(x, labels);
    const Tensor gpu_loss = gpu_net.loss(x.to(gpu()), labels.to(gpu()));
    ASSERT_TRUE(gpu_loss.is_cuda());
    cpu_loss.backward();
    gpu_loss.backward();
    const std::string at = "step " + std::to_string(step);
    EXPECT_TRUE(all_close(gpu_loss, cpu_loss, 1e-5, 1e-5, at + " loss"));
    for (size_t i = 0; i < cpu.params.size(); ++i) {
      ASSERT_TRUE(gpu_net.params[i].grad().defined()) << at << " param " << i;
      EXPECT_TRUE(gpu_net.params[i].grad().is_cuda());
      EXPECT_TRUE(all_close(gpu_net.params[i].grad(), cpu.params[i].grad(), 1e-4, 1e-3,
                            at + " grad of param " + std::to_string(i)));
    }
    cpu_sgd.step(0.05);
    gpu_sgd.step(0.05);
  }
  for (size_t i = 0; i < cpu.params.size(); ++i)
    EXPECT_TRUE(all_close(gpu_net.params[i], cpu.params[i], 1e-4, 1e-4, "param " + std::to_string(i)));
  for (size_t i = 0; i < cpu.buffers.size(); ++i)
    EXPECT_TRUE(all_close(gpu_net.buffers[i], cpu.buffers[i], 1e-5, 1e-5, "buffer " + std::to_string(i)));
}

}  // namespace
}  // namespace nkd::testing
