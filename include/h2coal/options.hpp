// SPDX-License-Identifier: BSL-1.0
// h2coal/options.hpp: everything a client is configured with.
#pragma once

#include <h2coal/policy.hpp>
#include <h2coal/proxy.hpp>
#include <h2coal/request.hpp>
#include <h2coal/resolver.hpp>
#include <h2coal/tls_options.hpp>
#include <h2coal/trace.hpp>
#include <h2coal/url.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace h2coal {

using namespace std::chrono_literals;

enum class http_version {
  automatic,           ///< https: ALPN offers h2 then http/1.1; http: HTTP/1.1
  http1_only,          ///< HTTP/1.1 everywhere (curl --http1.1)
  h2_prior_knowledge,  ///< http: HTTP/2 without upgrade (h2c); https: ALPN offers only h2
};

/// Which address families a client connects over (curl -4 / -6).
enum class ip_family { any, v4, v6 };

/// Connections for one host and port go to another host or port (curl's --connect-to). The request is
/// unchanged: its `:authority`/Host, the SNI and the name the certificate is verified for stay the URL's;
/// only where the TCP connection goes changes. An origin a rule applies to is never coalesced, and its
/// connections carry nothing else (the pool cannot know what the other server serves). Direct connections
/// only: through a proxy (client_options::proxy) the rules are not used.
struct connect_to_rule {
  std::string host;          ///< the URL's host the rule is for; empty: any host
  std::uint16_t port = 0;    ///< the URL's port (the scheme's default when it names none); 0: any port
  std::string to_host;       ///< resolved and connected to instead; empty: the URL's host
  std::uint16_t to_port = 0; ///< connected to instead; 0: the URL's port

  /// Whether the rule applies to host `h` on port `p` (host names compare case-insensitively).
  bool matches(std::string_view h, std::uint16_t p) const noexcept {
    return (port == 0 || port == p) && (host.empty() || detail::iequals(host, h));
  }

  /// Parses curl's syntax "HOST1:PORT1:HOST2:PORT2" (each part may be empty; IPv6 addresses in
  /// brackets). Nothing on a malformed rule (a missing part, a port that is not 1-65535).
  static std::optional<connect_to_rule> parse(std::string_view spec) {
    connect_to_rule r;
    auto host_part = [&spec](std::string& out) {
      if (!spec.empty() && spec.front() == '[') {
        auto close = spec.find(']');
        if (close == std::string_view::npos) return false;
        out.assign(spec.substr(1, close - 1));
        spec.remove_prefix(close + 1);
      } else {
        auto colon = spec.find(':');
        out.assign(spec.substr(0, colon));
        spec.remove_prefix(colon == std::string_view::npos ? spec.size() : colon);
      }
      return true;
    };
    auto port_part = [&spec](std::uint16_t& out, bool last) {
      std::string_view digits = spec;
      if (!last) {
        auto colon = spec.find(':');
        if (colon == std::string_view::npos) return false;
        digits = spec.substr(0, colon);
      }
      spec.remove_prefix(last ? spec.size() : digits.size());
      return digits.empty() || detail::parse_port(digits, out);  // empty: any, or unchanged
    };
    auto colon = [&spec] {
      if (spec.empty() || spec.front() != ':') return false;
      spec.remove_prefix(1);
      return true;
    };
    if (!host_part(r.host) || !colon() || !port_part(r.port, false) || !colon() || !host_part(r.to_host) ||
        !colon() || !port_part(r.to_port, true))
      return std::nullopt;
    for (auto& c : r.host) c = detail::ascii_lower(c);
    return r;
  }

  /// Equal in every part.
  friend bool operator==(const connect_to_rule&, const connect_to_rule&) = default;
};

/// Everything a client is configured with, given to its constructor (client::options() reads it back).
///
/// Defaults suit a general-purpose client: the origin policy, the system resolver with a 60 s cache, the
/// system CA store, no proxy, no request timeout, 90 s idle timeout.
struct client_options {
  /// Trust, verification, client certificate, pins and session resumption (docs/tls.md).
  tls_options tls;
  /// HTTP/2 or HTTP/1.1, by ALPN or forced (curl --http1.1, --http2-prior-knowledge).
  http_version version = http_version::automatic;
  /// The coalescing policy, per host pattern; `origin` by default (DESIGN section 3).
  policy_map policies = policy_map{};
  /// Name resolution; the system resolver when null.
  std::shared_ptr<h2coal::resolver> resolver;
  /// Called on the client's executor for every trace event; no events are built when empty.
  trace::hook trace;
  /// Forward proxies per scheme and the hosts that bypass them (DESIGN section 13); none by default.
  /// The environment is read only when asked: `opts.proxy = proxy_from_environment();`.
  proxy_config proxy;
  /// Where connections for chosen hosts and ports go instead (curl --connect-to); the first rule that
  /// matches an origin applies. Direct connections only.
  std::vector<connect_to_rule> connect_to;

  std::chrono::milliseconds connect_timeout = 30s;    ///< the whole Happy Eyeballs race, over all addresses
  /// RFC 8305 section 5 Connection Attempt Delay: the next address is tried this long after the previous
  /// attempt started (or at once when it failed). Values under 10 ms are taken as 10 ms.
  std::chrono::milliseconds connection_attempt_delay = 250ms;
  /// The address families connected over; addresses of the other family are left out of the race.
  h2coal::ip_family ip_family = h2coal::ip_family::any;
  /// How long an answer without a TTL (system_resolver, static_resolver) stays in the client's DNS cache
  /// (Chromium's 60 s); answers with a TTL keep it, clamped to [1 s, 1 h]. Zero: no cache.
  std::chrono::seconds dns_cache_ttl = 60s;
  /// Wait for a connection still handshaking whose address is in the request's answer, and use it when its
  /// certificate covers the host (DESIGN section 11; off, as in Chromium).
  bool coalesce_pending = false;
  std::chrono::milliseconds handshake_timeout = 30s;  ///< TLS handshake and the server's first SETTINGS
  std::chrono::milliseconds request_timeout = 0s;     ///< whole request, zero for none
  std::chrono::milliseconds idle_timeout = 90s;       ///< close a connection idle this long

  /// HTTP/2 health check (DESIGN section 14, Go's ReadIdleTimeout): when nothing was received on a
  /// connection for this long, it sends a PING; zero: off (the default; h2get uses 15 s).
  std::chrono::milliseconds read_idle_timeout = 0s;
  /// How long that PING waits for its ACK. Without one the connection is closed as dead (trace reason
  /// `ping-timeout`): requests that got no response byte and may be sent twice go on elsewhere, the others
  /// fail with error::connection_dead.
  std::chrono::milliseconds ping_timeout = 15s;
  /// A connection this old takes no new requests: it finishes what it carries and closes (trace reason
  /// `max-age`). Zero: no limit.
  std::chrono::milliseconds max_connection_age = 0s;
  /// A connection that carried this many requests takes no more: it finishes them and closes (trace
  /// reason `max-requests`). Zero: no limit.
  std::uint64_t max_requests_per_connection = 0;

  /// Send `Expect: 100-continue` with request bodies larger than this many bytes (and with streamed bodies
  /// of unknown length), and hold the body back until the server's 100 or expect_continue_timeout; a final
  /// status first ends the request without the body (DESIGN section 12). Zero: never (the default).
  std::size_t expect_continue_threshold = 0;
  /// How long a body waits for 100 Continue before it is sent anyway (curl's --expect100-timeout).
  std::chrono::milliseconds expect_continue_timeout = 1s;

  std::size_t max_body_size = 64 * 1024 * 1024;       ///< buffered response body limit
  std::size_t max_header_list_size = 64 * 1024;       ///< response header block limit (names + values)
  /// Keep-alive HTTP/1.1 connections per origin, each carrying one request at a time (as browsers: 6).
  std::size_t max_http1_connections_per_origin = 6;
  std::size_t max_connections = 0;                    ///< in total; zero for no limit
  /// HTTP/2 connections opened per origin (its own, not those it is coalesced onto); at the limit a
  /// request waits for a stream on one of them. Zero for no limit.
  std::size_t max_connections_per_origin = 0;
  /// At the peer's MAX_CONCURRENT_STREAMS: open another connection to the origin instead of waiting.
  bool open_new_when_at_capacity = false;
  /// Coalesce onto connections that sent a client certificate (off: the certificate names one identity).
  bool allow_client_cert_coalescing = false;
  /// When a new connection turns out to duplicate one that already serves its origin, close it (Firefox).
  bool close_redundant_connections = false;

  std::uint32_t stream_window = 16 * 1024 * 1024;     ///< HTTP/2 receive window per stream
  std::uint32_t connection_window = 64 * 1024 * 1024; ///< HTTP/2 receive window per connection
  unsigned max_retries = 4;                           ///< GOAWAY / REFUSED_STREAM / 421 retries per request
  /// Retries by status and after failed connections (DESIGN section 12); none by default.
  std::optional<retry_policy> retry;
  /// client::connections() lists every open connection and the latest this many closed ones: a client
  /// that runs for days does not keep a record of every connection it ever opened.
  std::size_t closed_connection_summaries = 1024;
};

}  // namespace h2coal
