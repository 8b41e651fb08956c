// Whether Debian's PyTorch is usable through /usr/bin/python3 (parity tests skip otherwise).
#pragma once
#include <cstdlib>
#include <string>

namespace nkd::testing {

inline constexpr const char* kPython = "/usr/bin/python3";

inline bool torch_available() {
  static const bool ok =
      std::system((std::string(kPython) + " -c 'import torch' > /dev/null 2>&1").c_str()) == 0;
  return ok;
}

}  // namespace nkd::testing
