// SPDX-License-Identifier: BSL-1.0
// tests/integration/client_h2_test.cpp: the client over HTTP/2 and TLS against the test server.
#include "catch.hpp"
#include "support/client_fixture.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <set>

using namespace h2coal;
using namespace h2coal::test;

namespace {

server_options h2_server(const test_ca& ca, std::vector<std::string> names = {"a.test"}) {
  server_options o;
  o.protocol = server_protocol::h2;
  o.cert = ca.issue(names);
  return o;
}

}  // namespace

TEST_CASE("h2: a GET over TLS returns the body and says how it travelled") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  auto r = f.get(c, test_url("a.test", server.port(), "/hello?x=1"));
  REQUIRE_FALSE(r.ec);
  CHECK(r.completions == 1);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.body == "host=a.test path=/hello?x=1");
  CHECK(r.resp.http_version == "2");
  CHECK(r.resp.connection == 1);
  CHECK_FALSE(r.resp.coalesced);
  CHECK(r.resp.attempts == 1);
  CHECK(r.resp.headers.get("x-routed-host") == std::optional<std::string_view>("a.test"));
  REQUIRE(server.connections().size() == 1);
  CHECK(server.connections()[0].sni == "a.test");
  CHECK(server.connections()[0].alpn == "h2");
  CHECK(server.requests()[0].authority == "a.test:" + std::to_string(server.port()));
}

TEST_CASE("h2: a POST sends its buffered body and custom headers") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  request req;
  req.method = "POST";
  req.url = test_url("a.test", server.port(), "/echo");
  req.body = std::string(100000, 'p');
  req.headers.add("X-Custom", "yes");
  auto r = f.fetch(c, req);
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.body == req.body);
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].method == "POST");
  CHECK(server.requests()[0].body.size() == 100000);
}

TEST_CASE("h2: a streamed request body and a streamed response body") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  std::size_t produced = 0;
  request req;
  req.method = "PUT";
  req.url = test_url("a.test", server.port(), "/echo");
  req.source = body_source{[&](std::span<char> buf, bool& eof) {
                             std::size_t n = std::min<std::size_t>(buf.size(), std::min<std::size_t>(7000, 50000 - produced));
                             for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<char>('0' + (produced + i) % 10);
                             produced += n;
                             eof = produced == 50000;
                             return n;
                           },
                           {}, std::nullopt, {}, {}};
  std::string sunk;
  req.on_body = [&](std::string_view piece) { sunk.append(piece); };
  auto r = f.fetch(c, req);
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.body.empty());
  CHECK(r.resp.body_bytes == 50000);
  REQUIRE(sunk.size() == 50000);
  CHECK(sunk[12345] == static_cast<char>('0' + 12345 % 10));
}

TEST_CASE("h2: 200 concurrent requests to one origin share exactly one connection") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  std::vector<request> reqs(200);
  for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i].url = test_url("a.test", server.port(), "/n/" + std::to_string(i));
  auto results = f.fetch_all(c, reqs);
  for (std::size_t i = 0; i < results.size(); ++i) {
    REQUIRE_FALSE(results[i].ec);
    REQUIRE(results[i].completions == 1);
    REQUIRE(results[i].resp.body == "host=a.test path=/n/" + std::to_string(i));
  }
  CHECK(server.connection_count() == 1);
  CHECK(server.requests().size() == 200);
}

TEST_CASE("h2: with MAX_CONCURRENT_STREAMS=2, 20 requests wait for streams and all complete") {
  client_fixture f;
  auto so = h2_server(f.ca);
  so.max_concurrent_streams = 2;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  std::vector<request> reqs(20);
  for (auto& r : reqs) r.url = test_url("a.test", server.port(), "/delay/5");
  auto results = f.fetch_all(c, reqs);
  for (auto& r : results) {
    REQUIRE_FALSE(r.ec);
    CHECK(r.resp.status == 200);
  }
  CHECK(server.connection_count() == 1);
  CHECK(server.max_open_streams() <= 2);
  CHECK(server.requests().size() == 20);
}

TEST_CASE("h2: GOAWAY after 3 streams with requests in flight: every request completes exactly once") {
  client_fixture f;
  auto so = h2_server(f.ca);
  so.goaway_after_streams = 3;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  std::vector<request> reqs(10);
  for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i].url = test_url("a.test", server.port(), "/delay/20?i=" + std::to_string(i));
  auto results = f.fetch_all(c, reqs);
  std::multiset<std::string> answered;
  for (auto& r : results) {
    REQUIRE_FALSE(r.ec);
    REQUIRE(r.completions == 1);
    CHECK(r.resp.status == 200);
  }
  // The server answered each request once: the refused ones were retried on new connections.
  for (auto& q : server.requests()) answered.insert(q.path);
  for (std::size_t i = 0; i < reqs.size(); ++i) CHECK(answered.count("/delay/20?i=" + std::to_string(i)) >= 1);
  CHECK(server.connection_count() >= 4);  // 10 requests, 3 per connection
  auto names = f.event_names("request.retry");
  CHECK(names.size() >= 7);  // at least the 7 streams above the first last-stream-id were retried
  CHECK(f.event_names("conn.goaway").size() >= 3);
}

TEST_CASE("h2: a 50 MiB body arrives intact") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  auto opts = f.options();
  opts.max_body_size = 64 * 1024 * 1024;
  opts.trace = nullptr;
  client c(f.io.get_executor(), opts);

  constexpr std::size_t size = 50 * 1024 * 1024;
  auto r = f.get(c, test_url("a.test", server.port(), "/bytes/" + std::to_string(size)));
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.resp.body.size() == size);
  CHECK(std::hash<std::string>{}(r.resp.body) == std::hash<std::string>{}(expected_bytes(size)));
}

TEST_CASE("h2: HTTP/2 prior knowledge over cleartext (h2c)") {
  client_fixture f;
  server_options so;
  so.protocol = server_protocol::h2c;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  auto opts = f.options();
  opts.version = http_version::h2_prior_knowledge;
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("a.test", server.port(), "/x", "http"));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.http_version == "2");
  CHECK(r.resp.body == "host=a.test path=/x");
}

TEST_CASE("h2: completion tokens: future, deferred and awaitable") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());
  request req;
  req.url = test_url("a.test", server.port(), "/token");

  auto fut = c.async_request(req, asio::use_future);
  f.run_until([&] { return fut.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
  CHECK(fut.get().status == 200);

  int deferred_status = 0;
  auto op = c.async_request(req, asio::experimental::deferred);
  std::move(op)([&](std::error_code ec, response r) { deferred_status = ec ? -1 : r.status; });
  f.run_until([&] { return deferred_status != 0; });
  CHECK(deferred_status == 200);

  int awaited = 0;
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> {
    auto r = co_await c.async_request(req, asio::use_awaitable);
    awaited = r.status;
  }, asio::detached);
  f.run_until([&] { return awaited != 0; });
  CHECK(awaited == 200);
  CHECK(server.connection_count() == 1);
}

TEST_CASE("h2: cancelling a request resets its stream; the connection lives on") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  asio::cancellation_signal signal;
  result stalled;
  request req;
  req.url = test_url("a.test", server.port(), "/stall");
  c.async_request(req, asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, response r) {
    stalled.ec = ec;
    stalled.resp = std::move(r);
    ++stalled.completions;
  }));
  f.run_until([&] { return server.requests().size() == 1; });
  signal.emit(asio::cancellation_type::terminal);
  f.run_until([&] { return stalled.completions == 1; });
  CHECK(stalled.ec == error::cancelled);

  auto r = f.get(c, test_url("a.test", server.port(), "/after"));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
  CHECK(server.connection_count() == 1);
}

TEST_CASE("h2: a request timeout ends that request only") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  request req;
  req.url = test_url("a.test", server.port(), "/stall");
  req.timeout = std::chrono::milliseconds(200);
  auto r = f.fetch(c, req);
  CHECK(r.ec == error::request_timeout);
  CHECK(r.completions == 1);
  auto after = f.get(c, test_url("a.test", server.port(), "/after"));
  REQUIRE_FALSE(after.ec);
  CHECK(server.connection_count() == 1);
}

TEST_CASE("h2: a body over the limit fails with body_too_large") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  auto opts = f.options();
  opts.max_body_size = 1000;
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("a.test", server.port(), "/bytes/5000"));
  CHECK(r.ec == error::body_too_large);
  auto ok = f.get(c, test_url("a.test", server.port(), "/bytes/500"));
  REQUIRE_FALSE(ok.ec);
  CHECK(ok.resp.body == expected_bytes(500));
}

TEST_CASE("h2: RST_STREAM from the server maps to an error code; REFUSED_STREAM is retried once") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());
  auto internal = f.get(c, test_url("a.test", server.port(), "/reset/2"));
  CHECK(internal.ec == error::h2_internal_error);
  auto refused = f.get(c, test_url("a.test", server.port(), "/reset/7"));
  CHECK(refused.ec == error::refused_stream);
  std::size_t refused_seen = 0;
  for (auto& q : server.requests()) refused_seen += q.path == "/reset/7";
  CHECK(refused_seen == 2);  // the original and exactly one retry
}

TEST_CASE("h2: connections() keeps every open connection and only the latest closed ones") {
  client_fixture f;
  test_server server(h2_server(f.ca));
  f.resolve("a.test", {"127.0.0.1"});
  auto opts = f.options();
  opts.closed_connection_summaries = 2;
  client c(f.io.get_executor(), opts);

  // Each /close ends its connection, so each request opens a new one: 1, 2, 3, 4 closed in turn.
  for (int i = 0; i < 4; ++i) {
    auto r = f.get(c, test_url("a.test", server.port(), "/close"));
    CHECK(r.ec == error::connection_closed);
  }
  auto open = f.get(c, test_url("a.test", server.port(), "/"));
  REQUIRE_FALSE(open.ec);
  CHECK(open.resp.connection == 5);

  auto list = c.connections();
  REQUIRE(list.size() == 3);
  CHECK(list[0].id == 3);
  CHECK_FALSE(list[0].open);
  CHECK(list[1].id == 4);
  CHECK_FALSE(list[1].open);
  CHECK(list[2].id == 5);
  CHECK(list[2].open);
  CHECK(list[2].requests == 1);
}
