// SPDX-License-Identifier: BSL-1.0
// tests/integration/establishment_test.cpp: connection establishment (DESIGN section 11): the Happy
// Eyeballs race against a black-holed and a refusing address, both address families, ip_family, and
// pending connections in decisions (not-ready, coalesce_pending). Real sockets on loopback only.
#include "catch.hpp"
#include "support/black_hole.hpp"
#include "support/client_fixture.hpp"
#include "support/trace_fields.hpp"

#include <h2coal/detail/dialer.hpp>

#include <atomic>
#include <functional>
#include <memory>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// "ev remote" for every attempt event, in order.
std::vector<std::string> attempts(const client_fixture& f) {
  std::vector<std::string> out;
  for (const auto& e : f.events)
    if (e.ev == "conn.attempt" || e.ev == "conn.attempt_failed" || e.ev == "conn.connect")
      out.push_back(e.ev + " " + str(e, "remote"));
  return out;
}

// As the trace writes a remote ("127.0.0.1:443", "[::1]:443"): the pool's own formatting.
std::string ep(const std::string& address, std::uint16_t port) {
  return h2coal::detail::endpoint_text(asio::ip::tcp::endpoint(asio::ip::make_address(address), port));
}


// `refused` answers first and refuses; `serving` answers second and serves: the failure starts the
// second attempt at once (the attempt delay is ten minutes), and each attempt names its family.
void refused_then_serving(const std::string& refused, const std::string& serving) {
  client_fixture f;
  server_options so;
  so.addresses = {serving};
  auto server = f.serve({"a.test"}, so);
  const auto port = server->port();
  f.resolve("a.test", {refused, serving});
  auto opts = f.options();
  opts.connection_attempt_delay = std::chrono::minutes(10);
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("a.test", port));
  REQUIRE_FALSE(r.ec);
  CHECK(attempts(f) == std::vector<std::string>{"conn.attempt " + ep(refused, port), "conn.attempt_failed " + ep(refused, port),
                                                "conn.attempt " + ep(serving, port), "conn.connect " + ep(serving, port)});
  for (const auto& e : f.events)
    if (e.ev == "conn.attempt") CHECK(str(e, "family") == (str(e, "remote").front() == '[' ? "ipv6" : "ipv4"));
}

}  // namespace

TEST_CASE("establishment: the families interleave, starting with the first answer's (RFC 8305 section 4)") {
  auto a = [](const char* s) { return asio::ip::make_address(s); };
  address_list in{a("::1"), a("::2"), a("::3"), a("10.0.0.1"), a("10.0.0.2")};
  CHECK(h2coal::detail::interleave_families(in) ==
        address_list{a("::1"), a("10.0.0.1"), a("::2"), a("10.0.0.2"), a("::3")});
  address_list v4_first{a("10.0.0.1"), a("::1"), a("::2")};
  CHECK(h2coal::detail::interleave_families(v4_first) == address_list{a("10.0.0.1"), a("::1"), a("::2")});
  CHECK(h2coal::detail::interleave_families({}).empty());
}

TEST_CASE("establishment: a black-holed first address costs one attempt delay, not connect_timeout") {
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.3"};
  auto server = f.serve({"a.test"}, so);
  black_hole hole("127.0.0.2", server->port());
  f.resolve("a.test", {"127.0.0.2", "127.0.0.3"});
  auto opts = f.options();
  opts.connect_timeout = std::chrono::seconds(45);  // longer than run_until's limit: only the race can win
  client c(f.io.get_executor(), opts);

  auto r = f.get(c, test_url("a.test", server->port()));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
  CHECK(attempts(f) == std::vector<std::string>{"conn.attempt " + ep("127.0.0.2", server->port()),
                                                "conn.attempt " + ep("127.0.0.3", server->port()),
                                                "conn.connect " + ep("127.0.0.3", server->port())});
  for (const auto& e : f.events)
    if (e.ev == "conn.attempt") CHECK(str(e, "family") == "ipv4");
  CHECK(server->connection_count() == 1);
}

TEST_CASE("establishment: the race is bounded by connect_timeout") {
  client_fixture f;
  black_hole hole("127.0.0.2");
  f.resolve("a.test", {"127.0.0.2", "127.0.0.3"});
  auto opts = f.options();
  opts.connect_timeout = std::chrono::milliseconds(300);
  opts.connection_attempt_delay = std::chrono::minutes(10);  // the second address is never reached
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("a.test", hole.port()));
  CHECK(r.ec == error::connect_timeout);
  CHECK(attempts(f) == std::vector<std::string>{"conn.attempt " + ep("127.0.0.2", hole.port())});
}

TEST_CASE("establishment: a refused attempt starts the next one at once, whatever the attempt delay") {
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.3"};
  auto server = f.serve({"a.test"}, so);
  const auto port = server->port();
  f.resolve("a.test", {"127.0.0.2", "127.0.0.3"});  // nothing listens on 127.0.0.2:port
  auto opts = f.options();
  opts.connection_attempt_delay = std::chrono::minutes(10);
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("a.test", port));
  REQUIRE_FALSE(r.ec);
  CHECK(attempts(f) == std::vector<std::string>{"conn.attempt " + ep("127.0.0.2", port),
                                                "conn.attempt_failed " + ep("127.0.0.2", port),
                                                "conn.attempt " + ep("127.0.0.3", port),
                                                "conn.connect " + ep("127.0.0.3", port)});
}

TEST_CASE("establishment: every address refused is connection_refused, each attempt traced") {
  client_fixture f;
  const auto port = refusing_port("127.0.0.2");
  f.resolve("a.test", {"127.0.0.2", "127.0.0.3"});
  client c(f.io.get_executor(), f.options());
  auto r = f.get(c, test_url("a.test", port));
  CHECK(r.ec == error::connection_refused);
  CHECK(f.event_names("conn.attempt").size() == 4);  // two attempts, two failures
  CHECK(f.event_names("conn.failed").size() == 1);
}

TEST_CASE("establishment: dual stack, either family refused, the other serving") {
  if (!has_ipv6_loopback()) {
    WARN("no ::1 on this machine: the dual-stack cases need IPv6 loopback");
    return;
  }
  SECTION("::1 refused, 127.0.0.1 serving") { refused_then_serving("::1", "127.0.0.1"); }
  SECTION("127.0.0.1 refused, ::1 serving") { refused_then_serving("127.0.0.1", "::1"); }
  SECTION("::1 black-holed, 127.0.0.1 wins the race") {
    client_fixture f;
    server_options so;
    so.addresses = {"127.0.0.1"};
    auto server = f.serve({"a.test"}, so);
    black_hole hole("::1", server->port());
    f.resolve("a.test", {"::1", "127.0.0.1"});
    auto opts = f.options();
    opts.connect_timeout = std::chrono::seconds(45);
    client c(f.io.get_executor(), opts);
    auto r = f.get(c, test_url("a.test", server->port()));
    REQUIRE_FALSE(r.ec);
    CHECK(attempts(f).back() == "conn.connect " + ep("127.0.0.1", server->port()));
  }
}

TEST_CASE("establishment: ip_family leaves the other family out of the race (curl -4 / -6)") {
  if (!has_ipv6_loopback()) {
    WARN("no ::1 on this machine: ip_family needs IPv6 loopback to be told apart");
    return;
  }
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.1"};
  auto server = f.serve({"a.test"}, so);
  const auto port = server->port();
  f.resolve("a.test", {"::1", "127.0.0.1"});
  SECTION("v4: one attempt, to 127.0.0.1") {
    auto opts = f.options();
    opts.ip_family = ip_family::v4;
    client c(f.io.get_executor(), opts);
    auto r = f.get(c, test_url("a.test", port));
    REQUIRE_FALSE(r.ec);
    CHECK(attempts(f) == std::vector<std::string>{"conn.attempt " + ep("127.0.0.1", port), "conn.connect " + ep("127.0.0.1", port)});
  }
  SECTION("v6: one attempt, to ::1, refused") {
    auto opts = f.options();
    opts.ip_family = ip_family::v6;
    client c(f.io.get_executor(), opts);
    auto r = f.get(c, test_url("a.test", port));
    CHECK(r.ec == error::connection_refused);
    CHECK(attempts(f) == std::vector<std::string>{"conn.attempt " + ep("::1", port), "conn.attempt_failed " + ep("::1", port)});
  }
  SECTION("v6 with only v4 addresses: not found") {
    f.resolve("b.test", {"127.0.0.1"});
    auto opts = f.options();
    opts.ip_family = ip_family::v6;
    client c(f.io.get_executor(), opts);
    auto r = f.get(c, test_url("b.test", port));
    CHECK(r.ec == error::host_not_found);
    CHECK(f.event_names("conn.attempt").empty());
  }
}

namespace {
struct quiet_observer final : h2coal::detail::dial_observer {
  std::vector<std::string> seen;
  void on_dial_attempt(std::uint64_t, const asio::ip::tcp::endpoint& r, unsigned) override { seen.push_back("attempt " + r.address().to_string()); }
  void on_dial_attempt_failed(std::uint64_t, const asio::ip::tcp::endpoint& r, std::error_code) override { seen.push_back("failed " + r.address().to_string()); }
  void on_dial_connected(std::uint64_t, const asio::ip::tcp::endpoint& r, const asio::ip::tcp::endpoint&) override { seen.push_back("connected " + r.address().to_string()); }
};
}  // namespace

TEST_CASE("establishment: the dialer closes the race's losers and hands over one transport") {
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.3"};
  auto server = f.serve({"a.test"}, so);
  black_hole hole("127.0.0.2", server->port());
  quiet_observer seen;
  h2coal::detail::dial_timing timing;
  timing.attempt_delay = std::chrono::milliseconds(1);  // taken as the 10 ms floor
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  auto d = std::make_shared<h2coal::detail::dialer>(f.io.get_executor(), timing, ctx, &seen, 1);
  h2coal::detail::dial_target t;
  t.host = "a.test";
  t.port = server->port();
  t.addresses = {asio::ip::make_address("127.0.0.2"), asio::ip::make_address("127.0.0.3")};
  std::error_code got = error::cancelled;
  bool done = false;
  h2coal::detail::dialed out;
  d->start(t, [&](std::error_code ec, h2coal::detail::dialed r) {
    got = ec;
    out = std::move(r);
    done = true;
  });
  f.run_until([&] { return done; });
  CHECK_FALSE(got);
  REQUIRE(out.link);
  CHECK(out.remote.address().to_string() == "127.0.0.3");
  CHECK(out.link->socket().is_open());
  CHECK(d->open_attempts() == 0);  // the black-holed attempt was closed when the race was decided
  CHECK(seen.seen == std::vector<std::string>{"attempt 127.0.0.2", "attempt 127.0.0.3", "connected 127.0.0.3"});
}

TEST_CASE("establishment: a decision made while a connection to the same address handshakes lists it as not-ready") {
  client_fixture f;
  auto server = f.serve({"a.test", "b.test"});
  client c(f.io.get_executor(), f.with_policy(policies::browser()));
  request a, b;
  a.url = test_url("a.test", server->port());
  b.url = test_url("b.test", server->port());
  auto rs = f.fetch_all(c, {a, b});
  REQUIRE_FALSE(rs[0].ec);
  REQUIRE_FALSE(rs[1].ec);
  std::vector<trace::event> ds;
  for (const auto& e : f.events)
    if (e.ev == "pool.decision" && num(e, "req") == 2) ds.push_back(e);
  REQUIRE(ds.size() == 1);
  CHECK(str(ds[0], "action") == "connect");
  CHECK(candidates(ds[0], false) == std::vector<std::string>{"1 rejected not-ready"});
  CHECK(server->connection_count() == 2);
}

TEST_CASE("establishment: coalesce_pending turns concurrent cold requests to one server into one connection") {
  client_fixture f;
  std::vector<std::string> hosts;
  for (int i = 0; i < 20; ++i) hosts.push_back("h" + std::to_string(i) + ".test");
  hosts.push_back("other.test");
  server_options so;
  so.cert = f.ca.issue(std::vector<std::string>(hosts.begin(), hosts.end() - 1));  // other.test: not covered
  auto server = f.serve(hosts, so);
  auto opts = f.with_policy(policies::browser());
  opts.coalesce_pending = true;
  client c(f.io.get_executor(), opts);
  std::vector<request> reqs;
  for (const auto& h : hosts) {
    request r;
    r.url = test_url(h, server->port());
    reqs.push_back(r);
  }
  auto rs = f.fetch_all(c, reqs);
  for (std::size_t i = 0; i + 1 < rs.size(); ++i) {
    REQUIRE_FALSE(rs[i].ec);
    CHECK(rs[i].resp.connection == 1);
    CHECK(rs[i].resp.coalesced == (i != 0));
  }
  // The certificate does not cover other.test: it waited, then connected on its own (and failed there,
  // since the server has no certificate for it either).
  CHECK(rs.back().ec == error::certificate_name_mismatch);
  bool waited = false;
  for (const auto& e : f.events)
    if (e.ev == "pool.decision" && str(e, "action") == "wait" && num(e, "conn") == 1 && num(e, "req") > 1) waited = true;
  CHECK(waited);
  CHECK(server->connection_count() == 2);
}

namespace {
// Moves the DNS cache's clock forward for one test, and back at its end (the hook is process-wide).
struct clock_skew {
  ~clock_skew() { h2coal::detail::testing::clock_skew_ms = 0; }
  void advance(std::chrono::seconds s) { h2coal::detail::testing::clock_skew_ms += std::chrono::milliseconds(s).count(); }
};
}  // namespace

TEST_CASE("establishment: DNS moved an alias away: its new requests stop using the coalesced connection") {
  client_fixture f;
  auto cert = f.ca.issue({"a.test", "b.test"});
  server_options so1;
  so1.addresses = {"127.0.0.1"};
  so1.cert = cert;
  auto one = f.serve({"a.test", "b.test"}, so1);
  server_options so2;
  so2.addresses = {"127.0.0.2"};
  so2.port = one->port();
  so2.cert = cert;
  test_server two(so2);
  const auto port = one->port();
  clock_skew skew;
  client c(f.io.get_executor(), f.with_policy(policies::browser()));

  REQUIRE(f.get(c, test_url("a.test", port)).resp.connection == 1);
  auto b1 = f.get(c, test_url("b.test", port));
  REQUIRE_FALSE(b1.ec);
  CHECK(b1.resp.connection == 1);
  CHECK(b1.resp.coalesced);

  f.resolve("b.test", {"127.0.0.2"});  // the name moved; the cached answer still holds for its TTL (60 s)
  auto b2 = f.get(c, test_url("b.test", port));
  CHECK(b2.resp.connection == 1);
  CHECK(f.event_names("dns.changed").empty());

  skew.advance(std::chrono::seconds(61));
  f.events.clear();
  auto b3 = f.get(c, test_url("b.test", port));
  REQUIRE_FALSE(b3.ec);
  CHECK(b3.resp.connection == 2);
  CHECK_FALSE(b3.resp.coalesced);
  CHECK(two.requests().size() == 1);  // served where DNS now points
  std::vector<trace::event> changed;
  for (const auto& e : f.events)
    if (e.ev == "dns.changed") changed.push_back(e);
  REQUIRE(changed.size() == 1);
  CHECK(str(changed[0], "host") == "b.test");
  CHECK(std::get<std::vector<std::string>>(*changed[0].find("addrs")) == std::vector<std::string>{"127.0.0.2"});
  CHECK(std::get<std::vector<std::string>>(*changed[0].find("previous")) == std::vector<std::string>{"127.0.0.1"});
  for (const auto& e : f.events)
    if (e.ev == "pool.decision") {
      CHECK(str(e, "action") == "connect");
      CHECK(candidates(e, false) == std::vector<std::string>{"1 rejected ip-mismatch"});
    }
  // a.test's own connection is untouched.
  CHECK(f.get(c, test_url("a.test", port)).resp.connection == 1);
}

TEST_CASE("establishment: the DNS cache answers repeated decisions within the TTL") {
  client_fixture f;
  auto server = f.serve({"a.test", "b.test"});
  client c(f.io.get_executor(), f.with_policy(policies::browser()));
  for (int i = 0; i < 3; ++i) REQUIRE_FALSE(f.get(c, test_url("b.test", server->port(), "/" + std::to_string(i))).ec);
  std::vector<bool> cached;
  for (const auto& e : f.events)
    if (e.ev == "dns.done") cached.push_back(std::get<bool>(*e.find("cached")));
  REQUIRE_FALSE(cached.empty());
  CHECK_FALSE(cached.front());
  for (std::size_t i = 1; i < cached.size(); ++i) CHECK(cached[i]);
}

namespace {

// The tls_version of the only connection's conn.ready event.
std::string negotiated_version(const client_fixture& f) {
  for (const auto& e : f.events)
    if (e.ev == "conn.ready") return str(e, "tls_version");
  return "no conn.ready";
}

// A GET of a.test by a client whose TLS options `change` made, from a server of options `so`: the
// result, the version conn.ready reported, and how many connections the server accepted.
struct tls_get {
  result r;
  std::string version;
  std::size_t connections = 0;
};
tls_get get_with_tls(const std::function<void(tls_options&)>& change, server_options so = {}) {
  client_fixture f;
  auto server = f.serve({"a.test"}, so);
  auto o = f.options();
  change(o.tls);
  client c(f.io.get_executor(), o);
  tls_get out;
  out.r = f.get(c, test_url("a.test", server->port()));
  out.version = negotiated_version(f);
  out.connections = server->connection_count();
  return out;
}

}  // namespace

TEST_CASE("establishment: tls_options bound the TLS version and pick the ciphers (curl --tlsv1.3, --tls-max, --ciphers)") {
  SECTION("at least TLS 1.3") {
    auto t = get_with_tls([](tls_options& o) { o.min_version = tls_version::tls1_3; });
    REQUIRE_FALSE(t.r.ec);
    CHECK(t.version == "TLSv1.3");
  }
  SECTION("at most TLS 1.2, with a TLS 1.2 cipher list") {
    auto t = get_with_tls([](tls_options& o) {
      o.max_version = tls_version::tls1_2;
      o.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
    });
    REQUIRE_FALSE(t.r.ec);
    CHECK(t.r.resp.http_version == "2");
    CHECK(t.version == "TLSv1.2");
  }
  SECTION("at least TLS 1.3 against a server of TLS 1.2 at most: the handshake fails") {
    server_options so;
    so.tls12_only = true;
    auto t = get_with_tls([](tls_options& o) { o.min_version = tls_version::tls1_3; }, so);
    CHECK(t.r.ec == error::tls_handshake_failed);
    CHECK(t.connections == 1);
  }
  SECTION("TLS 1.3 suites of one's own") {
    auto t = get_with_tls([](tls_options& o) {
      o.min_version = tls_version::tls1_3;
      o.tls13_ciphers = "TLS_CHACHA20_POLY1305_SHA256";
    });
    REQUIRE_FALSE(t.r.ec);
    CHECK(t.version == "TLSv1.3");
  }
  SECTION("settings that leave nothing to negotiate are invalid_option, and nothing is dialed") {
    for (const auto& change : std::vector<std::function<void(tls_options&)>>{
             [](tls_options& o) { o.min_version = tls_version::tls1_3; o.max_version = tls_version::tls1_2; },
             [](tls_options& o) { o.ciphers = "NO-SUCH-CIPHER"; },
             [](tls_options& o) { o.tls13_ciphers = "TLS_NO_SUCH_SUITE"; }}) {
      auto t = get_with_tls(change);
      CHECK(t.r.ec == error::invalid_option);
      CHECK(t.connections == 0);
    }
  }
}

TEST_CASE("establishment: the response names this side's address and port of its connection (curl's local_ip, local_port)") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  client c(f.io.get_executor(), f.options());
  auto r1 = f.get(c, test_url("a.test", server->port(), "/one"));
  auto r2 = f.get(c, test_url("a.test", server->port(), "/two"));
  REQUIRE_FALSE(r1.ec);
  REQUIRE_FALSE(r2.ec);
  CHECK(r1.resp.local_address == "127.0.0.1");
  CHECK(r1.resp.local_port != 0);
  CHECK(r1.resp.local_port != server->port());
  CHECK(r2.resp.connection == r1.resp.connection);
  CHECK(r2.resp.local_port == r1.resp.local_port);  // the same connection, the same local end
  client other(f.io.get_executor(), f.options());
  auto r3 = f.get(other, test_url("a.test", server->port(), "/three"));
  REQUIRE_FALSE(r3.ec);
  CHECK(r3.resp.local_port != r1.resp.local_port);  // two connections open at once: two ports
}

TEST_CASE("establishment: connect_to parses curl's HOST1:PORT1:HOST2:PORT2") {
  auto r = connect_to_rule::parse("A.test:443:b.test:8443");
  REQUIRE(r);
  CHECK(r->host == "a.test");
  CHECK(r->port == 443);
  CHECK(r->to_host == "b.test");
  CHECK(r->to_port == 8443);
  auto any = connect_to_rule::parse("::127.0.0.3:");
  REQUIRE(any);
  CHECK(any->host.empty());
  CHECK(any->port == 0);
  CHECK(any->to_host == "127.0.0.3");
  CHECK(any->to_port == 0);
  CHECK(any->matches("x.test", 1234));
  auto v6 = connect_to_rule::parse("[::1]:80:[fe80::1]:81");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->to_host == "fe80::1");
  CHECK(v6->to_port == 81);
  CHECK(r->matches("a.test", 443));
  CHECK_FALSE(r->matches("a.test", 444));
  CHECK_FALSE(r->matches("b.test", 443));
  for (const char* bad : {"", "a.test", "a.test:443", "a.test:443:b.test", "a.test:x:b.test:1", "a.test:1:b.test:70000",
                          "a.test:0:b.test:1", "[::1:80::81"})
    CHECK_FALSE(connect_to_rule::parse(bad));
}

TEST_CASE("establishment: connect_to sends one origin's connections to another host and port") {
  client_fixture f;
  // The URL's server, and the one the rule sends a.test to (its own address and port).
  auto url_server = f.serve({"a.test"});
  server_options so;
  so.addresses = {"127.0.0.3"};
  so.cert = f.ca.issue({"a.test"});
  auto elsewhere = f.serve({}, so);
  f.resolve("other.test", {"127.0.0.3"});
  auto o = f.options();
  o.connect_to.push_back(*connect_to_rule::parse("a.test:" + std::to_string(url_server->port()) + ":other.test:" +
                                                 std::to_string(elsewhere->port())));
  client c(f.io.get_executor(), o);
  auto a = f.get(c, test_url("a.test", url_server->port(), "/a"));
  REQUIRE_FALSE(a.ec);
  CHECK(a.resp.remote_address == "127.0.0.3");
  CHECK(a.resp.remote_port == elsewhere->port());
  REQUIRE(elsewhere->requests().size() == 1);
  const auto seen = elsewhere->requests()[0];
  CHECK(seen.authority == "a.test:" + std::to_string(url_server->port()));  // the URL's, unchanged
  CHECK(seen.sni == "a.test");
  CHECK(url_server->connection_count() == 0);
  // A rule for another port leaves this one alone.
  auto other_port = f.serve({"a.test"});
  auto direct = f.get(c, test_url("a.test", other_port->port(), "/direct"));
  REQUIRE_FALSE(direct.ec);
  CHECK(direct.resp.remote_port == other_port->port());
  CHECK(other_port->requests().size() == 1);
}

TEST_CASE("establishment: a connection a connect_to rule made carries its own origin only, however well another matches") {
  // The rule sends a.test to alias.test, which resolves to the very address and port b.test does, and
  // the certificate covers both: by DNS, certificate and (for origin) ORIGIN frame naming both, b.test
  // would ride on a.test's connection and a.test on b.test's. Neither may.
  for (auto [name, policy] : {std::pair{"browser", policies::browser()}, std::pair{"origin", policies::origin()}}) {
    INFO("policy " << name);
    client_fixture f;
    auto port = std::make_shared<std::atomic<std::uint16_t>>(0);
    server_options so;
    so.origin_frames_for_sni = [port](const std::string&) {
      const auto p = std::to_string(port->load());
      return std::vector<std::vector<std::string>>{{"https://a.test:" + p, "https://b.test:" + p}};
    };
    auto server = f.serve({"a.test", "b.test"}, so);
    port->store(server->port());
    f.resolve("alias.test", {"127.0.0.1"});
    auto o = f.with_policy(policy);
    o.close_redundant_connections = true;
    o.connect_to.push_back(*connect_to_rule::parse("a.test::alias.test:"));
    client c(f.io.get_executor(), o);
    auto a = f.get(c, test_url("a.test", server->port(), "/a"));
    REQUIRE_FALSE(a.ec);
    auto b = f.get(c, test_url("b.test", server->port(), "/b"));
    REQUIRE_FALSE(b.ec);
    CHECK_FALSE(b.resp.coalesced);
    CHECK(b.resp.connection != a.resp.connection);
    auto a2 = f.get(c, test_url("a.test", server->port(), "/a2"));
    REQUIRE_FALSE(a2.ec);
    CHECK(a2.resp.connection == a.resp.connection);
    CHECK_FALSE(a2.resp.coalesced);
    auto b2 = f.get(c, test_url("b.test", server->port(), "/b2"));
    REQUIRE_FALSE(b2.ec);
    CHECK(b2.resp.connection == b.resp.connection);  // b's own stayed: not closed as redundant to a's
    CHECK(server->connection_count() == 2);
    for (const auto& r : server->requests()) CHECK(r.sni == r.authority.substr(0, r.authority.find(':')));
  }
}
