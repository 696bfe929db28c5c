// SPDX-License-Identifier: BSL-1.0
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

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <initializer_list>
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
  /// How the proxy is spoken to: http, https (TLS to the proxy), socks5, socks5h.
  proxy_scheme scheme = proxy_scheme::http;
  std::string host;        ///< lowercase; an IPv6 literal without brackets
  /// The proxy's port.
  std::uint16_t port = 1080;
  std::string user;        ///< Basic (HTTP proxies) or RFC 1929 (SOCKS5); empty: no credentials
  /// The password that goes with `user`.
  std::string password;
  /// Trust for an https:// proxy's own certificate (curl --proxy-cacert, --proxy-insecure).
  tls_options tls;

  /// Parses "[scheme://][user[:password]@]host[:port][/]"; error::invalid_url / unsupported_scheme
  /// (socks4, ftp, ...) on anything else. Stricter than curl, which ignores a path: a path, query or
  /// fragment is invalid_url. The userinfo ends at the last '@' (an unescaped '@' in a password works);
  /// "host:" is the default port.
  static std::optional<proxy_server> parse(std::string_view url, std::error_code& ec);

  /// Whether a user name was given.
  bool has_credentials() const noexcept { return !user.empty(); }
  /// scheme://host:port, without credentials: what traces and messages show.
  std::string display() const;
  /// What tells two proxies apart for the partition: scheme, host, port and the user name (two users
  /// of one proxy are two identities; the password is not shown anywhere).
  std::string identity() const;

  /// Equal in every field, password and TLS settings included.
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

  /// No proxy for either scheme.
  bool empty() const noexcept { return !http && !https; }
  /// Equal proxies and no_proxy list.
  friend bool operator==(const proxy_config&, const proxy_config&) = default;
};

/// Whether `no_proxy` (curl's syntax, above) names `host` (lowercase, IPv6 without brackets) at `port`.
/// As curl 7.86: "*" is a wildcard only as the whole list; entry and host ignore one leading and
/// trailing dot; an IP host matches only IP entries (no DNS). Unlike curl, blanks separate entries as
/// commas do, an entry may carry ":port", and a CIDR "/0" matches its whole family.
inline bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port);

/// The proxies the environment names, with curl's precedence: for https, `https_proxy` then
/// `HTTPS_PROXY`; for http, `http_proxy` only (never HTTP_PROXY: CGI sets it from a request header);
/// then `all_proxy`, `ALL_PROXY` for both; `no_proxy` then `NO_PROXY`. An empty variable counts as
/// unset. The first variable set decides: one that does not parse leaves its scheme without a proxy
/// (no fallback to all_proxy) and is reported through `ec` (the first such error) when given.
/// `getenv_fn` is replaceable for tests; empty means std::getenv.
inline proxy_config proxy_from_environment(const std::function<const char*(const char*)>& getenv_fn = {});
inline proxy_config proxy_from_environment(std::error_code& ec,
                                    const std::function<const char*(const char*)>& getenv_fn = {});

// ---- Definitions ----

namespace detail {

inline void trim_blanks(std::string_view& s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
}

inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 section 2.1; false on a '%' not followed by two hex digits.
inline bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

// Userinfo characters that need no escaping (RFC 3986 unreserved); everything else as %XX.
inline std::string percent_encode_userinfo(std::string_view in) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += digits[u >> 4];
      out += digits[u & 0xf];
    }
  }
  return out;
}

// Strict dotted-quad IPv4 (four decimal parts, 0-255, no leading zeros beyond "0"), as inet_pton.
inline bool parse_ipv4(std::string_view s, std::array<std::uint8_t, 4>& out) noexcept {
  std::size_t part = 0;
  while (true) {
    if (part == 4 || s.empty()) return false;
    std::size_t n = 0;
    unsigned v = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') {
      v = v * 10 + static_cast<unsigned>(s[n] - '0');
      if (++n > 3) return false;
    }
    if (n == 0 || v > 255 || (n > 1 && s[0] == '0')) return false;
    out[part++] = static_cast<std::uint8_t>(v);
    s.remove_prefix(n);
    if (s.empty()) return part == 4;
    if (s.front() != '.') return false;
    s.remove_prefix(1);
  }
}

// RFC 4291 section 2.2 text forms: hex groups, one "::", an optional dotted IPv4 tail; no zone id.
inline bool parse_ipv6(std::string_view s, std::array<std::uint8_t, 16>& out) noexcept {
  std::array<std::uint16_t, 8> groups{};
  int count = 0, gap = -1;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    s.remove_prefix(2);
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (!s.empty()) {
    if (count == 8) return false;
    std::size_t n = 0;
    unsigned v = 0;
    while (n < s.size() && is_hex(s[n])) {
      v = v * 16 + static_cast<unsigned>(hex_value(s[n]));
      if (++n > 4) return false;
    }
    if (n < s.size() && s[n] == '.') {  // the IPv4 tail takes two groups and ends the address
      std::array<std::uint8_t, 4> v4{};
      if (count > 6 || !parse_ipv4(s, v4)) return false;
      groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(v4[0] << 8 | v4[1]);
      groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(v4[2] << 8 | v4[3]);
      s = {};
      break;
    }
    if (n == 0) return false;
    groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(v);
    s.remove_prefix(n);
    if (s.empty()) break;
    if (s.front() != ':') return false;
    s.remove_prefix(1);
    if (!s.empty() && s.front() == ':') {
      if (gap >= 0) return false;  // a second "::"
      gap = count;
      s.remove_prefix(1);
    } else if (s.empty()) {
      return false;  // a trailing single ':'
    }
  }
  if (gap < 0 && count != 8) return false;
  if (gap >= 0 && count == 8) return false;  // "::" must stand for at least one group
  std::array<std::uint16_t, 8> full{};
  int tail = gap < 0 ? 0 : count - gap;
  for (int i = 0; i < count - tail; ++i) full[static_cast<std::size_t>(i)] = groups[static_cast<std::size_t>(i)];
  for (int i = 0; i < tail; ++i)
    full[static_cast<std::size_t>(8 - tail + i)] = groups[static_cast<std::size_t>(count - tail + i)];
  for (std::size_t i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(full[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(full[i] & 0xff);
  }
  return true;
}

// An IP literal host, parsed: 4 bytes for IPv4, 16 for IPv6.
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  std::size_t size = 0;  // 0: not an IP literal

  static ip_address parse(std::string_view s) noexcept {
    ip_address a;
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
      s = s.substr(1, s.size() - 2);
      if (parse_ipv6(s, a.bytes)) a.size = 16;
      return a;
    }
    std::array<std::uint8_t, 4> v4{};
    if (parse_ipv4(s, v4)) {
      std::copy(v4.begin(), v4.end(), a.bytes.begin());
      a.size = 4;
    } else if (parse_ipv6(s, a.bytes)) {
      a.size = 16;
    }
    return a;
  }

  // Whether the first `bits` bits equal those of `network` (same family only).
  bool in_prefix(const ip_address& network, unsigned bits) const noexcept {
    if (size == 0 || size != network.size || bits > size * 8) return false;
    std::size_t whole = bits / 8;
    for (std::size_t i = 0; i < whole; ++i)
      if (bytes[i] != network.bytes[i]) return false;
    unsigned rest = bits % 8;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (bytes[whole] & mask) == (network.bytes[whole] & mask);
  }
};

// One no_proxy entry: "name", ".name", "IP", "[IPv6]", "IP/bits", each optionally with ":port".
inline bool no_proxy_entry_matches(std::string_view entry, std::string_view host, const ip_address& host_ip,
                                   std::uint16_t port) {
  // A port suffix (ours, as Go's): "name:80", "10.0.0.1:80", "[::1]:80". A bare IPv6 entry ("::1")
  // has more than one ':' and no brackets, so it has no port.
  std::uint16_t entry_port = 0;
  auto colon = entry.rfind(':');
  if (colon != std::string_view::npos) {
    bool bracketed = !entry.empty() && entry.front() == '[';
    bool single = entry.find(':') == colon;
    if ((bracketed && colon > 0 && entry[colon - 1] == ']') || (!bracketed && single)) {
      if (!parse_port(entry.substr(colon + 1), entry_port)) return false;
      entry = entry.substr(0, colon);
    }
  }
  if (entry_port != 0 && entry_port != port) return false;
  if (!entry.empty() && entry.front() == '[' && entry.back() == ']') entry = entry.substr(1, entry.size() - 2);

  if (host_ip.size != 0) {
    // An IP host is compared only with IP entries (curl 7.86): exact, or within a CIDR range.
    unsigned bits = static_cast<unsigned>(host_ip.size * 8);
    auto slash = entry.find('/');
    if (slash != std::string_view::npos) {
      auto b = entry.substr(slash + 1);
      if (b.empty() || b.size() > 3) return false;
      unsigned v = 0;
      for (char c : b) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
      }
      bits = v;
      entry = entry.substr(0, slash);
    }
    ip_address network = ip_address::parse(entry);
    return host_ip.in_prefix(network, bits);
  }

  // A name: the entry's leading and trailing dots are ignored; it names itself and every subdomain.
  if (!entry.empty() && entry.back() == '.') entry.remove_suffix(1);
  if (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
  if (entry.empty()) return false;
  if (entry.size() == host.size()) return iequals(entry, host);
  if (entry.size() < host.size())
    return host[host.size() - entry.size() - 1] == '.' && iequals(entry, host.substr(host.size() - entry.size()));
  return false;
}

inline const char* call_getenv(const std::function<const char*(const char*)>& fn, const char* name) {
  const char* v = fn ? fn(name) : std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  return (v && *v) ? v : nullptr;  // an empty variable counts as unset
}

}  // namespace detail

inline std::optional<proxy_server> proxy_server::parse(std::string_view text, std::error_code& ec) {
  ec.clear();
  detail::trim_blanks(text);
  proxy_server p;
  auto fail = [&](error e) -> std::optional<proxy_server> {
    ec = e;
    return std::nullopt;
  };
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return fail(error::invalid_url);
  }

  auto sep = text.find("://");
  if (sep != std::string_view::npos) {
    auto scheme = text.substr(0, sep);
    if (scheme.empty()) return fail(error::invalid_url);
    for (char c : scheme) {
      char l = detail::ascii_lower(c);
      if (!((l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
        return fail(error::invalid_url);
    }
    if (detail::iequals(scheme, "http")) p.scheme = proxy_scheme::http;
    else if (detail::iequals(scheme, "https")) p.scheme = proxy_scheme::https;
    else if (detail::iequals(scheme, "socks5")) p.scheme = proxy_scheme::socks5;
    else if (detail::iequals(scheme, "socks5h")) p.scheme = proxy_scheme::socks5h;
    else return fail(error::unsupported_scheme);  // socks4, socks4a, socks, ftp, ...
    text.remove_prefix(sep + 3);
  }

  // The authority ends at the first '/', '?' or '#'; only one trailing '/' may follow it.
  auto end = text.find_first_of("/?#");
  std::string_view authority = text.substr(0, end);
  if (end != std::string_view::npos && text.substr(end) != "/") return fail(error::invalid_url);

  // Userinfo: up to the last '@', so an unescaped '@' in a password still works (as WHATWG URLs).
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    auto colon = userinfo.find(':');
    auto user = userinfo.substr(0, colon);
    auto password = colon == std::string_view::npos ? std::string_view{} : userinfo.substr(colon + 1);
    if (!detail::percent_decode(user, p.user) || !detail::percent_decode(password, p.password))
      return fail(error::invalid_url);
  }

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(error::invalid_url);
    p.host = detail::ascii_lowercase(authority.substr(1, close - 1));
    std::array<std::uint8_t, 16> ignored{};
    if (!detail::parse_ipv6(p.host, ignored)) return fail(error::invalid_url);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(error::invalid_url);
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    p.host = detail::ascii_lowercase(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    if (!p.host.empty() && p.host.back() == '.') p.host.pop_back();  // "proxy.test." names proxy.test
    if (!detail::valid_reg_name(p.host)) return fail(error::invalid_url);
  }
  // curl's defaults: 1080, or 443 for https:// (CURLOPT_PROXYPORT). "host:" is the default port.
  if (port.empty()) p.port = p.scheme == proxy_scheme::https ? 443 : 1080;
  else if (!detail::parse_port(port, p.port)) return fail(error::invalid_url);
  return p;
}

inline std::string proxy_server::display() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(to_string(scheme)) + "://" + h + ":" + std::to_string(port);
}

inline std::string proxy_server::identity() const {
  // The user percent-encoded, so neither '@' nor ':' in a name can make two identities look alike.
  if (user.empty()) return display();
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(to_string(scheme)) + "://" + detail::percent_encode_userinfo(user) + "@" + h + ":" +
         std::to_string(port);
}

inline const proxy_server* proxy_config::for_origin(const origin& o) const {
  const std::optional<proxy_server>* p = nullptr;
  if (o.scheme == "https") p = &https;
  else if (o.scheme == "http") p = &http;
  if (!p || !*p) return nullptr;
  if (no_proxy_matches(no_proxy, o.host, o.port)) return nullptr;
  return &**p;
}

inline bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port) {
  detail::trim_blanks(no_proxy);
  if (no_proxy.empty() || host.empty()) return false;
  if (no_proxy == "*") return true;  // curl: a lone "*" is the only wildcard

  detail::ip_address host_ip = detail::ip_address::parse(host);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host_ip.size == 0 && host.back() == '.') host.remove_suffix(1);  // "a.test." names a.test

  // Entries are separated by commas, blanks, or both; empty entries are skipped.
  std::size_t i = 0;
  while (i < no_proxy.size()) {
    auto is_sep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (i < no_proxy.size() && is_sep(no_proxy[i])) ++i;
    std::size_t start = i;
    while (i < no_proxy.size() && !is_sep(no_proxy[i])) ++i;
    if (i > start && detail::no_proxy_entry_matches(no_proxy.substr(start, i - start), host, host_ip, port))
      return true;
  }
  return false;
}

inline proxy_config proxy_from_environment(std::error_code& ec,
                                           const std::function<const char*(const char*)>& getenv_fn) {
  ec.clear();
  proxy_config config;
  // The first variable that is set decides; one that does not parse leaves the scheme without a proxy
  // (no fallback to all_proxy: a typo should not send the traffic through another proxy).
  auto pick = [&](std::initializer_list<const char*> names) -> std::optional<proxy_server> {
    for (const char* name : names) {
      const char* value = detail::call_getenv(getenv_fn, name);
      if (!value) continue;
      std::error_code parse_ec;
      auto p = proxy_server::parse(value, parse_ec);
      if (parse_ec && !ec) ec = parse_ec;
      return p;
    }
    return std::nullopt;
  };
  config.https = pick({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"});
  // Never HTTP_PROXY: CGI servers set it from a request's "Proxy:" header (httpoxy, CVE-2016-5385).
  config.http = pick({"http_proxy", "all_proxy", "ALL_PROXY"});
  const char* no_proxy = detail::call_getenv(getenv_fn, "no_proxy");
  if (!no_proxy) no_proxy = detail::call_getenv(getenv_fn, "NO_PROXY");
  if (no_proxy) config.no_proxy = no_proxy;
  return config;
}

inline proxy_config proxy_from_environment(const std::function<const char*(const char*)>& getenv_fn) {
  std::error_code ignored;
  return proxy_from_environment(ignored, getenv_fn);
}

}  // namespace h2coal
