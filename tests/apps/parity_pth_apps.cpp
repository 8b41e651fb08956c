// nkd_transfer --format pth against PyTorch (label parity; skipped when /usr/bin/python3 cannot
// import torchvision): the student .pth of a resnet18 distillation checkpoint loads with
// torch.load(weights_only=True), and torchvision's resnet18 accepts its state dict (renamed back:
// backbone. dropped, head.fc. -> fc.) with load_state_dict(strict=True), values unchanged; and
// nkd_transfer reads a distillation checkpoint torch.save wrote (student./teacher. torchvision
// resnet18s in mmcls' {'state_dict', 'meta'}): the student comes out bit for bit, 'meta' kept; and
// nkd_transfer --format torchvision of a plain training checkpoint (optimizer state included) gives
// a .pth that torchvision's resnet18 / mobilenet_v2 load with load_state_dict(strict=True).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "train/checkpoint.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "nets/classifier.h"
#include "tests/apps/app_test_util.h"
#include "tests/parity/torch_available.h"

namespace nkd::train {
namespace {

bool torchvision_available() {
  std::string cmd = nkd::testing::kPython;
  cmd += " -c 'import torch, torchvision' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

const char* kScript = R"(import sys, torch, torchvision
ck = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
assert set(ck.keys()) == {'state_dict', 'meta'}, ck.keys()
sd = {}
for k, v in ck['state_dict'].items():
    sd[k[len('backbone.'):] if k.startswith('backbone.') else k.replace('head.fc.', 'fc.')] = v
net = torchvision.models.resnet18(num_classes=10)
net.load_state_dict(sd, strict=True)
w = net.state_dict()['conv1.weight'].flatten()[:4].tolist()
print('first', ' '.join('%.9g' % x for x in w))
)";

TEST(PthAppsParity, TorchvisionAcceptsTransferredStudent) {
  if (!torchvision_available()) GTEST_SKIP() << nkd::testing::kPython << " cannot import torchvision; skipping";
  testing::TempDir dir;
  auto student = nets::build_net("resnet18", {.num_classes = 10}, 5);
  auto teacher = nets::build_net("resnet18", {.num_classes = 10}, 6);
  layers::NamedTensors ck;
  for (const auto& [k, v] : student->state_dict()) ck.emplace_back("student." + k, v);
  for (const auto& [k, v] : teacher->state_dict()) ck.emplace_back("teacher." + k, v);
  io::save_safetensors(dir / "dis.safetensors", ck, {});
  std::string out, cmd = NKD_TRANSFER_BIN;
  cmd += " --format pth --dis-path ";
  cmd += dir / "dis.safetensors";
  cmd += " --output-path ";
  cmd += dir / "student.pth";
  ASSERT_EQ(testing::run(cmd, &out), 0) << out;
  testing::write_text(dir / "check.py", kScript);
  cmd = nkd::testing::kPython;
  cmd += " ";
  cmd += dir / "check.py";
  cmd += " ";
  cmd += dir / "student.pth";
  ASSERT_EQ(testing::run(cmd, &out), 0) << out;
  const Tensor w = student->state_dict().front().second.contiguous();
  const float* p = static_cast<const float*>(w.raw_data());
  char expect[128];
  std::snprintf(expect, sizeof expect, "first %.9g %.9g %.9g %.9g", p[0], p[1], p[2], p[3]);
  EXPECT_NE(out.find(expect), std::string::npos) << out << " (expected " << expect << ")";
}

const char* kWriteDistill = R"(import sys, collections, torch, torchvision
torch.manual_seed(0)
s, t = torchvision.models.resnet18(num_classes=10), torchvision.models.resnet18(num_classes=10)
sd = collections.OrderedDict()
for k, v in s.state_dict().items(): sd['student.' + k] = v
for k, v in t.state_dict().items(): sd['teacher.' + k] = v
torch.save({'state_dict': sd, 'meta': {'epoch': 3, 'mmcls_version': '0.23.0'}}, sys.argv[1])
torch.save(s.state_dict(), sys.argv[2])
)";

TEST(PthAppsParity, TransferReadsADistillationPthTorchWrote) {
  if (!torchvision_available()) GTEST_SKIP() << nkd::testing::kPython << " cannot import torchvision; skipping";
  testing::TempDir dir;
  testing::write_text(dir / "write.py", kWriteDistill);
  std::string out, cmd = nkd::testing::kPython;
  cmd += " " + dir / "write.py" + " " + dir / "dis.pth" + " " + dir / "student_ref.pth";
  ASSERT_EQ(testing::run(cmd, &out), 0) << out;
  cmd = std::string(NKD_TRANSFER_BIN) + " --dis-path " + dir / "dis.pth" + " --output-path " + dir / "student.st";
  ASSERT_EQ(testing::run(cmd, &out), 0) << out;
  const io::Checkpoint got = io::load_checkpoint(dir / "student.st");
  const io::Checkpoint want = io::load_checkpoint(dir / "student_ref.pth");
  EXPECT_EQ(got.format, io::CheckpointFormat::kSafetensors);
  EXPECT_EQ(want.format, io::CheckpointFormat::kPth);
  EXPECT_EQ(got.metadata.at("epoch"), "3");
  EXPECT_EQ(got.metadata.at("mmcls_version"), "0.23.0");
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (size_t i = 0; i < want.tensors.size(); ++i) {
    const auto& [name, a] = got.tensors[i];
    const Tensor& b = want.tensors[i].second;
    EXPECT_EQ(name, want.tensors[i].first);
    ASSERT_EQ(a.dtype(), b.dtype()) << name;
    ASSERT_EQ(a.shape(), b.shape()) << name;
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * size_of(a.dtype())), 0) << name;
  }
}

const char* kLoadTorchvision = R"(import sys, torch, torchvision
sd = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
net = getattr(torchvision.models, sys.argv[2])(num_classes=10)
net.load_state_dict(sd, strict=True)
w = next(iter(net.state_dict().values())).flatten()[:4].tolist()
print('loaded', len(sd), 'first', ' '.join('%.9g' % x for x in w))
)";

TEST(PthAppsParity, TorchvisionExportOfAPlainRunLoadsStrict) {
  if (!torchvision_available()) GTEST_SKIP() << nkd::testing::kPython << " cannot import torchvision; skipping";
  testing::TempDir dir;
  testing::write_text(dir / "load.py", kLoadTorchvision);
  for (const std::string net : {"resnet18", "mobilenet_v2"}) {
    auto model = nets::build_net(net, {.num_classes = 10}, 7);
    CheckpointState plain;  // what a CE / tf-NKD / teacher run writes: weights + optimizer state
    plain.model = model->state_dict();
    plain.optimizer = {{"0.momentum_buffer", plain.model.front().second}};
    plain.extra = {{"student_net", net}, {"kind", "classifier"}};
    save_checkpoint(dir / "plain.safetensors", plain);
    std::string out, cmd = std::string(NKD_TRANSFER_BIN) + " --format torchvision --dis-path " +
                           dir / "plain.safetensors" + " --output-path " + dir / "tv.pth";
    ASSERT_EQ(testing::run(cmd, &out), 0) << out;
    ASSERT_EQ(testing::run(std::string(nkd::testing::kPython) + " " + dir / "load.py " + dir / "tv.pth " + net, &out), 0)
        << out;
    const Tensor w = plain.model.front().second.contiguous();
    const float* p = static_cast<const float*>(w.raw_data());
    char expect[160];
    std::snprintf(expect, sizeof expect, "first %.9g %.9g %.9g %.9g", p[0], p[1], p[2], p[3]);
    EXPECT_NE(out.find(expect), std::string::npos) << net << ": " << out << " (expected " << expect << ")";
    std::printf("%s: %s", net.c_str(), out.c_str());
  }
}

}  // namespace
}  // namespace nkd::train
