// SPDX-License-Identifier: BSL-1.0
// h2coal/url.hpp: absolute http(s) URLs and origins (RFC 3986, RFC 6454).
//
// An origin is scheme, lowercase host and port; the default port is filled in, so https://a.test and
// https://a.test:443 are one origin. IPv6 literal hosts are stored without brackets and serialised with them.
#pragma once

#include <h2coal/error.hpp>

#include <algorithm>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace h2coal {

/// scheme://host:port, as RFC 6454 defines it for http and https.
struct origin {
  std::string scheme;  ///< "http" or "https", lowercase.
  std::string host;    ///< lowercase; an IPv6 literal without brackets.
  /// The port, explicit or the scheme's default (443, 80).
  std::uint16_t port = 0;

  /// The host is an IPv6 address literal.
  bool is_ipv6_literal() const noexcept { return host.find(':') != std::string::npos; }
  /// https: the origin is reached over TLS.
  bool is_tls() const noexcept { return scheme == "https"; }
  /// The port is the scheme's default (443 for https, 80 for http).
  bool is_default_port() const noexcept {
    return (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  }

  /// The host as it appears in an authority: brackets around an IPv6 literal.
  std::string authority_host() const { return is_ipv6_literal() ? "[" + host + "]" : host; }

  /// host[:port] as sent in :authority or Host (the port only when it is not the default).
  std::string authority() const {
    return is_default_port() ? authority_host() : authority_host() + ":" + std::to_string(port);
  }

  /// The RFC 6454 serialisation: scheme "://" host [ ":" port ], default port omitted.
  std::string serialize() const { return scheme + "://" + authority(); }

  /// Parses an ASCII serialised origin ("https://a.test" or "https://a.test:8443"); no path allowed
  /// (RFC 8336 section 2: ORIGIN frame entries). Returns nullopt for anything else.
  static std::optional<origin> parse(std::string_view text);

  /// Same scheme, host and port.
  friend bool operator==(const origin&, const origin&) = default;
  /// Ordered by scheme, host, then port (for sorted containers).
  friend auto operator<=>(const origin&, const origin&) = default;
};

/// An absolute http or https URL, split for sending.
struct url {
  /// Where the request goes: scheme, host, port.
  h2coal::origin origin;
  std::string target = "/";  ///< path and query, as sent in :path; never empty; fragment removed.

  /// origin.scheme.
  const std::string& scheme() const noexcept { return origin.scheme; }
  /// origin.host.
  const std::string& host() const noexcept { return origin.host; }
  /// origin.port.
  std::uint16_t port() const noexcept { return origin.port; }

  /// The whole URL again, normalised (lowercase scheme and host, default port omitted).
  std::string to_string() const { return origin.serialize() + target; }

  /// Parses an absolute http(s) URL. Sets ec to error::invalid_url or error::unsupported_scheme.
  static url parse(std::string_view text, std::error_code& ec);

  /// Resolves a reference (a Location field: absolute, "//host/p", "/p", "p", "../p", "?q", "") against
  /// `base` as RFC 3986 section 5.2 does, dot segments removed (section 5.2.4) and the fragment dropped.
  /// Spaces and bytes above 0x7e are percent-encoded, as browsers and curl do for a Location; other
  /// control characters are error::invalid_url, a scheme other than http(s) error::unsupported_scheme.
  static url resolve(const url& base, std::string_view reference, std::error_code& ec);

  /// Same origin and target.
  friend bool operator==(const url&, const url&) = default;
};

namespace detail {

inline char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string ascii_lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

inline bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// A reg-name host we accept: letters, digits, '-', '.', '_' (RFC 3986 unreserved without '~' is enough
// for DNS names; percent-encoded and IDN hosts must be given in their A-label form), in labels that are
// not empty (RFC 1035 section 2.3.1): "a..test" or a second trailing dot would otherwise be a host that
// serialises to something naming another origin.
inline bool valid_reg_name(std::string_view h) noexcept {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.') return false;
  if (h.find("..") != std::string_view::npos) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
  });
}

inline bool valid_ipv6_literal(std::string_view h) noexcept {
  if (h.size() < 2 || h.size() > 45) return false;
  int colons = 0;
  for (char c : h) {
    if (c == ':') ++colons;
    else if (!is_hex(c) && c != '.') return false;  // '.' for an embedded IPv4 tail; no zone ids
  }
  return colons >= 2;
}

inline bool parse_port(std::string_view s, std::uint16_t& port) noexcept {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

// Splits "scheme://authority" into an origin; rest receives what follows the authority.
inline std::error_code parse_origin_prefix(std::string_view text, origin& o, std::string_view& rest) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) return error::invalid_url;
  o.scheme = ascii_lowercase(text.substr(0, sep));
  if (o.scheme != "http" && o.scheme != "https") {
    for (char c : o.scheme)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
        return error::invalid_url;
    return error::unsupported_scheme;
  }
  text.remove_prefix(sep + 3);
  auto end = text.find_first_of("/?#");
  std::string_view authority = text.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : text.substr(end);
  if (authority.find('@') != std::string_view::npos) return error::invalid_url;  // no userinfo
  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return error::invalid_url;
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return error::invalid_url;
      port = after.substr(1);
      if (port.empty()) port = {};
    }
    o.host = ascii_lowercase(host);
    if (!valid_ipv6_literal(o.host)) return error::invalid_url;
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    } else {
      host = authority;
    }
    o.host = ascii_lowercase(host);
    if (!o.host.empty() && o.host.back() == '.') o.host.pop_back();  // "a.test." names a.test
    if (!valid_reg_name(o.host)) return error::invalid_url;
  }
  if (port.empty()) {
    o.port = o.scheme == "https" ? 443 : 80;
  } else if (!parse_port(port, o.port)) {
    return error::invalid_url;
  }
  return {};
}

}  // namespace detail

inline std::optional<origin> origin::parse(std::string_view text) {
  origin o;
  std::string_view rest;
  if (detail::parse_origin_prefix(text, o, rest)) return std::nullopt;
  if (!rest.empty() && rest != "/") return std::nullopt;
  return o;
}

inline url url::parse(std::string_view text, std::error_code& ec) {
  ec.clear();
  // Surrounding whitespace is a common copy-paste accident; anything inside is an error.
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  url u;
  std::string_view rest;
  if ((ec = detail::parse_origin_prefix(text, u.origin, rest))) return {};
  auto hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  for (char c : rest) {
    auto uc = static_cast<unsigned char>(c);
    if (uc <= 0x20 || uc == 0x7f) {
      ec = error::invalid_url;
      return {};
    }
  }
  if (rest.empty()) u.target = "/";
  else if (rest.front() == '?') u.target = "/" + std::string(rest);
  else u.target = std::string(rest);
  return u;
}

namespace detail {

// RFC 3986 section 5.2.4: removes "." and ".." segments from a path.
inline std::string remove_dot_segments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  while (!in.empty()) {
    if (in.substr(0, 3) == "../") in.remove_prefix(3);                     // A
    else if (in.substr(0, 2) == "./") in.remove_prefix(2);
    else if (in.substr(0, 3) == "/./") in.remove_prefix(2);                // B: "/./" -> "/"
    else if (in == "/.") in = "/";
    else if (in.substr(0, 4) == "/../" || in == "/..") {                   // C: up one segment
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      const auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {                                   // D
      in = {};
    } else {                                                                // E: the first segment moves
      const std::size_t start = in.front() == '/' ? 1 : 0;
      const auto next = in.find('/', start);
      const std::size_t n = next == std::string_view::npos ? in.size() : next;
      out.append(in.substr(0, n));
      in.remove_prefix(n);
    }
  }
  return out;
}

// A Location value as sent on: spaces and non-ASCII bytes percent-encoded, control characters refused.
inline bool encode_reference(std::string_view in, std::string& out) {
  static constexpr char hex[] = "0123456789ABCDEF";
  out.reserve(in.size());
  for (char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
    if (u == ' ' || u > 0x7e) {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  return true;
}

// RFC 3986 section 3.1: a scheme is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) before the first ':',
// which comes before any '/', '?' or '#'.
inline bool has_scheme(std::string_view r) noexcept {
  const auto colon = r.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (r.find_first_of("/?#") < colon) return false;
  const char first = ascii_lower(r.front());
  if (first < 'a' || first > 'z') return false;
  return std::all_of(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
    const char l = ascii_lower(c);
    return (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '+' || l == '-' || l == '.';
  });
}

}  // namespace detail

inline url url::resolve(const url& base, std::string_view reference, std::error_code& ec) {
  ec.clear();
  while (!reference.empty() && (reference.front() == ' ' || reference.front() == '\t')) reference.remove_prefix(1);
  while (!reference.empty() && (reference.back() == ' ' || reference.back() == '\t')) reference.remove_suffix(1);
  if (const auto hash = reference.find('#'); hash != std::string_view::npos) reference = reference.substr(0, hash);
  std::string ref;
  if (!detail::encode_reference(reference, ref)) {
    ec = error::invalid_url;
    return {};
  }
  // Splits a target into its path and "?query" (with the '?'; empty without one).
  auto split = [](std::string_view t, std::string_view& path, std::string_view& query) {
    const auto q = t.find('?');
    path = t.substr(0, q);
    query = q == std::string_view::npos ? std::string_view{} : t.substr(q);
  };
  url out;
  std::string_view path, query;
  if (detail::has_scheme(ref) || ref.rfind("//", 0) == 0) {
    // Absolute, or network-path ("//host/p": the base's scheme).
    out = parse(ref.rfind("//", 0) == 0 ? base.origin.scheme + ":" + ref : ref, ec);
    if (ec) return {};
    split(out.target, path, query);
    out.target = detail::remove_dot_segments(path) + std::string(query);
    if (out.target.empty() || out.target.front() != '/') out.target.insert(0, "/");
    return out;
  }
  out.origin = base.origin;
  std::string_view base_path, base_query;
  split(base.target, base_path, base_query);
  split(ref, path, query);
  std::string merged;
  if (path.empty()) {
    merged = std::string(base_path);                    // "" or "?q": the base's path
    if (query.empty() && ref.empty()) query = base_query;  // "": the base itself
  } else if (path.front() == '/') {
    merged = detail::remove_dot_segments(path);
  } else {
    // Section 5.2.3: the base path up to its last '/', then the reference.
    const auto slash = base_path.rfind('/');
    std::string joined(slash == std::string_view::npos ? std::string_view("/") : base_path.substr(0, slash + 1));
    joined.append(path);
    merged = detail::remove_dot_segments(joined);
  }
  if (merged.empty() || merged.front() != '/') merged.insert(0, "/");
  out.target = merged + std::string(query);
  return out;
}

}  // namespace h2coal

template <>
/// Hashes an origin, for unordered containers keyed by origin.
struct std::hash<h2coal::origin> {
  /// The hash of scheme, host and port.
  std::size_t operator()(const h2coal::origin& o) const noexcept {
    std::size_t h = std::hash<std::string>{}(o.host);
    h ^= std::hash<std::string>{}(o.scheme) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h ^ (std::size_t{o.port} << 1);
  }
};
