// SPDX-License-Identifier: BSL-1.0
// tests/unit/policy_test.cpp: coalescing policies over plain views (DESIGN section 3), no sockets.
#include "catch.hpp"

#include <h2coal/policy.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace h2coal;

namespace {

origin o(std::string_view text) {
  auto parsed = origin::parse(text);
  REQUIRE(parsed);
  return *parsed;
}

// A ready, verified h2 connection opened for `initial`, connected to `ip`.
connection_view conn(std::uint64_t id, std::string_view initial, std::string ip) {
  connection_view c;
  c.id = id;
  c.initial_origin = o(initial);
  c.remote_address = std::move(ip);
  c.remote_port = c.initial_origin.port;
  c.initial_addresses = {c.remote_address};
  return c;
}

// A connection that the browser policy would coalesce a request for https://b.test (at 10.0.0.1) onto.
connection_view good(std::uint64_t id = 1) {
  auto c = conn(id, "https://a.test", "10.0.0.1");
  c.cert_covers = true;
  return c;
}

request_view req(std::string_view target, std::optional<std::vector<std::string>> addrs = std::nullopt) {
  request_view r;
  r.target = o(target);
  r.addresses = std::move(addrs);
  return r;
}

request_view req_b() { return req("https://b.test", std::vector<std::string>{"10.0.0.1"}); }

const candidate_verdict& verdict(const decision& d, std::uint64_t id) {
  for (const auto& v : d.candidates)
    if (v.conn == id) return v;
  FAIL("no verdict for conn " << id);
  throw std::logic_error("unreachable");
}

std::string reason(const decision& d, std::uint64_t id) {
  const auto& v = verdict(d, id);
  return v.reason ? std::string(to_string(*v.reason)) : std::string("-");
}

decision run(const any_policy& p, const request_view& r, const std::vector<connection_view>& cs) {
  return p.decide(r, cs);
}

}  // namespace

TEST_CASE("policy: names and codes are spelled as DESIGN section 5 says", "[policy]") {
  CHECK(to_string(reject_reason::other_origin) == "other-origin");
  CHECK(to_string(reject_reason::different_port) == "different-port");
  CHECK(to_string(reject_reason::ip_mismatch) == "ip-mismatch");
  CHECK(to_string(reject_reason::cert_mismatch) == "cert-mismatch");
  CHECK(to_string(reject_reason::unverified) == "unverified");
  CHECK(to_string(reject_reason::client_cert) == "client-cert");
  CHECK(to_string(reject_reason::draining) == "draining");
  CHECK(to_string(reject_reason::at_capacity) == "at-capacity");
  CHECK(to_string(reject_reason::not_in_origin_set) == "not-in-origin-set");
  CHECK(to_string(reject_reason::misdirected) == "misdirected");
  CHECK(to_string(reject_reason::http1) == "http1");
  CHECK(to_string(reject_reason::partition) == "partition");
  CHECK(to_string(reject_reason::proper_subset) == "proper-subset");
  CHECK(to_string(reject_reason::not_ready) == "not-ready");
  CHECK(to_string(reject_reason::scheme) == "different-scheme");
  CHECK(to_string(decision_basis::none).empty());
  CHECK(to_string(decision_basis::same_origin) == "same-origin");
  CHECK(to_string(decision_basis::dns_match) == "dns-match");
  CHECK(to_string(decision_basis::origin_frame) == "origin-frame");
  CHECK(to_string(decision_action::reuse) == "reuse");
  CHECK(to_string(decision_action::coalesce) == "coalesce");
  CHECK(to_string(decision_action::wait) == "wait");
  CHECK(to_string(decision_action::connect) == "connect");
  CHECK(policies::strict().name() == "strict");
  CHECK(policies::browser().name() == "browser");
  CHECK(policies::origin().name() == "origin");
  CHECK(any_policy{}.name() == "origin");  // the default (DESIGN section 3)
  static_assert(coalescing_policy<strict_policy>);
  static_assert(coalescing_policy<browser_policy>);
  static_assert(coalescing_policy<origin_policy>);
  static_assert(coalescing_policy<any_policy>);
}

namespace {
struct plain_user_policy {
  decision decide(const request_view&, std::span<const connection_view>) const { return {}; }
  std::string_view name() const noexcept { return "mine"; }
};
}  // namespace

TEST_CASE("policy: only a policy that declares it never coalesces is taken at its word", "[policy]") {
  CHECK(policies::strict().never_coalesces());
  CHECK_FALSE(policies::browser().never_coalesces());
  CHECK_FALSE(policies::origin().never_coalesces());
  CHECK_FALSE(any_policy{plain_user_policy{}}.never_coalesces());
  CHECK_FALSE(any_policy{plain_user_policy{}}.standard_order());
  CHECK(policies::strict().standard_order());
}

TEST_CASE("policy: with no connections every policy connects", "[policy]") {
  for (const auto& p : {policies::strict(), policies::browser(), policies::origin()}) {
    auto d = run(p, req_b(), {});
    CHECK(d.action == decision_action::connect);
    CHECK_FALSE(d.conn);
    CHECK(d.basis == decision_basis::none);
    CHECK_FALSE(d.needs_dns);
    CHECK(d.candidates.empty());
  }
}

TEST_CASE("policy: an exact-origin connection comes first, for every policy", "[policy]") {
  auto b = conn(2, "https://b.test", "10.0.0.9");
  for (const auto& p : {policies::strict(), policies::browser(), policies::origin()}) {
    INFO(p.name());
    // conn 1 could be coalesced onto; conn 2 is b.test's own connection and wins.
    auto d = run(p, req_b(), {good(1), b});
    CHECK(d.action == decision_action::reuse);
    CHECK(d.conn == 2u);
    CHECK(d.basis == decision_basis::same_origin);
    CHECK(d.matched_ip.empty());
    CHECK(verdict(d, 2).chosen);
    CHECK_FALSE(verdict(d, 1).chosen);
    REQUIRE(d.candidates.size() == 2);
    CHECK(d.candidates[0].conn == 1u);  // listed in the order given
    CHECK(d.candidates[0].initial_origin == o("https://a.test"));
  }
  SECTION("no DNS is needed for it") {
    auto d = policies::browser().decide(req("https://b.test"), std::vector{good(1), b});
    CHECK(d.action == decision_action::reuse);
    CHECK_FALSE(d.needs_dns);
  }
  SECTION("an exact-origin connection needs no certificate check, even when unverified (insecure mode)") {
    b.verified = false;
    b.cert_covers = false;
    auto d = policies::origin().decide(req_b(), std::vector{b});
    CHECK(d.action == decision_action::reuse);
  }
  SECTION("the first of several usable ones is taken") {
    auto b2 = conn(3, "https://b.test", "10.0.0.9");
    auto d = policies::strict().decide(req_b(), std::vector{b, b2});
    CHECK(d.conn == 2u);
    CHECK_FALSE(verdict(d, 3).chosen);
    CHECK_FALSE(verdict(d, 3).reason);  // fit, just not picked
  }
}

TEST_CASE("policy: usable beats at capacity beats pending for the exact origin", "[policy]") {
  auto usable = conn(1, "https://b.test", "10.0.0.1");
  auto full = conn(2, "https://b.test", "10.0.0.1");
  full.at_capacity = true;
  auto pending = conn(3, "https://b.test", "10.0.0.1");
  pending.ready = false;
  auto p = policies::origin();

  auto d = p.decide(req_b(), std::vector{pending, full, usable});
  CHECK(d.action == decision_action::reuse);
  CHECK(d.conn == 1u);
  CHECK(reason(d, 2) == "at-capacity");
  CHECK(reason(d, 3) == "not-ready");

  d = p.decide(req_b(), std::vector{pending, full});
  CHECK(d.action == decision_action::wait);
  CHECK(d.conn == 2u);
  CHECK(d.basis == decision_basis::same_origin);
  CHECK(reason(d, 3) == "not-ready");

  d = p.decide(req_b(), std::vector{pending});
  CHECK(d.action == decision_action::wait);
  CHECK(d.conn == 3u);
  CHECK(verdict(d, 3).chosen);

  SECTION("with open_new_when_at_capacity a full connection is passed over") {
    auto r = req_b();
    r.open_new_when_at_capacity = true;
    d = p.decide(r, std::vector{full});
    CHECK(d.action == decision_action::connect);
    CHECK(reason(d, 2) == "at-capacity");
    // ... but a connection already being opened is waited for rather than opening a third.
    d = p.decide(r, std::vector{full, pending});
    CHECK(d.action == decision_action::wait);
    CHECK(d.conn == 3u);
    // ... and a coalescable connection with room is better than either.
    d = p.decide(r, std::vector{full, pending, good(4)});
    CHECK(d.action == decision_action::coalesce);
    CHECK(d.conn == 4u);
    CHECK(reason(d, 3) == "not-ready");
  }
  SECTION("a coalescable connection is preferred to waiting for a pending exact-origin one (DESIGN 4)") {
    d = p.decide(req_b(), std::vector{pending, good(4)});
    CHECK(d.action == decision_action::coalesce);
    CHECK(d.conn == 4u);
  }
  SECTION("by default a full exact-origin connection is waited on even when another could coalesce") {
    d = p.decide(req_b(), std::vector{good(4), full});
    CHECK(d.action == decision_action::wait);
    CHECK(d.conn == 2u);
    CHECK_FALSE(verdict(d, 4).reason);
  }
  SECTION("a draining or misdirected exact-origin connection is not used") {
    usable.draining = true;
    pending.misdirected = {o("https://b.test")};
    d = p.decide(req_b(), std::vector{usable, pending});
    CHECK(d.action == decision_action::connect);
    CHECK(reason(d, 1) == "draining");
    CHECK(reason(d, 3) == "misdirected");
  }
}

TEST_CASE("policy: strict shares nothing across origins", "[policy]") {
  auto d = policies::strict().decide(req_b(), std::vector{good(1)});
  CHECK(d.action == decision_action::connect);
  CHECK(reason(d, 1) == "other-origin");
  CHECK_FALSE(d.needs_dns);
  // other-origin comes before anything else the connection might have against it.
  auto c = good(2);
  c.same_partition = false;
  c.draining = true;
  d = policies::strict().decide(req("https://b.test"), std::vector{c});
  CHECK(reason(d, 2) == "other-origin");
  CHECK_FALSE(d.needs_dns);
}

TEST_CASE("policy: browser coalesces on a certificate plus a DNS match", "[policy]") {
  auto p = policies::browser();
  auto d = p.decide(req_b(), std::vector{good(1)});
  CHECK(d.action == decision_action::coalesce);
  CHECK(d.conn == 1u);
  CHECK(d.basis == decision_basis::dns_match);
  CHECK(d.matched_ip == "10.0.0.1");
  CHECK(verdict(d, 1).chosen);
  CHECK_FALSE(verdict(d, 1).reason);

  SECTION("the connected address must be among the target's") {
    d = p.decide(req("https://b.test", std::vector<std::string>{"10.0.0.2"}), std::vector{good(1)});
    CHECK(d.action == decision_action::connect);
    CHECK(reason(d, 1) == "ip-mismatch");
    CHECK(d.matched_ip.empty());
  }
  SECTION("an unresolved target asks for DNS when a candidate could qualify") {
    d = p.decide(req("https://b.test"), std::vector{good(1)});
    CHECK(d.needs_dns);
    CHECK(d.action == decision_action::connect);
    CHECK_FALSE(d.conn);
    CHECK_FALSE(verdict(d, 1).chosen);
    CHECK_FALSE(verdict(d, 1).reason);  // undecided
  }
  SECTION("... and not when none could") {
    auto c = good(1);
    c.cert_covers = false;
    d = p.decide(req("https://b.test"), std::vector{c});
    CHECK_FALSE(d.needs_dns);
    CHECK(reason(d, 1) == "cert-mismatch");
    auto full = good(2);
    full.at_capacity = true;
    d = p.decide(req("https://b.test"), std::vector{full});
    CHECK_FALSE(d.needs_dns);
    CHECK(reason(d, 2) == "at-capacity");
  }
  SECTION("asking for DNS comes before waiting for a pending exact-origin connection") {
    auto pending = conn(3, "https://b.test", "10.0.0.1");
    pending.ready = false;
    d = p.decide(req("https://b.test"), std::vector{pending, good(1)});
    CHECK(d.needs_dns);
    d = p.decide(req_b(), std::vector{pending, conn(4, "https://c.test", "10.9.9.9")});
    CHECK(d.action == decision_action::wait);
    CHECK(d.conn == 3u);
  }
  SECTION("the connected port must be the target's port") {
    auto c = good(1);
    c.remote_port = 8443;  // e.g. a connect-to override
    d = p.decide(req_b(), std::vector{c});
    CHECK(reason(d, 1) == "ip-mismatch");
  }
  SECTION("behind a proxy the far end's address is unknown: no DNS match") {
    auto c = good(1);
    c.via_proxy = true;
    d = p.decide(req_b(), std::vector{c});
    CHECK(reason(d, 1) == "ip-mismatch");
  }
  SECTION("the first matching candidate is taken") {
    d = p.decide(req_b(), std::vector{good(1), good(2)});
    CHECK(d.conn == 1u);
    CHECK_FALSE(verdict(d, 2).chosen);
    CHECK_FALSE(verdict(d, 2).reason);
  }
  SECTION("browser ignores origin sets") {
    auto c = good(1);
    c.origin_set = std::vector{o("https://a.test")};
    d = p.decide(req_b(), std::vector{c});
    CHECK(d.action == decision_action::coalesce);
    CHECK(d.basis == decision_basis::dns_match);
  }
}

TEST_CASE("policy: Chromium's IP pooling vectors", "[policy][chromium]") {
  // Chromium's spdy_session_pool tests: one certificate covers all three names; pooling follows DNS.
  const std::vector<std::string> www{"192.0.2.33", "192.168.0.1", "192.168.0.5"};
  const std::vector<std::string> mail_org{"192.168.0.2", "192.168.0.3", "192.168.0.5", "192.0.2.33"};
  const std::vector<std::string> mail_com{"192.168.0.4", "192.168.0.3"};
  auto www_conn = [&](std::string connected) {
    auto c = conn(1, "https://www.example.org", std::move(connected));
    c.initial_addresses = www;
    c.cert_covers = true;
    return c;
  };

  for (std::string ip : {"192.0.2.33", "192.168.0.5"}) {
    INFO("www connected to " << ip);
    auto d = policies::browser().decide(req("https://mail.example.org", mail_org), std::vector{www_conn(ip)});
    CHECK(d.action == decision_action::coalesce);
    CHECK(d.basis == decision_basis::dns_match);
    CHECK(d.matched_ip == ip);
    d = policies::browser().decide(req("https://mail.example.com", mail_com), std::vector{www_conn(ip)});
    CHECK(d.action == decision_action::connect);
    CHECK(reason(d, 1) == "ip-mismatch");
  }
  SECTION("connected to an address mail.example.org does not have") {
    auto d =
        policies::browser().decide(req("https://mail.example.org", mail_org), std::vector{www_conn("192.168.0.1")});
    CHECK(reason(d, 1) == "ip-mismatch");
    // Any overlap of www's addresses is enough for ip_match::any_overlap (Firefox's aggressive mode).
    d = policies::browser(ip_match::any_overlap)
            .decide(req("https://mail.example.org", mail_org), std::vector{www_conn("192.168.0.1")});
    CHECK(d.action == decision_action::coalesce);
    CHECK(d.matched_ip == "192.0.2.33");  // the first of www's addresses that mail.example.org has
    d = policies::browser(ip_match::any_overlap)
            .decide(req("https://mail.example.com", mail_com), std::vector{www_conn("192.168.0.1")});
    CHECK(reason(d, 1) == "ip-mismatch");
  }
}

TEST_CASE("policy: any_overlap prefers the connected address and needs some overlap", "[policy]") {
  auto c = good(1);
  c.initial_addresses = {"10.0.0.7", "10.0.0.1"};
  auto d = policies::origin(ip_match::any_overlap)
               .decide(req("https://b.test", std::vector<std::string>{"10.0.0.7", "10.0.0.1"}), std::vector{c});
  CHECK(d.matched_ip == "10.0.0.1");
  d = policies::origin(ip_match::connected)
          .decide(req("https://b.test", std::vector<std::string>{"10.0.0.7"}), std::vector{c});
  CHECK(reason(d, 1) == "ip-mismatch");
  d = policies::origin(ip_match::any_overlap)
          .decide(req("https://b.test", std::vector<std::string>{"10.0.0.7"}), std::vector{c});
  CHECK(d.action == decision_action::coalesce);
  CHECK(d.matched_ip == "10.0.0.7");
  d = policies::origin(ip_match::any_overlap)
          .decide(req("https://b.test", std::vector<std::string>{"10.0.0.8"}), std::vector{c});
  CHECK(reason(d, 1) == "ip-mismatch");
}

TEST_CASE("policy: every reject reason is reachable, and the first failing check is reported", "[policy]") {
  auto browser = policies::browser();
  auto origin_p = policies::origin();
  auto one = [](const any_policy& p, const request_view& r, const connection_view& c) {
    auto d = p.decide(r, std::vector{c});
    REQUIRE(d.candidates.size() == 1);
    CHECK_FALSE(d.candidates[0].chosen);
    return reason(d, c.id);
  };
  auto c = good();

  CHECK(one(policies::strict(), req_b(), c) == "other-origin");
  {
    auto x = c;
    x.same_partition = false;
    CHECK(one(browser, req_b(), x) == "partition");
  }
  {
    auto x = c;
    x.http2 = false;
    CHECK(one(browser, req_b(), x) == "http1");
  }
  {
    auto x = c;
    x.ready = false;
    CHECK(one(browser, req_b(), x) == "not-ready");
  }
  {
    auto x = c;
    x.draining = true;
    CHECK(one(browser, req_b(), x) == "draining");
  }
  CHECK(one(browser, req("http://b.test", std::vector<std::string>{"10.0.0.1"}), c) == "different-scheme");
  {
    auto x = conn(1, "http://a.test", "10.0.0.1");  // h2c with prior knowledge
    x.tls = false;
    x.cert_covers = true;
    CHECK(one(browser, req("http://b.test", std::vector<std::string>{"10.0.0.1"}), x) == "other-origin");
  }
  CHECK(one(browser, req("https://b.test:8443", std::vector<std::string>{"10.0.0.1"}), c) == "different-port");
  {
    auto x = c;
    x.verified = false;
    CHECK(one(browser, req_b(), x) == "unverified");
  }
  {
    auto x = c;
    x.client_cert = true;
    CHECK(one(browser, req_b(), x) == "client-cert");
    auto r = req_b();
    r.allow_client_cert_coalescing = true;
    CHECK(browser.decide(r, std::vector{x}).action == decision_action::coalesce);
  }
  {
    auto x = c;
    x.misdirected = {o("https://b.test")};
    CHECK(one(browser, req_b(), x) == "misdirected");
    x.misdirected = {o("https://c.test")};
    CHECK(browser.decide(req_b(), std::vector{x}).action == decision_action::coalesce);
  }
  {
    auto x = c;
    x.cert_covers = false;
    CHECK(one(browser, req_b(), x) == "cert-mismatch");
  }
  CHECK(one(browser, req("https://b.test", std::vector<std::string>{"10.0.0.2"}), c) == "ip-mismatch");
  {
    auto x = c;
    x.origin_set = std::vector{o("https://a.test"), o("https://c.test")};
    CHECK(one(origin_p, req_b(), x) == "not-in-origin-set");
  }
  {
    auto x = c;
    x.at_capacity = true;
    CHECK(one(browser, req_b(), x) == "at-capacity");
  }
  {  // proper-subset needs two connections
    auto small = good(1);
    small.origin_set = std::vector{o("https://a.test"), o("https://b.test")};
    auto big = good(2);
    big.initial_origin = o("https://z.test");
    big.origin_set = std::vector{o("https://z.test"), o("https://a.test"), o("https://b.test")};
    auto d = origin_p.decide(req_b(), std::vector{small, big});
    CHECK(reason(d, 1) == "proper-subset");
    CHECK(d.conn == 2u);
  }

  SECTION("the order: earlier checks win over later ones") {
    auto x = c;
    x.cert_covers = false;
    x.verified = false;
    x.at_capacity = true;
    CHECK(one(browser, req_b(), x) == "unverified");
    x.draining = true;
    CHECK(one(browser, req_b(), x) == "draining");
    x.ready = false;
    CHECK(one(browser, req_b(), x) == "not-ready");
    x.http2 = false;
    CHECK(one(browser, req_b(), x) == "http1");
    x.same_partition = false;
    CHECK(one(browser, req_b(), x) == "partition");

    auto y = c;
    y.client_cert = true;
    y.misdirected = {o("https://b.test")};
    CHECK(one(browser, req_b(), y) == "client-cert");
    y.client_cert = false;
    y.cert_covers = false;
    CHECK(one(browser, req_b(), y) == "misdirected");
    CHECK(one(browser, req("https://b.test:8443", std::vector<std::string>{"10.0.0.1"}), y) == "different-port");
    CHECK(one(browser, req("http://b.test:8443", std::vector<std::string>{"10.0.0.1"}), y) == "different-scheme");

    auto z = c;
    z.cert_covers = false;
    z.origin_set = std::vector{o("https://a.test")};
    CHECK(one(origin_p, req_b(), z) == "cert-mismatch");
    z.cert_covers = true;
    z.at_capacity = true;
    CHECK(one(origin_p, req_b(), z) == "not-in-origin-set");
  }
}

TEST_CASE("policy: an origin set makes a connection authoritative for its members (RFC 8336 2.4)", "[policy]") {
  auto c = good(1);
  c.remote_address = "10.0.0.66";  // DNS would never match
  c.initial_addresses = {"10.0.0.66"};
  c.origin_set = std::vector{o("https://a.test"), o("https://b.test")};
  auto p = policies::origin();

  SECTION("a member is coalesced without DNS") {
    auto d = p.decide(req("https://b.test"), std::vector{c});
    CHECK(d.action == decision_action::coalesce);
    CHECK(d.basis == decision_basis::origin_frame);
    CHECK_FALSE(d.needs_dns);
    CHECK(d.matched_ip.empty());
  }
  SECTION("... and even when DNS disagrees") {
    auto d = p.decide(req("https://b.test", std::vector<std::string>{"10.0.0.1"}), std::vector{c});
    CHECK(d.action == decision_action::coalesce);
    CHECK(d.basis == decision_basis::origin_frame);
  }
  SECTION("the certificate must still cover the member") {
    c.cert_covers = false;
    auto d = p.decide(req("https://b.test"), std::vector{c});
    CHECK(d.action == decision_action::connect);
    CHECK(reason(d, 1) == "cert-mismatch");
  }
  SECTION("a non-member is refused even when DNS matches") {
    c.remote_address = "10.0.0.3";
    auto d = p.decide(req("https://c.test", std::vector<std::string>{"10.0.0.3"}), std::vector{c});
    CHECK(d.action == decision_action::connect);
    CHECK(reason(d, 1) == "not-in-origin-set");
    CHECK_FALSE(d.needs_dns);
    d = p.decide(req("https://c.test"), std::vector{c});
    CHECK_FALSE(d.needs_dns);  // DNS cannot help: no question to ask
  }
  SECTION("without an origin set the origin policy falls back to DNS, like browser") {
    auto plain = good(2);
    auto d = p.decide(req_b(), std::vector{plain});
    CHECK(d.basis == decision_basis::dns_match);
    d = p.decide(req("https://b.test"), std::vector{plain});
    CHECK(d.needs_dns);
  }
  SECTION("an origin-set match is preferred to a DNS match (DESIGN 4, step 2 before 4)") {
    auto d = p.decide(req("https://b.test", std::vector<std::string>{"10.0.0.1"}), std::vector{good(2), c});
    CHECK(d.conn == 1u);
    CHECK(d.basis == decision_basis::origin_frame);
    CHECK_FALSE(verdict(d, 2).reason);
  }
  SECTION("an origin-set match is found before asking for DNS") {
    auto d = p.decide(req("https://b.test"), std::vector{good(2), c});
    CHECK(d.conn == 1u);
    CHECK_FALSE(d.needs_dns);
  }
  SECTION("sets on cleartext or proxied connections are not honoured") {
    c.via_proxy = true;
    auto d = p.decide(req("https://b.test", std::vector<std::string>{"10.0.0.66"}), std::vector{c});
    CHECK(reason(d, 1) == "ip-mismatch");  // judged by DNS, which a proxy hides
  }
  SECTION("the exact origin still comes first") {
    auto own = conn(3, "https://b.test", "10.0.0.2");
    auto d = p.decide(req("https://b.test"), std::vector{c, own});
    CHECK(d.action == decision_action::reuse);
    CHECK(d.conn == 3u);
  }
}

TEST_CASE("policy: the proper-subset rule (RFC 8336, DESIGN section 3)", "[policy]") {
  auto p = policies::origin();
  auto with_set = [](std::uint64_t id, std::string_view initial, std::vector<std::string_view> members) {
    auto c = conn(id, initial, "10.0.0." + std::to_string(id));
    c.cert_covers = true;
    std::vector<origin> set{c.initial_origin};
    for (auto m : members) set.push_back(o(m));
    c.origin_set = std::move(set);
    return c;
  };
  auto small = with_set(1, "https://a.test", {"https://x.test"});
  auto big = with_set(2, "https://b.test", {"https://a.test", "https://x.test"});
  auto other = with_set(3, "https://c.test", {"https://x.test", "https://y.test"});

  SECTION("a connection whose set is a proper subset of another usable one's is passed over") {
    auto d = p.decide(req("https://x.test"), std::vector{small, big});
    CHECK(d.conn == 2u);
    CHECK(reason(d, 1) == "proper-subset");
    CHECK(verdict(d, 2).chosen);
  }
  SECTION("sets that are not nested do not exclude each other") {
    auto d = p.decide(req("https://x.test"), std::vector{small, other});
    CHECK(d.conn == 1u);
    CHECK_FALSE(verdict(d, 3).reason);
  }
  SECTION("equal sets are not proper subsets; order given decides") {
    auto twin = with_set(4, "https://x.test", {"https://a.test"});  // {x, a} == small's {a, x}
    auto d = p.decide(req("https://x.test"), std::vector{small, twin});
    // twin is x.test's own connection: the exact origin wins regardless.
    CHECK(d.conn == 4u);
    auto twin2 = with_set(5, "https://a.test", {"https://x.test", "https://x.test"});  // duplicates ignored
    d = p.decide(req("https://x.test"), std::vector{small, twin2});
    CHECK(d.conn == 1u);
    CHECK_FALSE(verdict(d, 5).reason);
  }
  SECTION("a larger set that cannot serve the request does not exclude the smaller one") {
    big.at_capacity = true;
    auto d = p.decide(req("https://x.test"), std::vector{small, big});
    CHECK(d.conn == 1u);
    CHECK(reason(d, 2) == "at-capacity");
    big.at_capacity = false;
    big.cert_covers = false;
    d = p.decide(req("https://x.test"), std::vector{small, big});
    CHECK(d.conn == 1u);
    CHECK(reason(d, 2) == "cert-mismatch");
    big.cert_covers = true;
    big.draining = true;
    d = p.decide(req("https://x.test"), std::vector{small, big});
    CHECK(d.conn == 1u);
  }
  SECTION("a full connection that is a proper subset reports proper-subset (it comes first in the order)") {
    small.at_capacity = true;
    auto d = p.decide(req("https://x.test"), std::vector{small, big});
    CHECK(reason(d, 1) == "proper-subset");
  }
  SECTION("supersets are found whichever member they share") {
    auto same_host = with_set(6, "https://a.test", {"https://x.test", "https://y.test"});  // {a, x, y}
    auto d = p.decide(req("https://x.test"), std::vector{small, same_host});
    CHECK(reason(d, 1) == "proper-subset");
    CHECK(d.conn == 6u);
    auto without_own = small;  // a 421 took a.test out of its set: {x}
    without_own.origin_set = std::vector{o("https://x.test")};
    d = p.decide(req("https://x.test"), std::vector{without_own, other});
    CHECK(reason(d, 1) == "proper-subset");
    CHECK(d.conn == 3u);
  }
  SECTION("many equal small sets and one superset") {
    std::vector<connection_view> cs;
    for (std::uint64_t i = 1; i <= 500; ++i) {
      auto c = with_set(i, "https://a.test", {"https://x.test"});
      c.id = i;
      cs.push_back(std::move(c));
    }
    cs.push_back(with_set(1000, "https://b.test", {"https://a.test", "https://x.test"}));
    auto d = p.decide(req("https://x.test"), cs);
    CHECK(d.conn == 1000u);
    std::size_t subsets = 0;
    for (const auto& v : d.candidates) subsets += v.reason == reject_reason::proper_subset;
    CHECK(subsets == 500);
  }
  SECTION("browser has no origin sets, hence no proper-subset rule") {
    auto d = policies::browser().decide(req("https://x.test", std::vector<std::string>{"10.0.0.1"}),
                                        std::vector{small, big});
    CHECK(d.conn == 1u);
  }
}

TEST_CASE("policy: a 421 retry always gets a fresh connection", "[policy]") {
  auto c = good(1);
  c.misdirected = {o("https://b.test")};
  auto own = conn(2, "https://b.test", "10.0.0.1");
  auto ok = good(3);
  auto r = req_b();
  r.fresh_connection_required = true;
  for (const auto& p : {policies::strict(), policies::browser(), policies::origin()}) {
    INFO(p.name());
    auto d = p.decide(r, std::vector{c, own, ok});
    CHECK(d.action == decision_action::connect);
    CHECK_FALSE(d.conn);
    CHECK_FALSE(d.needs_dns);
    REQUIRE(d.candidates.size() == 3);
    for (const auto& v : d.candidates) CHECK_FALSE(v.chosen);
    if (p.name() != "strict") CHECK(reason(d, 1) == "misdirected");
  }
  own.misdirected = {o("https://b.test")};  // a 421 on b.test's own connection
  auto d = policies::origin().decide(r, std::vector{own});
  CHECK(d.action == decision_action::connect);
  CHECK(reason(d, 2) == "misdirected");
}

namespace {

// A user policy: coalesce onto the connection with the lowest id that shares the target's port,
// otherwise connect. Only for the test; it ignores safety checks on purpose.
struct lowest_id_policy {
  std::string label = "lowest-id";
  decision decide(const request_view& r, std::span<const connection_view> cs) const {
    decision d;
    const connection_view* best = nullptr;
    for (const auto& c : cs)
      if (c.initial_origin.port == r.target.port && (!best || c.id < best->id)) best = &c;
    for (const auto& c : cs)
      d.candidates.push_back({c.id, c.initial_origin, &c == best,
                              &c == best ? std::nullopt : std::optional{reject_reason::other_origin}});
    if (best) {
      d.action = decision_action::coalesce;
      d.conn = best->id;
    }
    return d;
  }
  std::string name() const { return label; }  // a temporary: any_policy keeps its own copy
};

}  // namespace

TEST_CASE("policy: a user policy works through any_policy", "[policy]") {
  static_assert(coalescing_policy<lowest_id_policy>);
  any_policy p = lowest_id_policy{};
  CHECK(p.name() == "lowest-id");
  auto d = p.decide(req_b(), std::vector{good(7), good(3), conn(5, "https://a.test:8443", "10.0.0.1")});
  CHECK(d.action == decision_action::coalesce);
  CHECK(d.conn == 3u);
  CHECK(verdict(d, 3).chosen);
  CHECK(reason(d, 5) == "other-origin");

  any_policy copy = p;  // copies share the one immutable policy
  CHECK(copy.name() == "lowest-id");
  CHECK(copy.decide(req_b(), std::vector{good(9)}).conn == 9u);
  copy = policies::strict();
  CHECK(copy.name() == "strict");
  CHECK(p.name() == "lowest-id");

  const lowest_id_policy named{"mine"};
  any_policy from_lvalue = named;
  CHECK(from_lvalue.name() == "mine");
  any_policy built_in = browser_policy{ip_match::any_overlap};
  CHECK(built_in.name() == "browser");
}

TEST_CASE("policy_map: per-host policies with wildcards", "[policy][policy_map]") {
  policy_map m;
  CHECK(m.for_host("anything.test").name() == "origin");  // the default fallback

  m.set("*.corp.example", policies::strict());
  m.set("legacy.test", policies::browser());
  CHECK(m.for_host("a.corp.example").name() == "strict");
  CHECK(m.for_host("x.y.corp.example").name() == "strict");  // any depth
  CHECK(m.for_host("A.CORP.Example").name() == "strict");    // case-insensitive
  CHECK(m.for_host("a.corp.example.").name() == "strict");   // trailing dot
  CHECK(m.for_host("corp.example").name() == "origin");      // not the apex itself
  CHECK(m.for_host("xcorp.example").name() == "origin");     // a label boundary is required
  CHECK(m.for_host("legacy.test").name() == "browser");
  CHECK(m.for_host("LEGACY.test").name() == "browser");
  CHECK(m.for_host("a.legacy.test").name() == "origin");     // exact means exact

  SECTION("the most specific pattern wins, whatever the order of set") {
    m.set("*.example", policies::browser());
    m.set("*", lowest_id_policy{"everything"});
    m.set("vip.corp.example", policies::origin());
    m.set("*.eu.corp.example", lowest_id_policy{"eu"});
    CHECK(m.for_host("vip.corp.example").name() == "origin");
    CHECK(m.for_host("a.eu.corp.example").name() == "eu");
    CHECK(m.for_host("a.corp.example").name() == "strict");
    CHECK(m.for_host("corp.example").name() == "browser");
    CHECK(m.for_host("else.test").name() == "everything");
  }
  SECTION("setting a pattern again replaces it") {
    m.set("*.CORP.example", policies::browser());
    CHECK(m.for_host("a.corp.example").name() == "browser");
  }
  SECTION("IPv6 literals with or without brackets") {
    m.set("[::1]", policies::strict());
    CHECK(m.for_host("::1").name() == "strict");
  }
  SECTION("malformed patterns are refused") {
    CHECK_THROWS_AS(m.set("", policies::strict()), std::invalid_argument);
    CHECK_THROWS_AS(m.set("a.*.test", policies::strict()), std::invalid_argument);
    CHECK_THROWS_AS(m.set("*corp.example", policies::strict()), std::invalid_argument);
    CHECK_THROWS_AS(m.set("*.", policies::strict()), std::invalid_argument);
  }
  SECTION("a chosen fallback") {
    policy_map s{policies::strict()};
    CHECK(s.for_host("a.test").name() == "strict");
    CHECK(s.fallback().name() == "strict");
  }
}

TEST_CASE("policy: a decision over 10,000 connections lists each once", "[policy][scale]") {
  std::vector<connection_view> cs;
  cs.reserve(10000);
  for (std::uint64_t i = 0; i < 10000; ++i) {
    auto c = conn(i, "https://h" + std::to_string(i) + ".test", "10.1." + std::to_string(i / 250) + "." +
                                                                 std::to_string(i % 250));
    c.cert_covers = i % 3 == 0;
    if (i % 7 == 0) c.origin_set = std::vector{c.initial_origin, o("https://target.test")};
    if (i % 11 == 0) c.at_capacity = true;
    cs.push_back(std::move(c));
  }
  auto d = policies::origin().decide(req("https://target.test", std::vector<std::string>{"10.1.39.246"}), cs);
  CHECK(d.candidates.size() == cs.size());
  CHECK(d.action == decision_action::coalesce);
  CHECK(d.basis == decision_basis::origin_frame);
  CHECK(d.conn == 21u);  // the first with a set (7), a covering certificate (3), and room (not 11)
  d = policies::browser().decide(req("https://target.test", std::vector<std::string>{"10.1.39.246"}), cs);
  CHECK(d.basis == decision_basis::dns_match);
  CHECK(d.conn == 9996u);  // 10.1.39.246, covered, not full
}
