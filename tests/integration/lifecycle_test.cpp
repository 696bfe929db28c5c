// SPDX-License-Identifier: BSL-1.0
// tests/integration/lifecycle_test.cpp: connection health and lifecycle (issue 19, DESIGN section 14):
// the PING health check against servers that go silent, ACK slowly or flood PINGs; graceful shutdown;
// max age and max requests; preconnect; network change; the per-origin limit for HTTP/2.
//
// Waiting is part of some scenarios (a server that goes quiet, a connection that ages): those waits are
// asio timers on the client's io_context, and every assertion is about what happened, never how long.
#include "catch.hpp"
#include "support/black_hole.hpp"
#include "support/client_fixture.hpp"
#include "support/raw_server.hpp"
#include "support/trace_fields.hpp"

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <variant>

using namespace h2coal;
using namespace h2coal::test;
using namespace std::chrono_literals;

namespace {

std::string ping_payload(std::uint64_t v) {
  std::string p(8, '\0');
  for (int i = 0; i < 8; ++i) p[static_cast<std::size_t>(i)] = static_cast<char>(v >> (56 - 8 * i));
  return p;
}

// Frames of `type` the client sent on connection `conn`, with the ACK flag set or not.
std::size_t frames_of(const raw_server& s, std::size_t conn, std::uint8_t type, bool ack) {
  std::size_t n = 0;
  for (const auto& f : s.frames(conn))
    if (f.type == type && ((f.flags & h2::flag_ack) != 0) == ack) ++n;
  return n;
}

// Runs the client's io_context for `d` (the scenario's quiet time), whatever else happens meanwhile.
void wait_for(client_fixture& f, std::chrono::milliseconds d) {
  bool over = false;
  asio::steady_timer t(f.io, d);
  t.async_wait([&](std::error_code) { over = true; });
  f.run_until([&] { return over; });
}

std::vector<const trace::event*> events_named(const client_fixture& f, const std::string& name) {
  std::vector<const trace::event*> out;
  for (const auto& e : f.events)
    if (e.ev == name) out.push_back(&e);
  return out;
}

std::size_t closes_with(const client_fixture& f, const std::string& reason) {
  std::size_t n = 0;
  for (const auto* e : events_named(f, "conn.close"))
    if (str(*e, "reason") == reason) ++n;
  return n;
}

// Answers the first request of the first connection and every request of later ones; after that first
// answer, connection 0 goes silent (it reads on but never writes again, and never closes).
raw_server_options silent_after_first() {
  raw_server_options ro;
  ro.on_request = [](raw_connection& c, const raw_request& r) {
    if (r.connection == 0 && r.index > 0) return;
    c.write(h2::response(r.stream, "ok"));
  };
  return ro;
}

struct preconnected {
  std::error_code ec;
  preconnect_result result;
};

// async_preconnect, run until it completes.
preconnected preconnect(client_fixture& f, client& c, const std::string& url, std::size_t n) {
  preconnected out;
  bool got = false;
  c.async_preconnect(url, n, [&](std::error_code ec, preconnect_result r) {
    out = {ec, std::move(r)};
    got = true;
  });
  f.run_until([&] { return got; });
  return out;
}

}  // namespace

TEST_CASE("lifecycle: a silent connection is found dead by PING and its request goes on elsewhere", "[lifecycle][ping]") {
  client_fixture f;
  auto server = f.raw({"a.test"}, silent_after_first());
  auto o = f.options();
  o.read_idle_timeout = 1500ms;
  o.ping_timeout = 1000ms;
  client c(f.io.get_executor(), o);
  const auto url = test_url("a.test", server->port());

  auto first = f.get(c, url);
  REQUIRE_FALSE(first.ec);
  CHECK(first.resp.body == "ok");
  // The connection is quiet now; this request is sent on it (nothing says it is dead yet), and the
  // health check then finds it so: the request moves to a new connection and succeeds there.
  wait_for(f, 1000ms);
  auto second = f.get(c, url);
  REQUIRE_FALSE(second.ec);
  CHECK(second.resp.status == 200);
  CHECK(second.resp.body == "ok");
  CHECK(second.resp.connection != first.resp.connection);
  CHECK(server->connection_count() == 2);
  // The server saw it twice: once on the silent connection, once on the new one.
  const auto reqs = server->requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[1].connection == 0);
  CHECK(reqs[2].connection == 1);
  // Exactly one PING went out on the silent connection: never a second one while the first is unanswered.
  CHECK(frames_of(*server, 0, h2::type_ping, false) == 1);
  CHECK(closes_with(f, "ping-timeout") == 1);
  bool retried = false;
  for (const auto* e : events_named(f, "request.retry"))
    if (str(*e, "reason") == "ping-timeout") retried = true;
  CHECK(retried);
}

TEST_CASE("lifecycle: without the health check a silent connection holds the request until its timeout", "[lifecycle][ping]") {
  client_fixture f;
  auto server = f.raw({"a.test"}, silent_after_first());
  client c(f.io.get_executor(), f.options());
  const auto url = test_url("a.test", server->port());
  REQUIRE_FALSE(f.get(c, url).ec);
  request r;
  r.url = url;
  r.timeout = 1500ms;
  auto second = f.fetch(c, r);
  CHECK(second.ec == error::request_timeout);
  CHECK(server->connection_count() == 1);
  CHECK(frames_of(*server, 0, h2::type_ping, false) == 0);
}

TEST_CASE("lifecycle: a request that may not be sent twice fails with connection_dead", "[lifecycle][ping]") {
  client_fixture f;
  auto server = f.raw({"a.test"}, silent_after_first());
  auto o = f.options();
  o.read_idle_timeout = 500ms;
  o.ping_timeout = 500ms;
  client c(f.io.get_executor(), o);
  const auto url = test_url("a.test", server->port());
  REQUIRE_FALSE(f.get(c, url).ec);
  request post;
  post.method = "POST";
  post.url = url;
  post.body = "once";
  auto r = f.fetch(c, post);
  CHECK(r.ec == error::connection_dead);
  CHECK(server->connection_count() == 1);  // never sent again
  CHECK(closes_with(f, "ping-timeout") == 1);
}

TEST_CASE("lifecycle: a server that ACKs PINGs slowly but in time keeps its connection", "[lifecycle][ping]") {
  client_fixture f;
  raw_server_options ro;
  ro.on_request = [](raw_connection& c, const raw_request& r) { c.write(h2::response(r.stream, "ok")); };
  ro.on_frame = [](raw_connection& c, const raw_frame& fr) {
    if (fr.type != h2::type_ping || (fr.flags & h2::flag_ack)) return;
    std::this_thread::sleep_for(250ms);  // a slow server (the scenario), not a wait for anything
    c.write(h2::frame(h2::type_ping, h2::flag_ack, 0, fr.payload));
  };
  auto server = f.raw({"a.test"}, ro);
  auto o = f.options();
  o.read_idle_timeout = 200ms;
  o.ping_timeout = 2000ms;
  client c(f.io.get_executor(), o);
  const auto url = test_url("a.test", server->port());
  auto first = f.get(c, url);
  REQUIRE_FALSE(first.ec);
  f.run_until([&] { return events_named(f, "conn.ping").size() >= 2; });
  auto second = f.get(c, url);
  REQUIRE_FALSE(second.ec);
  CHECK(second.resp.connection == first.resp.connection);
  CHECK(server->connection_count() == 1);
  CHECK(closes_with(f, "ping-timeout") == 0);
  for (const auto* e : events_named(f, "conn.ping")) {
    CHECK(num(*e, "conn") == static_cast<std::int64_t>(first.resp.connection));
    CHECK(num(*e, "rtt_us") >= 200000);  // the server's 250 ms, measured
  }
  // One PING at a time: every PING of ours was ACKed before the next one left.
  CHECK(frames_of(*server, 0, h2::type_ping, false) <= events_named(f, "conn.ping").size() + 1);
}

TEST_CASE("lifecycle: a PING flood from the server is answered and never multiplies our own PINGs", "[lifecycle][ping]") {
  client_fixture f;
  constexpr std::size_t flood = 500;  // under nghttp2's bound on queued ACKs (1000), which is the guard
  raw_server_options ro;
  ro.on_connect = [](raw_connection& c) {
    std::string burst;
    for (std::size_t i = 0; i < flood; ++i) burst += h2::frame(h2::type_ping, 0, 0, ping_payload(i + 1));
    c.write(burst);
  };
  ro.on_request = [](raw_connection& c, const raw_request& r) { c.write(h2::response(r.stream, "ok")); };
  auto server = f.raw({"a.test"}, ro);
  auto o = f.options();
  o.read_idle_timeout = 200ms;
  o.ping_timeout = 30s;  // our PING is never ACKed: it stays the one in flight
  client c(f.io.get_executor(), o);
  const auto url = test_url("a.test", server->port());
  auto first = f.get(c, url);
  REQUIRE_FALSE(first.ec);
  f.run_until([&] { return frames_of(*server, 0, h2::type_ping, true) >= flood && frames_of(*server, 0, h2::type_ping, false) >= 1; });
  wait_for(f, 800ms);  // four more read-idle periods: no second PING while the first is unanswered
  auto second = f.get(c, url);
  REQUIRE_FALSE(second.ec);
  CHECK(second.resp.connection == first.resp.connection);
  CHECK(frames_of(*server, 0, h2::type_ping, true) == flood);
  CHECK(frames_of(*server, 0, h2::type_ping, false) == 1);
}

TEST_CASE("lifecycle: with the health check on, an idle connection still closes at idle_timeout", "[lifecycle][ping]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, server_options{});
  auto o = f.options();
  o.read_idle_timeout = 100ms;
  o.ping_timeout = 5s;
  o.idle_timeout = 700ms;
  client c(f.io.get_executor(), o);
  auto r = f.get(c, test_url("a.test", server->port()));
  REQUIRE_FALSE(r.ec);
  // The PING ACKs are reads on an idle connection: they must not start its idle time over. Were they to,
  // it would never close and run_until would fail.
  f.run_until([&] { return closes_with(f, "idle") == 1; }, 20s);
  CHECK(events_named(f, "conn.ping").size() >= 1);
  CHECK(closes_with(f, "ping-timeout") == 0);
  CHECK(server->connection_count() == 1);
}

TEST_CASE("lifecycle: graceful shutdown lets 50 requests in flight finish, says GOAWAY, and the io_context returns", "[lifecycle][shutdown]") {
  client_fixture f;
  std::promise<void> gate;
  auto released = gate.get_future().share();
  raw_server_options ro;
  std::atomic<int> answered{0};
  ro.on_request = [&, released](raw_connection& c, const raw_request& r) {
    if (r.index + 1 < 50) return;
    released.wait();  // the 50th holds the answers until the client is shutting down
    std::string all;
    for (std::int32_t s = 1; s <= r.stream; s += 2) all += h2::response(s, "ok");
    answered = (r.stream + 1) / 2;  // before the write: the client may be done before this thread goes on
    c.write(all);
  };
  auto server = f.raw({"a.test"}, ro);
  auto o = f.options();
  o.idle_timeout = 3600s;  // an idle timer alone would keep the io_context busy: shutdown must end it
  auto c = std::make_unique<client>(f.io.get_executor(), o);
  const auto url = test_url("a.test", server->port());
  std::vector<result> results(50);
  int done = 0;
  for (auto& res : results) {
    request r;
    r.url = url;
    c->async_request(r, [&](std::error_code ec, response resp) {
      res.ec = ec;
      res.resp = std::move(resp);
      ++res.completions;
      ++done;
    });
  }
  f.run_until([&] { return server->requests().size() == 50; });
  bool shut = false;
  c->async_shutdown(30s, [&](std::error_code ec) {
    CHECK_FALSE(ec);
    shut = true;
  });
  result late;
  request r;
  r.url = url;
  c->async_request(r, [&](std::error_code ec, response) { late.ec = ec; ++late.completions; });
  f.run_until([&] { return late.completions == 1; });
  CHECK(late.ec == error::client_shutdown);
  gate.set_value();
  f.run_until([&] { return done == 50 && shut; });
  for (const auto& res : results) {
    CHECK_FALSE(res.ec);
    CHECK(res.resp.body == "ok");
    CHECK(res.completions == 1);
  }
  CHECK(answered == 50);
  // The server saw our GOAWAY(NO_ERROR) (its thread reads it on its own time), and the client holds
  // nothing: run() returns on its own.
  auto goaway_seen = [&] {
    for (const auto& fr : server->frames(0))
      if (fr.type == h2::type_goaway && fr.payload.size() >= 8 && fr.payload.substr(4, 4) == std::string(4, '\0'))
        return true;
    return false;
  };
  f.run_until(goaway_seen);
  CHECK(closes_with(f, "client-shutdown") == 1);
  f.io.restart();
  f.io.run_for(20s);
  CHECK(f.io.stopped());
  CHECK(c->connections().front().open == false);
}

TEST_CASE("lifecycle: a shutdown's deadline fails the stalled request and lets the others finish", "[lifecycle][shutdown]") {
  client_fixture f;
  raw_server_options ro;
  ro.on_request = [](raw_connection& c, const raw_request& r) {
    if (r.target == "/stall") return;
    c.write(h2::response(r.stream, "ok"));
  };
  auto server = f.raw({"a.test"}, ro);
  client c(f.io.get_executor(), f.options());
  const auto base = test_url("a.test", server->port(), "/");
  result stalled, quick;
  request rs;
  rs.url = base + "stall";
  c.async_request(rs, [&](std::error_code ec, response resp) {
    stalled.ec = ec;
    stalled.resp = std::move(resp);
    ++stalled.completions;
  });
  f.run_until([&] { return server->requests().size() == 1; });
  bool shut = false;
  // The quick one is already outstanding when the shutdown starts (posted before it), so it finishes.
  request rq;
  rq.url = base + "quick";
  c.async_request(rq, [&](std::error_code ec, response resp) {
    quick.ec = ec;
    quick.resp = std::move(resp);
    ++quick.completions;
  });
  c.async_shutdown(500ms, [&](std::error_code) { shut = true; });
  f.run_until([&] { return shut; });
  CHECK(quick.completions == 1);
  CHECK_FALSE(quick.ec);
  CHECK(quick.resp.body == "ok");
  CHECK(stalled.completions == 1);
  CHECK(stalled.ec == error::client_shutdown);
  CHECK(c.connections().front().open == false);
}

TEST_CASE("lifecycle: max_requests_per_connection moves on to new connections without losing a request", "[lifecycle][limits]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, server_options{});
  auto o = f.options();
  o.max_requests_per_connection = 3;
  client c(f.io.get_executor(), o);
  std::vector<request> reqs(10);
  for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i].url = test_url("a.test", server->port(), "/bytes/" + std::to_string(100 + i));
  auto results = f.fetch_all(c, reqs);
  for (std::size_t i = 0; i < results.size(); ++i) {
    REQUIRE_FALSE(results[i].ec);
    CHECK(results[i].resp.body == expected_bytes(100 + i));
  }
  CHECK(server->connection_count() == 4);  // 3 + 3 + 3 + 1
  for (const auto& ci : server->connections()) CHECK(ci.streams <= 3);
  f.run_until([&] { return closes_with(f, "max-requests") >= 3; });
  // Sequentially too: the fourth request of a connection opens the next one.
  client_fixture g;
  auto s2 = g.serve({"a.test"}, server_options{});
  auto o2 = g.options();
  o2.max_requests_per_connection = 2;
  client c2(g.io.get_executor(), o2);
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(g.get(c2, test_url("a.test", s2->port())).ec);
  CHECK(s2->connection_count() == 3);
}

TEST_CASE("lifecycle: the GOAWAY of max_requests_per_connection follows the HEADERS of the last request", "[lifecycle][limits]") {
  // nghttp2 writes control frames before new streams' HEADERS; a server that answers a GOAWAY with its
  // own (Go's does) would refuse a request whose HEADERS came after ours, and the client would retry it.
  client_fixture f;
  raw_server_options ro;
  ro.on_request = [](raw_connection& c, const raw_request& r) { c.write(h2::response(r.stream, "ok")); };
  auto server = f.raw({"a.test"}, ro);
  auto o = f.options();
  o.max_requests_per_connection = 1;
  client c(f.io.get_executor(), o);
  auto r = f.get(c, test_url("a.test", server->port()));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.attempts == 1);
  f.run_until([&] { return frames_of(*server, 0, h2::type_goaway, false) == 1; });
  const auto frames = server->frames(0);
  std::size_t headers = frames.size(), goaway = frames.size();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].type == h2::type_headers && headers == frames.size()) headers = i;
    if (frames[i].type == h2::type_goaway && goaway == frames.size()) goaway = i;
  }
  REQUIRE(headers < frames.size());
  REQUIRE(goaway < frames.size());
  CHECK(headers < goaway);
  f.run_until([&] { return closes_with(f, "max-requests") == 1; });
}

TEST_CASE("lifecycle: max_connection_age retires a connection, after the stream it carries", "[lifecycle][limits]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, server_options{});
  auto o = f.options();
  o.max_connection_age = 300ms;
  client c(f.io.get_executor(), o);
  // In flight across the retirement: it finishes on the old connection.
  auto slow = f.get(c, test_url("a.test", server->port(), "/delay/700"));
  REQUIRE_FALSE(slow.ec);
  CHECK(slow.resp.status == 200);
  f.run_until([&] { return closes_with(f, "max-age") == 1; });
  auto next = f.get(c, test_url("a.test", server->port()));
  REQUIRE_FALSE(next.ec);
  CHECK(next.resp.connection != slow.resp.connection);
  CHECK(server->connection_count() == 2);
}

TEST_CASE("lifecycle: preconnect, then a burst of 100 requests makes no connection", "[lifecycle][preconnect]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, server_options{});
  client c(f.io.get_executor(), f.options());
  const auto url = test_url("a.test", server->port());
  auto pr = preconnect(f, c, url, 1);
  CHECK_FALSE(pr.ec);
  CHECK(pr.result.opened == 1);
  CHECK(pr.result.found == 0);
  REQUIRE(pr.result.connections.size() == 1);
  CHECK(server->connection_count() == 1);
  const auto before = events_named(f, "conn.connect").size();
  std::vector<request> reqs(100);
  for (auto& r : reqs) r.url = url;
  auto results = f.fetch_all(c, reqs);
  for (const auto& r : results) {
    REQUIRE_FALSE(r.ec);
    CHECK(r.resp.connection == pr.result.connections.front());
  }
  CHECK(events_named(f, "conn.connect").size() == before);
  CHECK(server->connection_count() == 1);
  // A second preconnect finds it.
  pr = preconnect(f, c, url, 1);
  CHECK_FALSE(pr.ec);
  CHECK(pr.result.opened == 0);
  CHECK(pr.result.found == 1);
}

TEST_CASE("lifecycle: preconnect opens n HTTP/1.1 connections, and finds a coalesced one under HTTP/2", "[lifecycle][preconnect]") {
  SECTION("HTTP/1.1") {
    client_fixture f;
    server_options so;
    so.protocol = server_protocol::http1;
    auto server = f.serve({"a.test"}, so);
    client c(f.io.get_executor(), f.http1_options());
    const auto url = test_url("a.test", server->port());
    auto pr = preconnect(f, c, url, 3);
    CHECK_FALSE(pr.ec);
    CHECK(pr.result.opened == 3);
    CHECK(pr.result.connections.size() == 3);
    CHECK(server->connection_count() == 3);
    std::vector<request> reqs(3);
    for (auto& r : reqs) r.url = url;
    for (const auto& r : f.fetch_all(c, reqs)) CHECK_FALSE(r.ec);
    CHECK(server->connection_count() == 3);
  }
  SECTION("coalesced") {
    client_fixture f;
    auto server = f.serve({"a.test", "b.test"}, server_options{});
    client c(f.io.get_executor(), f.with_policy(policies::browser()));
    REQUIRE_FALSE(f.get(c, test_url("a.test", server->port())).ec);
    auto pr = preconnect(f, c, test_url("b.test", server->port()), 1);
    CHECK_FALSE(pr.ec);
    CHECK(pr.result.opened == 0);
    CHECK(pr.result.found == 1);
    CHECK(pr.result.coalesced);
    CHECK(server->connection_count() == 1);
  }
  SECTION("errors") {
    client_fixture f;
    client c(f.io.get_executor(), f.options());
    CHECK(preconnect(f, c, "not a url", 1).ec == error::invalid_url);
    CHECK(preconnect(f, c, "https://nowhere.test/", 1).ec == error::host_not_found);
  }
}

TEST_CASE("lifecycle: on_network_change drains every connection and forgets the DNS answers", "[lifecycle][network]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, server_options{});
  client c(f.io.get_executor(), f.options());
  const auto url = test_url("a.test", server->port());
  auto first = f.get(c, url);
  REQUIRE_FALSE(first.ec);
  c.on_network_change();
  f.run_until([&] { return closes_with(f, "network-change") == 1; });
  CHECK(events_named(f, "client.network_change").size() == 1);
  const auto dns_before = events_named(f, "dns.done").size();
  auto second = f.get(c, url);
  REQUIRE_FALSE(second.ec);
  CHECK(second.resp.connection != first.resp.connection);
  CHECK(server->connection_count() == 2);
  // Resolved again, not from the cache.
  auto dns = events_named(f, "dns.done");
  REQUIRE(dns.size() > dns_before);
  const auto* cached = dns.back()->find("cached");
  REQUIRE(cached);
  REQUIRE(std::holds_alternative<bool>(*cached));
  CHECK_FALSE(std::get<bool>(*cached));
}

TEST_CASE("lifecycle: on_network_change stops a connection still dialing and routes its request again", "[lifecycle][network]") {
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.3"};
  auto server = f.serve({"a.test"}, so);
  black_hole hole("127.0.0.2", server->port());
  f.resolve("a.test", {"127.0.0.2"});  // the old network: a connect there never completes
  auto o = f.options();
  o.connect_timeout = 45s;  // longer than run_until's limit: only the network change can end the wait
  client c(f.io.get_executor(), o);
  request req;
  req.url = test_url("a.test", server->port());
  bool done = false;
  std::error_code ec;
  response resp;
  c.async_request(req, [&](std::error_code e, response r) {
    ec = e;
    resp = std::move(r);
    done = true;
  });
  f.run_until([&] { return !events_named(f, "conn.attempt").empty(); });
  f.resolve("a.test", {"127.0.0.3"});  // the new network
  c.on_network_change();
  f.run_until([&] { return done; });
  REQUIRE_FALSE(ec);
  CHECK(resp.status == 200);
  CHECK(server->connection_count() == 1);
  const auto attempts = events_named(f, "conn.attempt");
  REQUIRE(attempts.size() == 2);
  const std::string port = ":" + std::to_string(server->port());
  CHECK(str(*attempts[0], "remote") == "127.0.0.2" + port);
  CHECK(str(*attempts[1], "remote") == "127.0.0.3" + port);
  CHECK(events_named(f, "conn.failed").size() == 1);  // the one on the old network, stopped
}

TEST_CASE("lifecycle: max_connections_per_origin holds HTTP/2 requests on the connections it allows", "[lifecycle][limits]") {
  for (std::size_t limit : {std::size_t{0}, std::size_t{1}}) {
    client_fixture f;
    server_options so;
    so.max_concurrent_streams = 2;
    auto server = f.serve({"a.test"}, so);
    auto o = f.options();
    o.open_new_when_at_capacity = true;
    o.max_connections_per_origin = limit;
    client c(f.io.get_executor(), o);
    // Ready first: a connection still being made is never "at capacity", so all would wait for it.
    REQUIRE_FALSE(f.get(c, test_url("a.test", server->port())).ec);
    std::vector<request> reqs(6);
    for (auto& r : reqs) r.url = test_url("a.test", server->port(), "/delay/100");
    for (const auto& r : f.fetch_all(c, reqs)) CHECK_FALSE(r.ec);
    if (limit == 0) CHECK(server->connection_count() >= 2);
    else CHECK(server->connection_count() == 1);
  }
}
