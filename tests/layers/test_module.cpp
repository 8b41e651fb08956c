// Module: names and order of parameters and buffers, state_dict load reports, train/eval.
#include <gtest/gtest.h>

#include "engine/factory.h"
#include "layers/module.h"

namespace nkd::layers {
namespace {

class Leaf : public Module {
 public:
  Leaf() {
    w = register_parameter("weight", zeros({2, 3}));
    b = register_parameter("bias", zeros({2}));
    n = register_buffer("num_batches_tracked", zeros({}, {DType::I64}));
  }
  Tensor w, b, n;
};

class Tree : public Module {
 public:
  Tree() {
    a = register_module("a", std::make_shared<Leaf>());
    head = register_module("head", std::make_shared<Leaf>());
  }
  std::shared_ptr<Leaf> a, head;
};

TEST(Module, NamesFollowRegistrationOrder) {
  Tree t;
  std::vector<std::string> names;
  for (auto& [n, x] : t.state_dict()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"a.weight", "a.bias", "a.num_batches_tracked",
                                             "head.weight", "head.bias", "head.num_batches_tracked"}));
  EXPECT_EQ(t.num_parameters(), 16);
  EXPECT_EQ(t.parameters().size(), 4u);
  EXPECT_TRUE(t.parameters()[0].requires_grad());
}

TEST(Module, LoadStateDictCopiesAndReports) {
  Tree t;
  NamedTensors sd = {{"a.weight", full({2, 3}, 1.5)},
                     {"a.bias", full({3}, 2.0)},           // shape mismatch
                     {"a.num_batches_tracked", full({}, 4, {DType::I64})},
                     {"extra", zeros({1})}};
  EXPECT_THROW(t.load_state_dict(sd, true), Error);
  const LoadReport r = t.load_state_dict(sd, false);
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"extra"});
  EXPECT_EQ(r.missing, (std::vector<std::string>{"head.weight", "head.bias", "head.num_batches_tracked"}));
  ASSERT_EQ(r.mismatched.size(), 1u);
  EXPECT_NE(r.mismatched[0].find("a.bias: checkpoint [3] vs module [2]"), std::string::npos);
  EXPECT_EQ(to_vector<float>(t.a->w), std::vector<float>(6, 1.5f));
  EXPECT_EQ(to_vector<int64_t>(t.a->n), std::vector<int64_t>{4});
  // The parameter handle is unchanged (optimizers keep theirs) and still requires grad.
  EXPECT_TRUE(t.a->w.requires_grad());
}

TEST(Module, TrainEvalPropagates) {
  Tree t;
  t.eval();
  EXPECT_FALSE(t.is_training());
  EXPECT_FALSE(t.a->is_training());
  t.train();
  EXPECT_TRUE(t.head->is_training());
}

}  // namespace
}  // namespace nkd::layers
