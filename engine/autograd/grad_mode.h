// Thread-local gradient recording switch. Ops record backward nodes only while it is on.
#pragma once

namespace nkd {

bool grad_enabled();
void set_grad_enabled(bool on);

// Turns recording off for its scope (teacher forward, evaluation, optimizer updates, backward).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace nkd
