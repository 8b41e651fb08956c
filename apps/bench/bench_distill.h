// `nkd_bench distill`: a distillation training step (student forward, CE + distillation loss,
// backward, SGD) with the frozen teacher's forward, against PyTorch doing the same step in the same
// run (tools/bench_distill_torch.py). See bench_distill.cpp.
#pragma once

namespace nkd::apps {

int bench_distill(int argc, char** argv);

}  // namespace nkd::apps
