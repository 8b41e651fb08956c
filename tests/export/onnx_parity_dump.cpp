// For the ONNX parity test (onnx_parity_test.sh): builds a net of the zoo with seeded random
// weights (every batch-norm / layer-norm parameter and running statistic, the Swin position-bias
// tables and the head drawn at random, so a dropped or misplaced one shows in the logits), writes
// it as a safetensors checkpoint (student_net metadata: what nkd_transfer reads), then nkd's logits
// of fixed random inputs at batch 1 and 3 as raw F32 files next to the inputs.
//   onnx_parity_dump NET SIZE OUT_PREFIX  ->  OUT_PREFIX.safetensors, OUT_PREFIX_b{1,3}_{input,logits}.f32
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"
#include "io/checkpoint.h"
#include "layers/init.h"
#include "nets/classifier.h"

namespace {

using namespace nkd;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void randomise(nets::ImageClassifier& net, uint64_t seed) {
  Generator gen(seed, 7);
  for (const auto& [name, t] : net.state_dict()) {
    if (t.dtype() != DType::F32) continue;
    if (ends_with(name, "running_var")) layers::init::uniform(t, 0.5, 1.5, gen);
    else if (ends_with(name, "running_mean")) layers::init::normal(t, 0.0, 0.2, gen);
    else if (t.ndim() == 1 && ends_with(name, "weight")) layers::init::uniform(t, 0.5, 1.5, gen);
    else if (t.ndim() == 1 && ends_with(name, "bias")) layers::init::normal(t, 0.0, 0.2, gen);
    else if (ends_with(name, "relative_position_bias_table")) layers::init::normal(t, 0.0, 1.0, gen);
    else if (name == "head.fc.weight") layers::init::normal(t, 0.0, 1.0 / std::sqrt(double(t.size(1))), gen);
  }
}

void write_f32(const std::string& path, const Tensor& t) {
  const Tensor c = t.contiguous();
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(c.raw_data()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
  if (!f) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: onnx_parity_dump NET SIZE OUT_PREFIX\n";
    return 2;
  }
  try {
    const std::string net_name = argv[1], prefix = argv[3];
    const int64_t size = std::stoll(argv[2]);
    auto net = nets::build_net(net_name, {.num_classes = 10}, 1);
    randomise(*net, 11);
    net->eval();
    io::save_checkpoint(prefix + ".safetensors", net->state_dict(), {.metadata = {{"student_net", net_name}}});
    NoGradGuard no_grad;
    Generator gen(5, 0);
    for (int64_t batch : {1, 3}) {
      const Tensor x = randn({batch, 3, size, size}, gen);
      const std::string stem = prefix + "_b" + std::to_string(batch);
      write_f32(stem + "_input.f32", x);
      write_f32(stem + "_logits.f32", net->forward(x));
    }
  } catch (const std::exception& e) {
    std::cerr << "onnx_parity_dump: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
