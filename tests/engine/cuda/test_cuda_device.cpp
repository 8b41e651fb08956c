// The CUDA backend without a usable GPU (label cpu, runs everywhere): device queries never throw,
// NKD_FORCE_CPU=1 hides devices, using a CUDA device fails with a clear nkd::Error, and the
// numerical-mode switches of math_mode.h work without a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "engine/config.h"
#include "engine/cuda/device.h"
#include "engine/cuda/math_mode.h"
#include "engine/factory.h"

namespace nkd {
namespace {

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
      had_ = true;
    }
    setenv(name, value, 1);
  }
  ~ScopedEnv() { had_ ? setenv(name_, old_.c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(CudaDevice, CountNeverThrows) {
  int n = -1;
  EXPECT_NO_THROW(n = cuda::device_count());
  EXPECT_GE(n, 0);
  EXPECT_EQ(cuda::is_available(), n > 0);
  if (n == 0) {
    EXPECT_FALSE(cuda::unavailable_reason().empty());
  } else {
    EXPECT_TRUE(cuda::unavailable_reason().empty()) << cuda::unavailable_reason();
  }
  EXPECT_EQ(cuda::device_count(), n) << "the count must be stable";
}

TEST(CudaDevice, ReasonNamesTheCause) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  const std::string reason = cuda::unavailable_reason();
  if (kBuiltWithCuda) {
    EXPECT_NE(reason.find("no CUDA device"), std::string::npos) << reason;
  } else {
    EXPECT_NE(reason.find("built without CUDA"), std::string::npos) << reason;
  }
}

TEST(CudaDevice, ForceCpuHidesDevices) {
  {
    ScopedEnv force("NKD_FORCE_CPU", "1");
    EXPECT_EQ(cuda::device_count(), 0);
    EXPECT_FALSE(cuda::is_available());
    if (kBuiltWithCuda) {
      EXPECT_NE(cuda::unavailable_reason().find("NKD_FORCE_CPU"), std::string::npos);
    }
  }
  ScopedEnv off("NKD_FORCE_CPU", "0");
  EXPECT_NO_THROW(cuda::device_count());
}

TEST(CudaDevice, UsingAnAbsentDeviceThrowsAnError) {
  ScopedEnv force("NKD_FORCE_CPU", "1");  // the same path on a GPU machine
  EXPECT_THROW(cuda::init(cuda_device(0)), Error);
  EXPECT_THROW(empty({4}, {DType::F32, cuda_device(0)}), Error);
  const Tensor x = ones({2, 3});
  try {
    (void)x.to(cuda_device(0));
    ADD_FAILURE() << "to(cuda:0) did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
}

TEST(CudaDevice, CpuTensorsStillWork) {
  ScopedEnv force("NKD_FORCE_CPU", "1");
  const Tensor x = full({3}, 2.0);
  EXPECT_TRUE(x.to(kCPU).same(x));  // to() the device a tensor is on is a no-op
  EXPECT_EQ(to_vector<float>(x)[2], 2.0f);
}

// The numerical-mode guards set their mode for a scope and restore the previous value, nested too.
TEST(CudaMathMode, GuardsRestoreThePreviousMode) {
  const bool exact = cuda::exact_conv(), det = cuda::deterministic(), tf32 = cuda::allow_tf32();
  {
    const cuda::ExactConvGuard outer(!exact);
    EXPECT_EQ(cuda::exact_conv(), !exact);
    {
      const cuda::ExactConvGuard inner(exact);
      EXPECT_EQ(cuda::exact_conv(), exact);
    }
    EXPECT_EQ(cuda::exact_conv(), !exact);
    const cuda::DeterministicGuard d(!det);
    const cuda::Tf32Guard t(!tf32);
    EXPECT_EQ(cuda::deterministic(), !det);
    EXPECT_EQ(cuda::allow_tf32(), !tf32);
  }
  EXPECT_EQ(cuda::exact_conv(), exact);
  EXPECT_EQ(cuda::deterministic(), det);
  EXPECT_EQ(cuda::allow_tf32(), tf32);
}

}  // namespace
}  // namespace nkd
