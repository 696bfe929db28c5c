// SPDX-License-Identifier: BSL-1.0
// tests/integration/coalescing_test.cpp: when one connection carries several origins, and when not.
// Each case is one scenario of DESIGN section 3; connection counts are the server's own.
#include "catch.hpp"
#include "support/client_fixture.hpp"

using namespace h2coal;
using namespace h2coal::test;

namespace {

// Sequential GETs; returns the connection id that carried each.
std::vector<std::uint64_t> sequential(client_fixture& f, client& c, const std::vector<std::string>& urls) {
  std::vector<std::uint64_t> ids;
  for (const auto& u : urls) {
    auto r = f.get(c, u);
    REQUIRE_FALSE(r.ec);
    REQUIRE(r.resp.status == 200);
    ids.push_back(r.resp.connection);
  }
  return ids;
}

}  // namespace

TEST_CASE("coalescing 1: same address, one certificate: browser and origin share, strict does not") {
  for (auto [name, policy, expected] : {std::tuple{"browser", policies::browser(), 1u},
                                        std::tuple{"origin", policies::origin(), 1u},
                                        std::tuple{"strict", policies::strict(), 2u}}) {
    INFO(name);
    client_fixture f;
    server_options so;
    so.cert = f.ca.issue({"a.test", "b.test"});
    test_server server(so);
    f.resolve("a.test", {"127.0.0.1"});
    f.resolve("b.test", {"127.0.0.1"});
    client c(f.io.get_executor(), f.with_policy(policy));
    auto p = server.port();
    sequential(f, c, {test_url("a.test", p), test_url("b.test", p), test_url("a.test", p), test_url("b.test", p)});
    CHECK(server.connection_count() == expected);
    // Coalesced or not, every request for b carried b's :authority.
    std::size_t b_requests = 0;
    for (auto& q : server.requests()) b_requests += q.authority.rfind("b.test:", 0) == 0;
    CHECK(b_requests == 2);
  }
}

TEST_CASE("coalescing 2: the DNS rule compares the connected address (browser)") {
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.1", "127.0.0.2"};
  so.cert = f.ca.issue({"a.test", "b.test"});
  test_server server(so);
  auto p = server.port();

  SECTION("b on another address: two connections") {
    f.resolve("a.test", {"127.0.0.1"});
    f.resolve("b.test", {"127.0.0.2"});
    client c(f.io.get_executor(), f.with_policy(policies::browser()));
    sequential(f, c, {test_url("a.test", p), test_url("b.test", p)});
    CHECK(server.connection_count() == 2);
  }
  SECTION("a connected to .2, b resolves to [.1, .2]: one connection") {
    f.resolve("a.test", {"127.0.0.2"});
    f.resolve("b.test", {"127.0.0.1", "127.0.0.2"});
    client c(f.io.get_executor(), f.with_policy(policies::browser()));
    auto ids = sequential(f, c, {test_url("a.test", p), test_url("b.test", p)});
    CHECK(server.connection_count() == 1);
    CHECK(ids[0] == ids[1]);
  }
  SECTION("a resolves to [.1, .2] (connected to .1), b to [.2]: connected says 2, any_overlap says 1") {
    f.resolve("a.test", {"127.0.0.1", "127.0.0.2"});
    f.resolve("b.test", {"127.0.0.2"});
    {
      client c(f.io.get_executor(), f.with_policy(policies::browser(ip_match::connected)));
      sequential(f, c, {test_url("a.test", p), test_url("b.test", p)});
      CHECK(server.connection_count() == 2);
    }
    client c(f.io.get_executor(), f.with_policy(policies::browser(ip_match::any_overlap)));
    sequential(f, c, {test_url("a.test", p), test_url("b.test", p)});
    CHECK(server.connection_count() == 3);
  }
}

TEST_CASE("coalescing 3: a host the certificate does not cover gets its own connection, under every policy") {
  for (auto policy : {policies::strict(), policies::browser(), policies::origin()}) {
    client_fixture f;
    server_options so;
    so.cert = f.ca.issue({"a.test"});
    so.sni_certs["d.test"] = f.ca.issue({"d.test"});
    test_server server(so);
    f.resolve("a.test", {"127.0.0.1"});
    f.resolve("d.test", {"127.0.0.1"});
    client c(f.io.get_executor(), f.with_policy(policy));
    auto p = server.port();
    auto ids = sequential(f, c, {test_url("a.test", p), test_url("d.test", p)});
    CHECK(ids[0] != ids[1]);
    CHECK(server.connection_count() == 2);
  }
}

TEST_CASE("coalescing 4: another port is another origin") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  test_server one(so), two(so);
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(policies::browser()));
  sequential(f, c, {test_url("a.test", one.port()), test_url("b.test", two.port())});
  CHECK(one.connection_count() + two.connection_count() == 2);
}

TEST_CASE("coalescing 5: 421 on a coalesced request: one retry on b's own connection, never again on a's") {
  for (auto policy : {policies::browser(), policies::origin()}) {
    client_fixture f;
    server_options so;
    so.cert = f.ca.issue({"a.test", "b.test"});
    so.misdirect_on_mismatch = true;
    test_server server(so);
    f.resolve("a.test", {"127.0.0.1"});
    f.resolve("b.test", {"127.0.0.1"});
    client c(f.io.get_executor(), f.with_policy(policy));
    auto p = server.port();
    auto a = f.get(c, test_url("a.test", p));
    auto b = f.get(c, test_url("b.test", p));
    REQUIRE_FALSE(b.ec);
    CHECK(b.resp.status == 200);
    CHECK(b.resp.attempts == 2);
    CHECK(b.resp.connection != a.resp.connection);
    auto b2 = f.get(c, test_url("b.test", p));
    CHECK(b2.resp.status == 200);
    CHECK(b2.resp.connection == b.resp.connection);
    CHECK(b2.resp.attempts == 1);
    auto a2 = f.get(c, test_url("a.test", p));
    CHECK(a2.resp.connection == a.resp.connection);
    CHECK(server.connection_count() == 2);
    std::size_t misdirected = 0;
    for (auto& q : server.requests()) misdirected += q.sni == "a.test" && q.authority.rfind("b.test", 0) == 0;
    CHECK(misdirected == 1);
  }
}

TEST_CASE("coalescing 5b: a server answering 421 to the retry too: the caller gets the 421 after 2 attempts") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  so.answer_421 = [](const request_info& r) { return r.authority.rfind("b.test", 0) == 0; };
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(policies::browser()));
  auto p = server.port();
  f.get(c, test_url("a.test", p));
  auto b = f.get(c, test_url("b.test", p));
  REQUIRE_FALSE(b.ec);
  CHECK(b.resp.status == 421);
  CHECK(b.resp.attempts == 2);
  std::size_t b_seen = 0;
  for (auto& q : server.requests()) b_seen += q.authority.rfind("b.test", 0) == 0;
  CHECK(b_seen == 2);
}

namespace {

// A server whose ORIGIN frames name origins on its own (OS-chosen) port.
struct origin_frame_server {
  std::shared_ptr<std::uint16_t> port = std::make_shared<std::uint16_t>(0);
  std::unique_ptr<test_server> server;

  origin_frame_server(server_options so, std::vector<std::vector<std::string>> hosts_per_frame) {
    so.origin_frames_for_sni = [port = port, hosts_per_frame](const std::string&) {
      std::vector<std::vector<std::string>> frames;
      for (const auto& hosts : hosts_per_frame) {
        std::vector<std::string> frame;
        for (const auto& h : hosts) frame.push_back("https://" + h + ":" + std::to_string(*port));
        frames.push_back(frame);
      }
      return frames;
    };
    server = std::make_unique<test_server>(so);
    *port = server->port();
  }
};

}  // namespace

TEST_CASE("coalescing 6: ORIGIN {a, c}: origin sends c on a's connection without DNS; browser does not") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "c.test"});
  origin_frame_server s(so, {{"a.test", "c.test"}});
  auto p = s.server->port();
  f.resolve("a.test", {"127.0.0.1"});
  // c.test does not resolve at all.
  {
    client c(f.io.get_executor(), f.with_policy(policies::origin()));
    auto a = f.get(c, test_url("a.test", p));
    auto cr = f.get(c, test_url("c.test", p));
    REQUIRE_FALSE(cr.ec);
    CHECK(cr.resp.status == 200);
    CHECK(cr.resp.connection == a.resp.connection);
    CHECK(cr.resp.coalesced);
    CHECK(cr.resp.basis == "origin-frame");
    CHECK(s.server->connection_count() == 1);
  }
  client c(f.io.get_executor(), f.with_policy(policies::browser()));
  f.get(c, test_url("a.test", p));
  auto cr = f.get(c, test_url("c.test", p));
  CHECK(cr.ec == error::host_not_found);
}

TEST_CASE("coalescing 7: ORIGIN {a} only: origin does not coalesce b although DNS and certificate match") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  origin_frame_server s(so, {{"a.test"}});
  auto p = s.server->port();
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(policies::origin()));
  auto ids = sequential(f, c, {test_url("a.test", p), test_url("b.test", p)});
  CHECK(ids[0] != ids[1]);
  CHECK(s.server->connection_count() == 2);
}

TEST_CASE("coalescing 8: ORIGIN names x, which the certificate does not cover: x gets its own connection") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  so.sni_certs["x.test"] = f.ca.issue({"x.test"});
  origin_frame_server s(so, {{"a.test", "x.test"}});
  auto p = s.server->port();
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("x.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(policies::origin()));
  auto ids = sequential(f, c, {test_url("a.test", p), test_url("x.test", p)});
  CHECK(ids[0] != ids[1]);
  CHECK(s.server->connection_count() == 2);
}

TEST_CASE("coalescing 9: a second ORIGIN frame adds b: b is coalesced") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  origin_frame_server s(so, {{"a.test"}, {"b.test"}});
  auto p = s.server->port();
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(policies::origin()));
  auto ids = sequential(f, c, {test_url("a.test", p), test_url("b.test", p)});
  CHECK(ids[0] == ids[1]);
  CHECK(s.server->connection_count() == 1);
}

TEST_CASE("coalescing 10: insecure mode or a client certificate: never coalesced") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  so.request_client_cert = true;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  auto p = server.port();
  SECTION("insecure") {
    for (auto policy : {policies::browser(), policies::origin()}) {
      auto o = f.with_policy(policy);
      o.tls.insecure = true;
      client c(f.io.get_executor(), o);
      auto ids = sequential(f, c, {test_url("a.test", p), test_url("b.test", p)});
      CHECK(ids[0] != ids[1]);
    }
    CHECK(server.connection_count() == 4);
  }
  SECTION("client certificate") {
    auto pair = f.ca.issue_client("me");
    temp_dir dir;
    auto o = f.with_policy(policies::browser());
    o.tls.client_cert_file = dir.write_temp_file(pair.cert_pem, ".pem");
    o.tls.client_key_file = dir.write_temp_file(pair.key_pem, ".key");
    client c(f.io.get_executor(), o);
    auto ids = sequential(f, c, {test_url("a.test", p), test_url("b.test", p)});
    CHECK(ids[0] != ids[1]);
    CHECK(server.connections()[0].client_cert);
  }
}

TEST_CASE("coalescing 11: 20 concurrent first requests wait for the one pending connection") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());
  std::vector<request> reqs(20);
  for (auto& r : reqs) r.url = test_url("a.test", server.port());
  for (auto& r : f.fetch_all(c, reqs)) REQUIRE_FALSE(r.ec);
  CHECK(server.connection_count() == 1);
  std::size_t waits = 0;
  for (auto& e : f.events)
    if (e.ev == "pool.decision") {
      auto* a = e.find("action");
      waits += a && std::get<std::string>(*a) == "wait";
    }
  CHECK(waits == 19);
}

TEST_CASE("coalescing 12: GOAWAY on a shared connection: in-flight requests finish, new ones go elsewhere") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(policies::browser()));
  auto p = server.port();
  f.get(c, test_url("a.test", p));
  std::vector<result> inflight(2);
  std::size_t done = 0;
  for (std::size_t i = 0; i < 2; ++i) {
    request r;
    r.url = test_url(i == 0 ? "a.test" : "b.test", p, "/stall");
    c.async_request(r, [&, i](std::error_code ec, response resp) {
      inflight[i].ec = ec;
      inflight[i].resp = std::move(resp);
      ++inflight[i].completions;
      ++done;
    });
  }
  f.run_until([&] { return server.requests().size() == 3; });
  server.send_goaway_all();
  f.run_until([&] { return !f.event_names("conn.goaway").empty(); });
  auto a = f.get(c, test_url("a.test", p, "/new"));
  auto b = f.get(c, test_url("b.test", p, "/new"));
  REQUIRE_FALSE(a.ec);
  REQUIRE_FALSE(b.ec);
  CHECK(a.resp.connection != 1);
  CHECK(b.resp.connection == a.resp.connection);  // the new connection is shared in turn
  server.release_stalled();
  f.run_until([&] { return done == 2; });
  for (auto& r : inflight) {
    REQUIRE_FALSE(r.ec);
    CHECK(r.resp.status == 200);
    CHECK(r.resp.connection == 1);
    CHECK(r.completions == 1);
  }
  CHECK(server.connection_count() == 2);
}

TEST_CASE("coalescing 13: a streamed body that cannot rewind is not retried after 421") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  so.misdirect_on_mismatch = true;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(policies::browser()));
  auto p = server.port();
  f.get(c, test_url("a.test", p));
  bool sent = false;
  request r;
  r.method = "POST";
  r.url = test_url("b.test", p, "/echo");
  r.source = body_source{[&](std::span<char> buf, bool& eof) {
                           eof = true;
                           if (sent) return std::size_t{0};
                           sent = true;
                           buf[0] = 'x';
                           return std::size_t{1};
                         },
                         {}, std::size_t{1}, {}, {}};
  auto res = f.fetch(c, r);
  REQUIRE_FALSE(res.ec);
  CHECK(res.resp.status == 421);
  CHECK(res.resp.attempts == 1);
  CHECK(server.requests().size() == 2);
}

TEST_CASE("coalescing 14: per-origin override: strict for b while the default is browser") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test", "c.test"});
  test_server server(so);
  for (auto h : {"a.test", "b.test", "c.test"}) f.resolve(h, {"127.0.0.1"});
  auto o = f.with_policy(policies::browser());
  o.policies.set("b.test", policies::strict());
  client c(f.io.get_executor(), o);
  auto p = server.port();
  auto ids = sequential(f, c, {test_url("a.test", p), test_url("b.test", p), test_url("c.test", p)});
  CHECK(ids[0] != ids[1]);
  CHECK(ids[2] == ids[0]);
  CHECK(server.connection_count() == 2);
}

TEST_CASE("coalescing: a new connection that duplicates one already serving its origin is noted, or closed") {
  for (bool close_it : {false, true}) {
    client_fixture f;
    server_options so;
    so.cert = f.ca.issue({"a.test", "b.test"});
    test_server server(so);
    f.resolve("a.test", {"127.0.0.1"});
    f.resolve("b.test", {"127.0.0.1"});
    auto o = f.with_policy(policies::browser());
    o.close_redundant_connections = close_it;
    client c(f.io.get_executor(), o);
    // Both first requests start together: neither connection exists yet, so each origin opens its own.
    std::vector<request> reqs(2);
    reqs[0].url = test_url("a.test", server.port());
    reqs[1].url = test_url("b.test", server.port());
    for (auto& r : f.fetch_all(c, reqs)) {
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.status == 200);
    }
    std::size_t redundant = 0, closed = 0;
    for (auto& e : f.events) {
      redundant += e.ev == "conn.redundant";
      if (e.ev == "conn.close") {
        auto* reason = e.find("reason");
        closed += reason && std::get<std::string>(*reason) == "redundant";
      }
    }
    CHECK(redundant == 1);
    CHECK(closed == (close_it ? 1u : 0u));
    CHECK(server.connection_count() == 2);
  }
}

TEST_CASE("coalescing: with max_connections=1, a second origin waits for the first connection to go") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  so.sni_certs["d.test"] = f.ca.issue({"d.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("d.test", {"127.0.0.1"});
  auto o = f.options();
  o.max_connections = 1;
  client c(f.io.get_executor(), o);
  auto a = f.get(c, test_url("a.test", server.port()));
  auto d = f.get(c, test_url("d.test", server.port()));  // a's idle connection is closed to make room
  REQUIRE_FALSE(a.ec);
  REQUIRE_FALSE(d.ec);
  CHECK(server.connection_count() == 2);
  std::size_t limit_closes = 0;
  for (auto& e : f.events)
    if (e.ev == "conn.close") limit_closes += std::get<std::string>(*e.find("reason")) == "connection limit";
  CHECK(limit_closes == 1);
}
