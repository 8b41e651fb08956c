// nkd_eval --metrics accuracy,per_class,confusion (train/class_metrics.h): the CSV formats on a
// hand-filled matrix; on the synthetic Fashion-MNIST set, a checkpoint whose head predicts class 3
// for every image (fc weights 0, bias one-hot) gives the matrix known from the labels alone, and a
// trained checkpoint's matrix equals the one counted from its per-image predictions (--out).
#include <gtest/gtest.h>

#include <map>

#include "data/image_folder.h"
#include "engine/factory.h"
#include "tests/apps/app_test_util.h"
#include "train/class_metrics.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

TEST(ClassMetrics, CsvOfAKnownMatrix) {
  ConfusionMatrix m(3);
  for (auto [label, pred] : {std::pair{0, 0}, {0, 0}, {0, 1}, {1, 1}, {2, 0}, {2, 2}, {2, 2}, {2, 2}}) m.add(label, pred);
  const std::vector<std::string> names = {"cat", "dog, big", "cow"};
  EXPECT_EQ(per_class_csv(m, names),
            "class,name,images,correct,accuracy\n0,cat,3,2,66.67\n1,\"dog, big\",1,1,100.00\n2,cow,4,3,75.00\n");
  EXPECT_EQ(confusion_csv(m, names), "true\\predicted,cat,\"dog, big\",cow\ncat,2,1,0\n\"dog, big\",0,1,0\ncow,1,0,3\n");
  EXPECT_THROW(m.add(3, 0), std::exception);
}

// ImageNet layout: the class folder names of a scanned split; with a list file (meta/val.txt), those
// of the train split's folders; Fashion-MNIST's names; else the indices.
TEST(ClassMetrics, ClassNames) {
  TempDir dir;
  for (const char* f : {"train/n02/a.JPEG", "train/n01/b.JPEG", "val/n01/c.JPEG", "val/n02/d.JPEG"}) {
    std::filesystem::create_directories(std::filesystem::path(dir / f).parent_path());
    testing::write_text(dir / f, "x");
  }
  std::filesystem::create_directories(dir / "meta");
  testing::write_text(dir / "meta/val.txt", "n01/c.JPEG 0\nn02/d.JPEG 1\n");
  DataConfig imagenet;
  imagenet.type = "imagenet";
  imagenet.root = dir.path;
  const std::vector<std::string> folders = {"n01", "n02"};
  EXPECT_EQ(class_names(imagenet, data::ImageFolder::scan(dir / "val"), 2), folders);
  EXPECT_EQ(class_names(imagenet, data::ImageFolder::imagenet(dir.path, "val"), 2), folders);  // the list
  EXPECT_EQ(class_names(imagenet, data::ImageFolder::scan(dir / "val"), 3), (std::vector<std::string>{"0", "1", "2"}));
  DataConfig fashion;
  fashion.type = "fashion_mnist";
  EXPECT_EQ(class_names(fashion, data::ImageFolder::scan(dir / "val"), 10)[9], "Ankle boot");
}

std::string config(const std::string& data_root) {
  return "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\nsmall_input = true\n"
         "width = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"" + data_root + "\"\nbatch_size = 32\n"
         "workers = 2\n[data.train]\ntype = \"pad_crop_flip\"\npad = 2\n[data.val]\ntype = \"center\"\n"
         "[optimizer]\nlr = 0.05\n[lr]\npolicy = \"cosine\"\n[runner]\nlog_interval = 2\nepochs = 1\ntensorboard = false\n";
}

// The checkpoint with every fc weight 0 and the fc bias one-hot at `cls`: each image's top-1 is cls.
void write_constant_head(const std::string& from, const std::string& to, int64_t cls) {
  io::Safetensors s = io::load_safetensors(from);
  NamedTensors out;
  int changed = 0;
  for (auto& [name, t] : s.tensors) {
    Tensor v = t.contiguous();
    if (name.ends_with("fc.weight")) v = zeros(t.shape()), ++changed;
    if (name.ends_with("fc.bias")) {
      std::vector<float> b(size_t(t.numel()), 0.f);
      b[size_t(cls)] = 1.f;
      v = from_vector(b, t.shape());
      ++changed;
    }
    out.emplace_back(name, v);
  }
  ASSERT_EQ(changed, 2);
  io::save_safetensors(to, out, s.metadata);
}

// Rows of a CSV file without its header, split at commas (no quoted fields expected).
std::vector<std::vector<std::string>> csv_rows(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream in(testing::read_text(path));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    rows.emplace_back();
    std::stringstream ls(line);
    for (std::string f; std::getline(ls, f, ',');) rows.back().push_back(f);
  }
  return rows;
}

TEST(ClassMetrics, EvalPerClassAndConfusion) {
  TempDir dir;
  constexpr int64_t kVal = 32;
  testing::write_fake_fashion_mnist(dir / "data", 96, kVal);
  testing::write_text(dir / "c.toml", config(dir / "data"));
  std::string out;
  ASSERT_EQ(run(std::string(NKD_DISTILL_BIN) + " " + dir / "c.toml --device cpu --work-dir " + dir / "w", &out), 0)
      << out;
  write_constant_head(dir / "w/epoch_1.safetensors", dir / "three.safetensors", 3);
  const std::string eval = std::string(NKD_EVAL_BIN) + " " + dir / "c.toml --device cpu ";
  ASSERT_EQ(run(eval + dir / "three.safetensors --metrics accuracy,per_class,confusion", &out), 0) << out;
  std::map<int64_t, int64_t> per_label;  // the fixture's labels: (i * 7 + i / 3) % 10
  for (int64_t i = 0; i < kVal; ++i) ++per_label[(i * 7 + i / 3) % 10];
  char top1[64];
  std::snprintf(top1, sizeof top1, "accuracy_top-1 %.2f", 100.0 * double(per_label[3]) / double(kVal));
  EXPECT_NE(out.find(top1), std::string::npos) << out;
  EXPECT_NE(out.find("Dress"), std::string::npos) << out;  // the table names class 3
  std::string expect = "true\\predicted,T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot\n";
  std::string per_class = "class,name,images,correct,accuracy\n";
  const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  for (int64_t c = 0; c < 10; ++c) {
    expect += names[size_t(c)];
    for (int64_t j = 0; j < 10; ++j) {
      expect += ',';
      expect += std::to_string(j == 3 ? per_label[c] : 0);
    }
    expect += "\n";
    per_class += std::to_string(c) + "," + names[size_t(c)] + "," + std::to_string(per_label[c]) + "," +
                 std::to_string(c == 3 ? per_label[c] : 0) + "," + (c == 3 ? "100.00" : "0.00") + "\n";
  }
  EXPECT_EQ(testing::read_text(dir / "three_confusion.csv"), expect);
  EXPECT_EQ(testing::read_text(dir / "three_per_class.csv"), per_class);
  EXPECT_NE(out.find("confusion matrix: " + dir / "three_confusion.csv"), std::string::npos) << out;
  if (run("/usr/bin/python3 -c 'import matplotlib'") == 0) {  // the heat map through tools/plot_curves.py
    EXPECT_NE(out.find("confusion heat map: " + dir / "three_confusion.png"), std::string::npos) << out;
    EXPECT_EQ(testing::read_text(dir / "three_confusion.png").substr(1, 3), "PNG");
  }

  // The trained checkpoint: the matrix counted from the per-image top-1 of --out.
  ASSERT_EQ(run(eval + dir / "w/epoch_1.safetensors --metrics confusion --metrics-dir " + dir / "m --out " +
                    dir / "pred.csv", &out), 0) << out;
  std::vector<std::vector<int64_t>> counted(10, std::vector<int64_t>(10, 0));
  for (const auto& r : csv_rows(dir / "pred.csv")) ++counted[size_t(std::stoll(r[2]))][size_t(std::stoll(r[3]))];
  const auto rows = csv_rows(dir / "m/epoch_1_confusion.csv");
  ASSERT_EQ(rows.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    ASSERT_EQ(rows[i].size(), 11u);
    EXPECT_EQ(rows[i][0], names[i]);
    for (size_t j = 0; j < 10; ++j) EXPECT_EQ(std::stoll(rows[i][j + 1]), counted[i][j]) << i << "," << j;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "m/epoch_1_per_class.csv"));
  EXPECT_NE(run(eval + dir / "three.safetensors --metrics accuracy,roc", &out), 0);
  EXPECT_NE(out.find("unknown metric 'roc'"), std::string::npos) << out;
}

}  // namespace
}  // namespace nkd::train
