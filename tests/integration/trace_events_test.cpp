// SPDX-License-Identifier: BSL-1.0
// tests/integration/trace_events_test.cpp: the trace tells, event by event, why a connection was or was
// not shared (DESIGN section 5). Each case asserts the exact sequence and the decision's fields.
#include "catch.hpp"
#include "support/client_fixture.hpp"
#include "support/trace_fields.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <sstream>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// The pool.decision events for request `req`.
std::vector<trace::event> decisions(const client_fixture& f, std::int64_t req) {
  std::vector<trace::event> out;
  for (const auto& e : f.events)
    if (e.ev == "pool.decision" && num(e, "req") == req) out.push_back(e);
  return out;
}


struct two_hosts {
  client_fixture f;
  std::unique_ptr<test_server> server;
  std::uint16_t port = 0;
  explicit two_hosts(server_options so, std::vector<std::string> names = {"a.test", "b.test"}) {
    if (so.cert.cert_pem.empty()) so.cert = f.ca.issue(names);
    server = std::make_unique<test_server>(so);
    port = server->port();
  }
};

}  // namespace

TEST_CASE("trace: same address, one certificate: the second origin is coalesced by DNS match") {
  two_hosts h(server_options{});
  h.f.resolve("a.test", {"127.0.0.1"});
  h.f.resolve("b.test", {"127.0.0.1"});
  client c(h.f.io.get_executor(), h.f.with_policy(policies::browser()));
  h.f.get(c, test_url("a.test", h.port));
  h.f.get(c, test_url("b.test", h.port));

  CHECK(h.f.event_names() == std::vector<std::string>{
            "request.start", "dns.done", "pool.decision", "conn.attempt", "conn.connect", "conn.ready", "request.sent", "request.done",
            "request.start", "dns.done", "pool.decision", "request.sent", "request.done"});
  auto d = decisions(h.f, 2).at(0);
  CHECK(str(d, "policy") == "browser");
  CHECK(str(d, "action") == "coalesce");
  CHECK(num(d, "conn") == 1);
  CHECK(str(d, "basis") == "dns-match");
  CHECK(str(d, "matched_ip") == "127.0.0.1");
  CHECK(candidates(d) == std::vector<std::string>{"1 https://a.test:" + std::to_string(h.port) + " chosen"});
}

TEST_CASE("trace: a different address: the candidate is rejected with ip-mismatch") {
  server_options so;
  so.addresses = {"127.0.0.1", "127.0.0.2"};
  two_hosts h(so);
  h.f.resolve("a.test", {"127.0.0.1"});
  h.f.resolve("b.test", {"127.0.0.2"});
  client c(h.f.io.get_executor(), h.f.with_policy(policies::browser()));
  h.f.get(c, test_url("a.test", h.port));
  h.f.get(c, test_url("b.test", h.port));
  auto d = decisions(h.f, 2).at(0);
  CHECK(str(d, "action") == "connect");
  CHECK(num(d, "conn") == 2);
  CHECK(candidates(d) == std::vector<std::string>{"1 https://a.test:" + std::to_string(h.port) + " rejected ip-mismatch"});
  CHECK(h.f.event_names("conn.connect").size() == 2);
}

TEST_CASE("trace: a certificate that does not cover the host: cert-mismatch") {
  server_options so;
  client_fixture tmp;
  two_hosts h(so, {"a.test"});
  h.f.resolve("a.test", {"127.0.0.1"});
  h.f.resolve("d.test", {"127.0.0.1"});
  client c(h.f.io.get_executor(), h.f.with_policy(policies::origin()));
  h.f.get(c, test_url("a.test", h.port));
  h.f.get(c, test_url("d.test", h.port));  // fails its own handshake: a's certificate does not name d
  auto d = decisions(h.f, 2).at(0);
  CHECK(str(d, "action") == "connect");
  CHECK(candidates(d) == std::vector<std::string>{"1 https://a.test:" + std::to_string(h.port) + " rejected cert-mismatch"});
}

TEST_CASE("trace: 421 on a coalesced connection: misdirected, retry, a dedicated connection") {
  server_options so;
  so.misdirect_on_mismatch = true;
  two_hosts h(so);
  h.f.resolve("a.test", {"127.0.0.1"});
  h.f.resolve("b.test", {"127.0.0.1"});
  std::ostringstream text;
  auto opts = h.f.with_policy(policies::origin());
  opts.trace = trace::fan_out({opts.trace, trace::text(text)});
  client c(h.f.io.get_executor(), opts);
  h.f.get(c, test_url("a.test", h.port));
  h.f.events.clear();
  h.f.get(c, test_url("b.test", h.port));

  CHECK(h.f.event_names() == std::vector<std::string>{
            "request.start", "dns.done", "pool.decision", "request.sent", "request.misdirected", "request.retry",
            "dns.done", "pool.decision", "conn.attempt", "conn.connect", "conn.ready", "request.sent", "request.done"});
  auto ds = decisions(h.f, 2);
  REQUIRE(ds.size() == 2);
  CHECK(str(ds[0], "action") == "coalesce");
  CHECK(str(ds[1], "action") == "connect");
  CHECK(candidates(ds[1]) == std::vector<std::string>{"1 https://a.test:" + std::to_string(h.port) + " rejected misdirected"});
  for (const auto& e : h.f.events)
    if (e.ev == "request.retry") {
      CHECK(str(e, "reason") == "421");
      CHECK(num(e, "attempt") == 2);
    }
  CHECK(text.str().find("rejected: misdirected") != std::string::npos);
  if (std::getenv("H2COAL_PRINT_TRACE")) std::cout << text.str();
  // A later request for b goes straight to b's own connection.
  h.f.events.clear();
  h.f.get(c, test_url("b.test", h.port));
  auto later = decisions(h.f, 3).at(0);
  CHECK(str(later, "action") == "reuse");
  CHECK(num(later, "conn") == 2);
}

TEST_CASE("trace: an ORIGIN frame without b: not-in-origin-set; the frame and the set are traced") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  auto port = std::make_shared<std::uint16_t>(0);
  so.origin_frames_for_sni = [port](const std::string&) {
    return std::vector<std::vector<std::string>>{{"https://a.test:" + std::to_string(*port), "not an origin"}};
  };
  test_server server(so);
  *port = server.port();
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.with_policy(policies::origin()));
  f.get(c, test_url("a.test", *port));
  f.get(c, test_url("b.test", *port));
  const trace::event* frame = nullptr;
  for (const auto& e : f.events)
    if (e.ev == "conn.origin_frame" && !frame) frame = &e;  // a's connection, the first to get one
  REQUIRE(frame);
  CHECK(std::get<std::vector<std::string>>(*frame->find("origins")).size() == 2);
  CHECK(std::get<std::vector<std::string>>(*frame->find("origin_set")) ==
        std::vector<std::string>{"https://a.test:" + std::to_string(*port)});
  auto d = decisions(f, 2).at(0);
  CHECK(str(d, "action") == "connect");
  CHECK(candidates(d) == std::vector<std::string>{"1 https://a.test:" + std::to_string(*port) + " rejected not-in-origin-set"});
}

TEST_CASE("trace: GOAWAY: the connection drains, later decisions reject it as draining") {
  two_hosts h(server_options{});
  h.f.resolve("a.test", {"127.0.0.1"});
  h.f.resolve("b.test", {"127.0.0.1"});
  client c(h.f.io.get_executor(), h.f.with_policy(policies::browser()));
  h.f.get(c, test_url("a.test", h.port));
  result stalled;
  request r;
  r.url = test_url("a.test", h.port, "/stall");
  c.async_request(r, [&](std::error_code ec, response resp) {
    stalled.ec = ec;
    stalled.resp = std::move(resp);
    ++stalled.completions;
  });
  h.f.run_until([&] { return h.server->requests().size() == 2; });
  h.server->send_goaway_all();
  h.f.run_until([&] { return !h.f.event_names("conn.goaway").empty(); });
  h.f.get(c, test_url("b.test", h.port));
  auto d = decisions(h.f, 3).at(0);
  CHECK(str(d, "action") == "connect");
  CHECK(candidates(d) == std::vector<std::string>{"1 https://a.test:" + std::to_string(h.port) + " rejected draining"});
  h.server->release_stalled();
  h.f.run_until([&] { return stalled.completions == 1; });
  CHECK(stalled.resp.status == 200);
  h.f.run_until([&] { return !h.f.event_names("conn.close").empty(); });
  for (const auto& e : h.f.events)
    if (e.ev == "conn.goaway") CHECK(num(e, "error_code") == 0);
}

TEST_CASE("trace: every json_lines line of a whole session parses and carries t and ev") {
  two_hosts h(server_options{});
  h.f.resolve("a.test", {"127.0.0.1"});
  h.f.resolve("b.test", {"127.0.0.1"});
  std::ostringstream out;
  auto opts = h.f.options();
  opts.trace = trace::json_lines(out);
  client c(h.f.io.get_executor(), opts);
  h.f.get(c, test_url("a.test", h.port));
  h.f.get(c, test_url("b.test", h.port, "/x\"\\y"));
  std::istringstream in(out.str());
  std::string line;
  int lines = 0;
  std::int64_t last_t = -1;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    REQUIRE(j.contains("t"));
    REQUIRE(j.contains("ev"));
    CHECK(j["t"].get<std::int64_t>() >= last_t);
    last_t = j["t"].get<std::int64_t>();
    ++lines;
  }
  CHECK(lines >= 12);
}
