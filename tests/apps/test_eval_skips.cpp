// Evaluation counts only what it read (issue 14): an mmcls ann_file val list that mixes valid JPEGs
// with 30 consecutive unreadable entries (zero bytes, truncated, text, a 60000x60000 header, random
// bytes) scores exactly the valid images, reports "N images, K skipped" with the reasons by kind in
// the summary line, the log, the JSON-lines record and result.json, and lists the skipped files in
// --out; a val_split that fits no layout says which layout is expected. Training replaces an
// unreadable sample, records each epoch's skip count, and stops past data.max_bad_fraction.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <iostream>
#include <set>

#include "nets/classifier.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

std::string bytes_of(const std::string& path) { return testing::read_text(path); }

// The JPEG's SOF0 height and width set to h x w (header only: the file stays small).
std::string with_jpeg_size(std::string jpg, int h, int w) {
  for (size_t i = 2; i + 9 < jpg.size(); ++i)
    if (uint8_t(jpg[i]) == 0xFF && (uint8_t(jpg[i + 1]) == 0xC0 || uint8_t(jpg[i + 1]) == 0xC2)) {
      jpg[i + 5] = char(h >> 8), jpg[i + 6] = char(h & 255), jpg[i + 7] = char(w >> 8), jpg[i + 8] = char(w & 255);
      return jpg;
    }
  ADD_FAILURE() << "no SOF marker";
  return jpg;
}

struct BadValSet {
  std::string root, clean_list, bad_list, checkpoint;
  int good = 0, bad = 0;
};

BadValSet make_set(const TempDir& dir) {
  BadValSet s;
  testing::write_fake_fashion_mnist(dir / "idx", 100, 60);
  s.root = dir / "jpeg";
  std::string out;
  EXPECT_EQ(run(std::string(NKD_IDX_TO_JPEG) + " " + dir / "idx/t10k-images-idx3-ubyte.gz " + dir /
                    "idx/t10k-labels-idx1-ubyte.gz " + s.root + " val --limit 60", &out), 0) << out;
  std::vector<std::string> lines;
  std::istringstream in(testing::read_text(s.root + "/meta/val.txt"));
  for (std::string l; std::getline(in, l);) if (!l.empty()) lines.push_back(l);
  s.good = int(lines.size());
  const std::string jpg = bytes_of(s.root + "/val/" + lines[0].substr(0, lines[0].find(' ')));
  std::filesystem::create_directories(s.root + "/val/bad");
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"empty.JPEG", ""}, {"truncated.JPEG", jpg.substr(0, jpg.size() / 2)}, {"text.jpg", "not an image\n"},
      {"huge.jpeg", with_jpeg_size(jpg, 60000, 60000)}, {"gif.png", "GIF89a" + std::string(300, '\x5a')}};
  std::string clean, bad;
  for (size_t i = 0; i < lines.size(); ++i) {
    clean += lines[i] + "\n";
    bad += lines[i] + "\n";
    if (i != lines.size() / 2) continue;
    for (int k = 0; k < 30; ++k, ++s.bad) {  // 30 consecutive bad entries
      const auto& [name, content] = kinds[size_t(k) % kinds.size()];
      const std::string file = "bad/" + std::to_string(k) + "_" + name;
      testing::write_text(s.root + "/val/" + file, content);
      bad += file + " " + std::to_string(k % 10) + "\n";
    }
  }
  s.clean_list = dir / "clean.txt";  // ann_file lists anywhere, paths relative to data_prefix
  s.bad_list = dir / "lists/val_with_bad.txt";
  std::filesystem::create_directories(dir / "lists");
  testing::write_text(s.clean_list, clean);
  testing::write_text(s.bad_list, bad);
  auto net = nets::build_net("resnet18", {.num_classes = 10, .in_channels = 3, .width = 0.125, .small_input = true}, 3);
  s.checkpoint = dir / "net.safetensors";
  io::save_safetensors(s.checkpoint, net->state_dict(), {});
  return s;
}

std::string eval_cmd(const BadValSet& s, const std::string& list) {
  return std::string(NKD_EVAL_BIN) + " " + NKD_SOURCE_DIR + "/tests/apps/imagenet_tiny.toml " + s.checkpoint +
         " --device cpu --set data.root=" + s.root + " --set data.val.ann_file=" + list +
         " --set data.val.data_prefix=" + s.root + "/val";
}

double top1_of(const std::string& out) {
  const size_t at = out.find("accuracy_top-1 ");
  return at == std::string::npos ? -1 : std::stod(out.substr(at + 15));
}

TEST(EvalSkips, ScoresOnlyReadableImagesAndReportsSkipsEverywhere) {
  TempDir dir;
  const BadValSet s = make_set(dir);
  ASSERT_EQ(s.good, 60);
  std::string clean_out, out;
  ASSERT_EQ(run(eval_cmd(s, s.clean_list), &clean_out), 0) << clean_out;
  EXPECT_NE(clean_out.find("top-1 over 60 images, 0 skipped"), std::string::npos) << clean_out;
  ASSERT_EQ(run(eval_cmd(s, s.bad_list) + " --work-dir " + dir / "w --out " + dir / "pred.csv", &out), 0) << out;
  const std::string summary =
      "top-1 over 60 images, 30 skipped (6 bad image size, 6 empty file, 12 not an image, 6 truncated)";
  EXPECT_NE(out.find(summary), std::string::npos) << out;
  EXPECT_EQ(top1_of(out), top1_of(clean_out)) << out << "\n---\n" << clean_out;
  const auto line = [](const std::string& o) { return o.substr(o.find("nkd_eval: "), o.find('\n', o.find("nkd_eval: ")) - o.find("nkd_eval: ")); };
  std::cout << "valid files only: " << line(clean_out) << "\nwith 30 bad:      " << line(out) << std::endl;
  EXPECT_NE(out.find("Eval [90/90]  images/s: "), std::string::npos) << out;  // progress as training's
  // The log, the JSON lines and result.json.
  std::string log, jsonl;
  for (const std::string& f : testing::names_in(dir / "w", "2"))
    (f.ends_with(".jsonl") ? jsonl : log) += testing::read_text(dir / "w/" + f);
  EXPECT_NE(log.find(summary), std::string::npos) << log;
  EXPECT_NE(log.find("warning: skipping " + s.root + "/val/bad/0_empty.JPEG: empty file"), std::string::npos) << log;
  const nlohmann::json rec = nlohmann::json::parse(jsonl.substr(0, jsonl.find('\n')));
  EXPECT_EQ(rec["images"], 60);
  EXPECT_EQ(rec["skipped"], 30);
  EXPECT_EQ(rec["skipped_kinds"]["empty file"], 6);
  const nlohmann::json result = nlohmann::json::parse(testing::read_text(dir / "w/result.json"));
  EXPECT_EQ(result["images"], 60);
  EXPECT_EQ(result["skipped"], 30);
  EXPECT_EQ(result["skipped_kinds"]["bad image size"], 6);
  ASSERT_EQ(result["skipped_files"].size(), 30u);
  EXPECT_NE(result["skipped_files"][3]["reason"].get<std::string>().find("60000x60000"), std::string::npos);
  EXPECT_NEAR(result["accuracy_top-1"].get<double>(), top1_of(out), 0.005);
  // --out: 60 scored rows (no image twice), then the 30 skipped files with their reasons.
  const std::string csv = testing::read_text(dir / "pred.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 60 + 30) << csv;
  EXPECT_NE(csv.find("bad/2_text.jpg,2,,,,,,,,,,,\"not an image"), std::string::npos) << csv;
  std::istringstream rows(csv);
  std::set<std::string> images;
  for (std::string l; std::getline(rows, l);) EXPECT_TRUE(images.insert(l.substr(0, l.find(','))).second) << l;
}

TEST(EvalSkips, AValSplitThatFitsNoLayoutSaysWhatIsExpected) {
  TempDir dir;
  const BadValSet s = make_set(dir);
  std::string out;
  EXPECT_EQ(run(std::string(NKD_EVAL_BIN) + " " + NKD_SOURCE_DIR + "/tests/apps/imagenet_tiny.toml " + s.checkpoint +
                    " --device cpu --set data.root=" + s.root + " --set data.val_split=meta/val_with_bad.txt", &out), 1);
  for (const char* needle : {"data.val_split", "the ImageNet layout expects", "data.val.ann_file", "data_prefix"})
    EXPECT_NE(out.find(needle), std::string::npos) << needle << " in " << out;
  // The default ImageNet layout (meta/val.txt + val/) still works without ann_file.
  ASSERT_EQ(run(std::string(NKD_EVAL_BIN) + " " + NKD_SOURCE_DIR + "/tests/apps/imagenet_tiny.toml " + s.checkpoint +
                    " --device cpu --set data.root=" + s.root, &out), 0) << out;
  EXPECT_NE(out.find("top-1 over 60 images, 0 skipped"), std::string::npos) << out;
}

TEST(EvalSkips, TrainingCountsSkipsPerEpochAndStopsPastTheFraction) {
  TempDir dir;
  const BadValSet s = make_set(dir);
  std::string out;
  ASSERT_EQ(run(std::string(NKD_IDX_TO_JPEG) + " " + dir / "idx/train-images-idx3-ubyte.gz " + dir /
                    "idx/train-labels-idx1-ubyte.gz " + s.root + " train --limit 100", &out), 0) << out;
  const std::string train_list = testing::read_text(s.root + "/meta/train.txt");
  const auto list_with_bad = [&](int n) {
    std::string list = train_list;
    for (int i = 0; i < n; ++i) list += "../val/bad/" + std::to_string(i * 5) + "_empty.JPEG 1\n";
    const std::string path = dir / ("train_" + std::to_string(n) + ".txt");
    testing::write_text(path, list);
    return path;
  };
  const std::string distill = std::string(NKD_DISTILL_BIN) + " " + NKD_SOURCE_DIR +
                              "/tests/apps/imagenet_tiny.toml --device cpu --set data.root=" + s.root +
                              " --set data.train.data_prefix=" + s.root + "/train";
  // 1 of 101 unreadable (under 1 %): trained, the epoch's record says 1 skipped.
  ASSERT_EQ(run(distill + " --work-dir " + dir / "ok --set data.train.ann_file=" + list_with_bad(1), &out), 0) << out;
  EXPECT_NE(out.find("Epoch [1]: 1 unreadable training files skipped"), std::string::npos) << out;
  EXPECT_NE(out.find("top-1 over 60 images, 0 skipped"), std::string::npos) << out;  // the val line
  std::string jsonl;
  for (const std::string& f : testing::names_in(dir / "ok", "2"))
    if (f.ends_with(".jsonl")) jsonl += testing::read_text(dir / "ok/" + f);
  EXPECT_NE(jsonl.find("\"mode\":\"epoch\",\"seconds\""), std::string::npos) << jsonl;
  EXPECT_NE(jsonl.find("\"skipped\":1"), std::string::npos) << jsonl;
  // 3 of 103 (over 1 %): the run stops, saying why, in the log too.
  EXPECT_EQ(run(distill + " --work-dir " + dir / "bad --set data.train.ann_file=" + list_with_bad(3), &out), 1) << out;
  // (how many files "so far" depends on which loader thread got there first: 2 or 3)
  EXPECT_NE(out.find("more than a fraction 0.01 (data.max_bad_fraction) of epoch 1's 103 samples are unreadable: "),
            std::string::npos) << out;
  std::cout << out.substr(out.find("nkd_distill: error"));
  std::string log;
  for (const std::string& f : testing::names_in(dir / "bad", "2"))
    if (f.ends_with(".log")) log += testing::read_text(dir / "bad/" + f);
  EXPECT_NE(log.find("nkd_distill: error: "), std::string::npos) << log;
}

}  // namespace
}  // namespace nkd::train
