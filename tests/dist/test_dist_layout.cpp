// The default gradient-bucket layout (1 MB first bucket, then 25 MB, DDP's rule) for the published
// nets with 1000 classes, FP32 gradients: the figures of docs/SCALING.md. Label slow: it builds
// and initialises every net (about a minute on a loaded 2-core machine).
#include <iomanip>
#include <iostream>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/dist/reducer.h"
#include "nets/classifier.h"

namespace nkd::dist {
namespace {

// The default layout (1 MB first bucket, then 25 MB) for the published nets, FP32 gradients with 1000
// classes: the figures in docs/SCALING.md.
TEST(DistBuckets, PublishedNetsLayout) {
  const ReducerOptions o;
  for (const char* name : {"resnet18", "resnet34", "resnet50", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2",
                           "swin_tiny"}) {
    const auto net = nets::build_net(name, nets::NetOptions{}, 0);
    std::vector<int64_t> bytes;
    for (const Tensor& p : net->parameters()) bytes.push_back(p.numel() * 4);
    const auto plan = plan_buckets(bytes, std::vector<DType>(bytes.size(), DType::F32), o);
    int64_t total = 0;
    std::ostringstream os;
    for (const auto& b : plan) {
      int64_t sum = 0;
      for (size_t i : b) sum += bytes[i];
      total += sum;
      EXPECT_LT(sum - bytes[b.back()], &b == &plan[0] ? o.first_bucket_bytes : o.bucket_bytes) << name;
      os << " " << std::fixed << std::setprecision(2) << double(sum) / 1e6;
    }
    std::cout << name << ": " << total << " gradient bytes, " << plan.size() << " buckets (MB):" << os.str() << "\n";
  }
}

}  // namespace
}  // namespace nkd::dist
