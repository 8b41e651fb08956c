// Parameter initialisers (in place, under no-grad, from a seeded counter-based Generator), with
// PyTorch's fan computation: fan_in = C/groups * R * S, fan_out = K * R * S for a [K, C, R, S] weight.
#pragma once
#include "engine/random.h"
#include "engine/tensor.h"

namespace nkd::layers::init {

// The process-wide generator layer constructors draw their PyTorch-default init from (as torch's
// global RNG): distinct values per layer, deterministic in construction order. Nets re-initialise
// from their own seed (ImageClassifier::init_weights).
Generator& default_generator();

int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);

void constant(const Tensor& t, double value);
void normal(const Tensor& t, double mean, double std, Generator& gen);
void uniform(const Tensor& t, double low, double high, Generator& gen);
// Normal(mean, std) truncated to [a, b] (absolute bounds, as timm / mmcv trunc_normal_).
void trunc_normal(const Tensor& t, double std, Generator& gen, double mean = 0.0, double a = -2.0,
                  double b = 2.0);
// He init for ReLU nets: std = sqrt(2 / fan) with fan = fan_out (mmcv kaiming_init(mode='fan_out'))
// or fan_in.
void kaiming_normal(const Tensor& w, bool use_fan_out, Generator& gen);
// PyTorch's default Conv/Linear init: kaiming_uniform(a = sqrt(5)) on the weight and
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias.
void pytorch_default(const Tensor& w, const Tensor& b, Generator& gen);

}  // namespace nkd::layers::init
