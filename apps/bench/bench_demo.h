// `nkd_bench demo`: times the three Fashion-MNIST demo steps (configs/fashion_mnist/) in nkd and in
// PyTorch (tools/bench_demo_torch.py, NCHW and channels_last), alternating runs of the two.
#pragma once

namespace nkd::apps {

int bench_demo(int argc, char** argv);

}  // namespace nkd::apps
