// tests/interop/proxy_test.cpp: h2coal through real forward proxies from Debian (DESIGN section 13):
// squid and tinyproxy as HTTP proxies (CONNECT tunnels, absolute-form requests, basic auth, an ACL that
// refuses), dante as SOCKS5 (socks5 and socks5h, RFC 1929 user/password, a blocked port), with the
// project's test server as origin; and what coalescing may do through a proxy: two names on one address
// and one certificate are two tunnels through squid, one connection direct.
#include "interop/interop.hpp"
#include "interop/proxy_servers.hpp"
#include "support/black_hole.hpp"
#include "support/trace_fields.hpp"

using namespace h2coal;
using namespace h2coal::interop;

namespace {

constexpr const char* origin_address = "127.0.73.1";

client_options through(interop_fixture& f, const std::string& url, any_policy policy = policies::origin()) {
  auto o = f.options_with(std::move(policy));
  std::error_code ec;
  auto p = proxy_server::parse(url, ec);
  REQUIRE(!ec);
  o.proxy.http = *p;
  o.proxy.https = *p;
  return o;
}

std::unique_ptr<test::test_server> origin_for(interop_fixture& f, const std::vector<std::string>& names,
                                              test::server_protocol protocol = test::server_protocol::auto_alpn) {
  test::server_options so;
  so.addresses = {origin_address};
  so.protocol = protocol;
  return f.serve(names, so);
}

proxy_hosts hosts_of(const std::vector<std::string>& names) {
  proxy_hosts out;
  for (const auto& n : names) out.emplace_back(n, origin_address);
  return out;
}

}  // namespace

TEST_CASE("squid: https through a CONNECT tunnel, h2 end to end, the tunnel reused for its origin") {
  INTEROP_REQUIRE_PROGRAM(squid, "squid");
  interop_fixture f;
  auto origin = origin_for(f, {"a.test"});
  squid_options so;
  so.hosts = hosts_of({"a.test"});
  auto proxy = start_squid(f.dir, squid, so);
  client c(f.io.get_executor(), through(f, proxy.url()));
  auto r = f.get_with(c, test::test_url("a.test", origin->port(), "/bytes/65536"));
  REQUIRE(!r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.http_version == "2");
  CHECK(r.resp.body == test::expected_bytes(65536));
  auto again = f.get_with(c, test::test_url("a.test", origin->port(), "/"));
  REQUIRE(!again.ec);
  CHECK(again.resp.connection == r.resp.connection);
  CHECK(origin->connection_count() == 1);
  // The client never resolved a.test: the proxy did.
  for (const auto& e : f.events) CHECK(!(e.ev == "dns.done" && test::str(e, "host") == "a.test"));
  c.close();
  auto log = proxy.wait_for_requests(1);
  REQUIRE(log.size() == 1);
  CHECK(log[0].method == "CONNECT");
  CHECK(log[0].url == "a.test:" + std::to_string(origin->port()));
  CHECK(log[0].status == 200);
}

TEST_CASE("squid: http:// goes as an absolute-form request, seen so by squid") {
  INTEROP_REQUIRE_PROGRAM(squid, "squid");
  interop_fixture f;
  auto origin = origin_for(f, {}, test::server_protocol::http1_plain);
  auto proxy = start_squid(f.dir, squid);
  client c(f.io.get_executor(), through(f, proxy.url()));
  const std::string url = "http://" + std::string(origin_address) + ":" + std::to_string(origin->port()) + "/bytes/1000";
  auto r = f.get_with(c, url);
  REQUIRE(!r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.body == test::expected_bytes(1000));
  auto log = proxy.wait_for_requests(1);
  REQUIRE(log.size() == 1);
  CHECK(log[0].method == "GET");
  CHECK(log[0].url == url);
}

TEST_CASE("squid with basic auth: credentials from the URL pass, none is 407, an ACL refusal is 403") {
  INTEROP_REQUIRE_PROGRAM(squid, "squid");
  interop_fixture f;
  auto origin = origin_for(f, {"a.test"});
  const auto refused = test::refusing_port(origin_address);
  squid_options so;
  so.hosts = hosts_of({"a.test"});
  so.auth = proxy_credentials{"alice", "s3cret"};
  so.deny_connect_port = refused;
  auto proxy = start_squid(f.dir, squid, so);
  {
    client c(f.io.get_executor(), through(f, proxy.url_with(*so.auth)));
    auto r = f.get_with(c, test::test_url("a.test", origin->port(), "/"));
    REQUIRE(!r.ec);
    CHECK(r.resp.status == 200);
  }
  {
    client c(f.io.get_executor(), through(f, proxy.url()));
    auto r = f.get_with(c, test::test_url("a.test", origin->port(), "/"));
    CHECK(r.ec == error::proxy_auth_required);
    CHECK(r.resp.proxy_status == 407);
  }
  {
    client c(f.io.get_executor(), through(f, proxy.url_with(*so.auth)));
    auto r = f.get_with(c, test::test_url("a.test", refused, "/"));
    CHECK(r.ec == error::proxy_tunnel_failed);
    CHECK(r.resp.proxy_status == 403);
  }
}

TEST_CASE("squid: two names on one address and one certificate are two tunnels under browser, one connection direct") {
  INTEROP_REQUIRE_PROGRAM(squid, "squid");
  interop_fixture f;
  auto origin = origin_for(f, {"a.test", "b.test"});  // one certificate for both, one address
  squid_options so;
  so.hosts = hosts_of({"a.test", "b.test"});
  auto proxy = start_squid(f.dir, squid, so);
  const auto port = origin->port();
  {
    client c(f.io.get_executor(), through(f, proxy.url(), policies::browser()));
    auto a = f.get_with(c, test::test_url("a.test", port, "/"));
    REQUIRE(!a.ec);
    auto b = f.get_with(c, test::test_url("b.test", port, "/"));
    REQUIRE(!b.ec);
    CHECK_FALSE(b.resp.coalesced);
    CHECK(b.resp.connection != a.resp.connection);
    CHECK(origin->connection_count() == 2);  // the server counts two TLS connections
    // The decision for b looked at a's tunnel (its certificate names b) and could not match its address.
    const trace::event* decision = nullptr;
    for (const auto& e : f.events)
      if (e.ev == "pool.decision" && test::str(e, "origin") == "https://b.test:" + std::to_string(port)) decision = &e;
    REQUIRE(decision);
    CHECK(test::candidates(*decision) ==
          std::vector<std::string>{std::to_string(a.resp.connection) + " https://a.test:" + std::to_string(port) +
                                   " rejected ip-mismatch"});
  }
  f.clear_events();
  {
    client c(f.io.get_executor(), f.options_with(policies::browser()));
    auto a = f.get_with(c, test::test_url("a.test", port, "/"));
    auto b = f.get_with(c, test::test_url("b.test", port, "/"));
    REQUIRE(!a.ec);
    REQUIRE(!b.ec);
    CHECK(b.resp.coalesced);
    CHECK(b.resp.connection == a.resp.connection);
    CHECK(origin->connection_count() == 3);  // one more: the direct one
  }
}

TEST_CASE("tinyproxy: https through a CONNECT tunnel, a port it does not allow is 403") {
  INTEROP_REQUIRE_PROGRAM(tinyproxy, "tinyproxy");
  interop_fixture f;
  auto origin = origin_for(f, {origin_address});  // tinyproxy resolves with libc: the origin by address
  tinyproxy_options to;
  to.connect_ports = {origin->port()};
  auto proxy = start_tinyproxy(f.dir, tinyproxy, to);
  client c(f.io.get_executor(), through(f, proxy.url()));
  auto r = f.get_with(c, test::test_url(origin_address, origin->port(), "/bytes/5000"));
  REQUIRE(!r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.body == test::expected_bytes(5000));
  auto other = f.get_with(c, test::test_url(origin_address, static_cast<std::uint16_t>(origin->port() == 1 ? 2 : 1), "/"));
  CHECK(other.ec == error::proxy_tunnel_failed);
  CHECK(other.resp.proxy_status == 403);
}

TEST_CASE("dante: socks5 resolves locally and sends the address, socks5h sends the name") {
  INTEROP_REQUIRE_PROGRAM(danted, "danted");
  interop_fixture f;
  auto origin = origin_for(f, {"a.test"});
  dante_options d;
  d.hosts = hosts_of({"a.test"});
  auto proxy = start_dante(f.dir, danted, d);
  for (const std::string scheme : {"socks5", "socks5h"}) {
    INFO(scheme);
    f.clear_events();
    client c(f.io.get_executor(), through(f, scheme + "://" + proxy.endpoint()));
    auto r = f.get_with(c, test::test_url("a.test", origin->port(), "/bytes/3000"));
    REQUIRE(!r.ec);
    CHECK(r.resp.body == test::expected_bytes(3000));
    bool resolved_locally = false;
    for (const auto& e : f.events) resolved_locally |= e.ev == "dns.done" && test::str(e, "host") == "a.test";
    CHECK(resolved_locally == (scheme == "socks5"));
    const trace::event* tunnel = nullptr;
    for (const auto& e : f.events)
      if (e.ev == "proxy.tunnel") tunnel = &e;
    REQUIRE(tunnel);
    CHECK(test::num(*tunnel, "status") == 0);
  }
  CHECK(origin->connection_count() == 2);
}

TEST_CASE("dante with user/password: right credentials pass, wrong ones and none are refused, a blocked port is reply 2") {
  INTEROP_REQUIRE_PROGRAM(danted, "danted");
  interop_fixture f;
  auto origin = origin_for(f, {"a.test"});
  const auto blocked = test::refusing_port(origin_address);
  dante_options d;
  d.hosts = hosts_of({"a.test"});
  d.auth = proxy_credentials{"sockuser", "sockpass"};
  d.block_port = blocked;
  auto proxy = start_dante(f.dir, danted, d);
  {
    client c(f.io.get_executor(), through(f, "socks5h://sockuser:sockpass@" + proxy.endpoint()));
    auto r = f.get_with(c, test::test_url("a.test", origin->port(), "/"));
    REQUIRE(!r.ec);
    CHECK(r.resp.status == 200);
    auto b = f.get_with(c, test::test_url("a.test", blocked, "/"));
    CHECK(b.ec == error::socks_not_allowed);
  }
  {
    client c(f.io.get_executor(), through(f, "socks5h://sockuser:wrong@" + proxy.endpoint()));
    CHECK(f.get_with(c, test::test_url("a.test", origin->port(), "/")).ec == error::proxy_auth_required);
  }
  {
    client c(f.io.get_executor(), through(f, "socks5h://" + proxy.endpoint()));
    CHECK(f.get_with(c, test::test_url("a.test", origin->port(), "/")).ec == error::proxy_auth_required);
  }
}
