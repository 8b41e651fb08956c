// `nkd_bench bn`: batch norm + ReLU (+ residual add) in training, forward and backward, as the
// separate ops and as ops::batch_norm_act, alternating in one process (docs/PERF.md, issue 17).
#pragma once

namespace nkd::apps {

int bench_bn(int argc, char** argv);

}  // namespace nkd::apps
