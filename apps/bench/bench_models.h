// `nkd_bench model [names...]`: training-step and inference throughput of whole nets (F32, CPU or GPU),
// next to PyTorch's torchvision models (tools/bench_models_torch.py) measured in the same run.
#pragma once

namespace nkd::apps {

// argv holds the arguments after "model": [names...] [--batch N] [--size N] [--threads N]
// [--runs N] [--warmup N] [--no-torch] [--device cpu|cuda] [--tf32] [--precision fp32|tf32|bf16]
// (nkd's precision; with bf16 compare nkd with the PyTorch AMP columns). Prints a Markdown table; returns the exit code.
int bench_models(int argc, char** argv);

}  // namespace nkd::apps
