// SPDX-License-Identifier: BSL-1.0
// tests/integration/proxy_test.cpp: the client's side of proxies (DESIGN section 13) against proxies
// that misbehave on purpose: a raw_server on plain TCP plays the proxy and writes exactly the answer a
// case needs (a refusal, 407, garbage, an endless head, silence), and records what the client sent it
// (the CONNECT request, absolute-form requests, credentials). Tunnels through real proxies (squid,
// tinyproxy, dante) are in tests/interop/proxy_test.cpp.
#include "catch.hpp"
#include "support/black_hole.hpp"
#include "support/client_fixture.hpp"
#include "support/trace_fields.hpp"

#include <string>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// A raw_server on plain TCP that answers every request head (a CONNECT, or an absolute-form request)
// with `answer`, then leaves the connection open.
std::unique_ptr<raw_server> fake_proxy(std::string answer, const std::string& address = "127.0.0.5") {
  raw_server_options ro;
  ro.address = address;
  ro.tls = false;
  ro.protocol = raw_protocol::http1;
  ro.on_request = [answer = std::move(answer)](raw_connection& c, const raw_request&) { c.write(answer); };
  return std::make_unique<raw_server>(std::move(ro));
}

std::string field(const raw_request& r, const std::string& name) {
  for (const auto& [n, v] : r.fields)
    if (n == name) return v;
  return {};
}

client_options through(client_fixture& f, const std::string& proxy_url) {
  auto o = f.options();
  std::error_code ec;
  auto p = proxy_server::parse(proxy_url, ec);
  REQUIRE(!ec);
  o.proxy.http = *p;
  o.proxy.https = *p;
  return o;
}

const trace::event* first_event(const client_fixture& f, const std::string& name) {
  for (const auto& e : f.events)
    if (e.ev == name) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("proxy: CONNECT names the origin, sends the URL's credentials, and a 403 keeps its status") {
  client_fixture f;
  auto proxy = fake_proxy("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  client c(f.io.get_executor(), through(f, "http://alice:s%40cret@127.0.0.5:" + std::to_string(proxy->port())));
  auto r = f.get(c, "https://a.test:8443/x");  // a.test is resolved by nobody: the proxy would
  CHECK(r.ec == error::proxy_tunnel_failed);
  CHECK(r.resp.proxy_status == 403);
  CHECK(r.resp.error_detail == "CONNECT tunnel failed, response 403 Forbidden");
  auto reqs = proxy->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "CONNECT");
  CHECK(reqs[0].target == "a.test:8443");
  CHECK(field(reqs[0], "Host") == "a.test:8443");
  CHECK(field(reqs[0], "Proxy-Authorization") == "Basic " + h2coal::detail::base64("alice:s@cret"));
  // The trace names the proxy on the connection and the refusal on the tunnel; no DNS for a.test.
  const auto* connect = first_event(f, "conn.connect");
  REQUIRE(connect);
  CHECK(str(*connect, "proxy") == "http://127.0.0.5:" + std::to_string(proxy->port()));
  const auto* tunnel = first_event(f, "proxy.tunnel");
  REQUIRE(tunnel);
  CHECK(num(*tunnel, "status") == 403);
  CHECK(!str(*tunnel, "error").empty());
  for (const auto& e : f.events) CHECK(!(e.ev == "dns.done" && str(e, "host") == "a.test"));
}

TEST_CASE("proxy: 407 without credentials is proxy_auth_required") {
  client_fixture f;
  auto proxy = fake_proxy("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\n"
                          "Content-Length: 0\r\n\r\n");
  client c(f.io.get_executor(), through(f, "127.0.0.5:" + std::to_string(proxy->port())));
  auto r = f.get(c, "https://a.test/");
  CHECK(r.ec == error::proxy_auth_required);
  CHECK(r.resp.proxy_status == 407);
  REQUIRE(proxy->requests().size() == 1);
  CHECK(field(proxy->requests()[0], "Proxy-Authorization").empty());
  CHECK(proxy->requests()[0].target == "a.test:443");
}

TEST_CASE("proxy: a garbage answer, bytes after 200 and an endless head are protocol errors, nothing hangs") {
  const std::string endless = "HTTP/1.1 200 OK\r\n" + std::string(200 * 1024, 'x');  // never a blank line
  const std::pair<std::string, std::string> cases[] = {
      {"garbage", "SSH-2.0-OpenSSH_9.2\r\n\r\n"},
      {"after-200", "HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"},
      {"endless", endless},
  };
  for (const auto& [name, answer] : cases) {
    INFO(name);
    client_fixture f;
    auto proxy = fake_proxy(answer);
    client c(f.io.get_executor(), through(f, "http://127.0.0.5:" + std::to_string(proxy->port())));
    auto r = f.get(c, "https://a.test/");
    CHECK(r.ec == error::proxy_protocol_error);
    CHECK(r.completions == 1);
    CHECK(c.connections().size() == 1);
    CHECK_FALSE(c.connections().front().open);
  }
}

TEST_CASE("proxy: a SOCKS5 proxy that never answers ends in proxy_timeout after handshake_timeout") {
  client_fixture f;
  // A raw_server waits for an HTTP head: to a SOCKS5 greeting it says nothing, ever.
  raw_server_options ro;
  ro.address = "127.0.0.5";
  ro.tls = false;
  ro.protocol = raw_protocol::http1;
  raw_server silent(std::move(ro));
  auto o = through(f, "socks5h://127.0.0.5:" + std::to_string(silent.port()));
  o.handshake_timeout = std::chrono::milliseconds(300);
  client c(f.io.get_executor(), o);
  auto r = f.get(c, "https://a.test/");
  CHECK(r.ec == error::proxy_timeout);
  CHECK(silent.connection_count() == 1);
}

TEST_CASE("proxy: a proxy that is down is proxy_refused, one that does not resolve is proxy_not_resolved") {
  client_fixture f;
  const auto port = refusing_port("127.0.0.5");
  {
    client c(f.io.get_executor(), through(f, "http://127.0.0.5:" + std::to_string(port)));
    CHECK(f.get(c, "https://a.test/").ec == error::proxy_refused);
  }
  {
    client c(f.io.get_executor(), through(f, "http://proxy.invalid:3128"));  // the static resolver knows no such name
    auto r = f.get(c, "https://a.test/");
    CHECK(r.ec == error::proxy_not_resolved);
    CHECK(r.resp.error_detail.find("proxy.invalid") != std::string::npos);
  }
}

TEST_CASE("proxy: http:// through an HTTP proxy is an absolute-form request to the proxy, with its credentials") {
  client_fixture f;
  auto proxy = fake_proxy("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  client c(f.io.get_executor(), through(f, "http://bob:pw@127.0.0.5:" + std::to_string(proxy->port())));
  auto r = f.get(c, "http://a.test:8080/path?q=1");
  REQUIRE(!r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.body == "hello");
  auto reqs = proxy->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].target == "http://a.test:8080/path?q=1");
  CHECK(field(reqs[0], "Host") == "a.test:8080");
  CHECK(field(reqs[0], "Proxy-Authorization") == "Basic " + h2coal::detail::base64("bob:pw"));
  // The same origin again: the same proxy connection, kept alive.
  auto again = f.get(c, "http://a.test:8080/two");
  REQUIRE(!again.ec);
  CHECK(again.resp.connection == r.resp.connection);
  CHECK(proxy->connection_count() == 1);
}

TEST_CASE("proxy: no_proxy hosts go direct, the others through the proxy") {
  client_fixture f;
  auto server = f.serve({"direct.test"});
  auto proxy = fake_proxy("HTTP/1.1 403 Forbidden\r\n\r\n");
  auto o = through(f, "http://127.0.0.5:" + std::to_string(proxy->port()));
  o.proxy.no_proxy = "localhost, .direct.test";
  client c(f.io.get_executor(), o);
  auto direct = f.get(c, test_url("direct.test", server->port()));
  REQUIRE(!direct.ec);
  CHECK(direct.resp.status == 200);
  CHECK(proxy->connection_count() == 0);
  auto proxied = f.get(c, test_url("other.test", server->port()));
  CHECK(proxied.ec == error::proxy_tunnel_failed);
  CHECK(proxy->connection_count() == 1);
  REQUIRE(!c.connections().empty());
  CHECK(c.connections().front().proxy.empty());
}

TEST_CASE("proxy: an https:// proxy is verified for its own name with its own trust, and CONNECT goes inside its TLS") {
  client_fixture f;
  f.resolve("proxy.test", {"127.0.0.5"});
  auto serve_tls_proxy = [&](cert_pair cert) {
    raw_server_options ro;
    ro.address = "127.0.0.5";
    ro.protocol = raw_protocol::http1;
    ro.cert = std::move(cert);
    ro.on_request = [](raw_connection& c, const raw_request&) { c.write("HTTP/1.1 403 Forbidden\r\n\r\n"); };
    return std::make_unique<raw_server>(std::move(ro));
  };
  auto proxy_options = [&](std::uint16_t port) {
    auto o = through(f, "https://proxy.test:" + std::to_string(port));
    o.proxy.https->tls.use_system_trust = false;
    o.proxy.https->tls.ca_file = f.ca.ca_file();
    return o;
  };
  {
    auto proxy = serve_tls_proxy(f.ca.issue({"proxy.test"}));
    client c(f.io.get_executor(), proxy_options(proxy->port()));
    auto r = f.get(c, "https://a.test/");
    CHECK(r.ec == error::proxy_tunnel_failed);  // TLS to the proxy worked: it read the CONNECT and refused
    REQUIRE(proxy->requests().size() == 1);
    CHECK(proxy->requests()[0].method == "CONNECT");
    CHECK(proxy->requests()[0].target == "a.test:443");
  }
  {
    test_ca stranger;  // a CA the proxy's trust does not hold
    auto proxy = serve_tls_proxy(stranger.issue({"proxy.test"}));
    client c(f.io.get_executor(), proxy_options(proxy->port()));
    auto r = f.get(c, "https://a.test/");
    CHECK(r.ec == error::proxy_tls_failed);
    CHECK(r.resp.error_detail.find("proxy.test") != std::string::npos);
    CHECK(proxy->requests().empty());
  }
  {
    auto proxy = serve_tls_proxy(f.ca.issue({"other.test"}));  // trusted, but not for the proxy's name
    client c(f.io.get_executor(), proxy_options(proxy->port()));
    CHECK(f.get(c, "https://a.test/").ec == error::proxy_tls_failed);
    CHECK(proxy->requests().empty());
  }
}
