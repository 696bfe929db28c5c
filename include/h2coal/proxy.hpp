// h2coal/proxy.hpp: forward proxies (DESIGN section 13): which proxy a request goes through, as curl
// decides it.
//
// A proxy_server is one parsed proxy URL (http://, https://, socks5://, socks5h://, with credentials);
// proxy_config says which one each scheme uses and which hosts bypass them (no_proxy). The dialer runs
// the tunnel (detail/tunnel.hpp); the pool keeps the proxy in the partition: connections through a proxy
// are never coalesced by DNS (the client does not know the far address) and ignore ORIGIN frames.
#pragma once

#include <h2coal/error.hpp>
#include <h2coal/tls_options.hpp>
#include <h2coal/url.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace h2coal {

enum class proxy_scheme {
  http,     ///< CONNECT tunnels for https://, absolute-form requests for http://
  https,    ///< as http, inside TLS to the proxy (its own name verified)
  socks5,   ///< RFC 1928; the client resolves the target's name and sends the address
  socks5h,  ///< RFC 1928; the proxy resolves the target's name
};

constexpr std::string_view to_string(proxy_scheme s) noexcept {
  switch (s) {
    case proxy_scheme::http: return "http";
    case proxy_scheme::https: return "https";
    case proxy_scheme::socks5: return "socks5";
    case proxy_scheme::socks5h: return "socks5h";
  }
  return "http";
}

/// One proxy, parsed from a URL as curl reads -x: a missing scheme is http://, a missing port 1080
/// (443 for https://); user and password come percent-decoded from the URL's userinfo.
struct proxy_server {
  proxy_scheme scheme = proxy_scheme::http;
  std::string host;        ///< lowercase; an IPv6 literal without brackets
  std::uint16_t port = 1080;
  std::string user;        ///< Basic (HTTP proxies) or RFC 1929 (SOCKS5); empty: no credentials
  std::string password;
  /// Trust for an https:// proxy's own certificate (curl --proxy-cacert, --proxy-insecure).
  tls_options tls;

  /// Parses "[scheme://][user[:password]@]host[:port][/]"; error::invalid_url / unsupported_scheme
  /// (socks4, ftp, ...) on anything else.
  static std::optional<proxy_server> parse(std::string_view url, std::error_code& ec);

  bool has_credentials() const noexcept { return !user.empty(); }
  /// scheme://host:port, without credentials: what traces and messages show.
  std::string display() const;
  /// What tells two proxies apart for the partition: scheme, host, port and the user name (two users
  /// of one proxy are two identities; the password is not shown anywhere).
  std::string identity() const;

  friend bool operator==(const proxy_server&, const proxy_server&) = default;
};

/// Which proxy each scheme uses, and the hosts that go direct.
struct proxy_config {
  std::optional<proxy_server> http;   ///< for http:// URLs
  std::optional<proxy_server> https;  ///< for https:// URLs
  /// curl's no_proxy list: comma (or space) separated host names, ".domain" or "domain" suffixes, IP
  /// literals (IPv6 with or without brackets), CIDR ranges ("10.0.0.0/8"), host:port, or "*" for all.
  std::string no_proxy;

  /// The proxy for `o`, or nullptr when it goes direct (none configured, or no_proxy matches).
  const proxy_server* for_origin(const origin& o) const;

  bool empty() const noexcept { return !http && !https; }
  friend bool operator==(const proxy_config&, const proxy_config&) = default;
};

/// Whether `no_proxy` (curl's syntax, above) names `host` (lowercase, IPv6 without brackets) at `port`.
inline bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port);

/// The proxies the environment names, with curl's precedence: for https, `https_proxy` then
/// `HTTPS_PROXY`; for http, `http_proxy` only (never HTTP_PROXY: CGI sets it from a request header);
/// then `all_proxy`, `ALL_PROXY` for both; `no_proxy` then `NO_PROXY`. Values that do not parse are
/// left out (and reported through `ec` when given). `getenv` is replaceable for tests.
inline proxy_config proxy_from_environment(const std::function<const char*(const char*)>& getenv_fn = {});
inline proxy_config proxy_from_environment(std::error_code& ec,
                                    const std::function<const char*(const char*)>& getenv_fn = {});

// ---- Definitions ----

}  // namespace h2coal
