// SPDX-License-Identifier: BSL-1.0
// h2coal/request.hpp: what a caller asks for.
#pragma once

#include <h2coal/error.hpp>
#include <h2coal/url.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace h2coal {

/// An ordered list of header fields; names compare case-insensitively.
class fields {
 public:
  /// One field: name and value.
  using value_type = std::pair<std::string, std::string>;

  fields() = default;
  /// The fields given, in order: `fields{{"accept", "text/html"}, {"x-id", "7"}}`.
  fields(std::initializer_list<value_type> init) : list_(init) {}

  /// Appends a field (a name may repeat; nothing is replaced).
  void add(std::string name, std::string value) { list_.emplace_back(std::move(name), std::move(value)); }
  /// Makes room for `n` fields.
  void reserve(std::size_t n) { list_.reserve(n); }
  /// The first value of `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const {
    for (const auto& [n, v] : list_)
      if (equal_name(n, name)) return std::string_view(v);
    return std::nullopt;
  }
  /// Whether a field named `name` is present.
  bool contains(std::string_view name) const { return get(name).has_value(); }
  /// Removes every field named `name`.
  void erase(std::string_view name) {
    std::erase_if(list_, [&](const value_type& f) { return equal_name(f.first, name); });
  }

  /// The first field (name, value), in order.
  auto begin() const noexcept { return list_.begin(); }
  /// Past the last field.
  auto end() const noexcept { return list_.end(); }
  /// The number of fields.
  std::size_t size() const noexcept { return list_.size(); }
  /// No fields.
  bool empty() const noexcept { return list_.empty(); }
  /// Removes every field.
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

/// Restarts something that paused: a response sink that asked to pause (body_action::pause), or a body
/// source that waits for data (body_source::wait). Copyable; may be called from any thread, any number of
/// times; calling it after the request ended does nothing.
class resume_handle {
 public:
  resume_handle() = default;
  /// A handle that calls `fn` (the library makes these; an empty handle does nothing).
  explicit resume_handle(std::function<void()> fn) : fn_(std::move(fn)) {}
  /// Resumes (does nothing once the request ended, or for an empty handle).
  void operator()() const {
    if (fn_) fn_();
  }
  /// Whether the handle can resume anything.
  explicit operator bool() const noexcept { return static_cast<bool>(fn_); }

 private:
  std::function<void()> fn_;
};

/// What a response sink wants after a piece of the body (request::on_body).
enum class body_action {
  proceed,  ///< more, as it arrives
  pause,    ///< nothing more until the resume_handle given with this piece is called: HTTP/2 keeps the
            ///< stream's flow-control window shut, HTTP/1.1 stops reading the socket (DESIGN section 10)
};

/// Where response body bytes go instead of response::body. Two shapes of callable:
/// `void(std::string_view piece)` takes everything as it arrives; `body_action(std::string_view piece,
/// const resume_handle& resume)` may pause the response and keep `resume` to restart it. Pieces of the
/// final response only (never a 421 that is retried, never a retried attempt's), never after the request
/// completed, was cancelled or timed out. Called on the client's executor.
class body_sink {
 public:
  /// The call every sink is adapted to.
  using signature = body_action(std::string_view, const resume_handle&);

  body_sink() = default;
  /// No sink: the body goes into response::body.
  body_sink(std::nullptr_t) noexcept {}
  /// A sink that takes every piece: `void(std::string_view piece)`; it never pauses.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, body_sink> && std::is_invocable_r_v<void, F&, std::string_view> &&
             !std::is_invocable_v<F&, std::string_view, const resume_handle&>)
  body_sink(F f)  // NOLINT: implicit, so that `req.on_body = [](std::string_view) {...}` reads naturally
      : fn_([f = std::move(f)](std::string_view piece, const resume_handle&) mutable {
          f(piece);
          return body_action::proceed;
        }) {}
  /// A sink that may pause: `body_action(std::string_view piece, const resume_handle& resume)`.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, body_sink> &&
             std::is_invocable_r_v<body_action, F&, std::string_view, const resume_handle&>)
  body_sink(F f) : fn_(std::move(f)) {}  // NOLINT

  /// Whether a sink is set.
  explicit operator bool() const noexcept { return static_cast<bool>(fn_); }
  /// Delivers one piece (the library calls it).
  body_action operator()(std::string_view piece, const resume_handle& resume) const { return fn_(piece, resume); }

 private:
  std::function<signature> fn_;
};

struct response;  // response.hpp

/// Where the final response's head goes (request::on_response), before any body byte: either
/// `void(int status, const fields& headers)`, or `void(const response& head)` for everything known by
/// then (status, the HTTP/1.1 reason phrase, headers, http_version, the connection, whether it was
/// coalesced, remote and local addresses, effective_url); the body, trailers and totals come later, with
/// the completion. Called on the client's executor.
class head_sink {
 public:
  head_sink() = default;
  /// No callback.
  head_sink(std::nullptr_t) noexcept {}
  /// `void(int status, const fields& headers)` (a callable that takes either gets the whole head).
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, head_sink> && std::is_invocable_v<F&, int, const fields&> &&
             !std::is_invocable_v<F&, const response&>)
  head_sink(F f) : status_and_fields_(std::move(f)) {}  // NOLINT: implicit, as `req.on_response = [](...) {}`
  /// `void(const response& head)`.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, head_sink> && std::is_invocable_v<F&, const response&>)
  head_sink(F f) : whole_(std::move(f)) {}  // NOLINT

  /// Whether a callback is set.
  explicit operator bool() const noexcept { return status_and_fields_ || whole_; }
  /// Calls it with the head (the library does; defined in response.hpp).
  void operator()(const response& head) const;

 private:
  std::function<void(int, const fields&)> status_and_fields_;
  std::function<void(const response&)> whole_;
};

/// A request body produced piece by piece (streaming upload).
struct body_source {
  /// Fills `buffer` (at most buffer.size() bytes), returns the number of bytes written; sets `eof` after
  /// the last piece. Called on the client's executor, from the connection's write path: it must not
  /// block. Returning 0 without eof means "nothing now": see `wait`.
  std::function<std::size_t(std::span<char> buffer, bool& eof)> read;
  /// Starts the body again from its first byte; returns false when it cannot. Without it, a request
  /// whose body was (partly) sent is never retried (RFC 9110 section 15.5.20 retries need a replay).
  std::function<bool()> rewind;
  /// Content-Length when known in advance; HTTP/1.1 uses chunked transfer coding otherwise. A source that
  /// yields more or fewer bytes fails the request with error::body_length_mismatch (and its connection is
  /// closed: the bytes on the wire no longer frame one message).
  std::optional<std::size_t> length;
  /// Trailer fields sent after the last piece (gRPC-style callers), asked for once `read` set eof: on
  /// HTTP/2 as trailing HEADERS, on HTTP/1.1 in the last chunk of a chunked body (a source without
  /// `length`); with a length on HTTP/1.1 there is nowhere to send them and they are left out. Names
  /// must be tokens and values valid field values, and neither pseudo-headers nor framing fields
  /// (error::invalid_header otherwise, RFC 9110 section 6.5.1).
  std::function<fields()> trailers;
  /// Called when `read` returned 0 bytes without eof: keep `resume` and call it once there is more to read
  /// (from any thread). Without it the source is asked again after a short, growing delay (1 ms up to
  /// 64 ms), never in a busy loop.
  std::function<void(resume_handle resume)> wait;
};

/// When a request goes again after an answer that says "later" (DESIGN section 12): statuses 408, 429,
/// 500, 502, 503, 504 and connections that could not be made. Only requests that may be sent twice go
/// again by status (request::retryable_after_close()); a connection that was never made carried nothing,
/// so any request goes again after one. The request timeout bounds the whole exchange: a retry whose
/// delay would end past it is not made, and the last answer is the answer.
struct retry_policy {
  /// Attempts in all, the first included (curl's `--retry N` is N + 1); 1 never retries.
  unsigned attempts = 3;
  /// The delay before the first retry; it doubles for each one after (exponential backoff).
  std::chrono::milliseconds base_delay{1000};
  /// The longest delay, for the backoff and for a server's Retry-After alike.
  std::chrono::milliseconds max_delay{30000};
  /// Each backoff delay is drawn at random from [delay * (1 - jitter), delay] (0: exactly the delay), so
  /// that clients that failed together do not come back together. Retry-After is honoured as given.
  double jitter = 0.5;
  /// The statuses that are retried.
  std::vector<int> statuses{408, 429, 500, 502, 503, 504};
  /// Also retry when no connection could be made (refused, unreachable, connect or handshake timeout).
  bool connect_errors = true;
  /// Also retry after any other failure (curl's --retry-all-errors): a connection lost in the middle of
  /// the response, a protocol or TLS error, an untrusted certificate, ... Such a request may have been
  /// processed, so only one that may be sent twice goes again, and only while nothing reached its sinks.
  /// Never after a cancellation, the client's shutdown, the request's own timeout, or an error in the
  /// request itself (invalid URL, header, method or option; a body that broke its length; redirects).
  bool all_errors = false;
  /// No retry starts later than this after the request started (curl's --retry-max-time); zero: no
  /// bound but the request timeout.
  std::chrono::milliseconds max_elapsed{0};
};

/// One HTTP request: method, URL, header fields, a body (buffered or streamed) and, optionally, where the
/// response body goes (on_response, on_body). See docs/requests-and-responses.md.
struct request {
  /// The method, sent as given ("GET", "POST", ...).
  std::string method = "GET";
  std::string url;                 ///< absolute http:// or https:// URL; it decides where the request goes
  fields headers;                  ///< without pseudo-headers and without framing (see below)
  std::string body;                ///< a buffered body (ignored when `source` is set)
  /// A streamed body; when set, `body` is ignored.
  std::optional<body_source> source;
  /// Another authority than the URL's to send as `:authority` / `Host` (curl's `-H 'Host: x'`). The
  /// request is still routed by the URL, and only on a connection opened for the URL's own origin: a
  /// request with an authority of its own is never coalesced (DESIGN section 10).
  std::optional<std::string> authority;
  /// The request may be sent again after a kept-alive connection closed under it with no response byte
  /// (RFC 9110 section 9.2.2). GET, HEAD, OPTIONS, TRACE, PUT and DELETE are idempotent anyway, and so is
  /// a request with an `Idempotency-Key` header; a POST is not, unless this says so.
  bool idempotent = false;
  /// The final response's status and header fields (or the whole head, see head_sink), before any body
  /// byte reaches `on_body` (not called for a 421 that is retried, nor for interim 1xx responses).
  head_sink on_response;
  /// With follow_redirects: the head of each redirect that is followed (its status, reason and fields,
  /// `effective_url` the URL that answered it), once its response ended and before the next hop starts;
  /// what curl -L -i and -D show of the hops. Its body is never delivered.
  head_sink on_redirect;
  /// When set, response body bytes go here as they arrive instead of into response::body.
  body_sink on_body;
  /// Overrides client_options::request_timeout for this request (zero: none). With redirects and
  /// retries it bounds the whole exchange, every hop and every delay included.
  std::optional<std::chrono::milliseconds> timeout;

  // Request features above the pool (DESIGN section 12): each hop and each retry is a new decision.
  /// Follow 301, 302, 303, 307 and 308 (curl -L). 301/302 turn POST into GET and 303 anything but HEAD,
  /// without the body; 307/308 keep method and body when the body can be sent again (else the 3xx is the
  /// answer). A hop to another origin drops Authorization, Cookie, Proxy-Authorization and `authority`.
  bool follow_redirects = false;
  /// Redirects followed at most (curl --max-redirs); one more, or a loop, is error::too_many_redirects.
  unsigned max_redirects = 10;
  /// Follow a redirect from https to http (refused by default: error::insecure_redirect).
  bool allow_insecure_redirects = false;
  /// Send Accept-Encoding with the codings this build decodes (gzip, deflate, br, zstd) unless the
  /// request has one, and decode the body as it arrives, before on_body and response::body;
  /// client_options::max_body_size then counts decoded bytes (curl --compressed).
  bool decompress = false;
  /// Overrides client_options::retry for this request.
  std::optional<retry_policy> retry;

  /// Whether the request has a body (a source, or a non-empty buffered body).
  bool has_body() const noexcept { return source.has_value() || !body.empty(); }
  /// The body can be sent again from its start (buffered, or a source with rewind).
  bool replayable() const noexcept { return !source || static_cast<bool>(source->rewind); }
  /// RFC 9110 section 9.2.2, or marked by the caller: safe to send again when it may have been processed.
  bool retryable_after_close() const noexcept {
    if (idempotent || headers.contains("idempotency-key")) return true;
    for (std::string_view m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
      if (method == m) return true;
    return false;
  }
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

inline std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Connection-specific fields are forbidden in HTTP/2 (RFC 9113 section 8.2.2) and the client manages
// them for HTTP/1.1 itself (DESIGN section 10): a caller may not set them either way.
inline bool is_connection_specific(std::string_view name) noexcept {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
    if (iequals(name, n)) return true;
  return false;
}

// Fields the serialisers write themselves from the request (Host, Content-Length) or that mean nothing
// outside HTTP/2 (TE: trailers): a caller's copy, once checked, is not written a second time.
inline bool is_framing_field(std::string_view name) noexcept {
  return iequals(name, "host") || iequals(name, "content-length") || iequals(name, "te");
}

// RFC 3986 section 3.2: what an authority (host, optional port, IPv6 literal in brackets) is made of.
inline bool is_authority(std::string_view a) noexcept {
  if (a.empty()) return false;
  for (char c : a) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    switch (c) {
      case '-': case '.': case '_': case '~': case '!': case '$': case '&': case '\'': case '(': case ')':
      case '*': case '+': case ',': case ';': case '=': case ':': case '[': case ']': case '%': continue;
      default: return false;
    }
  }
  return true;
}

/// The body length a request is framed with: a source's declared length, a buffered body's size, 0 for a
/// method that carries content without any (POST, PUT, PATCH); nullopt for no body at all, and for a
/// source of unknown length (chunked on HTTP/1.1, DATA until END_STREAM on HTTP/2).
inline std::optional<std::size_t> framed_length(const request& r) noexcept {
  if (r.source) return r.source->length;
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") return r.body.size();
  return std::nullopt;
}

/// DESIGN section 10: header fields that could frame the message otherwise than the request does are
/// refused before anything is sent. `url_origin` is the URL's; a `Host` field may only repeat its
/// authority (or `request::authority`), a `Content-Length` only the body's real length.
inline std::error_code validate_request(const request& r, const origin& url_origin) {
  // CONNECT makes a tunnel, not a request: whatever follows its head is tunnel data, so a body would be
  // read as the next message (RFC 9110 section 9.3.6); PRI is HTTP/2's preface (RFC 9113 section 3.4).
  if (r.method == "CONNECT" || r.method == "PRI") return error::invalid_method;
  if (r.authority && !is_authority(*r.authority)) return error::invalid_header;
  const auto length = framed_length(r);
  for (const auto& [name, value] : r.headers) {
    if (!is_token(name) || !is_field_value(value)) return error::invalid_header;
    if (is_connection_specific(name)) return error::invalid_header;
    if (iequals(name, "host")) {
      // The URL's authority is formed only here: most requests carry no Host field.
      const bool same = r.authority ? iequals(trim_ows(value), *r.authority) : iequals(trim_ows(value), url_origin.authority());
      if (!same) return error::invalid_header;  // use request::authority
    } else if (iequals(name, "content-length")) {
      const auto v = trim_ows(value);
      std::size_t n = 0;
      if (v.empty() || v.size() > 19) return error::invalid_header;
      for (char c : v) {
        if (c < '0' || c > '9') return error::invalid_header;
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      if (length ? n != *length : (r.source || n != 0)) return error::invalid_header;
    } else if (iequals(name, "te")) {
      if (!iequals(trim_ows(value), "trailers")) return error::invalid_header;  // RFC 9113 section 8.2.2
    }
  }
  return {};
}

}  // namespace detail
}  // namespace h2coal
