// The NCCL backend with world size 1 (label gpu; skipped without a GPU): the collectives on a CUDA
// tensor, the reducer's averaged gradients on the GPU equal plain backward gradients, and the
// trainer's one-step-late stop agreement.
#include <sstream>

#include <gtest/gtest.h>

#include "train/distributed.h"
#include "engine/cuda/context.h"
#include "engine/cuda/device.h"
#include "engine/dist/reducer.h"
#include "engine/factory.h"
#include "nets/classifier.h"
#include "tests/dist/tiny_net.h"

namespace nkd::dist {
namespace {

#define NKD_REQUIRE_GPU()                                                                 \
  do {                                                                                    \
    if (!cuda::is_available()) GTEST_SKIP() << "no GPU: " << cuda::unavailable_reason(); \
  } while (0)

LaunchEnv single() { return LaunchEnv{}; }  // world 1: the unique id is made locally

TEST(DistNccl, WorldSizeOneCollectives) {
  NKD_REQUIRE_GPU();
  auto comm = make_communicator(single(), cuda_device(0));
  EXPECT_STREQ(comm->backend(), "nccl");
  EXPECT_EQ(comm->world_size(), 1);
  const Tensor t = from_vector<float>({1, 2, 3, 4}, {4}, cuda_device(0));
  comm->all_reduce(t, ReduceOp::kAvg);
  comm->all_reduce(t, ReduceOp::kSum);
  comm->broadcast(t, 0);
  EXPECT_EQ(to_vector<float>(t.to(kCPU)), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(comm->all_gather({2.5, -1}), (std::vector<double>{2.5, -1}));
  EXPECT_EQ(comm->all_reduce_values({3, 4}, ReduceOp::kAvg), (std::vector<double>{3, 4}));
  comm->barrier();
}

// The trainer's stop agreement over NCCL: each call answers the previous call's flag, and the last
// collective still in flight is waited for when the DataParallel goes.
TEST(DistNccl, WorldSizeOneStopAgreedOneStepLate) {
  NKD_REQUIRE_GPU();
  auto comm = make_communicator(single(), cuda_device(0));
  const testing::TinyNet net(3);
  std::vector<Tensor> params;
  for (const Tensor& p : net.params()) params.push_back(p.detach().to(cuda_device(0)).set_requires_grad(true));
  {
    train::DataParallel dp(*comm, params, params);
    EXPECT_FALSE(dp.stop_agreed(false));
    EXPECT_FALSE(dp.stop_agreed(true));  // answers the previous step's false
    EXPECT_TRUE(dp.stop_agreed(false));  // the previous step's true
    EXPECT_FALSE(dp.stop_agreed(true));
  }
  comm->barrier();
}

TEST(DistNccl, WorldSizeOneReducerMatchesPlainBackward) {
  NKD_REQUIRE_GPU();
  auto comm = make_communicator(single(), cuda_device(0));
  testing::TinyNet a(5), b(5);
  a.to(cuda_device(0));
  b.to(cuda_device(0));
  auto [x, y] = testing::synthetic_batch(8, 1);
  const Tensor xg = x.to(cuda_device(0)), yg = y.to(cuda_device(0));
  a.loss(xg, yg).backward();
  broadcast_tensors(*comm, b.params());
  Reducer r(*comm, b.params(), ReducerOptions{.bucket_bytes = 100, .first_bucket_bytes = 16});
  for (int step = 0; step < 3; ++step) {
    for (const Tensor& p : b.params()) p.zero_grad();
    b.loss(xg, yg).backward();
    r.finalize();
  }
  EXPECT_GE(r.buckets().size(), 3u);
  EXPECT_EQ(r.launched_during_backward(), int64_t(r.buckets().size()));
  for (size_t i = 0; i < a.params().size(); ++i) {
    const auto ga = to_vector<float>(a.params()[i].grad().to(kCPU));
    const auto gb = to_vector<float>(b.params()[i].grad().to(kCPU));
    ASSERT_EQ(ga.size(), gb.size());
    for (size_t j = 0; j < ga.size(); ++j) EXPECT_EQ(ga[j], gb[j]) << "param " << i << " element " << j;
  }
}

// The measurement docs/SCALING.md asks for: one H100, batch 32 at 224 px, FP32, world size 1 (the same
// reducer and NCCL path as 8 GPUs): when each gradient bucket becomes ready after backward starts.
TEST(DistNccl, BackwardTimePerBucket) {
  NKD_REQUIRE_GPU();
  const Device dev = cuda_device(0);
  auto comm = make_communicator(single(), dev);
  const cudaStream_t stream = cuda::context(0).compute_stream();
  for (const char* name : {"resnet50", "swin_tiny"}) {
    auto net = nets::build_net(name, nets::NetOptions{}, 0);
    net->to(dev);
    net->train();
    Generator gen(1);
    const Tensor x = randn({32, 3, 224, 224}, gen).to(dev);
    std::vector<int64_t> labels(32);
    for (int64_t i = 0; i < 32; ++i) labels[size_t(i)] = i * 31 % 1000;
    const Tensor y = from_vector(labels, {32}).to(dev);
    Reducer r(*comm, net->parameters());
    std::vector<cuda::Event> ready;
    r.set_launch_observer([&](size_t) {
      ready.emplace_back(true);
      ready.back().record(stream);
    });
    cuda::Event start(true), fwd(true), end(true);
    for (int it = 0; it < 4; ++it) {  // 3 warm-up steps (cuDNN algorithm search), then the measured one
      ready.clear();
      for (const Tensor& p : net->parameters()) p.zero_grad();
      start.record(stream);
      const Tensor loss = losses::cross_entropy(net->forward(x), y);
      fwd.record(stream);
      loss.backward();
      r.finalize();
      end.record(stream);
      end.synchronize();
    }
    std::ostringstream os;
    os.precision(2);
    os << std::fixed << name << " batch 32 on " << dev.str() << ": forward " << fwd.elapsed_ms(start)
       << " ms, backward+reduce " << end.elapsed_ms(fwd) << " ms; buckets ready at (ms after backward start):";
    for (size_t b = 0; b < ready.size(); ++b)
      os << " " << double(r.buckets()[b].bytes) / 1e6 << " MB @ " << ready[b].elapsed_ms(fwd);
    std::cout << os.str() << std::endl;
    EXPECT_EQ(ready.size(), r.buckets().size());
  }
}

}  // namespace
}  // namespace nkd::dist
