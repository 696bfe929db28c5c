// SPDX-License-Identifier: BSL-1.0
// tests/integration/faults_test.cpp: servers and networks that misbehave (issue 9, fault injection).
//
// Each case: the request's outcome is a response or one specific error code, its handler runs exactly
// once, and the same client then serves another request. test_server produces the faults it has knobs
// for; raw_server (tests/support/raw_server.hpp) writes the bytes no correct server would.
#include "catch.hpp"
#include "support/client_fixture.hpp"
#include "support/raw_server.hpp"

#include <asio/ip/tcp.hpp>

#include <algorithm>
#include <atomic>
#include <memory>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// Every request a test sends, so that it can check at the end that no handler ran twice.
struct ledger {
  std::vector<std::shared_ptr<result>> all;

  std::shared_ptr<result> start(client& c, request req) {
    auto r = std::make_shared<result>();
    all.push_back(r);
    c.async_request(std::move(req), [r](std::error_code ec, response resp) {
      r->ec = ec;
      r->resp = std::move(resp);
      ++r->completions;
    });
    return r;
  }

  // Sends one request and runs until it completes; then drains whatever else is ready, so that a second
  // completion would be seen.
  result fetch(client_fixture& f, client& c, request req) {
    auto r = start(c, std::move(req));
    f.run_until([&] { return r->completions > 0; });
    f.io.poll();
    CHECK(r->completions == 1);
    return *r;
  }
  result get(client_fixture& f, client& c, const std::string& url, std::optional<std::chrono::milliseconds> timeout = {}) {
    request req;
    req.url = url;
    req.timeout = timeout;
    return fetch(f, c, std::move(req));
  }

  // The request after a fault: answered with 200.
  result get_ok(client_fixture& f, client& c, const std::string& url) {
    auto r = get(f, c, url);
    REQUIRE_FALSE(r.ec);
    CHECK(r.resp.status == 200);
    return r;
  }

  void check_all_once(client_fixture& f) {
    f.io.poll();
    for (auto& r : all) CHECK(r->completions == 1);
  }
};

using fault_fn = std::function<bool(raw_connection&, const raw_request&)>;

// A raw server for raw.test that answers every request but the ones `fault` takes (true: taken).
std::unique_ptr<raw_server> faulty(client_fixture& f, raw_protocol p, fault_fn fault) {
  raw_server_options o;
  o.protocol = p;
  o.on_request = [fault = std::move(fault), p](raw_connection& c, const raw_request& r) {
    if (fault && fault(c, r)) return;
    if (p == raw_protocol::h2) c.write(h2::response(r.stream, "ok"));
    else c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  };
  return f.raw({"raw.test"}, std::move(o));
}

bool first(const raw_request& r) { return r.connection == 0 && r.index == 0; }

client_options options_for(client_fixture& f, raw_protocol p) {
  return p == raw_protocol::h2 ? f.options() : f.http1_options();
}

// The story most raw faults tell: the first request (with `timeout`) meets the fault and fails with
// `expected`, exactly once; the same client's next request is answered. Returns the server for more checks.
std::unique_ptr<raw_server> first_fails_then_ok(client_fixture& f, raw_protocol p, fault_fn fault, error expected,
                                                std::optional<std::chrono::milliseconds> timeout = {}) {
  auto server = faulty(f, p, std::move(fault));
  client c(f.io.get_executor(), options_for(f, p));
  ledger l;
  CHECK(l.get(f, c, test_url("raw.test", server->port()), timeout).ec == expected);
  CHECK(l.get(f, c, test_url("raw.test", server->port())).resp.status == 200);
  l.check_all_once(f);
  return server;
}

std::size_t count_events(const client_fixture& f, std::string_view name) {
  std::size_t n = 0;
  for (const auto& e : f.events) n += e.ev == name;
  return n;
}

const std::string partial_h1_head = "HTTP/1.1 200 OK\r\nContent-Le";
const std::string h1_head_100 = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";

}  // namespace

// ---- RST_STREAM, connection drops, GOAWAY ----------------------------------------------------------

TEST_CASE("faults: RST_STREAM with each common error code ends the request with its own error") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  client c(f.io.get_executor(), f.options());
  ledger l;
  const std::pair<std::uint32_t, error> cases[] = {
      {0x0, error::stream_reset},          {0x1, error::h2_protocol_error},     {0x2, error::h2_internal_error},
      {0x3, error::h2_flow_control_error}, {0x5, error::h2_stream_closed},      {0x6, error::h2_frame_size_error},
      {0x8, error::h2_cancel},             {0x9, error::h2_compression_error},  {0xb, error::h2_enhance_your_calm},
      {0xc, error::h2_inadequate_security}, {0xd, error::h2_http_1_1_required}, {0x1234, error::stream_reset},
  };
  for (auto [code, expected] : cases) {
    INFO("RST_STREAM code " << code);
    auto r = l.get(f, c, test_url("a.test", server->port(), "/reset/" + std::to_string(code)));
    CHECK(r.ec == expected);
    CHECK(r.resp.attempts == 1);
  }
  // REFUSED_STREAM: the server did not process it; retried once, then given up.
  auto refused = l.get(f, c, test_url("a.test", server->port(), "/reset/7"));
  CHECK(refused.ec == error::refused_stream);
  // The connection survived every reset: the next request goes on it.
  l.get_ok(f, c, test_url("a.test", server->port()));
  CHECK(server->connection_count() == 1);
  l.check_all_once(f);
}

TEST_CASE("faults: the server drops the connection when the request arrives (HTTP/2 and HTTP/1.1)") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  for (bool http1 : {false, true}) {
    INFO((http1 ? "HTTP/1.1" : "HTTP/2"));
    client c(f.io.get_executor(), http1 ? f.http1_options() : f.options());
    ledger l;
    auto dropped = l.get(f, c, test_url("a.test", server->port(), "/close"));
    CHECK(dropped.ec == error::connection_closed);
    l.get_ok(f, c, test_url("a.test", server->port()));
    l.check_all_once(f);
  }
}

// OpenSSL writes the socket itself (detail/transport.hpp). A write to a peer that has gone raises SIGPIPE
// unless it is sent with MSG_NOSIGNAL, and SIGPIPE's default action ends the process: this test process
// ignores nothing (no raw_server here), so a transport that wrote with write(2) would die in it.
TEST_CASE("faults: the server drops the connection during a large upload: an error, not SIGPIPE") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  for (bool http1 : {false, true}) {
    INFO((http1 ? "HTTP/1.1" : "HTTP/2"));
    client c(f.io.get_executor(), http1 ? f.http1_options() : f.options());
    ledger l;
    request up;
    up.method = "POST";
    up.url = test_url("a.test", server->port(), "/close");
    up.body.assign(32u << 20, 'x');  // far more than the socket buffers hold: writes go on after the close
    auto dropped = l.fetch(f, c, std::move(up));
    CHECK(dropped.ec == error::connection_closed);
    l.get_ok(f, c, test_url("a.test", server->port()));
    l.check_all_once(f);
  }
}

TEST_CASE("faults: GOAWAY with an error code fails the requests in flight with that code, once") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  client c(f.io.get_executor(), f.options());
  ledger l;
  std::vector<std::shared_ptr<result>> inflight;
  for (int i = 0; i < 3; ++i) {
    request r;
    r.url = test_url("a.test", server->port(), "/stall");
    inflight.push_back(l.start(c, r));
  }
  f.run_until([&] { return server->requests().size() == 3; });
  server->send_goaway_all(0x2);  // INTERNAL_ERROR, last-stream-id = the last stream the server saw
  f.run_until([&] { return inflight[0]->completions && inflight[1]->completions && inflight[2]->completions; });
  for (auto& r : inflight) {
    // Processed by the server (at or below last-stream-id), so never retried; the GOAWAY says why.
    CHECK(r->ec == error::h2_internal_error);
    CHECK(r->resp.attempts == 1);
  }
  CHECK(count_events(f, "conn.goaway") == 1);
  auto ok = l.get(f, c, test_url("a.test", server->port()));
  REQUIRE_FALSE(ok.ec);
  CHECK(ok.resp.connection != inflight[0]->resp.connection);
  CHECK(server->connection_count() == 2);
  CHECK(server->requests().size() == 4);
  l.check_all_once(f);
}

TEST_CASE("faults: GOAWAY with last-stream-id 0 and requests in flight: all retried elsewhere, once") {
  client_fixture f;
  // Connection 0 takes three requests and answers none: GOAWAY(0) says none of them was processed.
  auto server = faulty(f, raw_protocol::h2, [](raw_connection& c, const raw_request& r) {
    if (r.connection != 0) return false;
    if (r.index == 2) c.write(h2::goaway(0, 0));
    return true;
  });
  client c(f.io.get_executor(), f.options());
  ledger l;
  std::vector<std::shared_ptr<result>> rs;
  for (int i = 0; i < 3; ++i) {
    request r;
    r.url = test_url("raw.test", server->port(), "/" + std::to_string(i));
    rs.push_back(l.start(c, r));
  }
  f.run_until([&] { return rs[0]->completions && rs[1]->completions && rs[2]->completions; });
  for (auto& r : rs) {
    REQUIRE_FALSE(r->ec);
    CHECK(r->resp.status == 200);
    CHECK(r->resp.body == "ok");
    CHECK(r->resp.attempts == 2);
  }
  CHECK(server->connection_count() == 2);
  CHECK(server->requests().size() == 6);
  auto ok = l.get(f, c, test_url("raw.test", server->port()));
  CHECK(ok.resp.status == 200);
  l.check_all_once(f);
}

// ---- TCP resets and TLS alerts in the middle of a response --------------------------------------------

TEST_CASE("faults: TCP reset in the middle of the response headers") {
  client_fixture f;
  SECTION("HTTP/2: a HEADERS frame without END_HEADERS, then RST") {
    first_fails_then_ok(f, raw_protocol::h2, [](raw_connection& c, const raw_request& r) {
      if (!first(r)) return false;
      c.write(h2::headers(r.stream, {{":status", "200"}, {"x-a", "b"}}, false, /*end_headers=*/false));
      c.reset();
      return true;
    }, error::connection_closed);
  }
  SECTION("HTTP/1.1: half a header line, then RST") {
    first_fails_then_ok(f, raw_protocol::http1, [](raw_connection& c, const raw_request& r) {
      if (!first(r)) return false;
      c.write(partial_h1_head);
      c.reset();
      return true;
    }, error::connection_closed);
  }
}

TEST_CASE("faults: a reused HTTP/1.1 connection reset after part of the response: the POST is not sent twice") {
  // A keep-alive connection that closes before sending a byte is stale and its request is retried
  // (RFC 9112 section 9.3.1); once response bytes arrived the server did process the request.
  client_fixture f;
  auto server = faulty(f, raw_protocol::http1, [](raw_connection& c, const raw_request& r) {
    if (r.connection != 0 || r.index != 1) return false;
    c.write(partial_h1_head);
    c.reset();
    return true;
  });
  client c(f.io.get_executor(), f.http1_options());
  ledger l;
  CHECK(l.get(f, c, test_url("raw.test", server->port())).resp.status == 200);
  request post;
  post.method = "POST";
  post.url = test_url("raw.test", server->port(), "/order");
  post.body = "one";
  auto r = l.fetch(f, c, post);
  CHECK(r.ec == error::connection_closed);
  std::size_t posts = 0;
  for (auto& q : server->requests()) posts += q.method == "POST" && q.target == "/order";
  CHECK(posts == 1);
  CHECK(l.get(f, c, test_url("raw.test", server->port())).resp.status == 200);
  l.check_all_once(f);
}

TEST_CASE("faults: TCP reset in the middle of the body") {
  client_fixture f;
  SECTION("HTTP/2") {
    first_fails_then_ok(f, raw_protocol::h2, [](raw_connection& c, const raw_request& r) {
      if (!first(r)) return false;
      c.write(h2::headers(r.stream, {{":status", "200"}, {"content-length", "100"}}, false) +
              h2::data(r.stream, std::string(10, 'x'), false));
      c.reset();
      return true;
    }, error::connection_closed);
  }
  SECTION("HTTP/1.1") {
    first_fails_then_ok(f, raw_protocol::http1, [](raw_connection& c, const raw_request& r) {
      if (!first(r)) return false;
      c.write(h1_head_100 + std::string(10, 'x'));
      c.reset();
      return true;
    }, error::connection_closed);
  }
}

TEST_CASE("faults: RST_STREAM(NO_ERROR) after part of the body is not a complete response") {
  // RFC 9113 section 8.1: NO_ERROR resets are for a server that already sent its whole response.
  client_fixture f;
  auto server = faulty(f, raw_protocol::h2, [](raw_connection& c, const raw_request& r) {
    if (!first(r)) return false;
    c.write(h2::headers(r.stream, {{":status", "200"}, {"content-length", "100"}}, false) +
            h2::data(r.stream, std::string(10, 'x'), false) + h2::rst_stream(r.stream, 0));
    return true;
  });
  client c(f.io.get_executor(), f.options());
  ledger l;
  auto cut = l.get(f, c, test_url("raw.test", server->port()));
  CHECK(cut.ec == error::stream_reset);
  auto ok = l.get(f, c, test_url("raw.test", server->port()));
  CHECK(ok.resp.status == 200);
  CHECK(ok.resp.connection == cut.resp.connection);  // a stream error: the connection lives on
  l.check_all_once(f);
}

TEST_CASE("faults: a TLS alert in the middle of the body") {
  client_fixture f;
  auto part = [](const raw_request& r) {
    return h2::headers(r.stream, {{":status", "200"}, {"content-length", "100"}}, false) +
           h2::data(r.stream, std::string(10, 'x'), false);
  };
  SECTION("close_notify: the TLS session ends cleanly, the response does not") {
    first_fails_then_ok(f, raw_protocol::h2, [&](raw_connection& c, const raw_request& r) {
      if (!first(r)) return false;
      c.write(part(r));
      c.close_notify();
      return true;
    }, error::connection_closed);
  }
  SECTION("a fatal alert record (internal_error) written under the TLS layer") {
    first_fails_then_ok(f, raw_protocol::h2, [&](raw_connection& c, const raw_request& r) {
      if (!first(r)) return false;
      c.write(part(r));
      c.write_below_tls(std::string("\x15\x03\x03\x00\x02\x02\x50", 7));
      return true;
    }, error::connection_closed);
  }
}

// ---- Broken HTTP/2 framing ----------------------------------------------------------------------------

TEST_CASE("faults: invalid HPACK and an oversize frame are connection errors; the next connection works") {
  client_fixture f;
  std::string what;
  std::function<std::string(std::int32_t)> bad;
  SECTION("HPACK: an index beyond the static table with an empty dynamic table") {
    bad = [](std::int32_t s) { return h2::frame(h2::type_headers, h2::flag_end_headers, s, "\xbf"); };
  }
  SECTION("HPACK: an integer that overflows") {
    bad = [](std::int32_t s) {
      return h2::frame(h2::type_headers, h2::flag_end_headers, s, std::string("\xff\xff\xff\xff\xff\xff\x7f", 7));
    };
  }
  SECTION("HPACK: a string longer than the block") {
    bad = [](std::int32_t s) { return h2::frame(h2::type_headers, h2::flag_end_headers, s, std::string("\x00\x7e" "ab", 4)); };
  }
  SECTION("a DATA frame over SETTINGS_MAX_FRAME_SIZE (16384)") {
    bad = [](std::int32_t s) {
      return h2::headers(s, {{":status", "200"}}, false) + h2::data(s, std::string(16385, 'x'), true);
    };
  }
  SECTION("a HEADERS frame on stream 0") {
    bad = [](std::int32_t) { return h2::headers(0, {{":status", "200"}}, true); };
  }
  SECTION("DATA on a stream the client never opened") {
    bad = [](std::int32_t s) { return h2::data(s + 200, "x", true); };
  }
  auto server = faulty(f, raw_protocol::h2, [&](raw_connection& c, const raw_request& r) {
    if (!first(r)) return false;
    c.write(bad(r.stream));
    return true;
  });
  client c(f.io.get_executor(), f.options());
  ledger l;
  auto r = l.get(f, c, test_url("raw.test", server->port()));
  CHECK(r.ec == error::protocol_error);
  l.get_ok(f, c, test_url("raw.test", server->port()));
  CHECK(server->connection_count() == 2);
  l.check_all_once(f);
}

// ---- Stalls and timeouts ------------------------------------------------------------------------------

TEST_CASE("faults: a listener that never accepts: connect_timeout") {
  client_fixture f;
  asio::io_context side;
  // Backlog 0 with one connection already waiting: the kernel drops further SYNs.
  asio::ip::tcp::acceptor full(side);
  full.open(asio::ip::tcp::v4());
  full.bind({asio::ip::make_address("127.0.0.1"), 0});
  full.listen(0);
  auto port = full.local_endpoint().port();
  asio::ip::tcp::socket filler(side);
  filler.connect({asio::ip::make_address("127.0.0.1"), port});
  f.resolve("a.test", {"127.0.0.1"});
  auto o = f.options();
  o.connect_timeout = std::chrono::milliseconds(300);
  client c(f.io.get_executor(), o);
  ledger l;
  CHECK(l.get(f, c, test_url("a.test", port)).ec == error::connect_timeout);
  l.check_all_once(f);
}

TEST_CASE("faults: TLS up but no SETTINGS from the server: tls_handshake_timeout, then other origins work") {
  client_fixture f;
  raw_server_options ro;
  ro.send_settings = false;  // a server that says nothing after the handshake
  auto silent = f.raw({"raw.test"}, ro);
  auto good = f.serve({"a.test"});
  auto o = f.options();
  o.handshake_timeout = std::chrono::milliseconds(300);
  client c(f.io.get_executor(), o);
  ledger l;
  CHECK(l.get(f, c, test_url("raw.test", silent->port())).ec == error::tls_handshake_timeout);
  CHECK(l.get(f, c, test_url("a.test", good->port())).resp.status == 200);
  l.check_all_once(f);
}

TEST_CASE("faults: a stalled response: request_timeout, and the connection serves the next request") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  client c(f.io.get_executor(), f.options());
  ledger l;
  auto stalled = l.get(f, c, test_url("a.test", server->port(), "/stall"), std::chrono::milliseconds(200));
  CHECK(stalled.ec == error::request_timeout);
  l.get_ok(f, c, test_url("a.test", server->port()));
  CHECK(server->connection_count() == 1);  // the stream was reset with CANCEL; the connection lived on
  l.check_all_once(f);
}

TEST_CASE("faults: headers, then a body that never ends: request_timeout, once") {
  client_fixture f;
  SECTION("HTTP/2: the connection lives on") {
    auto server = first_fails_then_ok(f, raw_protocol::h2, [](raw_connection& c, const raw_request& r) {
      if (!first(r)) return false;
      c.write(h2::headers(r.stream, {{":status", "200"}, {"content-length", "100000"}}, false) +
              h2::data(r.stream, std::string(1000, 'x'), false));
      return true;
    }, error::request_timeout, std::chrono::milliseconds(300));
    CHECK(server->connection_count() == 1);
  }
  SECTION("HTTP/1.1: the connection is closed, the next request opens another") {
    auto server = first_fails_then_ok(f, raw_protocol::http1, [](raw_connection& c, const raw_request& r) {
      if (!first(r)) return false;
      c.write(h1_head_100 + "0123456789");
      return true;
    }, error::request_timeout, std::chrono::milliseconds(300));
    CHECK(server->connection_count() == 2);
  }
}

// ---- Limits -----------------------------------------------------------------------------------------

TEST_CASE("faults: a response header block over the limit: headers_too_large (HTTP/2 and HTTP/1.1)") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  for (bool http1 : {false, true}) {
    INFO((http1 ? "HTTP/1.1" : "HTTP/2"));
    auto o = http1 ? f.http1_options() : f.options();
    o.max_header_list_size = 8 * 1024;
    client c(f.io.get_executor(), o);
    ledger l;
    // 100 fields of ~110 bytes (+32 each, RFC 9113 section 6.5.2): about 14 KiB.
    auto big = l.get(f, c, test_url("a.test", server->port(), "/headers/100"));
    CHECK(big.ec == error::headers_too_large);
    auto small = l.get(f, c, test_url("a.test", server->port(), "/headers/10"));
    REQUIRE_FALSE(small.ec);
    CHECK(small.resp.status == 200);
    l.check_all_once(f);
  }
}

TEST_CASE("faults: a body over max_body_size: body_too_large; an HTTP/2 connection lives on") {
  client_fixture f;
  auto server = f.serve({"a.test"});
  for (bool http1 : {false, true}) {
    INFO((http1 ? "HTTP/1.1" : "HTTP/2"));
    auto o = http1 ? f.http1_options() : f.options();
    o.max_body_size = 1000;
    client c(f.io.get_executor(), o);
    ledger l;
    auto big = l.get(f, c, test_url("a.test", server->port(), "/bytes/200000"));
    CHECK(big.ec == error::body_too_large);
    CHECK(big.resp.body.size() <= 1000);
    auto ok = l.get(f, c, test_url("a.test", server->port(), "/bytes/1000"));
    REQUIRE_FALSE(ok.ec);
    CHECK(ok.resp.body == expected_bytes(1000));
    if (!http1) CHECK(ok.resp.connection == big.resp.connection);
    l.check_all_once(f);
  }
}

// ---- 421 storms and ORIGIN frames -------------------------------------------------------------------

TEST_CASE("faults: a 421 storm (every request on every connection): each request once, 421 after 2 tries") {
  client_fixture f;
  auto storm = std::make_shared<std::atomic<bool>>(true);
  server_options so;
  so.answer_421 = [storm](const request_info&) { return storm->load(); };
  auto server = f.serve({"a.test", "b.test"}, so);
  client c(f.io.get_executor(), f.options());
  ledger l;
  std::vector<std::shared_ptr<result>> rs;
  for (int i = 0; i < 20; ++i) {
    request r;
    r.url = test_url(i % 2 ? "b.test" : "a.test", server->port(), "/" + std::to_string(i));
    rs.push_back(l.start(c, r));
  }
  f.run_until([&] { return std::all_of(rs.begin(), rs.end(), [](auto& r) { return r->completions > 0; }); });
  for (auto& r : rs) {
    REQUIRE_FALSE(r->ec);
    CHECK(r->resp.status == 421);  // RFC 9110 section 15.5.20: retried once, then the caller sees it
    CHECK(r->resp.attempts == 2);
  }
  CHECK(server->requests().size() == 40);
  // A retry needs a connection dedicated to its origin; at most one per request, plus the first ones.
  CHECK(server->connection_count() <= 22);
  storm->store(false);
  auto a = l.get(f, c, test_url("a.test", server->port()));
  auto b = l.get(f, c, test_url("b.test", server->port()));
  CHECK(a.resp.status == 200);
  CHECK(b.resp.status == 200);
  l.check_all_once(f);
}

TEST_CASE("faults: ORIGIN frames with 10,000 entries: the origin set is capped and the trace says so") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "*.o.test"});
  auto port = std::make_shared<std::uint16_t>(0);
  so.origin_frames_for_sni = [port](const std::string&) {
    // 20 frames of 500 entries: each frame stays under the client's 16384-byte frame size.
    std::vector<std::vector<std::string>> frames(20);
    for (int i = 0; i < 10000; ++i)
      frames[static_cast<std::size_t>(i / 500)].push_back("https://h" + std::to_string(i) + ".o.test:" + std::to_string(*port));
    return frames;
  };
  auto server = f.serve({"a.test"}, so);
  *port = server->port();
  client c(f.io.get_executor(), f.options());
  ledger l;
  auto a = l.get(f, c, test_url("a.test", server->port()));
  REQUIRE(a.resp.status == 200);
  // Entries arrive with the first SETTINGS; by the time a's answer is in, every frame was read.
  std::size_t frames = 0, truncated = 0, largest = 0;
  for (const auto& e : f.events)
    if (e.ev == "conn.origin_frame") {
      ++frames;
      if (auto* t = e.find("truncated")) truncated += std::get<bool>(*t);
      largest = std::max(largest, std::get<std::vector<std::string>>(*e.find("origin_set")).size());
    }
  CHECK(frames == 20);
  CHECK(truncated >= 1);
  CHECK(largest == 256);
  // An early entry is in the set: coalesced without DNS. One past the cap is not, so it needs DNS.
  auto early = l.get(f, c, test_url("h5.o.test", server->port()));
  REQUIRE_FALSE(early.ec);
  CHECK(early.resp.basis == "origin-frame");
  CHECK(early.resp.connection == a.resp.connection);
  CHECK(l.get(f, c, test_url("h9000.o.test", server->port())).ec == error::host_not_found);
  l.check_all_once(f);
}

TEST_CASE("faults: ORIGIN entries that are malformed, wildcards or other schemes are skipped") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test", "c.test", "*.o.test"});
  auto port = std::make_shared<std::uint16_t>(0);
  so.origin_frames_for_sni = [port](const std::string&) {
    const std::string p = std::to_string(*port);
    return std::vector<std::vector<std::string>>{{
        "https://*.o.test:" + p, "http://b.test:" + p, "ftp://b.test:" + p, "https://b.test:" + p + "/path",
        "https://user@b.test:" + p, "", "b.test", "https://b.test:99999", "https://[::1", "https://b.test:" + p + "\r\n",
        std::string("https://b.test\0:", 16) + p, "HTTPS://C.TEST:" + p,
    }};
  };
  auto server = f.serve({"a.test", "b.test"}, so);
  *port = server->port();
  client c(f.io.get_executor(), f.options());
  ledger l;
  auto a = l.get(f, c, test_url("a.test", server->port()));
  REQUIRE(a.resp.status == 200);
  std::vector<std::string> set;
  for (const auto& e : f.events)
    if (e.ev == "conn.origin_frame") set = std::get<std::vector<std::string>>(*e.find("origin_set"));
  const std::string p = std::to_string(server->port());
  CHECK(set == std::vector<std::string>{"https://a.test:" + p, "https://c.test:" + p});
  // c (the one valid entry, case-folded) is coalesced without DNS; b is not in the set: own connection.
  auto cr = l.get(f, c, test_url("c.test", server->port()));
  CHECK(cr.resp.connection == a.resp.connection);
  auto b = l.get(f, c, test_url("b.test", server->port()));
  CHECK(b.resp.status == 200);
  CHECK(b.resp.connection != a.resp.connection);
  // The wildcard entry names nothing: x.o.test needs DNS, which it does not have.
  CHECK(l.get(f, c, test_url("x.o.test", server->port())).ec == error::host_not_found);
  l.check_all_once(f);
}

TEST_CASE("faults: ORIGIN frames with entry lengths past the payload, flags or a stream id are ignored") {
  client_fixture f;
  raw_server_options ro;
  ro.cert = f.ca.issue({"raw.test", "b.test", "c.test", "d.test"});
  auto port = std::make_shared<std::uint16_t>(0);
  ro.on_connect = [port](raw_connection& c) {
    auto entry = [](const std::string& o) {
      return std::string{static_cast<char>(o.size() >> 8), static_cast<char>(o.size() & 0xff)} + o;
    };
    const std::string p = std::to_string(*port);
    // A 16-bit length far past the end of the frame: the whole frame is malformed (RFC 8336 section 2).
    c.write(h2::frame(h2::type_origin, 0, 0, entry("https://b.test:" + p) + std::string("\xff\xff", 2) + "https://d.test"));
    c.write(h2::frame(h2::type_origin, 0, 0, std::string("\x00\x40", 2) + "https://b.test"));
    c.write(h2::frame(h2::type_origin, 0x1, 0, entry("https://b.test:" + p)));  // flags: ignored
    c.write(h2::frame(h2::type_origin, 0, 1, entry("https://b.test:" + p)));    // stream 1: ignored
    c.write(h2::frame(h2::type_origin, 0, 0, entry("https://c.test:" + p)));    // the one that counts
  };
  ro.on_request = [](raw_connection& c, const raw_request& r) { c.write(h2::response(r.stream, "ok")); };
  auto server = f.raw({"raw.test"}, ro);
  *port = server->port();
  client c(f.io.get_executor(), f.options());
  ledger l;
  auto a = l.get(f, c, test_url("raw.test", server->port()));
  REQUIRE(a.resp.status == 200);
  auto cr = l.get(f, c, test_url("c.test", server->port()));
  CHECK(cr.resp.connection == a.resp.connection);
  CHECK(cr.resp.basis == "origin-frame");
  // b and d appeared only in frames that do not count, and do not resolve.
  auto b = l.get(f, c, test_url("b.test", server->port()));
  if (b.ec != error::host_not_found)
    for (const auto& e : f.events) UNSCOPED_INFO(trace::to_json(e));
  CHECK(b.ec == error::host_not_found);
  CHECK(l.get(f, c, test_url("d.test", server->port())).ec == error::host_not_found);
  l.check_all_once(f);
}

// ---- Things that change between connections -----------------------------------------------------------

TEST_CASE("faults: the certificate changes between connections to the same origin") {
  client_fixture f;
  client c(f.io.get_executor(), f.options());
  ledger l;
  std::uint16_t port = 0;
  {
    auto first_server = f.serve({"a.test", "b.test"});
    port = first_server->port();
    auto a = l.get(f, c, test_url("a.test", port));
    auto b = l.get(f, c, test_url("b.test", port));
    CHECK(b.resp.connection == a.resp.connection);  // the first certificate covered both
  }
  f.run_until([&] { return count_events(f, "conn.close") >= 1; });
  server_options so;
  so.port = port;
  so.cert = f.ca.issue({"a.test"});
  so.sni_certs["b.test"] = f.ca.issue({"b.test"});
  auto second_server = f.serve({"a.test", "b.test"}, so);
  auto a = l.get(f, c, test_url("a.test", port));
  REQUIRE_FALSE(a.ec);
  auto b = l.get(f, c, test_url("b.test", port));
  REQUIRE_FALSE(b.ec);
  CHECK(b.resp.connection != a.resp.connection);  // a's new certificate does not cover b
  auto conns = second_server->connections();
  REQUIRE(conns.size() == 2);
  CHECK(conns[1].sni == "b.test");
  l.check_all_once(f);
}

TEST_CASE("faults: DNS answers that change between requests") {
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.1", "127.0.0.2"};
  auto server = f.serve({"a.test", "b.test"}, so);  // both resolve to 127.0.0.1
  auto opts = f.with_policy(policies::browser());
  opts.dns_cache_ttl = std::chrono::seconds(0);  // no cache: every decision asks the resolver again
  client c(f.io.get_executor(), opts);
  ledger l;
  auto a = l.get(f, c, test_url("a.test", server->port()));
  auto b1 = l.get(f, c, test_url("b.test", server->port()));
  CHECK(b1.resp.connection == a.resp.connection);  // same address: coalesced
  f.resolve("b.test", {"127.0.0.2"});
  auto b2 = l.get(f, c, test_url("b.test", server->port()));
  REQUIRE_FALSE(b2.ec);
  CHECK(b2.resp.connection != a.resp.connection);  // the new answer no longer matches a's connection
  auto reqs = server->requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[2].local_address == "127.0.0.2");
  l.check_all_once(f);
}

TEST_CASE("faults: connection refused on one of two addresses, over several requests") {
  client_fixture f;
  server_options so;
  so.addresses = {"127.0.0.3"};
  so.http1_max_requests_per_connection = 1;
  auto server = f.serve({"a.test"}, so);
  f.resolve("a.test", {"127.0.0.2", "127.0.0.3"});  // nothing listens on 127.0.0.2 at that port
  for (bool http1 : {false, true}) {
    client c(f.io.get_executor(), http1 ? f.http1_options() : f.options());
    ledger l;
    for (int i = 0; i < 3; ++i) {
      auto r = l.get(f, c, test_url("a.test", server->port()));
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.status == 200);
    }
    l.check_all_once(f);
  }
  for (auto& q : server->requests()) CHECK(q.local_address == "127.0.0.3");
}
