// SPDX-License-Identifier: BSL-1.0
// h2coal/response.hpp: what a server answered, and how it travelled.
#pragma once

#include <h2coal/request.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace h2coal {

/// Where the time of a request went, from its start (curl's -w time_* variables, steady clock). With
/// redirects each step is that of the final hop, counted from the start of the first. A step the request
/// did not take (a reused or coalesced connection: no connect, no TLS) is zero, as in curl.
struct timings {
  std::chrono::microseconds namelookup{0};     ///< the host's addresses were known
  std::chrono::microseconds connect{0};        ///< TCP (or the proxy's tunnel) was up
  std::chrono::microseconds appconnect{0};     ///< the TLS handshake was done
  std::chrono::microseconds pretransfer{0};    ///< the request was sent (its head on the wire)
  std::chrono::microseconds starttransfer{0};  ///< the first byte of the response arrived
  std::chrono::microseconds total{0};          ///< the request completed
  std::chrono::microseconds redirect{0};       ///< every hop before the final one took this long
};

/// What a server answered to one request, and how it travelled (completion value of async_request).
struct response {
  /// The final status code (200, 404, ...); 0 when the request failed before a response.
  int status = 0;
  /// HTTP/1.1: the status line's reason phrase ("OK", "Not Found", or empty); HTTP/2 has none (empty).
  std::string reason;
  /// The final response's header fields, in the order received (no pseudo-headers).
  fields headers;
  std::string body;                ///< empty when the request had an on_body sink
  /// Trailer fields (HTTP/2 trailing HEADERS, chunked HTTP/1.1 trailers), kept apart from `headers`.
  fields trailers;
  /// The URL of the final hop (request::url when no redirect was followed).
  std::string effective_url;
  /// Redirects followed.
  unsigned redirects = 0;
  /// Connections opened for this request, every hop and retry counted (curl's num_connects); 0 when
  /// every attempt went on a connection that was there already.
  unsigned connects = 0;
  /// request::decompress: the body was decoded from its Content-Encoding.
  bool decoded = false;
  /// request::decompress: codings the body still has, because this build cannot undo them (the body is
  /// passed on as received from there); empty when everything was decoded.
  std::string undecoded_encoding;

  // How it travelled (filled in for every response).
  std::uint64_t connection = 0;    ///< id of the connection that carried it (as in trace events)
  std::string http_version;        ///< "2" or "1.1"
  bool coalesced = false;          ///< carried on a connection opened for another origin
  std::string basis;               ///< "same-origin", "dns-match" or "origin-frame"
  unsigned attempts = 0;           ///< 1, or more when it was retried (421, GOAWAY, REFUSED_STREAM)
  std::uint64_t body_bytes = 0;    ///< body bytes delivered, decoded (also when streamed to a sink)
  std::uint64_t bytes_received = 0;  ///< body bytes as they came over the connection (before decoding)
  std::uint64_t bytes_sent = 0;    ///< request body bytes sent
  std::uint64_t header_bytes = 0;  ///< the final response's header fields (names and values, and 32 each)
  std::string remote_address;      ///< the address the connection went to (a proxy's, through a proxy)
  std::uint16_t remote_port = 0;   ///< and its port (0 when no connection carried the request)
  std::string local_address;       ///< this side's address of that connection (curl's local_ip)
  std::uint16_t local_port = 0;    ///< and its port (curl's local_port; 0 when no connection)
  h2coal::timings timings;         ///< where the time went
  /// With an error: what more is known than the error code says (the DNS server's "NXDOMAIN", ...).
  std::string error_detail;
  /// The status a proxy answered CONNECT with when it refused the tunnel (error::proxy_tunnel_failed,
  /// proxy_auth_required); 0 otherwise.
  int proxy_status = 0;
};

inline void head_sink::operator()(const response& head) const {
  if (whole_) whole_(head);
  else if (status_and_fields_) status_and_fields_(head.status, head.headers);
}

}  // namespace h2coal
