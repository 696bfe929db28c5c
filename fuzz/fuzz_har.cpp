// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_har.cpp: h2audit's streaming HAR reader (examples/h2audit/inputs.hpp) on arbitrary bytes.
//
// It may not crash, hang or keep more than its limit; every URL it returns is an https one, and an error
// returns none.
#include "inputs.hpp"

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  h2audit::read_limits limits;
  limits.max_urls = 32;
  const auto r = h2audit::read_har(in, limits);
  if (!r.error.empty() && !r.urls.empty()) std::abort();
  if (r.urls.size() > limits.max_urls) std::abort();
  for (const auto& u : r.urls)
    if (u.rfind("https://", 0) != 0) std::abort();
  return 0;
}
