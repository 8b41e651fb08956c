// Error types and the check macros every library layer uses.
// Misuse of the API throws nkd::Error (message names the op and the shapes); a broken internal
// invariant throws nkd::InternalError. Library code never calls exit().
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace nkd {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class InternalError : public Error {
 public:
  using Error::Error;
};
class CudaError : public Error {
 public:
  using Error::Error;
};
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);
[[noreturn]] void throw_internal(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace detail

}  // namespace nkd

// NKD_CHECK(cond, "op: ", what, ...): user-facing precondition; the message is built only on failure.
#define NKD_CHECK(cond, ...)                                                         \
  do {                                                                               \
    if (!(cond)) ::nkd::detail::throw_error(__FILE__, __LINE__, ::nkd::detail::cat(__VA_ARGS__)); \
  } while (0)

// NKD_ASSERT(cond, ...): an internal invariant; failure is a bug in nkd.
#define NKD_ASSERT(cond, ...)                                                        \
  do {                                                                               \
    if (!(cond))                                                                     \
      ::nkd::detail::throw_internal(__FILE__, __LINE__, #cond, ::nkd::detail::cat(__VA_ARGS__)); \
  } while (0)

#define NKD_FAIL(...) ::nkd::detail::throw_error(__FILE__, __LINE__, ::nkd::detail::cat(__VA_ARGS__))
