// SPDX-License-Identifier: BSL-1.0
// tests/support/test_server_routes.cpp: what the test server answers, for HTTP/2 and HTTP/1.1 alike.
#include "support/test_server_detail.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace h2coal::test::detail {
namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The host of an authority, lowercase, port stripped; an IPv6 literal keeps its brackets.
std::string host_of(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    return lowercase(authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1));
  }
  return lowercase(authority.substr(0, authority.find(':')));
}

// The number after `prefix` in `path` ("/bytes/1000" -> 1000), if the path is exactly that.
template <class T>
std::optional<T> number_after(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return std::nullopt;
  path.remove_prefix(prefix.size());
  T value{};
  const auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), value);
  if (ec != std::errc() || end != path.data() + path.size() || path.empty()) return std::nullopt;
  return value;
}

response text(unsigned status, std::string body, const std::string& routed_host,
              const request_info& req) {
  response r;
  r.status = status;
  r.headers = {{"content-type", "text/plain"},
               {"x-routed-host", routed_host},
               {"x-connection", std::to_string(req.connection)}};
  r.body = std::move(body);
  return r;
}

response generated(std::size_t size, const std::string& routed_host, const request_info& req) {
  response r = text(200, {}, routed_host, req);
  r.headers[0].second = "application/octet-stream";
  r.generated = true;
  r.generated_size = size;
  return r;
}

std::string routed_host_of(const server_options& opts, const request_info& req) {
  return opts.routing == route_by::sni ? req.sni : host_of(req.authority);
}

}  // namespace

bool acts_on_headers(std::string_view path) {
  return path == "/close" || path.starts_with("/reset/");
}

response released_response(const server_options& opts, const request_info& req) {
  return text(200, "released", routed_host_of(opts, req), req);
}

route_result route(const server_options& opts, const request_info& req) {
  const std::string routed = routed_host_of(opts, req);
  route_result out;
  // RFC 9110 section 15.5.20: the server is not authoritative for this origin on this connection.
  if ((opts.answer_421 && opts.answer_421(req)) ||
      (opts.misdirect_on_mismatch && host_of(req.authority) != req.sni)) {
    out.resp = text(421, "misdirected", routed, req);
    return out;
  }

  if (opts.answer) {
    if (auto a = opts.answer(req)) {
      out.resp.status = a->status;
      out.resp.headers = std::move(a->headers);
      out.resp.body = std::move(a->body);
      out.resp.trailers = std::move(a->trailers);
      if (a->chunked || !out.resp.trailers.empty()) out.resp.framing = response::h1_framing::chunked;
      if (!out.resp.status_allows_body()) out.resp.body.clear();
      return out;
    }
  }

  const std::string_view path = std::string_view(req.path).substr(0, req.path.find('?'));
  if (auto served = opts.paths_by_host.find(routed);
      served != opts.paths_by_host.end() &&
      std::none_of(served->second.begin(), served->second.end(),
                   [path](const std::string& prefix) { return path.starts_with(prefix); })) {
    out.resp = text(404, "no route for " + std::string(path) + " on " + routed, routed, req);
    return out;
  }
  const auto default_answer = [&] {
    return text(200, "host=" + routed + " path=" + req.path, routed, req);
  };

  if (auto n = number_after<std::size_t>(path, "/bytes/")) {
    out.resp = generated(*n, routed, req);
  } else if (auto c = number_after<std::size_t>(path, "/chunked/")) {
    out.resp = generated(*c, routed, req);
    out.resp.framing = response::h1_framing::chunked;
  } else if (auto e = number_after<std::size_t>(path, "/eof/")) {
    out.resp = generated(*e, routed, req);
    out.resp.framing = response::h1_framing::until_close;
    out.resp.close_after = true;
  } else if (path == "/echo") {
    out.resp = text(200, req.body, routed, req);
    out.resp.headers[0].second = "application/octet-stream";
  } else if (auto status = number_after<unsigned>(path, "/status/"); status && *status >= 200 && *status <= 999) {
    out.resp = text(*status, "status " + std::to_string(*status), routed, req);
    if (!out.resp.status_allows_body()) out.resp.body.clear();
  } else if (auto h = number_after<std::size_t>(path, "/headers/")) {
    out.resp = text(200, "headers " + std::to_string(*h), routed, req);
    for (std::size_t i = 0; i < *h; ++i) {
      out.resp.headers.emplace_back("x-h-" + std::to_string(i), std::string(100, static_cast<char>('a' + i % 26)));
    }
  } else if (auto ms = number_after<std::uint32_t>(path, "/delay/")) {
    out.what = action::delay;
    out.value = *ms;
    out.resp = default_answer();
  } else if (path == "/stall") {
    out.what = action::stall;
  } else if (auto code = number_after<std::uint32_t>(path, "/reset/")) {
    out.what = action::reset;
    out.value = *code;
  } else if (path == "/goaway") {
    out.what = action::goaway;
    out.resp = default_answer();
    out.resp.close_after = true;
  } else if (path == "/close") {
    out.what = action::close;
  } else if (path == "/silence") {
    out.what = action::silence;
  } else {
    out.resp = default_answer();
  }
  return out;
}

}  // namespace h2coal::test::detail
