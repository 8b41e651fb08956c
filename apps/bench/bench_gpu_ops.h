// `nkd_bench gpu-ops`: per-op GPU times at ResNet-50 shapes (conv 3x3/1x1 forward, backward data and
// backward weight; batch norm; relu; linear), F32, with the achieved TFLOP/s or GB/s, next to
// PyTorch on the same GPU in the same run (tools/bench_gpu_ops_torch.py).
#pragma once

namespace nkd::apps {

// argv holds the arguments after "gpu-ops": [--batch N] [--runs N] [--warmup N] [--no-torch] [--tf32]
// (TF32 tensor cores for float convolutions and matmuls, in nkd and PyTorch alike).
// Prints a Markdown table; returns the exit code.
int bench_gpu_ops(int argc, char** argv);

}  // namespace nkd::apps
