// Config loading: _base_ inheritance and overrides, --set, and the error messages that name the
// key and the file (unknown keys, wrong types and values, missing teacher or dataset).
#include <map>

#include <gtest/gtest.h>

#include "train/run_config.h"
#include "train/trainer.h"
#include "engine/check.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::TempDir;
using testing::write_text;

std::string base_config(const std::string& data_root) {
  return "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\nsmall_input = true\n"
         "width = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"" + data_root + "\"\n"
         "[data.train]\ntype = \"pad_crop_flip\"\n[data.val]\ntype = \"center\"\n"
         "[optimizer]\nlr = 0.1\n[lr]\npolicy = \"cosine\"\n";
}

std::string error_of(Config& c, ConfigUse use = ConfigUse::kTrain) {
  try {
    parse_run_config(c, use);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Each case's text, added to base.toml in dir, fails parsing with an error that contains its
// expected part and names the file.
void expect_config_errors(const TempDir& dir, const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& [text, expect] : cases) {
    write_text(dir / "c.toml", "_base_ = \"base.toml\"\n" + text);
    Config c = Config::load(dir / "c.toml");
    const std::string e = error_of(c);
    EXPECT_NE(e.find(expect), std::string::npos) << text << " -> " << e;
    EXPECT_NE(e.find(dir / "c.toml"), std::string::npos) << e;
  }
}

TEST(Config, BaseIsInheritedAndOverriddenRelativeToTheFile) {
  TempDir dir;
  std::filesystem::create_directories(dir / "sub");
  write_text(dir / "base.toml", base_config(dir.path));
  write_text(dir / "sub/child.toml", "_base_ = \"../base.toml\"\n[optimizer]\nlr = 0.05\n");
  Config c = Config::load(dir / "sub/child.toml");
  const RunConfig r = parse_run_config(c, ConfigUse::kTrain);
  EXPECT_DOUBLE_EQ(r.optim.lr, 0.05);
  EXPECT_EQ(r.student.net, "resnet18");
  EXPECT_EQ(r.data.train.type, "pad_crop_flip");
  EXPECT_EQ(c.file_of("optimizer.lr"), dir / "sub/child.toml");
  EXPECT_EQ(c.file_of("model.student.net"), dir / "base.toml");
}

TEST(Config, SetOverridesAndDeleteReplacesATable) {
  TempDir dir;
  write_text(dir / "base.toml", base_config(dir.path) + "[distill.kd]\ntemperature = 4.0\n");
  write_text(dir / "c.toml", "_base_ = \"base.toml\"\n[distill]\n_delete_ = true\ntf_nkd = true\n");
  Config c = Config::load(dir / "c.toml");
  c.set("optimizer.lr=0.02");
  c.set("runner.epochs=3");
  const RunConfig r = parse_run_config(c, ConfigUse::kTrain);
  EXPECT_DOUBLE_EQ(r.optim.lr, 0.02);
  EXPECT_EQ(r.epochs, 3);
  EXPECT_FALSE(r.distill.has("kd"));
  EXPECT_TRUE(r.distill.has("tf_nkd"));
}

TEST(Config, UnknownKeyNamesTheKeyAndItsFile) {
  TempDir dir;
  write_text(dir / "base.toml", base_config(dir.path) + "[runner]\nepochz = 3\n");
  write_text(dir / "c.toml", "_base_ = \"base.toml\"\n[optimizer]\nmomentun = 0.9\n");
  Config c = Config::load(dir / "c.toml");
  const std::string e = error_of(c);
  EXPECT_NE(e.find("'optimizer.momentun'"), std::string::npos) << e;
  EXPECT_NE(e.find(dir / "c.toml"), std::string::npos) << e;
  write_text(dir / "c2.toml", "_base_ = \"base.toml\"\n");
  Config c2 = Config::load(dir / "c2.toml");
  const std::string e2 = error_of(c2);
  EXPECT_NE(e2.find("'runner.epochz'"), std::string::npos) << e2;
  EXPECT_NE(e2.find("base.toml"), std::string::npos) << e2;
}

TEST(Config, WrongValuesNameTheKeyAndTheFile) {
  TempDir dir;
  write_text(dir / "base.toml", base_config(dir.path));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[optimizer]\nlr = \"fast\"\n", "expected a number"},
      {"[optimizer]\ntype = \"adam\"\n", "not one of: sgd, adamw"},
      {"[model.student]\nnet = \"resnet19\"\n", "unknown net 'resnet19'"},
      {"[runner]\nepochs = 0\n", "must be at least 1"},
      {"[runner]\nmax_keep_checkpoints = 0\n", "runner.max_keep_checkpoints"},
      {"[runner]\nsave_best = \"yes\"\n", "runner.save_best"},
      {"[data.train]\nflip = 2\n", "probability"},
      {"[runner]\nconv_algos = \"fastest\"\n", "'runner.conv_algos'"},
      {"[runner]\nconv_algos = \"fastest\"\n", "not one of: exact, fast"},
      {"[runner]\nconv_algos = true\n", "'runner.conv_algos'"},
  };
  expect_config_errors(dir, cases);
  write_text(dir / "bad.toml", "[optimizer\nlr = 1\n");
  try {
    Config::load(dir / "bad.toml");
    ADD_FAILURE() << "no error for a TOML syntax error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
}

// runner.conv_algos: "fast" by default, "exact" read, NKD_CONV_EXACT=1 overriding "fast"; the run's
// header line says which and where it came from.
TEST(Config, ConvAlgosSettingAndTheRunHeader) {
  TempDir dir;
  write_text(dir / "base.toml", base_config(dir.path));
  write_text(dir / "fast.toml", "_base_ = \"base.toml\"\n");
  write_text(dir / "exact.toml", "_base_ = \"base.toml\"\n[runner]\nconv_algos = \"exact\"\nseed = 3\n");
  Config cf = Config::load(dir / "fast.toml");
  Config ce = Config::load(dir / "exact.toml");
  const RunConfig fast = parse_run_config(cf, ConfigUse::kTrain);
  const RunConfig exact = parse_run_config(ce, ConfigUse::kTrain);
  EXPECT_EQ(fast.conv_algos, "fast");
  EXPECT_EQ(exact.conv_algos, "exact");
  EXPECT_NE(exact.resolved.find("conv_algos = 'exact'"), std::string::npos) << exact.resolved;
  EXPECT_FALSE(conv_algos_exact(fast, false));
  EXPECT_TRUE(conv_algos_exact(fast, true));  // NKD_CONV_EXACT=1 overrides "fast"
  EXPECT_TRUE(conv_algos_exact(exact, false));
  EXPECT_TRUE(conv_algos_exact(exact, true));

  const TrainOptions gpu_run{.work_dir = "w", .device = cuda_device(0), .deterministic = true};
  EXPECT_EQ(run_header(exact, gpu_run, 1875, false),
            "nkd distill: config " + dir / "exact.toml" +
                ", work dir w, device cuda:0, 1875 iterations per epoch, 1 epochs, seed 3, deterministic, "
                "conv algorithms exact (runner.conv_algos)");
  const TrainOptions cpu_run{.work_dir = "w"};
  const std::string h = run_header(fast, cpu_run, 10, false);
  EXPECT_TRUE(h.ends_with(", seed 0, conv algorithms fast (runner.conv_algos)")) << h;
  const std::string he = run_header(fast, cpu_run, 10, true);
  EXPECT_TRUE(he.ends_with(", conv algorithms exact (NKD_CONV_EXACT=1; runner.conv_algos = \"fast\")")) << he;
}

// runner.precision: fp32 by default, tf32 / bf16 by the file or --set (what --precision does);
// anything else (an mmcv-style fp16) names the key and the file.
TEST(Config, RunnerPrecision) {
  TempDir dir;
  write_text(dir / "base.toml", base_config(dir.path));
  write_text(dir / "c.toml", "_base_ = \"base.toml\"\n");
  Config c = Config::load(dir / "c.toml");
  EXPECT_EQ(parse_run_config(c, ConfigUse::kTrain).precision, Precision::kFp32);
  write_text(dir / "b.toml", "_base_ = \"base.toml\"\n[runner]\nprecision = \"bf16\"\n");
  Config b = Config::load(dir / "b.toml");
  EXPECT_EQ(parse_run_config(b, ConfigUse::kTrain).precision, Precision::kBf16);
  b.set("runner.precision=tf32");
  EXPECT_EQ(parse_run_config(b, ConfigUse::kEval).precision, Precision::kTf32);
  expect_config_errors(dir, {{"[runner]\nprecision = \"fp16\"\n", "runner.precision"},
                             {"[runner]\nprecision = 16\n", "runner.precision"}});
}

TEST(Config, MissingTeacherCheckpointOrDatasetStopsBeforeTraining) {
  TempDir dir;
  write_text(dir / "base.toml", base_config(dir.path));
  write_text(dir / "kd.toml", "_base_ = \"base.toml\"\n[model.teacher]\nnet = \"resnet18\"\nsmall_input = true\n"
                              "checkpoint = \"" + dir / "nope.safetensors" + "\"\n[distill.kd]\nalpha = 0.9\n");
  Config c = Config::load(dir / "kd.toml");
  const std::string e = error_of(c);
  EXPECT_NE(e.find("teacher checkpoint"), std::string::npos) << e;
  EXPECT_NE(e.find("nope.safetensors"), std::string::npos) << e;

  write_text(dir / "nodata.toml", "_base_ = \"base.toml\"\n[data]\nroot = \"" + dir / "missing" + "\"\n");
  Config c2 = Config::load(dir / "nodata.toml");
  const std::string e2 = error_of(c2);
  EXPECT_NE(e2.find("dataset folder"), std::string::npos) << e2;
  EXPECT_NE(e2.find("'data.root'"), std::string::npos) << e2;

  // Through the app: one clear line, exit 1, no training started.
  std::string out;
  const int rc = testing::run(std::string(NKD_DISTILL_BIN) + " " + dir / "kd.toml" + " --device cpu --work-dir " +
                                  dir / "work",
                              &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("nkd_distill: error: config key 'model.teacher.checkpoint'"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "work"));
}

// The distill losses come from the registry (losses/registry.h): values and defaults, flags, and
// errors that name the registered losses or the loss's keys, with the file.
TEST(Config, DistillLossesAndTheirErrors) {
  TempDir dir;
  write_text(dir / "base.toml", base_config(dir.path) + "[model.teacher]\nnet = \"resnet18\"\nsmall_input = true\n"
                                "checkpoint = \"" + dir / "base.toml" + "\"\n");
  write_text(dir / "ok.toml", "_base_ = \"base.toml\"\n[distill]\ntf_nkd = false\n[distill.kd]\ntemperature = 2\n"
                              "[distill.uskd]\nrank_with_log_probs = true\n");
  Config ok = Config::load(dir / "ok.toml");
  const RunConfig r = parse_run_config(ok, ConfigUse::kTrain);
  ASSERT_EQ(r.distill.losses.size(), 2u);
  EXPECT_EQ(r.distill.losses[0].spec->name, "kd");
  EXPECT_EQ(r.distill.losses[1].spec->name, "uskd");
  EXPECT_FALSE(r.distill.has("tf_nkd"));
  EXPECT_TRUE(r.distill.needs_teacher());
  EXPECT_DOUBLE_EQ(r.distill.find("kd")->number("temperature"), 2.0);
  EXPECT_DOUBLE_EQ(r.distill.find("kd")->number("alpha"), 0.5);
  EXPECT_TRUE(r.distill.find("uskd")->flag("rank_with_log_probs"));
  EXPECT_DOUBLE_EQ(r.distill.find("uskd")->number("mu"), 0.005);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[distill.nkdd]\ngamma = 1\n", "unknown loss 'nkdd'; registered losses: " + losses::registered_loss_names()},
      {"[distill.nkdd]\ngamma = 1\n", "tf_nkd"},
      {"[distill]\nkd = 3\n", "expected a table [distill.kd] or true/false"},
      {"[distill.kd]\ntemprature = 2\n", "'distill.kd.temprature'"},
      {"[distill.kd]\ntemprature = 2\n", "its keys: temperature, alpha"},
      {"[distill.kd]\ntemperature = 0\n", "must be positive"},
      {"[distill.kd]\nalpha = 1.5\n", "must be in [0, 1]"},
      {"[distill.uskd]\nrank_with_log_probs = 1\n", "expected true or false"},
      {"[distill]\ntf_nkd = \"yes\"\n", "'distill.tf_nkd'"},
  };
  expect_config_errors(dir, cases);
  write_text(dir / "noteacher.toml", base_config(dir.path) + "[distill.dkd]\n");
  Config c = Config::load(dir / "noteacher.toml");
  const std::string e = error_of(c);
  EXPECT_NE(e.find("the distill losses "), std::string::npos) << e;
  EXPECT_NE(e.find("dkd"), std::string::npos) << e;
  EXPECT_NE(e.find("need a [model.teacher]"), std::string::npos) << e;
}

// Every shipped config parses (no unknown keys, valid values) once its paths exist.
TEST(Config, ShippedConfigsParse) {
  TempDir dir;
  testing::write_text(dir / "teacher.safetensors", "");
  int parsed = 0;
  for (const std::string sub : {"configs/imagenet", "configs/fashion_mnist"})
    for (const auto& f : std::filesystem::directory_iterator(std::string(NKD_SOURCE_DIR) + "/" + sub)) {
      const std::string name = f.path().filename().string();
      if (f.path().extension() != ".toml" || name == "base.toml" || name == "student_base.toml" ||
          name == "with_teacher.toml")
        continue;
      Config c = Config::load(f.path().string());
      c.set("data.root=" + dir.path);
      if (c.has("model.teacher")) c.set("model.teacher.checkpoint=" + dir / "teacher.safetensors");
      try {
        const RunConfig r = parse_run_config(c, ConfigUse::kTrain);
        EXPECT_FALSE(r.student.net.empty());
        ++parsed;
      } catch (const Error& e) {
        ADD_FAILURE() << name << ": " << e.what();
      }
    }
  EXPECT_GE(parsed, 19);
}

// The resize backend per config, as mmcls runs them (NKD_SPEC.md 5.1): cv2 for the "standard CNN"
// pipeline (ResNets, MobileNet v1), Pillow for pil_resize (MobileNetV2, ShuffleNetV2) and Swin;
// EXIF orientation everywhere (mmcls decodes with cv2.imdecode).
TEST(Config, ResizeBackendFollowsMmcls) {
  TempDir dir;
  testing::write_text(dir / "teacher.safetensors", "");
  const std::map<std::string, std::string> expect = {
      {"res18.toml", "cv2"}, {"res50.toml", "cv2"}, {"mv1.toml", "cv2"}, {"res34_distill_res18.toml", "cv2"},
      {"res50_distill_mv1.toml", "cv2"}, {"mv2.toml", "pillow"}, {"shufflev2.toml", "pillow"},
      {"swin-t.toml", "pillow"}};
  for (const auto& [name, backend] : expect) {
    Config c = Config::load(std::string(NKD_SOURCE_DIR) + "/configs/imagenet/" + name);
    c.set("data.root=" + dir.path);
    if (c.has("model.teacher")) c.set("model.teacher.checkpoint=" + dir / "teacher.safetensors");
    const RunConfig r = parse_run_config(c, ConfigUse::kTrain);
    EXPECT_EQ(r.data.train.backend, backend) << name;
    EXPECT_EQ(r.data.val.backend, backend) << name;
    EXPECT_TRUE(r.data.train.exif_orientation) << name;
    EXPECT_TRUE(r.data.val.exif_orientation) << name;
  }
}

}  // namespace
}  // namespace nkd::train
