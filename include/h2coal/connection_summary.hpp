// SPDX-License-Identifier: BSL-1.0
// h2coal/connection_summary.hpp: one connection of a client, as reports such as h2get -v show it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace h2coal {

/// One connection as h2get's table shows it.
struct connection_summary {
  /// The connection's id, as `conn` in trace events and response::connection.
  std::uint64_t id = 0;
  std::string origin;            ///< initial origin
  std::string remote;            ///< ip:port
  /// The SNI host its TLS handshake sent; empty for cleartext and for IP-literal hosts.
  std::string sni;
  /// The protocol: "h2" or "http/1.1" (ALPN over TLS), "h2c" or "http/1.1" in cleartext.
  std::string alpn;
  std::vector<std::string> origins;  ///< origins it carried requests for
  /// How many requests it carried.
  std::uint64_t requests = 0;
  /// Still open; false for one of the latest closed connections the client keeps listing.
  bool open = true;
  bool resumed = false;          ///< its TLS handshake resumed a session
  std::string proxy;             ///< scheme://host:port of the proxy it went through; empty when direct
};

/// What client::async_preconnect found or opened for an origin.
struct preconnect_result {
  /// The usable connections for the origin, by id (as `conn` in trace events): its own, or, under a
  /// coalescing policy, one opened for another origin that the policy would send its requests to.
  std::vector<std::uint64_t> connections;
  std::size_t opened = 0;  ///< how many of them the preconnect opened
  std::size_t found = 0;   ///< how many were there already (or being opened for a request)
  bool coalesced = false;  ///< one of them was opened for another origin
};

}  // namespace h2coal
