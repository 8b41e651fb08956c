// Learning-rate schedules with mmcv's LrUpdaterHook semantics: a regular schedule (step, cosine,
// poly, exponential, constant) evaluated per epoch or per iteration, then an optional warm-up
// (linear or constant, per iteration) that rescales it during the first warm-up iterations. The
// schedule is the one holder of a run's learning rate: optimizers take each step's lr from at().
#pragma once
#include <cstdint>
#include <vector>

namespace nkd::optim {

enum class LrPolicy { Constant, Step, Cosine, Poly, Exp };
enum class Warmup { None, Linear, Constant };

struct LrScheduleOptions {
  LrPolicy policy = LrPolicy::Constant;
  bool by_epoch = true;             // progress counted in epochs (else iterations)
  std::vector<int64_t> steps;       // Step: epochs (or iterations) where lr *= gamma
  double gamma = 0.1;               // Step and Exp factor
  double min_lr = 0.0;              // Cosine and Poly floor
  double power = 1.0;               // Poly exponent
  Warmup warmup = Warmup::None;
  int64_t warmup_iters = 0;
  bool warmup_by_epoch = false;     // warmup_iters counted in epochs (the schedule converts once)
  double warmup_ratio = 0.1;
};

class LrSchedule {
 public:
  LrSchedule(double base_lr, const LrScheduleOptions& options, int64_t epochs, int64_t iters_per_epoch);
  // The learning rate of 0-based global iteration `iter`.
  double at(int64_t iter) const;

 private:
  double regular(int64_t iter) const;
  double base_;
  LrScheduleOptions o_;
  int64_t epochs_, iters_per_epoch_, warmup_iters_;
};

}  // namespace nkd::optim
