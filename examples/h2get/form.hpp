// SPDX-License-Identifier: BSL-1.0
// examples/h2get/form.hpp: request bodies and queries built as curl builds them (DESIGN section 7):
// --data-urlencode's forms, -G's query, -u's Basic credentials, -b's cookies (a string, or a file in
// the Netscape format curl's -c writes).
#pragma once

#include <algorithm>
#include <chrono>
#include <ctime>
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
  bool http_only = false;
};

/// Reads a cookie file. A file that does not exist or has no cookie line gives none (curl ignores it).
inline std::vector<stored_cookie> read_cookie_file(const std::string& path) {
  std::vector<stored_cookie> out;
  std::ifstream in(path, std::ios::binary);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    constexpr std::string_view http_only = "#HttpOnly_";
    const bool marked = line.rfind(http_only, 0) == 0;
    if (marked) line.erase(0, http_only.size());
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
    c.http_only = marked;
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
  // curl's order: longer path, then longer domain, then longer name first; then the newer one.
  std::reverse(match.begin(), match.end());
  std::stable_sort(match.begin(), match.end(), [](auto* a, auto* b) {
    if (a->path.size() != b->path.size()) return a->path.size() > b->path.size();
    if (a->domain.size() != b->domain.size()) return a->domain.size() > b->domain.size();
    return a->name.size() > b->name.size();
  });
  std::string out;
  for (const auto* c : match) out += (out.empty() ? "" : "; ") + c->name + "=" + c->value;
  return out;
}

/// An HTTP-date (RFC 9110 section 5.6.7: IMF-fixdate, RFC 850, asctime) as seconds since the epoch;
/// nullopt when it is none of them.
inline std::optional<std::int64_t> parse_http_date(const std::string& text) {
  for (const char* format : {"%a, %d %b %Y %H:%M:%S", "%A, %d-%b-%y %H:%M:%S", "%a %b %d %H:%M:%S %Y", "%a, %d-%b-%Y %H:%M:%S"}) {
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), format, &tm);
    if (!end) continue;
    return static_cast<std::int64_t>(::timegm(&tm));
  }
  return std::nullopt;
}

/// -c: a Set-Cookie field received from `host` for `path` into `jar` (RFC 6265 section 5.2 and 5.3): a
/// cookie replaces the one of the same name, domain and path; one that expired removes it. A Domain
/// that does not cover the host makes the field ignored.
inline void store_set_cookie(std::vector<stored_cookie>& jar, std::string_view field, const std::string& host,
                             const std::string& request_path) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  auto lower = [](std::string_view v) {
    std::string out(v);
    for (auto& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  };
  const auto first = field.substr(0, field.find(';'));
  const auto eq = first.find('=');
  if (eq == std::string_view::npos) return;
  stored_cookie c;
  c.name = std::string(trim(first.substr(0, eq)));
  c.value = std::string(trim(first.substr(eq + 1)));
  if (c.name.empty()) return;
  c.domain = lower(host);
  // The default path: the request path up to its last '/', or "/" (section 5.1.4).
  const auto slash = request_path.rfind('/');
  c.path = slash == std::string::npos || slash == 0 ? "/" : request_path.substr(0, slash);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::optional<std::int64_t> max_age, expires;
  std::size_t pos = field.find(';');
  while (pos != std::string_view::npos) {
    const auto next = field.find(';', pos + 1);
    const auto attr = trim(field.substr(pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1));
    pos = next;
    const auto aeq = attr.find('=');
    const std::string key = lower(trim(attr.substr(0, aeq)));
    const std::string value = aeq == std::string_view::npos ? std::string() : std::string(trim(attr.substr(aeq + 1)));
    if (key == "domain" && !value.empty()) {
      std::string d = lower(value);
      if (d.front() == '.') d.erase(0, 1);
      const bool covers = c.domain == d || (c.domain.size() > d.size() && c.domain.compare(c.domain.size() - d.size(), d.size(), d) == 0 &&
                                            c.domain[c.domain.size() - d.size() - 1] == '.');
      if (!covers) return;
      c.domain = d;
      c.subdomains = true;
    } else if (key == "path" && !value.empty() && value.front() == '/') {
      c.path = value;
    } else if (key == "secure") {
      c.secure = true;
    } else if (key == "httponly") {
      c.http_only = true;
    } else if (key == "max-age" && !value.empty()) {
      try {
        max_age = std::stoll(value);
      } catch (...) {
      }
    } else if (key == "expires") {
      expires = parse_http_date(value);
    }
  }
  if (max_age) c.expires = *max_age <= 0 ? 1 : now + *max_age;  // Max-Age wins over Expires
  else if (expires) c.expires = *expires <= 0 ? 1 : *expires;
  // A cookie that replaces another keeps its place (its creation order, which the Cookie field uses).
  auto same = std::find_if(jar.begin(), jar.end(), [&c](const stored_cookie& o) {
    return o.name == c.name && o.domain == c.domain && o.path == c.path;
  });
  const bool expired = c.expires != 0 && c.expires <= now;
  if (same != jar.end()) {
    if (expired) jar.erase(same);
    else *same = std::move(c);
    return;
  }
  if (!expired) jar.push_back(std::move(c));
}

/// The jar in the Netscape format curl's -c writes and -b reads.
inline std::string netscape_cookie_file(const std::vector<stored_cookie>& jar) {
  std::string out = "# Netscape HTTP Cookie File\n# Written by h2get; the format curl reads and writes.\n\n";
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& c : jar) {
    if (c.expires != 0 && c.expires <= now) continue;  // expired (one read from a -b file)
    out += (c.http_only ? "#HttpOnly_" : "") + std::string(c.subdomains ? "." : "") + c.domain + "\t" +
           (c.subdomains ? "TRUE" : "FALSE") + "\t" + c.path + "\t" + (c.secure ? "TRUE" : "FALSE") + "\t" +
           std::to_string(c.expires) + "\t" + c.name + "\t" + c.value + "\n";
  }
  return out;
}

}  // namespace h2get
