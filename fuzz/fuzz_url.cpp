// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_url.cpp: h2coal::url::parse and h2coal::origin::parse on arbitrary bytes.
//
// Neither may crash, and what they accept must be stable: the normalised form parses again to the same
// value, and an origin's serialisation is itself a valid origin.
#include <h2coal/url.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::error_code ec;
  const auto u = h2coal::url::parse(text, ec);
  if (!ec) {
    if (u.target.empty() || u.target.front() != '/') std::abort();
    if (u.origin.port == 0 || u.origin.host.empty()) std::abort();
    std::error_code again_ec;
    const auto again = h2coal::url::parse(u.to_string(), again_ec);
    if (again_ec || !(again == u)) std::abort();
    const auto o = h2coal::origin::parse(u.origin.serialize());
    if (!o || !(*o == u.origin)) std::abort();
  }

  if (const auto o = h2coal::origin::parse(text)) {
    const auto again = h2coal::origin::parse(o->serialize());
    if (!again || !(*again == *o)) std::abort();
    if (o->scheme != "http" && o->scheme != "https") std::abort();
  }
  return 0;
}
