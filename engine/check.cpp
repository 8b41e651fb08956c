// Out-of-line throw helpers, so the macros stay small at every call site.
#include "engine/check.h"

namespace nkd::detail {

void throw_error(const char* /*file*/, int /*line*/, const std::string& msg) { throw Error(msg); }

void throw_internal(const char* file, int line, const char* cond, const std::string& msg) {
  throw InternalError(cat("internal error at ", file, ":", line, ": ", cond, " failed. ", msg));
}

}  // namespace nkd::detail
