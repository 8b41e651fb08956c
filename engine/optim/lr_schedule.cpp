// LR schedules (mmcv LrUpdaterHook formulas).
#include "engine/optim/lr_schedule.h"

#include <cmath>

#include "engine/check.h"

namespace nkd::optim {

LrSchedule::LrSchedule(double base_lr, const LrScheduleOptions& options, int64_t epochs,
                       int64_t iters_per_epoch)
    : base_(base_lr), o_(options), epochs_(epochs), iters_per_epoch_(iters_per_epoch),
      warmup_iters_(options.warmup_by_epoch ? options.warmup_iters * iters_per_epoch : options.warmup_iters) {
  NKD_CHECK(epochs > 0 && iters_per_epoch > 0, "lr schedule: needs epochs > 0 and iterations per epoch > 0");
  NKD_CHECK(o_.warmup == Warmup::None || o_.warmup_iters > 0, "lr schedule: warm-up needs warmup_iters > 0");
}

double LrSchedule::regular(int64_t iter) const {
  const int64_t progress = o_.by_epoch ? iter / iters_per_epoch_ : iter;
  const int64_t max_progress = o_.by_epoch ? epochs_ : epochs_ * iters_per_epoch_;
  switch (o_.policy) {
    case LrPolicy::Constant:
      return base_;
    case LrPolicy::Step: {
      int64_t passed = 0;
      for (int64_t s : o_.steps) passed += progress >= s ? 1 : 0;
      return base_ * std::pow(o_.gamma, static_cast<double>(passed));
    }
    case LrPolicy::Cosine: {
      const double t = static_cast<double>(progress) / static_cast<double>(max_progress);
      return o_.min_lr + (base_ - o_.min_lr) * 0.5 * (1 + std::cos(M_PI * t));
    }
    case LrPolicy::Poly: {
      const double t = 1.0 - static_cast<double>(progress) / static_cast<double>(max_progress);
      return (base_ - o_.min_lr) * std::pow(t, o_.power) + o_.min_lr;
    }
    case LrPolicy::Exp:
      return base_ * std::pow(o_.gamma, static_cast<double>(progress));
  }
  return base_;
}

double LrSchedule::at(int64_t iter) const {
  const double lr = regular(iter);
  if (o_.warmup == Warmup::None || iter >= warmup_iters_) return lr;
  if (o_.warmup == Warmup::Constant) return lr * o_.warmup_ratio;
  const double k = (1 - static_cast<double>(iter) / static_cast<double>(warmup_iters_)) * (1 - o_.warmup_ratio);
  return lr * (1 - k);
}

}  // namespace nkd::optim
