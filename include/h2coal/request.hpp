// h2coal/request.hpp: what a caller asks for.
#pragma once

#include <h2coal/error.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace h2coal {

/// An ordered list of header fields; names compare case-insensitively.
class fields {
 public:
  using value_type = std::pair<std::string, std::string>;

  fields() = default;
  fields(std::initializer_list<value_type> init) : list_(init) {}

  void add(std::string name, std::string value) { list_.emplace_back(std::move(name), std::move(value)); }
  void reserve(std::size_t n) { list_.reserve(n); }
  /// The first value of `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const {
    for (const auto& [n, v] : list_)
      if (equal_name(n, name)) return std::string_view(v);
    return std::nullopt;
  }
  bool contains(std::string_view name) const { return get(name).has_value(); }
  void erase(std::string_view name) {
    std::erase_if(list_, [&](const value_type& f) { return equal_name(f.first, name); });
  }

  auto begin() const noexcept { return list_.begin(); }
  auto end() const noexcept { return list_.end(); }
  std::size_t size() const noexcept { return list_.size(); }
  bool empty() const noexcept { return list_.empty(); }
  void clear() noexcept { list_.clear(); }

 private:
  static bool equal_name(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char x = a[i], y = b[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
      if (x != y) return false;
    }
    return true;
  }
  std::vector<value_type> list_;
};

/// A request body produced piece by piece (streaming upload).
struct body_source {
  /// Fills `buffer`, returns the number of bytes written; sets `eof` after the last piece. Called on the
  /// client's executor, from the connection's write path: it must not block.
  std::function<std::size_t(std::span<char> buffer, bool& eof)> read;
  /// Starts the body again from its first byte; returns false when it cannot. Without it, a request
  /// whose body was (partly) sent is never retried (RFC 9110 section 15.5.20 retries need a replay).
  std::function<bool()> rewind;
  /// Content-Length when known in advance; HTTP/1.1 uses chunked transfer coding otherwise.
  std::optional<std::size_t> length;
};

struct request {
  std::string method = "GET";
  std::string url;                 ///< absolute http:// or https:// URL
  fields headers;                  ///< without pseudo-headers; Host is derived from the URL
  std::string body;                ///< a buffered body (ignored when `source` is set)
  std::optional<body_source> source;
  /// When set, response body bytes go here as they arrive instead of into response::body.
  std::function<void(std::string_view)> on_body;
  /// Overrides client_options::request_timeout for this request (zero: none).
  std::optional<std::chrono::milliseconds> timeout;

  bool has_body() const noexcept { return source.has_value() || !body.empty(); }
  /// The body can be sent again from its start (buffered, or a source with rewind).
  bool replayable() const noexcept { return !source || static_cast<bool>(source->rewind); }
};

namespace detail {

inline bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

inline bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// RFC 9110 section 5.5: field values are visible characters, spaces and tabs; CR, LF and NUL never.
inline bool is_field_value(std::string_view s) noexcept {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

// Connection-specific fields are forbidden in HTTP/2 (RFC 9113 section 8.2.2); the client manages them
// for HTTP/1.1 itself, so callers may not set them either way.
inline bool is_connection_specific(std::string_view name) noexcept {
  static constexpr std::string_view names[] = {"connection", "keep-alive", "proxy-connection",
                                               "transfer-encoding", "upgrade", "host"};
  for (auto n : names) {
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (std::size_t i = 0; i < n.size() && eq; ++i) {
      char c = name[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      eq = c == n[i];
    }
    if (eq) return true;
  }
  return false;
}

inline std::error_code validate_headers(const fields& headers) {
  for (const auto& [name, value] : headers) {
    if (!is_token(name) || !is_field_value(value)) return error::invalid_header;
    if (is_connection_specific(name)) return error::invalid_header;
  }
  return {};
}

}  // namespace detail
}  // namespace h2coal
