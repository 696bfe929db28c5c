// SPDX-License-Identifier: BSL-1.0
// tests/unit/request_validation_test.cpp: validate_request's rules (DESIGN section 10), and what the
// HTTP/1.1 head then carries: the library owns framing, Host is the authority meant, written once.
#include "catch.hpp"

#include <h2coal/detail/h1_engine.hpp>
#include <h2coal/request.hpp>
#include <h2coal/url.hpp>

#include <string>
#include <string_view>

using namespace h2coal;

namespace {

std::error_code validate(const request& r) {
  std::error_code ec;
  const auto u = url::parse(r.url, ec);
  REQUIRE_FALSE(ec);
  return detail::validate_request(r, u.origin);
}

// The head as connection::start_h1 writes it.
std::string head_of(const request& r) {
  std::error_code ec;
  const auto u = url::parse(r.url, ec);
  REQUIRE_FALSE(ec);
  const auto length = detail::framed_length(r);
  const std::string authority = r.authority ? *r.authority : u.origin.authority();
  return detail::h1_engine::serialize_head(r.method, u.target, authority, r.headers, length, r.source && !length);
}

// How many lines of `head` are a field named `name` (any case).
int count_field(std::string_view head, std::string_view name) {
  int n = 0;
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos; at = head.find("\r\n", at + 2)) {
    auto line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && detail::iequals(line.substr(0, colon), name)) ++n;
  }
  return n;
}

request post(std::string body) {
  request r;
  r.method = "POST";
  r.url = "https://a.test/upload";
  r.body = std::move(body);
  return r;
}

body_source source_of(std::optional<std::size_t> length) {
  body_source s;
  s.read = [](std::span<char>, bool& eof) {
    eof = true;
    return std::size_t{0};
  };
  s.length = length;
  return s;
}

}  // namespace

TEST_CASE("a caller's Content-Length that matches the body is accepted and written once", "[request]") {
  for (std::string_view value : {"5", " 5 ", "005", "\t5"}) {
    INFO(value);
    auto r = post("hello");
    r.headers.add("Content-Length", std::string(value));
    CHECK_FALSE(validate(r));
    const auto head = head_of(r);
    CHECK(count_field(head, "content-length") == 1);
    CHECK(head.find("Content-Length: 5\r\n") != std::string::npos);
  }
  // A source of known length, and an empty POST (framed with 0).
  auto r = post("");
  r.source = source_of(12);
  r.headers.add("content-length", "12");
  CHECK_FALSE(validate(r));
  CHECK(count_field(head_of(r), "content-length") == 1);
  auto empty = post("");
  empty.headers.add("Content-Length", "0");
  CHECK_FALSE(validate(empty));
  CHECK(head_of(empty).find("Content-Length: 0\r\n") != std::string::npos);
  CHECK(count_field(head_of(empty), "content-length") == 1);
}

TEST_CASE("a caller's Content-Length that does not match the body is refused", "[request]") {
  for (std::string_view value : {"4", "6", "50", "", "5x", "+5", "-5", "5, 5", "0x5", "99999999999999999999"}) {
    INFO(value);
    auto r = post("hello");
    r.headers.add("Content-Length", std::string(value));
    CHECK(validate(r) == error::invalid_header);
  }
  // The right value once, a wrong one after it: still refused.
  auto r = post("hello");
  r.headers.add("Content-Length", "5");
  r.headers.add("Content-Length", "6");
  CHECK(validate(r) == error::invalid_header);
}

TEST_CASE("a Content-Length on a GET without a body may only say 0", "[request]") {
  request r;
  r.url = "http://a.test/";
  r.headers.add("Content-Length", "0");
  CHECK_FALSE(validate(r));
  CHECK(count_field(head_of(r), "content-length") == 0);  // no body, no framing: the caller's copy is dropped
  request one;
  one.url = "http://a.test/";
  one.headers.add("Content-Length", "1");
  CHECK(validate(one) == error::invalid_header);
}

TEST_CASE("a Content-Length with a body source of unknown length is refused", "[request]") {
  for (std::string_view value : {"0", "5", "100"}) {
    INFO(value);
    auto r = post("");
    r.source = source_of(std::nullopt);
    r.headers.add("Content-Length", std::string(value));
    CHECK(validate(r) == error::invalid_header);
  }
  auto r = post("");
  r.source = source_of(std::nullopt);
  CHECK_FALSE(validate(r));
  const auto head = head_of(r);
  CHECK(head.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(count_field(head, "content-length") == 0);
}

TEST_CASE("connection-specific fields are refused whatever they say", "[request]") {
  for (std::string_view name : {"Transfer-Encoding", "transfer-encoding", "Connection", "CONNECTION", "Upgrade",
                                "Keep-Alive", "keep-alive", "Proxy-Connection"}) {
    for (std::string_view value : {"chunked", "identity", "close", "keep-alive", "h2c", "timeout=5", ""}) {
      INFO(name << ": " << value);
      auto r = post("hello");
      r.headers.add(std::string(name), std::string(value));
      CHECK(validate(r) == error::invalid_header);
    }
  }
}

TEST_CASE("TE may only say trailers, and is not written on HTTP/1.1", "[request]") {
  for (std::string_view value : {"gzip", "trailers, deflate", "chunked", "", "trailers;q=1"}) {
    INFO(value);
    request r;
    r.url = "https://a.test/";
    r.headers.add("TE", std::string(value));
    CHECK(validate(r) == error::invalid_header);
  }
  for (std::string_view value : {"trailers", "Trailers", " trailers "}) {
    INFO(value);
    request r;
    r.url = "https://a.test/";
    r.headers.add("te", std::string(value));
    CHECK_FALSE(validate(r));
    CHECK(count_field(head_of(r), "te") == 0);
  }
}

TEST_CASE("a Host equal to the URL's authority is accepted and written once", "[request]") {
  for (std::string_view value : {"a.test:8443", "A.TEST:8443", "A.Test:8443 "}) {
    INFO(value);
    request r;
    r.url = "https://a.test:8443/x";
    r.headers.add("Host", std::string(value));
    CHECK_FALSE(validate(r));
    const auto head = head_of(r);
    CHECK(count_field(head, "host") == 1);
    CHECK(head.find("\r\nHost: a.test:8443\r\n") != std::string::npos);
  }
}

TEST_CASE("another Host is refused: request::authority is the way to send one", "[request]") {
  for (std::string_view value : {"b.test", "a.test", "a.test:8443, b.test", "a.test:8443 b.test", ""}) {
    INFO(value);
    request r;
    r.url = "https://a.test:8443/x";
    r.headers.add("Host", std::string(value));
    CHECK(validate(r) == error::invalid_header);
  }
  request r;
  r.url = "https://a.test:8443/x";
  r.authority = "b.test";
  CHECK_FALSE(validate(r));
  r.headers.add("host", "B.test");  // repeating request::authority is allowed, and not written twice
  CHECK_FALSE(validate(r));
  const auto head = head_of(r);
  CHECK(count_field(head, "host") == 1);
  CHECK(head.find("\r\nHost: b.test\r\n") != std::string::npos);
  r.headers.clear();
  r.headers.add("Host", "a.test:8443");  // with request::authority set, the URL's authority is another Host
  CHECK(validate(r) == error::invalid_header);
}

TEST_CASE("an invalid request::authority is refused", "[request]") {
  for (std::string_view authority : {"b test", "b.test/x", "b.test\r", "b.test\r\nX-Injected: 1", "", "b.test\n",
                                     "user@b.test", "b.test\t"}) {
    INFO(authority);
    request r;
    r.url = "https://a.test/";
    r.authority = std::string(authority);
    CHECK(validate(r) == error::invalid_header);
  }
  for (std::string_view authority : {"b.test", "b.test:8443", "[::1]:8443"}) {
    INFO(authority);
    request r;
    r.url = "https://a.test/";
    r.authority = std::string(authority);
    CHECK_FALSE(validate(r));
  }
}

// Found by fuzz/fuzz_request_serializer: a CONNECT has no content and its head is the whole message; what
// follows is the tunnel (RFC 9110 section 9.3.6), so a body would be read as another stream. PRI is
// HTTP/2's connection preface (RFC 9113 section 3.4). Neither is a request this client sends.
TEST_CASE("fuzz finding (request_serializer): CONNECT and PRI are refused", "[request][fuzz]") {
  request r;
  r.method = "CONNECT";
  r.url = "http://a.test/iml";
  r.body = "GET /admin HTTP/1.1\r\nHost: a.test\r\n\r\n";
  CHECK(validate(r) == error::invalid_method);
  r.body.clear();
  CHECK(validate(r) == error::invalid_method);
  r.method = "PRI";
  CHECK(validate(r) == error::invalid_method);
}
