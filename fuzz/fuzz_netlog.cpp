// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_netlog.cpp: h2audit's streaming NetLog reader (examples/h2audit/inputs.hpp) on arbitrary bytes.
//
// It may not crash, hang or grow past its limits; what it reports must hang together: every pooled name
// was sent on a session it lists, opened for another name, and an error leaves nothing behind.
#include "inputs.hpp"

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  h2audit::read_limits limits;
  limits.max_event_bytes = 4096;
  limits.max_sources = 64;
  limits.max_sessions = 16;
  const auto r = h2audit::read_netlog(in, limits);
  if (!r.error.empty()) {
    if (!r.report.sessions.empty() || !r.report.pooled.empty()) std::abort();
    return 0;
  }
  if (r.report.sessions.size() > limits.max_sessions) std::abort();
  for (const auto& p : r.report.pooled) {
    if (p.name == p.onto) std::abort();
    bool listed = false;
    for (const auto& s : r.report.sessions) listed = listed || (s.id == p.session && s.host == p.onto);
    if (!listed) std::abort();
  }
  return 0;
}
