// Forward/backward on a small input for every CNN (small_input, reduced width, batch 2): output
// shapes, a finite gradient for every parameter; and a small net overfitting one batch with SGD.
#include <gtest/gtest.h>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/optim/optimizer.h"
#include "nets/classifier.h"
#include "tests/nets/net_test_util.h"

namespace nkd::nets {
namespace {

const char* const kCnns[] = {"resnet18", "resnet34", "resnet50", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2"};

TEST(NetsTrain, ForwardBackwardSmallInput) {
  for (const char* name : kCnns) {
    SCOPED_TRACE(name);
    const auto net = build_net(name, {.num_classes = 7, .width = 0.25, .small_input = true}, 3);
    Generator gen(1);
    const Tensor x = randn({2, 3, 16, 16}, gen);
    const Tensor labels = from_vector<int64_t>({1, 6}, {2});
    const ClassifierOutput out = net->forward_with_mid(x);
    EXPECT_EQ(out.logits.shape(), (Shape{2, 7}));
    EXPECT_EQ(out.mid_feature.shape(), (Shape{2, net->backbone().mid_channels()}));
    const Tensor loss = testing::cross_entropy(out.logits, labels);
    ASSERT_TRUE(testing::all_finite(loss));
    loss.backward();
    for (const auto& [pname, p] : net->named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << pname;
      EXPECT_EQ(p.grad().shape(), p.shape()) << pname;
      EXPECT_TRUE(testing::all_finite(p.grad())) << pname;
    }
  }
}

// 8 random 16x16 images with random labels: a quarter-width ResNet-18 (CIFAR stem) reaches 100%
// training accuracy with plain SGD well within 40 steps.
TEST(NetsTrain, OverfitsOneBatch) {
  const auto net = build_net("resnet18", {.num_classes = 10, .width = 0.25, .small_input = true}, 7);
  Generator gen(2);
  const Tensor x = randn({8, 3, 16, 16}, gen);
  const Tensor labels = from_vector<int64_t>({3, 1, 4, 1, 5, 9, 2, 6}, {8});
  optim::Sgd sgd({{net->parameters()}}, {.momentum = 0.9});
  double first_loss = 0, loss_value = 0, accuracy = 0;
  int step = 0;
  for (; step < 40 && accuracy < 1.0; ++step) {
    sgd.zero_grad();
    const Tensor logits = net->forward(x);
    const Tensor loss = testing::cross_entropy(logits, labels);
    loss_value = loss.item();
    if (step == 0) first_loss = loss_value;
    loss.backward();
    sgd.step(0.05);
    const std::vector<int64_t> pred = to_vector<int64_t>(ops::argmax(logits.detach(), 1));
    const std::vector<int64_t> truth = to_vector<int64_t>(labels);
    int correct = 0;
    for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
    accuracy = correct / 8.0;
  }
  std::printf("[ overfit ] resnet18 x0.25: loss %.4f -> %.4f, accuracy %.0f%% after %d steps\n", first_loss,
              loss_value, 100 * accuracy, step);
  EXPECT_EQ(accuracy, 1.0);
  EXPECT_LT(loss_value, 0.5 * first_loss);
}

}  // namespace
}  // namespace nkd::nets
