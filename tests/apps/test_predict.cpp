// nkd_predict (issue 19): on a folder of JPEGs (Fashion-MNIST fixtures through nkd_idx_to_jpeg)
// with a bad file among them, each good image's top-5 classes and scores equal nkd_eval --out's for
// the same image, in other batches; the class names are the data set's; the bad file is reported
// and skipped, the exit code is 0 and the summary gives the count.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <iostream>
#include <map>

#include "nets/classifier.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

struct Top5 {
  std::vector<int64_t> classes;
  std::vector<double> scores;
};

// nkd_eval --out's rows by file name: index,image,label,top1..top5,score1..score5,skipped.
std::map<std::string, Top5> eval_rows(const std::string& csv) {
  std::map<std::string, Top5> out;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream cells(line);
    for (std::string c; std::getline(cells, c, ',');) f.push_back(c);
    if (f.size() < 13 || f[3].empty()) continue;
    Top5& t = out[std::filesystem::path(f[1]).filename().string()];
    for (size_t j = 0; j < 5; ++j) t.classes.push_back(std::stoll(f[3 + j])), t.scores.push_back(std::stod(f[8 + j]));
  }
  return out;
}

TEST(Predict, FolderOfJpegsWithABadFileMatchesEvalTop5) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "idx", 10, 24);
  const std::string root = dir / "jpeg";
  std::string out;
  ASSERT_EQ(run(std::string(NKD_IDX_TO_JPEG) + " " + dir / "idx/t10k-images-idx3-ubyte.gz " + dir /
                    "idx/t10k-labels-idx1-ubyte.gz " + root + " val --limit 24", &out), 0) << out;
  for (int c = 0; c < 10; ++c) std::filesystem::create_directories(root + "/train/class_" + std::to_string(c));
  testing::write_text(root + "/val/zz_bad.jpg", "not an image\n");
  auto net = nets::build_net("resnet18", {.num_classes = 10, .in_channels = 3, .width = 0.125, .small_input = true}, 5);
  const std::string ckpt = dir / "net.safetensors";
  io::save_safetensors(ckpt, net->state_dict(), {});
  const std::string args = std::string(NKD_SOURCE_DIR) + "/tests/apps/imagenet_tiny.toml " + ckpt;
  ASSERT_EQ(run(std::string(NKD_EVAL_BIN) + " " + args + " --device cpu --set data.root=" + root + " --out " +
                    dir / "eval.csv", &out), 0) << out;
  const std::map<std::string, Top5> expected = eval_rows(testing::read_text(dir / "eval.csv"));
  ASSERT_EQ(expected.size(), 24u);

  const std::string predict = std::string(NKD_PREDICT_BIN) + " " + args + " " + root + "/val --device cpu --set data.root=" + root;
  std::string text;
  ASSERT_EQ(run(predict + " --batch-size 5 --workers 2", &text), 0) << text;
  const std::string summary = "nkd_predict: 24 images predicted, 1 skipped (1 not an image)";
  EXPECT_NE(text.find(summary), std::string::npos) << text;
  EXPECT_NE(text.find(root + "/val/zz_bad.jpg: skipped: "), std::string::npos) << text;
  std::cout << text.substr(text.find(root + "/val/zz_bad.jpg"));

  ASSERT_EQ(run("(" + predict + " --json --batch-size 7 > " + dir / "predict.json" + ")", &out), 0) << out;
  EXPECT_NE(out.find(summary), std::string::npos) << out;
  const nlohmann::json j = nlohmann::json::parse(testing::read_text(dir / "predict.json"));
  EXPECT_EQ(j["predicted"], 24);
  EXPECT_EQ(j["skipped"], 1);
  ASSERT_EQ(j["images"].size(), 25u);
  int compared = 0;
  for (const nlohmann::json& image : j["images"]) {
    const std::string name = std::filesystem::path(image["file"].get<std::string>()).filename().string();
    if (name == "zz_bad.jpg") {
      EXPECT_NE(image["skipped"].get<std::string>().find("not an image"), std::string::npos) << image;
      continue;
    }
    ASSERT_TRUE(expected.count(name)) << name;
    const Top5& e = expected.at(name);
    ASSERT_EQ(image["top"].size(), 5u) << image;
    for (size_t k = 0; k < 5; ++k) {
      const nlohmann::json& t = image["top"][k];
      EXPECT_EQ(t["class"].get<int64_t>(), e.classes[k]) << name << " rank " << k + 1;
      EXPECT_EQ(t["name"].get<std::string>(), "class_" + std::to_string(e.classes[k])) << name;
      EXPECT_NEAR(t["score"].get<double>(), e.scores[k], 1e-6) << name << " rank " << k + 1;
    }
    ++compared;
  }
  EXPECT_EQ(compared, 24);
  std::cout << "top-5 equal to nkd_eval --out's for " << compared << " images; " << summary << std::endl;
}

}  // namespace
}  // namespace nkd::train
