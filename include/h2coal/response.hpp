// SPDX-License-Identifier: BSL-1.0
// h2coal/response.hpp: what a server answered, and how it travelled.
#pragma once

#include <h2coal/request.hpp>

#include <cstdint>
#include <string>

namespace h2coal {

/// What a server answered to one request, and how it travelled (completion value of async_request).
struct response {
  /// The final status code (200, 404, ...); 0 when the request failed before a response.
  int status = 0;
  /// The final response's header fields, in the order received (no pseudo-headers).
  fields headers;
  std::string body;                ///< empty when the request had an on_body sink

  // How it travelled (filled in for every response).
  std::uint64_t connection = 0;    ///< id of the connection that carried it (as in trace events)
  std::string http_version;        ///< "2" or "1.1"
  bool coalesced = false;          ///< carried on a connection opened for another origin
  std::string basis;               ///< "same-origin", "dns-match" or "origin-frame"
  unsigned attempts = 0;           ///< 1, or more when it was retried (421, GOAWAY, REFUSED_STREAM)
  std::uint64_t body_bytes = 0;    ///< body bytes received (also when streamed to a sink)
  /// With an error: what more is known than the error code says (the DNS server's "NXDOMAIN", ...).
  std::string error_detail;
  /// The status a proxy answered CONNECT with when it refused the tunnel (error::proxy_tunnel_failed,
  /// proxy_auth_required); 0 otherwise.
  int proxy_status = 0;
};

}  // namespace h2coal
