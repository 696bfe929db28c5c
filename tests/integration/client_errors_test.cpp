// SPDX-License-Identifier: BSL-1.0
// tests/integration/client_errors_test.cpp: every failure comes back as its own error code, once.
#include "catch.hpp"
#include "support/client_fixture.hpp"

#include <asio/ip/tcp.hpp>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// A loopback port on which nothing listens: bound by the OS, then closed again.
std::uint16_t closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

}  // namespace

TEST_CASE("errors: an unknown host fails with host_not_found") {
  client_fixture f;
  client c(f.io.get_executor(), f.options());
  auto r = f.get(c, "https://nowhere.test/");
  CHECK(r.ec == error::host_not_found);
  CHECK(r.completions == 1);
}

TEST_CASE("errors: a refused connection fails with connection_refused") {
  client_fixture f;
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());
  auto r = f.get(c, test_url("a.test", closed_port()));
  CHECK(r.ec == error::connection_refused);
}

TEST_CASE("errors: refused on the first address, the second one answers") {
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.3"};
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  // 127.0.0.2 has nothing on the server's port, so it refuses.
  f.resolve("a.test", {"127.0.0.2", "127.0.0.3"});
  client c(f.io.get_executor(), f.options());
  auto r = f.get(c, test_url("a.test", server.port()));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
}

TEST_CASE("errors: a certificate for another name fails with certificate_name_mismatch") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"other.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());
  auto r = f.get(c, test_url("a.test", server.port()));
  CHECK(r.ec == error::certificate_name_mismatch);
  CHECK(r.ec.message() == "the server certificate does not cover the host name");
}

TEST_CASE("errors: a certificate from an untrusted CA fails with certificate_untrusted") {
  client_fixture f;
  test_ca stranger;
  server_options so;
  so.cert = stranger.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());
  auto r = f.get(c, test_url("a.test", server.port()));
  CHECK(r.ec == error::certificate_untrusted);

  // With -k the same server is reachable, unverified.
  auto opts = f.options();
  opts.tls.insecure = true;
  client insecure(f.io.get_executor(), opts);
  auto ok = f.get(insecure, test_url("a.test", server.port()));
  REQUIRE_FALSE(ok.ec);
  CHECK(ok.resp.status == 200);
}

TEST_CASE("errors: a server that never completes the handshake fails with tls_handshake_timeout") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  so.stall_handshake = true;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  auto opts = f.options();
  opts.handshake_timeout = std::chrono::milliseconds(300);
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("a.test", server.port()));
  CHECK(r.ec == error::tls_handshake_timeout);
}

TEST_CASE("errors: bad input is refused before anything is sent") {
  client_fixture f;
  client c(f.io.get_executor(), f.options());
  CHECK(f.get(c, "not a url").ec == error::invalid_url);
  CHECK(f.get(c, "ftp://a.test/").ec == error::unsupported_scheme);
  CHECK(f.get(c, "https://a.test:99999/").ec == error::invalid_url);
  request bad_header;
  bad_header.url = "https://a.test/";
  bad_header.headers.add("X-Evil", "a\r\nInjected: yes");
  CHECK(f.fetch(c, bad_header).ec == error::invalid_header);
  request nul_name;
  nul_name.url = "https://a.test/";
  nul_name.headers.add(std::string("X-\0", 3), "v");
  CHECK(f.fetch(c, nul_name).ec == error::invalid_header);
  request bad_method;
  bad_method.url = "https://a.test/";
  bad_method.method = "GE T";
  CHECK(f.fetch(c, bad_method).ec == error::invalid_method);
}

TEST_CASE("errors: the system resolver finds localhost") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"localhost"});
  test_server server(so);
  auto opts = f.options();
  opts.resolver = nullptr;  // the system resolver: localhost comes from /etc/hosts
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("localhost", server.port()));
  // localhost may resolve to ::1 first, where the server does not listen: the next address is tried.
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
}

TEST_CASE("errors: destroying the client completes outstanding requests with client_shutdown") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  result r;
  {
    client c(f.io.get_executor(), f.options());
    request req;
    req.url = test_url("a.test", server.port(), "/stall");
    c.async_request(req, [&](std::error_code ec, response) {
      r.ec = ec;
      ++r.completions;
    });
    f.run_until([&] { return server.requests().size() == 1; });
  }
  f.run_until([&] { return r.completions > 0; });
  CHECK(r.ec == error::client_shutdown);
  CHECK(r.completions == 1);
}
