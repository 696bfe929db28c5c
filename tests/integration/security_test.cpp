// SPDX-License-Identifier: BSL-1.0
// tests/integration/security_test.cpp: what no policy can make the client do (issue 9, security).
//
// The pool checks the coalescing rules again after every policy decision (pool.hpp, enforce()): a
// certificate that does not cover the host, a connection whose certificate was not verified, a client
// certificate, a 421, another port or a cleartext connection each rule coalescing out, whatever the
// policy said. Each case runs under strict, browser, origin and a user policy that always answers
// "coalesce onto the first connection". Then: header injection and the response limits.
#include "catch.hpp"
#include "support/client_fixture.hpp"
#include "support/raw_server.hpp"

#include <memory>
#include <tuple>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// The most reckless policy possible: every request onto the first connection the pool lists (or onto
// a connection id that does not exist), whatever it is.
struct always_first_policy {
  std::uint64_t id_when_empty = 0;  // 0: connect when there is no connection; else name this id anyway
  decision decide(const request_view&, std::span<const connection_view> conns) const {
    decision d;
    for (const auto& c : conns) d.candidates.push_back(candidate_verdict{c.id, c.initial_origin, false, std::nullopt});
    if (!conns.empty()) {
      d.action = decision_action::coalesce;
      d.conn = conns.front().id;
      d.basis = decision_basis::dns_match;
      d.candidates.front().chosen = true;
    } else if (id_when_empty) {
      d.action = decision_action::coalesce;
      d.conn = id_when_empty;
    }
    return d;
  }
  std::string_view name() const noexcept { return "always-first"; }
};

std::vector<std::pair<std::string, any_policy>> every_policy() {
  return {{"strict", policies::strict()},
          {"browser", policies::browser()},
          {"browser any-overlap", policies::browser(ip_match::any_overlap)},
          {"origin", policies::origin()},
          {"always-first (user)", always_first_policy{}}};
}

// GETs `urls` one after the other; returns the connection of each (every one must answer 200).
std::vector<std::uint64_t> connections_of(client_fixture& f, client& c, const std::vector<std::string>& urls) {
  std::vector<std::uint64_t> ids;
  for (const auto& u : urls) {
    auto r = f.get(c, u);
    REQUIRE_FALSE(r.ec);
    REQUIRE(r.resp.status == 200);
    CHECK(r.completions == 1);
    CHECK_FALSE(r.resp.coalesced);
    ids.push_back(r.resp.connection);
  }
  return ids;
}

// The reason the pool gave for not using connection `conn` for `origin_prefix`'s requests, if any.
std::vector<std::string> rejections(const client_fixture& f, std::uint64_t conn) {
  std::vector<std::string> out;
  for (const auto& e : f.events) {
    if (e.ev != "pool.decision") continue;
    for (const auto& cand : std::get<std::vector<trace::record>>(*e.find("candidates"))) {
      const trace::scalar* id = nullptr;
      const trace::scalar* reason = nullptr;
      for (const auto& [k, v] : cand) {
        if (k == "conn") id = &v;
        if (k == "reason") reason = &v;
      }
      if (id && reason && std::get<std::int64_t>(*id) == static_cast<std::int64_t>(conn))
        out.push_back(std::get<std::string>(*reason));
    }
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

// ---- Never coalesce where it is not allowed ---------------------------------------------------------

TEST_CASE("security: a certificate that does not cover the host: never coalesced, under every policy") {
  for (const auto& [name, policy] : every_policy()) {
    INFO(name);
    client_fixture f;
    server_options so;
    so.cert = f.ca.issue({"a.test"});
    so.sni_certs["d.test"] = f.ca.issue({"d.test"});
    test_server server(so);
    f.resolve("a.test", {"127.0.0.1"});
    f.resolve("d.test", {"127.0.0.1"});
    client c(f.io.get_executor(), f.with_policy(policy));
    auto p = server.port();
    auto ids = connections_of(f, c, {test_url("a.test", p), test_url("d.test", p), test_url("d.test", p)});
    CHECK(ids[1] != ids[0]);
    for (auto& q : server.requests())  // every request reached a connection made for its own host
      CHECK(q.authority.substr(0, q.authority.find(':')) == q.sni);
    if (name != "strict") CHECK(contains(rejections(f, ids[0]), "cert-mismatch"));
  }
}

TEST_CASE("security: verification off (-k) or a custom verifier: never coalesced, under every policy") {
  for (bool insecure : {true, false}) {
    for (const auto& [name, policy] : every_policy()) {
      INFO(name << (insecure ? " insecure" : " custom verifier"));
      client_fixture f;
      server_options so;
      so.cert = f.ca.issue({"a.test", "b.test"});  // covers both: only the missing proof stops coalescing
      test_server server(so);
      f.resolve("a.test", {"127.0.0.1"});
      f.resolve("b.test", {"127.0.0.1"});
      auto o = f.with_policy(policy);
      if (insecure) o.tls.insecure = true;
      else o.tls.has_custom_verifier = true;
      client c(f.io.get_executor(), o);
      auto p = server.port();
      auto ids = connections_of(f, c, {test_url("a.test", p), test_url("b.test", p)});
      CHECK(ids[1] != ids[0]);
      CHECK(server.connection_count() == 2);
      if (name != "strict") CHECK(contains(rejections(f, ids[0]), "unverified"));
    }
  }
}

TEST_CASE("security: a connection that sent a client certificate is never shared, under every policy") {
  for (const auto& [name, policy] : every_policy()) {
    INFO(name);
    client_fixture f;
    server_options so;
    so.cert = f.ca.issue({"a.test", "b.test"});
    so.request_client_cert = true;
    test_server server(so);
    f.resolve("a.test", {"127.0.0.1"});
    f.resolve("b.test", {"127.0.0.1"});
    auto pair = f.ca.issue_client("me");
    temp_dir dir;
    auto o = f.with_policy(policy);
    o.tls.client_cert_file = dir.write_temp_file(pair.cert_pem, ".pem");
    o.tls.client_key_file = dir.write_temp_file(pair.key_pem, ".key");
    client c(f.io.get_executor(), o);
    auto p = server.port();
    auto ids = connections_of(f, c, {test_url("a.test", p), test_url("b.test", p)});
    CHECK(ids[1] != ids[0]);
    auto conns = server.connections();
    REQUIRE(conns.size() == 2);
    CHECK(conns[0].client_cert);
    if (name != "strict") CHECK(contains(rejections(f, ids[0]), "client-cert"));
  }
}

TEST_CASE("security: after a 421 the origin never goes back to that connection, whatever the policy says") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  so.misdirect_on_mismatch = true;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(always_first_policy{}));
  auto p = server.port();
  auto a = f.get(c, test_url("a.test", p));
  auto b = f.get(c, test_url("b.test", p));  // coalesced by the policy, 421, retried on its own connection
  REQUIRE_FALSE(b.ec);
  CHECK(b.resp.status == 200);
  CHECK(b.resp.attempts == 2);
  for (int i = 0; i < 3; ++i) {
    auto again = f.get(c, test_url("b.test", p));
    CHECK(again.resp.status == 200);
    CHECK(again.resp.connection != a.resp.connection);
  }
  std::size_t misdirected = 0;
  for (auto& q : server.requests()) misdirected += q.sni == "a.test" && q.authority.rfind("b.test", 0) == 0;
  CHECK(misdirected == 1);
  CHECK(contains(rejections(f, a.resp.connection), "misdirected"));
}

TEST_CASE("security: another port, a cleartext connection or HTTP/1.1 is never shared, even when a policy asks") {
  client_fixture f;
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  SECTION("another port") {
    server_options so;
    so.cert = f.ca.issue({"a.test", "b.test"});
    test_server one(so), two(so);
    client c(f.io.get_executor(), f.with_policy(always_first_policy{}));
    auto ids = connections_of(f, c, {test_url("a.test", one.port()), test_url("b.test", two.port())});
    CHECK(ids[0] != ids[1]);
    CHECK(one.requests().size() == 1);
    CHECK(two.requests().size() == 1);
    CHECK(contains(rejections(f, ids[0]), "different-port"));
  }
  SECTION("h2c (cleartext, prior knowledge)") {
    server_options so;
    so.protocol = server_protocol::h2c;
    test_server server(so);
    auto o = f.with_policy(always_first_policy{});
    o.version = http_version::h2_prior_knowledge;
    client c(f.io.get_executor(), o);
    auto p = server.port();
    auto ids = connections_of(f, c, {test_url("a.test", p, "/", "http"), test_url("b.test", p, "/", "http")});
    CHECK(ids[0] != ids[1]);
    CHECK(server.connection_count() == 2);
  }
  SECTION("HTTP/1.1 over TLS") {
    server_options so;
    so.protocol = server_protocol::http1;
    so.cert = f.ca.issue({"a.test", "b.test"});
    test_server server(so);
    client c(f.io.get_executor(), f.with_policy(always_first_policy{}));
    auto p = server.port();
    auto ids = connections_of(f, c, {test_url("a.test", p), test_url("b.test", p)});
    CHECK(ids[0] != ids[1]);
    CHECK(server.connection_count() == 2);
  }
}

TEST_CASE("security: a policy that names a connection that does not exist gets a new one") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(always_first_policy{999}));
  auto r = f.get(c, test_url("a.test", server.port()));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.completions == 1);
}

// ---- Header injection ---------------------------------------------------------------------------------

TEST_CASE("security: CR, LF and NUL in header names, values, methods or URLs are refused before sending") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  const std::string url = test_url("a.test", server.port());
  const std::string bad_values[] = {"a\r\nInjected: yes", "a\rb", "a\nb", std::string("a\0b", 3), "a\x01" "b", "a\x7f"};
  const std::string bad_names[] = {"X-A\r\nInjected", "X-A\n", std::string("X-\0A", 4), "X A", "X-A:", ":path",
                                   ":authority", "", "X-\xc3\xa9"};
  const std::string forbidden[] = {"Host", "host", "Connection", "Transfer-Encoding", "Upgrade", "Keep-Alive",
                                   "Proxy-Connection"};
  for (bool http1 : {false, true}) {
    INFO((http1 ? "HTTP/1.1" : "HTTP/2"));
    auto o = f.options();
    if (http1) o.version = http_version::http1_only;
    client c(f.io.get_executor(), o);
    for (const auto& v : bad_values) {
      request r;
      r.url = url;
      r.headers.add("X-Test", v);
      auto res = f.fetch(c, r);
      CHECK(res.ec == error::invalid_header);
      CHECK(res.completions == 1);
    }
    for (const auto& n : bad_names) {
      request r;
      r.url = url;
      r.headers.add(n, "v");
      CHECK(f.fetch(c, r).ec == error::invalid_header);
    }
    for (const auto& n : forbidden) {
      request r;
      r.url = url;
      r.headers.add(n, "evil.test");
      CHECK(f.fetch(c, r).ec == error::invalid_header);
    }
    for (const std::string& m : std::vector<std::string>{"GET\r\nX: y", "GE T", "", std::string("GET\0", 4)}) {
      request r;
      r.url = url;
      r.method = m;
      CHECK(f.fetch(c, r).ec == error::invalid_method);
    }
    for (const std::string& u : std::vector<std::string>{url + "a\r\nX-Injected: yes", url + "a b", url + std::string("a\0b", 3),
                                "https://a.test\r\nX: y/", "https://a.test%0d%0a/", "https://a.test:1\n/"}) {
      CHECK(f.get(c, u).ec == error::invalid_url);
    }
    // Nothing of it left the client.
    CHECK(server.connection_count() == 0);
    CHECK(server.requests().empty());
  }
  request r;
  r.url = url;
  r.headers.add("X-A", "a\r\nb");
  client c(f.io.get_executor(), f.options());
  CHECK(f.fetch(c, r).ec.message() == "a request header field is malformed or contradicts the request's own framing "
                                         "(Host, Content-Length, Transfer-Encoding: use request::authority and the body instead)");
}

TEST_CASE("security: legal but unusual header values arrive as sent (HTTP/1.1 request head)") {
  client_fixture f;
  raw_server_options ro;
  ro.protocol = raw_protocol::http1;
  ro.cert = f.ca.issue({"raw.test"});
  ro.on_request = [](raw_connection& c, const raw_request&) { c.write("HTTP/1.1 204 No Content\r\n\r\n"); };
  raw_server server(ro);
  f.resolve("raw.test", {"127.0.0.1"});
  auto o = f.options();
  o.version = http_version::http1_only;
  client c(f.io.get_executor(), o);
  request r;
  r.url = test_url("raw.test", server.port(), "/p?q=%0d%0a");
  r.headers.add("X-Tab", "a\tb");
  r.headers.add("X-Utf8", "caf\xc3\xa9");
  auto res = f.fetch(c, r);
  REQUIRE_FALSE(res.ec);
  CHECK(res.resp.status == 204);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  const auto& head = reqs[0].head;
  CHECK(head.rfind("GET /p?q=%0d%0a HTTP/1.1\r\n", 0) == 0);
  CHECK(head.find("\r\nX-Tab: a\tb\r\n") != std::string::npos);
  CHECK(head.find("\r\nX-Utf8: caf\xc3\xa9\r\n") != std::string::npos);
  // Exactly one Host line, the URL's.
  CHECK(head.find("\r\nHost: raw.test:" + std::to_string(server.port()) + "\r\n") != std::string::npos);
  CHECK(head.find("Host:", head.find("Host:") + 1) == std::string::npos);
}

// ---- Limits and decompression -------------------------------------------------------------------------

TEST_CASE("security: an endless HTTP/1.1 header block stops at the limit") {
  client_fixture f;
  raw_server_options ro;
  ro.protocol = raw_protocol::http1;
  ro.cert = f.ca.issue({"raw.test"});
  ro.on_request = [](raw_connection& c, const raw_request& r) {
    if (r.connection > 0) return c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    c.write("HTTP/1.1 200 OK\r\n");
    std::string line = "X-Fill: " + std::string(1000, 'f') + "\r\n";
    // 1 MB of header lines, and the head never ends: the client must stop by itself, at its limit.
    for (int i = 0; i < 1000; ++i) c.write(line);
  };
  raw_server server(ro);
  f.resolve("raw.test", {"127.0.0.1"});
  auto o = f.options();
  o.version = http_version::http1_only;
  client c(f.io.get_executor(), o);
  auto r = f.get(c, test_url("raw.test", server.port()));
  CHECK(r.ec == error::headers_too_large);
  CHECK(r.completions == 1);
  CHECK(f.get(c, test_url("raw.test", server.port())).resp.status == 200);
}

TEST_CASE("security: a compressed body is returned as it came; the client never asks for compression") {
  // gzip of "hello" (RFC 1952), made once with `printf hello | gzip -9n`.
  const std::string gz("\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x07\x00\x86\xa6\x10\x36\x05\x00\x00\x00", 25);
  client_fixture f;
  f.resolve("raw.test", {"127.0.0.1"});
  for (bool http1 : {false, true}) {
    INFO((http1 ? "HTTP/1.1" : "HTTP/2"));
    raw_server_options ro;
    ro.protocol = http1 ? raw_protocol::http1 : raw_protocol::h2;
    ro.cert = f.ca.issue({"raw.test"});
    ro.on_request = [&gz, http1](raw_connection& c, const raw_request& r) {
      if (http1)
        c.write("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(gz.size()) + "\r\n\r\n" + gz);
      else
        c.write(h2::headers(r.stream, {{":status", "200"}, {"content-encoding", "gzip"}}, false) + h2::data(r.stream, gz, true));
    };
    raw_server server(ro);
    auto o = f.options();
    if (http1) o.version = http_version::http1_only;
    client c(f.io.get_executor(), o);
    auto res = f.get(c, test_url("raw.test", server.port()));
    REQUIRE_FALSE(res.ec);
    CHECK(res.resp.body == gz);
    CHECK(res.resp.headers.get("content-encoding") == std::optional<std::string_view>("gzip"));
    if (http1) {
      auto reqs = server.requests();
      REQUIRE(reqs.size() == 1);
      std::string head = reqs[0].head;
      for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      CHECK(head.find("accept-encoding") == std::string::npos);
      CHECK(head.find("te:") == std::string::npos);
    }
  }
}
