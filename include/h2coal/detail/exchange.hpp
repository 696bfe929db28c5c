// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/exchange.hpp: one request's life above the pool (DESIGN section 12): which redirect is
// followed and how the next hop's request is made, which answer is retried and after how long.
//
// No I/O here: the pool asks plan_follow_up() at the final response's head (so a followed 3xx or a
// retried 503 never reaches the caller's sinks), and once that response is over it turns the plan into a
// new hop with next_hop() or a delayed attempt; each is routed as a new request, with its own decision.
#pragma once

#include <h2coal/detail/request_op.hpp>
#include <h2coal/error.hpp>
#include <h2coal/request.hpp>
#include <h2coal/url.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace h2coal::detail {

inline bool is_redirect_status(int s) noexcept { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

/// RFC 9110 section 9.2.2, or marked by the caller (request::retryable_after_close()).
inline bool may_send_twice(const request& r) noexcept { return r.retryable_after_close(); }

/// RFC 9110 section 5.6.7: an HTTP-date in any of its three forms (IMF-fixdate, RFC 850, asctime), as
/// seconds since the epoch; nullopt when it is none of them.
inline std::optional<std::int64_t> parse_http_date(std::string_view v) {
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto number = [](std::string_view s, int& out) {
    if (s.empty() || s.size() > 4) return false;
    out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    return true;
  };
  auto month = [&](std::string_view s, int& out) {
    for (int i = 0; i < 12; ++i)
      if (s == months[i]) {
        out = i + 1;
        return true;
      }
    return false;
  };
  auto clock = [&](std::string_view s, int& h, int& m, int& sec) {
    return s.size() == 8 && s[2] == ':' && s[5] == ':' && number(s.substr(0, 2), h) && number(s.substr(3, 2), m) &&
           number(s.substr(6, 2), sec) && h < 24 && m < 60 && sec <= 60;
  };
  // Split on spaces (and the dashes of RFC 850's date) into words.
  std::string_view words[6];
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < v.size() && n < 6) {
    while (i < v.size() && v[i] == ' ') ++i;
    std::size_t j = i;
    while (j < v.size() && v[j] != ' ') ++j;
    if (j > i) words[n++] = v.substr(i, j - i);
    i = j;
  }
  if (i < v.size()) return std::nullopt;
  int day = 0, mon = 0, year = 0, h = 0, m = 0, sec = 0;
  bool ok = false;
  if (n == 6 && words[0].size() == 4 && words[0].back() == ',' && words[5] == "GMT") {
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    ok = number(words[1], day) && month(words[2], mon) && number(words[3], year) && words[3].size() == 4 &&
         clock(words[4], h, m, sec);
  } else if (n == 4 && words[0].back() == ',' && words[3] == "GMT" && words[1].size() == 9 && words[1][2] == '-' &&
             words[1][6] == '-') {
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: RFC 9110 says within 50 years)
    ok = number(words[1].substr(0, 2), day) && month(words[1].substr(3, 3), mon) &&
         number(words[1].substr(7, 2), year) && clock(words[2], h, m, sec);
    year += year < 70 ? 2000 : 1900;
  } else if (n == 5 && words[0].size() == 3) {
    // asctime: Sun Nov  6 08:49:37 1994
    ok = month(words[1], mon) && number(words[2], day) && clock(words[3], h, m, sec) && number(words[4], year) &&
         words[4].size() == 4;
  }
  if (!ok || day < 1 || day > 31 || year < 1970) return std::nullopt;
  // Days from the civil date (proleptic Gregorian), without the time zone games of mktime.
  const int y = mon <= 2 ? year - 1 : year;
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int mp = (mon + 9) % 12;
  const int doy = (153 * mp + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + m * 60 + sec;
}

/// RFC 9110 section 10.2.3: Retry-After as a delay, from delay-seconds or an HTTP-date (against `now`,
/// seconds since the epoch); nullopt when absent or unreadable.
inline std::optional<std::chrono::milliseconds> retry_after(const fields& headers, std::int64_t now) {
  auto v = headers.get("retry-after");
  if (!v) return std::nullopt;
  auto t = trim_ows(*v);
  if (t.empty()) return std::nullopt;
  if (std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (t.size() > 9) return std::chrono::milliseconds(std::chrono::hours(24 * 365));  // "forever": capped later
    std::int64_t s = 0;
    for (char c : t) s = s * 10 + (c - '0');
    return std::chrono::milliseconds(s * 1000);
  }
  auto date = parse_http_date(t);
  if (!date) return std::nullopt;
  return std::chrono::milliseconds(std::max<std::int64_t>(0, *date - now) * 1000);
}

/// The backoff before retry number `retry` (1 for the first): base * 2^(retry - 1), capped, then
/// jittered down by up to `jitter` of itself.
inline std::chrono::milliseconds backoff(const retry_policy& p, unsigned retry) {
  double d = static_cast<double>(p.base_delay.count());
  for (unsigned i = 1; i < retry && d < static_cast<double>(p.max_delay.count()); ++i) d *= 2;
  d = std::min(d, static_cast<double>(p.max_delay.count()));
  const double jitter = std::clamp(p.jitter, 0.0, 1.0);
  if (jitter > 0 && d > 0) {
    static thread_local std::minstd_rand rng{std::random_device{}()};
    std::uniform_real_distribution<double> u(1.0 - jitter, 1.0);
    d *= u(rng);
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(d));
}

/// Whether a delay still fits before the request's deadline (none: always).
inline bool fits_deadline(const request_op& op, std::chrono::milliseconds delay) {
  if (!op.deadline) return true;
  return std::chrono::steady_clock::now() + delay < op.deadline->expiry();
}

/// Errors after which no connection was made: nothing was sent, any request may go again.
inline bool is_connect_error(std::error_code ec) noexcept {
  if (ec.category() != error_category()) return false;
  switch (static_cast<error>(ec.value())) {
    case error::connection_refused: case error::connect_failed: case error::connect_timeout:
    case error::resolve_timeout: case error::tls_handshake_timeout: case error::proxy_refused:
    case error::proxy_connect_failed: case error::proxy_timeout:
      return true;
    default:
      return false;
  }
}

/// retry_policy::all_errors: whether `ec` is a failure that sending again could mend (not the caller's
/// cancellation, the client's shutdown, the request's own deadline, nor a fault of the request itself).
inline bool is_transient_failure(std::error_code ec) noexcept {
  if (!ec) return false;
  if (ec.category() != error_category()) return true;  // the operating system's: a socket error
  switch (static_cast<error>(ec.value())) {
    case error::invalid_url: case error::unsupported_scheme: case error::invalid_header: case error::invalid_method:
    case error::invalid_option: case error::request_timeout: case error::cancelled: case error::client_shutdown:
    case error::body_not_replayable: case error::body_length_mismatch: case error::too_many_redirects:
    case error::insecure_redirect: case error::invalid_redirect:
      return false;
    default:
      return true;
  }
}

/// Plans a retry of `op` after `ec` (connect errors) or its status; false when none is due.
inline bool plan_retry(request_op& op, std::chrono::milliseconds delay_floor, std::string reason) {
  const retry_policy& p = *op.retry;
  if (op.policy_attempts >= p.attempts || !op.req.replayable()) return false;
  auto delay = std::max(delay_floor, backoff(p, op.policy_attempts));
  delay = std::min(delay, p.max_delay);
  if (!fits_deadline(op, delay)) return false;  // the deadline bounds the exchange: this answer stands
  if (p.max_elapsed.count() > 0 && std::chrono::steady_clock::now() + delay - op.t_start > p.max_elapsed) return false;
  op.next = request_op::follow::retry;
  op.next_delay = delay;
  op.retry_reason = std::move(reason);
  return true;
}

/// At the final response's head: is this response followed (a redirect), retried (a status of the
/// policy), or the answer? Sets op.next; true when the response is not the caller's.
inline bool plan_follow_up(request_op& op) {
  const int status = op.resp.status;
  const request& r = op.req;
  if (r.follow_redirects && is_redirect_status(status)) {
    auto location = op.resp.headers.get("location");
    if (!location) return false;  // nothing to follow: the 3xx is the answer (as curl)
    auto fail = [&op](error e) {
      op.next = request_op::follow::fail;
      op.next_error = e;
      return true;
    };
    std::error_code ec;
    url to = url::resolve(op.target, trim_ows(*location), ec);
    if (ec) return fail(error::invalid_redirect);
    if (op.redirects >= r.max_redirects) return fail(error::too_many_redirects);
    if (op.target.origin.is_tls() && !to.origin.is_tls() && !r.allow_insecure_redirects)
      return fail(error::insecure_redirect);
    // 307/308 send the same request again: only with a body that can be sent again (else the 3xx is the
    // answer, as for a missing Location).
    const bool keeps_method = status == 307 || status == 308;
    if (keeps_method && r.has_body() && !r.replayable()) return false;
    std::string next = to.to_string();
    const bool to_get = (status == 303 && r.method != "HEAD") || ((status == 301 || status == 302) && r.method == "POST");
    const std::string hop = (to_get ? std::string("GET") : r.method) + " " + next;
    if (std::find(op.visited.begin(), op.visited.end(), hop) != op.visited.end())
      return fail(error::too_many_redirects);  // a loop: it would only end at the limit
    op.next = request_op::follow::redirect;
    op.next_url = std::move(next);
    return true;
  }
  if (op.retry && may_send_twice(r) &&
      std::find(op.retry->statuses.begin(), op.retry->statuses.end(), status) != op.retry->statuses.end()) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    auto after = retry_after(op.resp.headers, now).value_or(std::chrono::milliseconds(0));
    return plan_retry(op, after, "status-" + std::to_string(status));
  }
  return false;
}

/// Makes the request of the next hop in place (op.next == redirect): the method and body as the status
/// says, the fields a cross-origin hop must not carry dropped. Returns false when the body cannot be
/// sent again after all (a source whose rewind failed).
inline bool next_hop(request_op& op, int status) {
  request& r = op.req;
  std::error_code ec;
  url to = url::parse(op.next_url, ec);
  if (ec) return false;
  const bool to_get = (status == 303 && r.method != "HEAD") || ((status == 301 || status == 302) && r.method == "POST");
  if (to_get) {
    r.method = "GET";
    r.body.clear();
    r.source.reset();
    // The fields that describe the body (the Fetch standard's request-body-header names).
    for (std::string_view f : {"content-type", "content-length", "content-encoding", "content-language", "content-location"})
      r.headers.erase(f);
    r.headers.erase("expect");  // no body, nothing to wait for
    op.expect_continue = false;
  }
  if (to.origin != op.target.origin) {
    // Credentials are for the origin they were given to (curl, browsers); so is another Host.
    for (std::string_view f : {"authorization", "cookie", "proxy-authorization"}) r.headers.erase(f);
    r.authority.reset();
    r.headers.erase("host");
  }
  r.url = std::move(op.next_url);
  op.next_url.clear();
  op.target = std::move(to);
  ++op.redirects;
  op.visited.push_back(r.method + " " + r.url);
  return true;
}

}  // namespace h2coal::detail
