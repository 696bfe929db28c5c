// SPDX-License-Identifier: BSL-1.0
// examples/h2get/form.hpp: request bodies and queries built as curl builds them (DESIGN section 7):
// --data-urlencode's forms, -G's query, -u's Basic credentials, -b's cookies (a string, or a file in
// the Netscape format curl's -c writes).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace h2get {

/// Percent-encodes every byte but RFC 3986's unreserved ones (ALPHA DIGIT - . _ ~), and a space as '+':
/// what curl's --data-urlencode sends (application/x-www-form-urlencoded).
inline std::string url_encode(std::string_view in) {
  constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
  }
  return out;
}

/// -G: the data goes into the URL's query ('?' or '&' before it), ahead of any fragment.
inline std::string add_query(const std::string& url, const std::string& data) {
  if (data.empty()) return url;
  std::string base = url, fragment;
  if (auto hash = base.find('#'); hash != std::string::npos) {
    fragment = base.substr(hash);
    base.resize(hash);
  }
  const auto scheme_end = base.find("://");
  const auto path_start = base.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (base.find('?') == std::string::npos && path_start == std::string::npos) base += '/';
  base += base.find('?') == std::string::npos ? '?' : '&';
  return base + data + fragment;
}

/// RFC 4648 base64 with padding (-u's Basic credentials, RFC 7617).
inline std::string base64(std::string_view in) {
  constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                            std::uint8_t(in[i + 2]);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i < in.size()) {
    std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += i + 1 < in.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

/// One cookie of a -b file (curl's Netscape format: domain, subdomains, path, secure, expires, name,
/// value, tab-separated; "#HttpOnly_" before the domain marks an HttpOnly one).
struct stored_cookie {
  std::string domain;  // without a leading dot
  bool subdomains = false;
  std::string path = "/";
  bool secure = false;
  std::int64_t expires = 0;  // seconds since the epoch; 0: a session cookie
  std::string name, value;
};

/// Reads a cookie file. A file that does not exist or has no cookie line gives none (curl ignores it).
inline std::vector<stored_cookie> read_cookie_file(const std::string& path) {
  std::vector<stored_cookie> out;
  std::ifstream in(path, std::ios::binary);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    constexpr std::string_view http_only = "#HttpOnly_";
    if (line.rfind(http_only, 0) == 0) line.erase(0, http_only.size());
    else if (line.empty() || line.front() == '#') continue;
    std::vector<std::string> f;
    std::size_t start = 0;
    while (true) {
      const auto tab = line.find('\t', start);
      f.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (f.size() < 6) continue;
    if (f.size() == 6) f.emplace_back();  // a cookie with an empty value
    stored_cookie c;
    c.domain = f[0];
    if (!c.domain.empty() && c.domain.front() == '.') c.domain.erase(0, 1);
    for (auto& ch : c.domain)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    c.subdomains = f[1] == "TRUE";
    c.path = f[2].empty() ? "/" : f[2];
    c.secure = f[3] == "TRUE";
    try {
      c.expires = std::stoll(f[4]);
    } catch (...) {
      continue;
    }
    c.name = f[5];
    c.value = f[6];
    if (c.name.empty()) continue;
    out.push_back(std::move(c));
  }
  return out;
}

/// The Cookie header for a request to `host` `path` (RFC 6265 section 5.4: domain and path match, Secure
/// only over https, not expired; longer paths first). Empty when none matches.
inline std::string cookie_header(const std::vector<stored_cookie>& jar, const std::string& host, const std::string& path,
                                 bool https) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<const stored_cookie*> match;
  for (const auto& c : jar) {
    const bool domain_ok = host == c.domain || (c.subdomains && host.size() > c.domain.size() &&
                                                host.compare(host.size() - c.domain.size(), c.domain.size(), c.domain) == 0 &&
                                                host[host.size() - c.domain.size() - 1] == '.');
    if (!domain_ok || (c.secure && !https) || (c.expires != 0 && c.expires <= now)) continue;
    const bool path_ok = path == c.path || (path.rfind(c.path, 0) == 0 && (c.path.back() == '/' || path[c.path.size()] == '/'));
    if (!path_ok) continue;
    match.push_back(&c);
  }
  std::stable_sort(match.begin(), match.end(), [](auto* a, auto* b) { return a->path.size() > b->path.size(); });
  std::string out;
  for (const auto* c : match) out += (out.empty() ? "" : "; ") + c->name + "=" + c->value;
  return out;
}

}  // namespace h2get
