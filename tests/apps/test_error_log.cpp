// Errors where the user looks (issue 14): a failing run's fatal error is in its work dir's log, both
// before the log is opened (a config error) and after (a teacher checkpoint that does not fit), and
// a checkpoint error names the role and the file.
#include <gtest/gtest.h>

#include "nets/classifier.h"
#include "nets/torchvision_names.h"
#include "io/pth.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

std::string logs_of(const std::string& work_dir) {
  std::string all;
  if (!std::filesystem::is_directory(work_dir)) return all;
  for (const std::string& f : testing::names_in(work_dir, "2"))
    if (f.ends_with(".log")) all += testing::read_text(work_dir + "/" + f);
  return all;
}

TEST(ErrorLog, AFailingRunsLogHoldsItsError) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "fm", 40, 20);
  const std::string distill = std::string(NKD_DISTILL_BIN) + " " + NKD_SOURCE_DIR +
                              "/configs/fashion_mnist/student_nkd.toml --device cpu --set runner.epochs=1";
  std::string out;
  // A config error, before the run's log exists, in an existing work dir (a rerun): a log holds it.
  std::filesystem::create_directories(dir / "a");
  const std::string ce = std::string(NKD_DISTILL_BIN) + " " + NKD_SOURCE_DIR + "/configs/fashion_mnist/student_ce.toml";
  EXPECT_EQ(run(ce + " --device cpu --work-dir " + dir / "a --set data.root=" + dir / "nowhere", &out), 1) << out;
  std::string log = logs_of(dir / "a");
  EXPECT_NE(log.find("nkd_distill: error: "), std::string::npos) << log;
  EXPECT_NE(log.find("nowhere"), std::string::npos) << log;
  // A teacher checkpoint in torchvision resnet names for a mobilenet_v2 teacher: the message names
  // the role and the file, and is in the run's log.
  const auto r18 = nets::build_net("resnet18", {.num_classes = 10, .in_channels = 1, .width = 0.25, .small_input = true}, 1);
  io::save_pth(dir / "teacher.pth", nets::to_torchvision("resnet18", r18->state_dict()));
  EXPECT_EQ(run(distill + " --work-dir " + dir / "b --set data.root=" + dir / "fm --set model.teacher.net=mobilenet_v2" +
                    " --set model.teacher.checkpoint=" + dir / "teacher.pth", &out), 1) << out;
  const std::string expect = "teacher checkpoint '" + dir / "teacher.pth" + "'";
  EXPECT_NE(out.find(expect), std::string::npos) << out;
  log = logs_of(dir / "b");
  EXPECT_NE(log.find("nkd_distill: error: " + expect), std::string::npos) << log;
  // nkd_eval with --work-dir: the same, the role "eval".
  EXPECT_EQ(run(std::string(NKD_EVAL_BIN) + " " + NKD_SOURCE_DIR + "/configs/fashion_mnist/student_nkd.toml " +
                    dir / "teacher.pth --device cpu --work-dir " + dir / "c --set data.root=" + dir / "fm" +
                    " --set model.student.net=mobilenet_v2", &out), 1) << out;
  EXPECT_NE(logs_of(dir / "c").find("eval checkpoint '" + dir / "teacher.pth" + "'"), std::string::npos)
      << out << logs_of(dir / "c");
}

}  // namespace
}  // namespace nkd::train
