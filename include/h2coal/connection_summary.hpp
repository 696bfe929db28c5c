// SPDX-License-Identifier: BSL-1.0
// h2coal/connection_summary.hpp: one connection of a client, as reports such as h2get -v show it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace h2coal {

/// One connection as h2get's table shows it.
struct connection_summary {
  std::uint64_t id = 0;
  std::string origin;            ///< initial origin
  std::string remote;            ///< ip:port
  std::string sni;
  std::string alpn;
  std::vector<std::string> origins;  ///< origins it carried requests for
  std::uint64_t requests = 0;
  bool open = true;
  bool resumed = false;          ///< its TLS handshake resumed a session
  std::string proxy;             ///< scheme://host:port of the proxy it went through; empty when direct
};

}  // namespace h2coal
