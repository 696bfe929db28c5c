// SPDX-License-Identifier: BSL-1.0
// tests/integration/tls_session_test.cpp: TLS session resumption and public-key pins, end to end
// (DESIGN section 11, tls.hpp).
//
// A second connection to an origin is forced by /goaway (the server drains the first after answering).
// The test server records, per connection, whether the ClientHello offered a session and whether the
// handshake resumed one; the client says so in conn.ready and in its connection summaries.
#include "catch.hpp"
#include "support/client_fixture.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace h2coal;
using namespace h2coal::test;

namespace {

const trace::event* ready_event(const client_fixture& f, std::uint64_t conn) {
  for (const auto& e : f.events) {
    if (e.ev != "conn.ready") continue;
    auto* id = e.find("conn");
    if (id && std::get<std::int64_t>(*id) == static_cast<std::int64_t>(conn)) return &e;
  }
  return nullptr;
}

// conn.ready's `resumed` for connection `conn`; nullopt when it never became ready.
std::optional<bool> ready_resumed(const client_fixture& f, std::uint64_t conn) {
  auto* e = ready_event(f, conn);
  if (!e) return std::nullopt;
  auto* v = e->find("resumed");
  REQUIRE(v);
  return std::get<bool>(*v);
}

std::optional<connection_summary> summary_of(const client& c, std::uint64_t conn) {
  for (const auto& s : c.connections())
    if (s.id == conn) return s;
  return std::nullopt;
}

// The reasons decisions gave for not choosing connection `conn`.
std::vector<std::string> rejections(const client_fixture& f, std::uint64_t conn) {
  std::vector<std::string> out;
  for (const auto& e : f.events) {
    if (e.ev != "pool.decision") continue;
    for (const auto& cand : std::get<std::vector<trace::record>>(*e.find("candidates"))) {
      std::int64_t id = -1;
      std::string reason;
      for (const auto& [k, v] : cand) {
        if (k == "conn") id = std::get<std::int64_t>(v);
        if (k == "reason") reason = std::get<std::string>(v);
      }
      if (id == static_cast<std::int64_t>(conn) && !reason.empty()) out.push_back(reason);
    }
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// curl's --pinnedpubkey for the leaf of `cert`.
std::string pin_of(const cert_pair& cert) {
  BIO* bio = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
  X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(leaf);
  std::string pin = "sha256//" + h2coal::detail::spki_sha256_base64(leaf);
  X509_free(leaf);
  return pin;
}

// A well-formed pin of no key.
const std::string no_key_pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

result ok_get(client_fixture& f, client& c, const std::string& url) {
  auto r = f.get(c, url);
  INFO(url << ": " << r.ec.message());
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.resp.status == 200);
  return r;
}

}  // namespace

// ---- Resumption ---------------------------------------------------------------------------------------

TEST_CASE("tls session: the second connection to an origin resumes the first one's session", "[tls]") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  client c(f.io.get_executor(), f.options());
  const auto p = server->port();

  auto first = ok_get(f, c, test_url("a.test", p, "/goaway"));  // answered, then that connection drains
  auto second = ok_get(f, c, test_url("a.test", p, "/"));
  REQUIRE(second.resp.connection != first.resp.connection);

  CHECK(server->resumed_handshakes() == 1);
  auto conns = server->connections();
  REQUIRE(conns.size() == 2);
  CHECK_FALSE(conns[0].offered_session);
  CHECK_FALSE(conns[0].resumed);
  CHECK(conns[1].offered_session);
  CHECK(conns[1].resumed);

  CHECK(ready_resumed(f, first.resp.connection) == false);
  CHECK(ready_resumed(f, second.resp.connection) == true);
  auto s1 = summary_of(c, first.resp.connection);
  auto s2 = summary_of(c, second.resp.connection);
  REQUIRE(s1);
  REQUIRE(s2);
  CHECK_FALSE(s1->resumed);
  CHECK(s2->resumed);

  // What the session proved is what the resumed connection shows: the leaf and its verification.
  auto* e = ready_event(f, second.resp.connection);
  REQUIRE(e);
  CHECK(std::get<std::vector<std::string>>(*e->find("peer_sans")) == std::vector<std::string>{"a.test"});
  CHECK(std::get<bool>(*e->find("verified")));
}

TEST_CASE("tls session: a new client has a cache of its own: it never resumes another client's session",
          "[tls]") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  const auto p = server->port();
  {
    client one(f.io.get_executor(), f.options());
    ok_get(f, one, test_url("a.test", p, "/"));
  }
  client two(f.io.get_executor(), f.options());  // the same settings: the same partition, not the same cache
  auto r = ok_get(f, two, test_url("a.test", p, "/"));
  auto conns = server->connections();
  REQUIRE(conns.size() == 2);
  CHECK_FALSE(conns[1].offered_session);
  CHECK(server->resumed_handshakes() == 0);
  auto s = summary_of(two, r.resp.connection);
  REQUIRE(s);
  CHECK_FALSE(s->resumed);
}

TEST_CASE("tls session: a session is offered only for the SNI host and port it was made for", "[tls]") {
  client_fixture f;
  const auto cert = f.ca.issue({"a.test", "b.test"});
  server_options so;
  so.cert = cert;
  auto one = f.serve({"a.test", "b.test"}, so);
  test_server two(so);  // the same hosts and certificate on another port
  client c(f.io.get_executor(), f.with_policy(policies::strict()));  // b gets a connection of its own

  ok_get(f, c, test_url("a.test", one->port(), "/goaway"));  // one: connection 0, a's session
  ok_get(f, c, test_url("b.test", one->port(), "/"));        // one: connection 1, SNI b.test
  ok_get(f, c, test_url("a.test", two.port(), "/"));         // two: connection 0, another port
  ok_get(f, c, test_url("a.test", one->port(), "/"));        // one: connection 2, a again

  auto on_one = one->connections();
  REQUIRE(on_one.size() == 3);
  CHECK(on_one[1].sni == "b.test");
  CHECK_FALSE(on_one[1].offered_session);
  CHECK_FALSE(on_one[1].resumed);
  CHECK(on_one[2].sni == "a.test");
  CHECK(on_one[2].offered_session);
  CHECK(on_one[2].resumed);
  CHECK(one->resumed_handshakes() == 1);
  auto on_two = two.connections();
  REQUIRE(on_two.size() == 1);
  CHECK_FALSE(on_two[0].offered_session);
  CHECK(two.resumed_handshakes() == 0);
}

TEST_CASE("tls session: a resumed connection is coalesced onto for the hosts its certificate covers, no other",
          "[tls]") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  so.sni_certs["c.test"] = f.ca.issue({"c.test"});
  auto server = f.serve({"a.test", "b.test", "c.test"}, so);
  client c(f.io.get_executor(), f.options());
  const auto p = server->port();

  auto first = ok_get(f, c, test_url("a.test", p, "/goaway"));
  auto resumed = ok_get(f, c, test_url("a.test", p, "/"));
  REQUIRE(ready_resumed(f, resumed.resp.connection) == true);

  auto b = ok_get(f, c, test_url("b.test", p, "/"));
  CHECK(b.resp.connection == resumed.resp.connection);
  CHECK(b.resp.coalesced);

  auto cc = ok_get(f, c, test_url("c.test", p, "/"));
  CHECK(cc.resp.connection != resumed.resp.connection);
  CHECK_FALSE(cc.resp.coalesced);
  CHECK(contains(rejections(f, resumed.resp.connection), "cert-mismatch"));
  CHECK(ready_resumed(f, cc.resp.connection) == false);  // c.test has no session of its own yet
  for (const auto& q : server->requests())
    if (q.path == "/" && q.authority.rfind("c.test", 0) == 0) CHECK(q.sni == "c.test");
}

TEST_CASE("tls session: session_resumption = false, or verification off (-k): never resumed", "[tls]") {
  for (const bool insecure : {false, true}) {
    INFO((insecure ? "insecure" : "session_resumption = false"));
    client_fixture f;
    auto server = f.serve({"a.test"});
    auto o = f.options();
    if (insecure) o.tls.insecure = true;
    else o.tls.session_resumption = false;
    client c(f.io.get_executor(), o);
    const auto p = server->port();
    auto first = ok_get(f, c, test_url("a.test", p, "/goaway"));
    auto second = ok_get(f, c, test_url("a.test", p, "/"));
    REQUIRE(second.resp.connection != first.resp.connection);
    auto conns = server->connections();
    REQUIRE(conns.size() == 2);
    CHECK_FALSE(conns[1].offered_session);
    CHECK(server->resumed_handshakes() == 0);
    CHECK(ready_resumed(f, second.resp.connection) == false);
  }
}

TEST_CASE("tls session: TLS 1.2: one session resumes again and again", "[tls]") {
  client_fixture f;
  server_options so;
  so.tls12_only = true;
  auto server = f.serve({"a.test"}, so);
  client c(f.io.get_executor(), f.options());
  const auto p = server->port();
  ok_get(f, c, test_url("a.test", p, "/goaway"));
  ok_get(f, c, test_url("a.test", p, "/goaway"));
  auto third = ok_get(f, c, test_url("a.test", p, "/"));
  CHECK(server->resumed_handshakes() == 2);
  auto* e = ready_event(f, third.resp.connection);
  REQUIRE(e);
  CHECK(std::get<std::string>(*e->find("tls_version")) == "TLSv1.2");
  CHECK(std::get<bool>(*e->find("resumed")));
  CHECK(std::get<bool>(*e->find("verified")));
}

TEST_CASE("tls session: a server that resumes nothing: every connection is a full handshake", "[tls]") {
  client_fixture f;
  server_options so;
  so.session_resumption = false;
  auto server = f.serve({"a.test"}, so);
  client c(f.io.get_executor(), f.options());
  const auto p = server->port();
  ok_get(f, c, test_url("a.test", p, "/goaway"));
  auto second = ok_get(f, c, test_url("a.test", p, "/"));
  CHECK(server->resumed_handshakes() == 0);
  CHECK(ready_resumed(f, second.resp.connection) == false);
}

// ---- Pins ---------------------------------------------------------------------------------------------

TEST_CASE("tls pins: a matching pin connects, a wrong one fails with public_key_mismatch", "[tls]") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  const std::string good = pin_of(so.cert);
  auto server = f.serve({"a.test"}, so);
  const auto url = test_url("a.test", server->port(), "/");

  struct story {
    const char* name;
    std::vector<public_key_pin> pins;
    bool insecure;
    bool connects;
  };
  const std::vector<story> stories = {
      {"the leaf's pin", {{"a.test", good}}, false, true},
      {"one of several pins", {{"a.test", no_key_pin + ";" + good}}, false, true},
      {"a wildcard pattern naming the host", {{"*.test", good}}, false, true},
      {"a wrong pin", {{"a.test", no_key_pin}}, false, false},
      {"a wrong pin under '*'", {{"*", no_key_pin}}, false, false},
      {"a pin for another host only", {{"other.test", no_key_pin}, {"*.other.test", no_key_pin}}, false, true},
      {"the exact host's pin beats a wrong wildcard", {{"*.test", no_key_pin}, {"a.test", good}}, false, true},
      {"a wrong pin with verification off (-k)", {{"a.test", no_key_pin}}, true, false},
  };
  for (const auto& s : stories) {
    INFO(s.name);
    f.events.clear();
    auto o = f.options();
    o.tls.pinned_public_keys = s.pins;
    o.tls.insecure = s.insecure;
    client c(f.io.get_executor(), o);
    auto r = f.get(c, url);
    CHECK(r.completions == 1);
    if (s.connects) {
      CHECK_FALSE(r.ec);
      CHECK(r.resp.status == 200);
    } else {
      CHECK(r.ec == error::public_key_mismatch);
      bool failed = false;
      for (const auto& e : f.events)
        if (e.ev == "conn.failed") failed = std::get<std::string>(*e.find("error")) == r.ec.message();
      CHECK(failed);
    }
  }
}

TEST_CASE("tls pins: coalescing: a host whose pin the connection's key fails gets its own connection; one whose "
          "pin matches is coalesced",
          "[tls]") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test", "c.test"});  // covers all three: only the pins stand in the way
  so.sni_certs["b.test"] = f.ca.issue({"b.test"});       // b's own connection gets a key of its own
  auto server = f.serve({"a.test", "b.test", "c.test"}, so);
  auto o = f.options();
  o.tls.pinned_public_keys = {{"*.test", pin_of(so.cert)}, {"b.test", pin_of(so.sni_certs["b.test"])}};
  client c(f.io.get_executor(), o);
  const auto p = server->port();

  auto a = ok_get(f, c, test_url("a.test", p, "/"));
  auto b = ok_get(f, c, test_url("b.test", p, "/"));
  auto cc = ok_get(f, c, test_url("c.test", p, "/"));

  CHECK(b.resp.connection != a.resp.connection);  // a's key is not b's pin
  CHECK_FALSE(b.resp.coalesced);
  CHECK(contains(rejections(f, a.resp.connection), "cert-mismatch"));
  CHECK(cc.resp.connection == a.resp.connection);  // c's pin ("*.test") is a's key
  CHECK(cc.resp.coalesced);
  for (const auto& q : server->requests())
    if (q.authority.rfind("b.test", 0) == 0) CHECK(q.sni == "b.test");
}

TEST_CASE("tls pins: a resumed connection is checked against the pins as well", "[tls]") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  auto server = f.serve({"a.test"}, so);
  auto o = f.options();
  o.tls.pinned_public_keys = {{"a.test", pin_of(so.cert)}};
  client c(f.io.get_executor(), o);
  const auto p = server->port();
  ok_get(f, c, test_url("a.test", p, "/goaway"));
  auto second = ok_get(f, c, test_url("a.test", p, "/"));
  CHECK(ready_resumed(f, second.resp.connection) == true);
  CHECK(server->resumed_handshakes() == 1);
}

TEST_CASE("tls pins: a malformed pin or pattern fails https requests with invalid_option, connecting nowhere",
          "[tls]") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  const std::string good = no_key_pin;
  const std::vector<public_key_pin> bad = {
      {"a.test", "sha256//tooshort="},
      {"a.test", "sha1//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
      {"a.test", ""},
      {"a.test", good + ";"},
      {"a*.test", good},
      {"", good},
  };
  for (const auto& pin : bad) {
    INFO("'" << pin.host_pattern << "' '" << pin.pins << "'");
    auto o = f.options();
    o.tls.pinned_public_keys = {{"other.test", good}, pin};
    client c(f.io.get_executor(), o);
    auto r = f.get(c, test_url("a.test", server->port(), "/"));
    CHECK(r.ec == error::invalid_option);
    CHECK(r.completions == 1);
  }
  CHECK(server->connection_count() == 0);
}
