// Conv2d and Linear. Both follow the bf16 autocast policy (engine/autocast.h): under an
// AutocastGuard they run in BF16 on the BF16 copies of their input and parameters.
#include "layers/conv.h"

#include "engine/autocast.h"
#include "engine/factory.h"
#include "engine/ops/matmul.h"
#include "layers/init.h"

namespace nkd::layers {

Conv2d::Conv2d(const Conv2dOptions& o) : o_(o) {
  NKD_CHECK(o.in > 0 && o.out > 0 && o.groups > 0 && o.in % o.groups == 0 && o.out % o.groups == 0,
            "Conv2d: in ", o.in, " and out ", o.out, " must be positive multiples of groups ", o.groups);
  weight = register_parameter("weight", zeros({o.out, o.in / o.groups, o.kernel.h, o.kernel.w}));
  if (o.bias) bias = register_parameter("bias", zeros({o.out}));
  reset_parameters(init::default_generator());
}

Tensor Conv2d::forward(const Tensor& x) {
  return ops::conv2d(autocast(x), autocast_weight(weight), autocast_weight(bias), {.stride = o_.stride, .padding = o_.padding, .dilation = o_.dilation, .groups = o_.groups});
}

void Conv2d::reset_parameters(Generator& gen) { init::pytorch_default(weight, bias, gen); }

Linear::Linear(int64_t in, int64_t out, bool with_bias) {
  NKD_CHECK(in > 0 && out > 0, "Linear: sizes must be positive, got ", in, " -> ", out);
  weight = register_parameter("weight", zeros({out, in}));
  if (with_bias) bias = register_parameter("bias", zeros({out}));
  reset_parameters(init::default_generator());
}

Tensor Linear::forward(const Tensor& x) {
  return ops::linear(autocast(x), autocast_weight(weight), autocast_weight(bias));
}

void Linear::reset_parameters(Generator& gen) { init::pytorch_default(weight, bias, gen); }

}  // namespace nkd::layers
