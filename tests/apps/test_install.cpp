// The installed package (issue 19): cmake --install of this build into a temporary prefix, then
// examples/classify configured (find_package(nkd), nkd::nkd) and built in a clean folder against
// it; its top-5 for one image equals nkd_predict's. A build without CUDA installs a package that
// names no CUDA, cuDNN or NCCL target, and the example links none of their libraries.
#include <gtest/gtest.h>

#include <iostream>

#include "engine/config.h"
#include "nets/classifier.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

// The lines after the first (the file name): "  1.    3 class_3   0.123456" ...
std::string ranks_of(const std::string& out, const std::string& image) {
  const size_t at = out.find(image + "\n");
  if (at == std::string::npos) return "(no " + image + " in the output)";
  std::string ranks;
  std::istringstream in(out.substr(at + image.size() + 1));
  for (std::string line; std::getline(in, line) && line.starts_with("  ");) ranks += line + "\n";
  return ranks;
}

TEST(Install, ExampleBuiltAgainstTheInstalledPackageMatchesPredict) {
  TempDir dir;
  const std::string cmake = NKD_CMAKE_COMMAND;
  std::string out;
  ASSERT_EQ(run(cmake + " --install " + NKD_BINARY_DIR + " --prefix " + dir / "prefix", &out), 0) << out;
  const std::string targets = testing::read_text(dir / "prefix/lib/cmake/nkd/nkdTargets.cmake");
  ASSERT_NE(targets.find("add_library(nkd::nkd INTERFACE IMPORTED)"), std::string::npos) << targets;
  if (!kBuiltWithCuda) {
    for (const char* gpu : {"CUDA::", "CUDNN::", "NCCL::"}) EXPECT_EQ(targets.find(gpu), std::string::npos) << gpu;
  }
  ASSERT_EQ(run(cmake + " -S " + NKD_SOURCE_DIR + "/examples/classify -B " + dir / "build" + " -G Ninja" +
                    " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + dir / "prefix", &out), 0) << out;
  ASSERT_EQ(run(cmake + " --build " + dir / "build", &out), 0) << out;
  if (!kBuiltWithCuda) {
    ASSERT_EQ(run("ldd " + dir / "build/nkd_classify", &out), 0) << out;
    for (const char* lib : {"libcudart", "libcudnn", "libnccl", "libcublas"}) EXPECT_EQ(out.find(lib), std::string::npos) << out;
  }

  testing::write_fake_fashion_mnist(dir / "idx", 10, 3);
  ASSERT_EQ(run(std::string(NKD_IDX_TO_JPEG) + " " + dir / "idx/t10k-images-idx3-ubyte.gz " + dir /
                    "idx/t10k-labels-idx1-ubyte.gz " + dir / "jpeg val --limit 3", &out), 0) << out;
  const std::string list = testing::read_text(dir / "jpeg/meta/val.txt");
  const std::string image = dir / "jpeg/val/" + list.substr(0, list.find(' '));
  auto net = nets::build_net("resnet18", {.num_classes = 10, .in_channels = 3, .width = 0.125, .small_input = true}, 9);
  io::save_safetensors(dir / "net.safetensors", net->state_dict(), {});
  const std::string args = std::string(NKD_SOURCE_DIR) + "/tests/apps/imagenet_tiny.toml " + dir / "net.safetensors " + image;
  std::string example, predict;
  ASSERT_EQ(run(dir / "build/nkd_classify " + args, &example), 0) << example;
  ASSERT_EQ(run(std::string(NKD_PREDICT_BIN) + " " + args + " --device cpu", &predict), 0) << predict;
  const std::string ranks = ranks_of(example, image);
  EXPECT_EQ(std::count(ranks.begin(), ranks.end(), '\n'), 5) << example;
  EXPECT_EQ(ranks, ranks_of(predict, image)) << example << "\n---\n" << predict;
  std::cout << "nkd_classify (installed package) top-5, equal to nkd_predict's:\n" << ranks;
}

}  // namespace
}  // namespace nkd::train
