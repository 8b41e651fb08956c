// The distiller: loss terms by name and in the reference's order, KD's (1 - alpha) CE scaling, the
// teacher's mode and frozen parameters, mmcls checkpoint names, and teacher-checkpoint errors.
#include <gtest/gtest.h>

#include "train/distiller.h"
#include "engine/check.h"
#include "engine/factory.h"
#include "losses/losses.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::TempDir;

RunConfig make_config(const TempDir& dir, const std::string& extra) {
  testing::write_text(dir / "c.toml",
                      "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\n"
                      "small_input = true\nwidth = 0.125\n[model.teacher]\nnet = \"resnet18\"\nsmall_input = true\n"
                      "width = 0.125\ncheckpoint = \"" + dir / "t.safetensors" + "\"\n"
                      "[data]\ntype = \"fashion_mnist\"\nroot = \"" + dir.path + "\"\n"
                      "[data.train]\ntype = \"pad_crop_flip\"\n[data.val]\ntype = \"center\"\n"
                      "[lr]\npolicy = \"cosine\"\n" + extra);
  Config c = Config::load(dir / "c.toml");
  return parse_run_config(c, ConfigUse::kTrain);
}

std::vector<std::string> names(const StepOutput& out) {
  std::vector<std::string> n;
  for (const auto& [k, v] : out.losses) n.push_back(k);
  return n;
}

TEST(Distiller, LossTermsTeacherModeAndNames) {
  TempDir dir;
  auto teacher =
      nets::build_net("resnet18", {.num_classes = 10, .in_channels = 1, .width = 0.125, .small_input = true}, 7);
  io::save_safetensors(dir / "t.safetensors", teacher->state_dict());
  Generator gen(3);
  const Tensor x = randn({4, 1, 28, 28}, gen);
  const Tensor y = from_vector<int64_t>({1, 2, 3, 4}, {4});

  Distiller kd(make_config(dir, "[distill.kd]\nalpha = 0.9\n[distill.nkd]\n[distill]\nteacher_mode = \"eval\"\n"), 0);
  kd.set_train_mode();
  EXPECT_TRUE(kd.student().is_training());
  for (auto& [n, m] : kd.named_modules())
    if (n == "teacher") {
      EXPECT_FALSE(m->is_training());
    }
  const StepOutput a = kd.forward_train(x, y, Tensor());
  EXPECT_EQ(names(a), (std::vector<std::string>{"ori_loss", "loss_kd", "loss_nkd"}));
  const double ce = losses::cross_entropy(kd.student().forward(x), y).item();
  EXPECT_NEAR(a.losses[0].second.item(), 0.1 * ce, 1e-5);
  EXPECT_NEAR(a.total.item(),
              a.losses[0].second.item() + a.losses[1].second.item() + a.losses[2].second.item(), 1e-5);
  bool teacher_frozen = true;
  for (const auto& [n, p] : kd.named_parameters())
    if (n.rfind("teacher.", 0) == 0) teacher_frozen &= !p.requires_grad();
  EXPECT_TRUE(teacher_frozen);
  for (const auto& [n, p] : kd.trainable_parameters()) EXPECT_EQ(n.rfind("student.", 0), 0u) << n;
  EXPECT_EQ(kd.model_state().front().first, "student.backbone.conv1.weight");

  Distiller published(make_config(dir, "[distill.nkd]\n"), 0);  // teacher_mode defaults to train
  published.set_train_mode();
  bool all_train = true;
  for (auto& [n, m] : published.named_modules()) all_train &= m->is_training();
  EXPECT_TRUE(all_train);

  Distiller tf(make_config(dir, "[distill]\ntf_nkd = true\n[distill.uskd]\n"), 0);
  EXPECT_FALSE(tf.has_teacher());
  const Tensor soft = from_vector<float>(std::vector<float>(40, 0.1f), {4, 10});
  EXPECT_EQ(names(tf.forward_train(x, y, soft)),
            (std::vector<std::string>{"ori_loss", "loss_uskd", "loss_tf_nkd0", "loss_tf_nkd1"}));
  EXPECT_EQ(tf.model_state().back().first, "distill_losses.loss_uskd.fc.bias");

  Distiller plain(make_config(dir, ""), 0);
  EXPECT_TRUE(plain.plain());
  EXPECT_EQ(plain.model_state().front().first, "backbone.conv1.weight");
}

TEST(Distiller, TeacherCheckpointOfAnotherNetIsRejected) {
  TempDir dir;
  auto wide =
      nets::build_net("resnet18", {.num_classes = 10, .in_channels = 1, .width = 0.25, .small_input = true}, 7);
  io::save_safetensors(dir / "t.safetensors", wide->state_dict());
  try {
    Distiller d(make_config(dir, "[distill.nkd]\n"), 0);
    ADD_FAILURE() << "a teacher checkpoint of another width was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit the configured net"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nkd::train
