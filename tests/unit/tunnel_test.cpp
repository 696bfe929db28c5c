// SPDX-License-Identifier: BSL-1.0
// tests/unit/tunnel_test.cpp: the proxy handshakes of detail/tunnel.hpp without sockets: the bytes of a
// CONNECT request and of SOCKS5 greetings, requests and authentication (RFC 1928, RFC 1929), and what
// each answer a proxy may give makes of the tunnel: open, or which error with which detail.
#include "catch.hpp"

#include <h2coal/detail/tunnel.hpp>

#include <algorithm>

#include <string>
#include <string_view>

using namespace h2coal;
using h2coal::detail::http_connect;
using h2coal::detail::socks5_connect;
using status = h2coal::detail::tunnel_protocol::status;

namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

// Feeds `answer` in pieces of `step` bytes (never more than the codec's read limit), as a socket might
// deliver it; returns the status after the last piece.
status feed_in_pieces(h2coal::detail::tunnel_protocol& t, std::string_view answer, std::size_t step) {
  status st = status::more;
  while (!answer.empty() && st == status::more) {
    const std::size_t n = std::min({step, answer.size(), t.read_limit()});
    REQUIRE(n > 0);
    st = t.feed(answer.substr(0, n));
    answer.remove_prefix(n);
    (void)t.take_output();
  }
  return st;
}

}  // namespace

TEST_CASE("tunnel: CONNECT names the target in authority form, with Host and Basic credentials") {
  http_connect plain("a.test", 8443, "");
  const std::string out = plain.take_output();
  CHECK(out.rfind("CONNECT a.test:8443 HTTP/1.1\r\nHost: a.test:8443\r\n", 0) == 0);
  CHECK(out.find("Proxy-Authorization") == std::string::npos);
  CHECK(out.size() > 4);
  CHECK(out.substr(out.size() - 4) == "\r\n\r\n");
  CHECK(plain.take_output().empty());  // said once

  http_connect v6("::1", 443, h2coal::detail::basic_credentials("Aladdin", "open sesame"));
  const std::string out6 = v6.take_output();
  CHECK(out6.rfind("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n", 0) == 0);
  // RFC 7617 section 2's own example.
  CHECK(out6.find("\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n") != std::string::npos);
}

TEST_CASE("tunnel: a 2xx answer opens the tunnel, in one piece or byte by byte, after an interim 1xx") {
  const std::string answer = "HTTP/1.1 200 Connection established\r\nVia: 1.1 squid\r\n\r\n";
  for (std::size_t step : {answer.size(), std::size_t{1}, std::size_t{7}}) {
    http_connect t("a.test", 443, "");
    CHECK(feed_in_pieces(t, answer, step) == status::open);
    CHECK(t.reply() == 200);
    CHECK(!t.error());
  }
  http_connect interim("a.test", 443, "");
  CHECK(interim.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\n") == status::open);
  CHECK(interim.reply() == 200);
}

TEST_CASE("tunnel: CONNECT refusals keep their status: 407 asks for credentials, 403 is a refused tunnel") {
  http_connect auth("a.test", 443, "");
  CHECK(auth.feed("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
                  "Content-Length: 5\r\n\r\nhello") == status::failed);
  CHECK(auth.error() == error::proxy_auth_required);
  CHECK(auth.reply() == 407);
  CHECK(auth.detail() == "CONNECT tunnel failed, response 407 Proxy Authentication Required");

  http_connect denied("a.test", 443, "");
  CHECK(denied.feed("HTTP/1.1 403 Forbidden\r\n\r\n") == status::failed);
  CHECK(denied.error() == error::proxy_tunnel_failed);
  CHECK(denied.reply() == 403);
  CHECK(denied.detail() == "CONNECT tunnel failed, response 403 Forbidden");
}

TEST_CASE("tunnel: a broken CONNECT answer is a protocol error: garbage, bytes after the head, an endless head, a close") {
  http_connect garbage("a.test", 443, "");
  CHECK(garbage.feed("SSH-2.0-OpenSSH_9.2\r\n") == status::failed);
  CHECK(garbage.error() == error::proxy_protocol_error);
  CHECK(garbage.detail().rfind("malformed CONNECT answer", 0) == 0);

  http_connect early("a.test", 443, "");
  CHECK(early.feed("HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01") == status::failed);
  CHECK(early.error() == error::proxy_protocol_error);

  http_connect endless("a.test", 443, "");
  status st = endless.feed("HTTP/1.1 200 OK\r\n");
  const std::string field = "X-Filler: " + std::string(1000, 'a') + "\r\n";
  std::size_t fed = 0;
  while (st == status::more && fed < 2 * http_connect::max_head) {
    st = endless.feed(field);
    fed += field.size();
  }
  CHECK(st == status::failed);
  CHECK(endless.error() == error::proxy_protocol_error);
  CHECK(fed <= http_connect::max_head + field.size());

  http_connect cut("a.test", 443, "");
  CHECK(cut.feed("HTTP/1.1 200 OK\r\nVia: x\r\n") == status::more);
  cut.closed();
  CHECK(cut.error() == error::proxy_protocol_error);
}

TEST_CASE("tunnel: SOCKS5 without credentials: greeting, CONNECT by name (socks5h) or address (socks5), reply") {
  socks5_connect byname("a.test", 443, std::nullopt, "", "");
  CHECK(byname.take_output() == bytes({5, 1, 0}));
  CHECK(byname.read_limit() == 2);
  CHECK(byname.feed(bytes({5, 0})) == status::more);
  CHECK(byname.take_output() == bytes({5, 1, 0, 3, 6}) + "a.test" + bytes({1, 0xbb}));
  CHECK(byname.read_limit() == 4);
  // The reply's bound address, IPv4: read exactly to its end, never past it.
  CHECK(byname.feed(bytes({5, 0, 0, 1})) == status::more);
  CHECK(byname.read_limit() == 6);
  CHECK(byname.feed(bytes({127, 0, 0, 1, 0x1f, 0x90})) == status::open);
  CHECK(byname.reply() == 0);

  socks5_connect v4("a.test", 8443, asio::ip::make_address("127.0.0.2"), "", "");
  (void)v4.take_output();
  CHECK(v4.feed(bytes({5, 0})) == status::more);
  CHECK(v4.take_output() == bytes({5, 1, 0, 1, 127, 0, 0, 2, 0x20, 0xfb}));
  CHECK(feed_in_pieces(v4, bytes({5, 0, 0, 4}) + std::string(16, '\0') + bytes({0, 80}), 3) == status::open);

  socks5_connect v6("a.test", 443, asio::ip::make_address("::1"), "", "");
  (void)v6.take_output();
  CHECK(v6.feed(bytes({5, 0})) == status::more);
  CHECK(v6.take_output() == bytes({5, 1, 0, 4}) + std::string(15, '\0') + bytes({1, 1, 0xbb}));
  // A bound address given as a name: its length byte, then the name and the port.
  CHECK(feed_in_pieces(v6, bytes({5, 0, 0, 3, 4}) + "host" + bytes({0, 80}), 1) == status::open);
}

TEST_CASE("tunnel: SOCKS5 user/password (RFC 1929): offered with credentials, refused credentials fail") {
  socks5_connect ok("a.test", 443, std::nullopt, "user", "secret");
  CHECK(ok.take_output() == bytes({5, 2, 0, 2}));
  CHECK(ok.feed(bytes({5, 2})) == status::more);
  CHECK(ok.take_output() == bytes({1, 4}) + "user" + bytes({6}) + "secret");
  CHECK(ok.feed(bytes({1, 0})) == status::more);
  CHECK(ok.take_output().substr(0, 4) == bytes({5, 1, 0, 3}));
  CHECK(ok.feed(bytes({5, 0, 0, 1, 0, 0, 0, 0, 0, 0})) == status::open);

  socks5_connect wrong("a.test", 443, std::nullopt, "user", "bad");
  (void)wrong.take_output();
  CHECK(wrong.feed(bytes({5, 2})) == status::more);
  (void)wrong.take_output();
  CHECK(wrong.feed(bytes({1, 1})) == status::failed);
  CHECK(wrong.error() == error::proxy_auth_required);

  // The server wants authentication we cannot offer.
  socks5_connect none("a.test", 443, std::nullopt, "", "");
  (void)none.take_output();
  CHECK(none.feed(bytes({5, 0xff})) == status::failed);
  CHECK(none.error() == error::proxy_auth_required);
}

TEST_CASE("tunnel: every SOCKS5 reply code has its own error, and a non-SOCKS answer is a protocol error") {
  const std::pair<int, error> codes[] = {
      {1, error::socks_general_failure},    {2, error::socks_not_allowed},         {3, error::socks_network_unreachable},
      {4, error::socks_host_unreachable},   {5, error::socks_connection_refused},  {6, error::socks_ttl_expired},
      {7, error::socks_command_not_supported}, {8, error::socks_address_not_supported},
  };
  for (const auto& [code, expected] : codes) {
    socks5_connect t("a.test", 443, std::nullopt, "", "");
    (void)t.take_output();
    REQUIRE(t.feed(bytes({5, 0})) == status::more);
    (void)t.take_output();
    CHECK(t.feed(bytes({5, code, 0, 1})) == status::failed);
    CHECK(t.error() == expected);
    CHECK(t.reply() == code);
  }
  socks5_connect http("a.test", 443, std::nullopt, "", "");
  (void)http.take_output();
  CHECK(http.feed("HT") == status::failed);  // an HTTP proxy answering a SOCKS greeting
  CHECK(http.error() == error::proxy_protocol_error);

  socks5_connect long_name(std::string(256, 'a'), 443, std::nullopt, "", "");
  (void)long_name.take_output();
  CHECK(long_name.feed(bytes({5, 0})) == status::failed);
  CHECK(long_name.error() == error::socks_address_not_supported);
}
