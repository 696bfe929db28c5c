// SPDX-License-Identifier: BSL-1.0
// tests/integration/client_h1_test.cpp: the client over HTTP/1.1 (llhttp), over TLS and cleartext.
#include "catch.hpp"
#include "support/client_fixture.hpp"

using namespace h2coal;
using namespace h2coal::test;

TEST_CASE("h1: ALPN http/1.1 over TLS; keep-alive reuses one connection") {
  client_fixture f;
  server_options so;
  so.protocol = server_protocol::http1;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  for (int i = 0; i < 5; ++i) {
    auto r = f.get(c, test_url("a.test", server.port(), "/k/" + std::to_string(i)));
    REQUIRE_FALSE(r.ec);
    CHECK(r.resp.http_version == "1.1");
    CHECK(r.resp.body == "host=a.test path=/k/" + std::to_string(i));
  }
  CHECK(server.connection_count() == 1);
  CHECK(server.connections()[0].alpn == "http/1.1");
  CHECK(server.requests().size() == 5);
}

TEST_CASE("h1: cleartext http:// with content-length, chunked, close-delimited, HEAD and 204") {
  client_fixture f;
  server_options so;
  so.protocol = server_protocol::http1_plain;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  auto plain = f.get(c, test_url("a.test", server.port(), "/bytes/3000", "http"));
  REQUIRE_FALSE(plain.ec);
  CHECK(plain.resp.body == expected_bytes(3000));

  auto chunked = f.get(c, test_url("a.test", server.port(), "/chunked/100000", "http"));
  REQUIRE_FALSE(chunked.ec);
  CHECK(chunked.resp.body == expected_bytes(100000));

  request head;
  head.method = "HEAD";
  head.url = test_url("a.test", server.port(), "/bytes/777", "http");
  auto h = f.fetch(c, head);
  REQUIRE_FALSE(h.ec);
  CHECK(h.resp.status == 200);
  CHECK(h.resp.body.empty());
  CHECK(h.resp.headers.get("content-length") == std::optional<std::string_view>("777"));

  auto nc = f.get(c, test_url("a.test", server.port(), "/status/204", "http"));
  REQUIRE_FALSE(nc.ec);
  CHECK(nc.resp.status == 204);
  CHECK(server.connection_count() == 1);  // all of the above kept the connection alive

  auto eof = f.get(c, test_url("a.test", server.port(), "/eof/5000", "http"));
  REQUIRE_FALSE(eof.ec);
  CHECK(eof.resp.body == expected_bytes(5000));
  auto after = f.get(c, test_url("a.test", server.port(), "/after", "http"));
  REQUIRE_FALSE(after.ec);
  CHECK(server.connection_count() == 2);  // the close-delimited body ended its connection
}

TEST_CASE("h1: concurrent requests spread over at most 6 connections per origin") {
  client_fixture f;
  server_options so;
  so.protocol = server_protocol::http1_plain;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  std::vector<request> reqs(20);
  for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i].url = test_url("a.test", server.port(), "/delay/10?i=" + std::to_string(i), "http");
  auto results = f.fetch_all(c, reqs);
  for (auto& r : results) {
    REQUIRE_FALSE(r.ec);
    CHECK(r.completions == 1);
    CHECK(r.resp.status == 200);
  }
  CHECK(server.connection_count() == 6);
  CHECK(server.requests().size() == 20);
}

TEST_CASE("h1: a POST with a streamed body of unknown length goes chunked") {
  client_fixture f;
  server_options so;
  so.protocol = server_protocol::http1_plain;
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());

  int pieces = 0;
  request req;
  req.method = "POST";
  req.url = test_url("a.test", server.port(), "/echo", "http");
  req.source = body_source{[&](std::span<char> buf, bool& eof) {
                             std::string piece = "piece" + std::to_string(pieces++) + ";";
                             std::copy(piece.begin(), piece.end(), buf.begin());
                             eof = pieces == 5;
                             return piece.size();
                           },
                           {}, std::nullopt, {}, {}};
  auto r = f.fetch(c, req);
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.body == "piece0;piece1;piece2;piece3;piece4;");
}

TEST_CASE("h1: the client forced to HTTP/1.1 talks HTTP/1.1 to an h2-capable server") {
  client_fixture f;
  server_options so;
  so.protocol = server_protocol::auto_alpn;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  auto opts = f.options();
  opts.version = http_version::http1_only;
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("a.test", server.port(), "/v"));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.http_version == "1.1");
  CHECK(server.connections()[0].alpn == "http/1.1");
}

TEST_CASE("h1: the response keeps the status line's reason phrase; HTTP/2 has none") {
  client_fixture f;
  server_options so;
  so.protocol = server_protocol::http1;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  client c(f.io.get_executor(), f.options());
  auto ok = f.get(c, test_url("a.test", server.port(), "/"));
  REQUIRE_FALSE(ok.ec);
  CHECK(ok.resp.status == 200);
  CHECK(ok.resp.reason == "OK");
  auto missing = f.get(c, test_url("a.test", server.port(), "/status/404"));
  REQUIRE_FALSE(missing.ec);
  CHECK(missing.resp.status == 404);
  CHECK(missing.resp.reason == "Not Found");  // the second response on the connection: its own phrase

  // The head sink that takes the whole head sees the phrase, the protocol and the path before any body.
  h2coal::response head;
  int heads = 0;
  request req;
  req.url = test_url("a.test", server.port(), "/status/503");
  req.on_response = [&](const h2coal::response& h) {
    head = h;
    ++heads;
  };
  auto r = f.fetch(c, req);
  REQUIRE_FALSE(r.ec);
  CHECK(heads == 1);
  CHECK(head.status == 503);
  CHECK(head.reason == "Service Unavailable");
  CHECK(head.http_version == "1.1");
  CHECK(head.connection == ok.resp.connection);
  CHECK(head.local_port == ok.resp.local_port);
  CHECK(head.remote_port == server.port());
  CHECK(head.effective_url == req.url);
  CHECK(head.body.empty());

  auto h2 = f.serve({"b.test"});
  auto r2 = f.get(c, test_url("b.test", h2->port(), "/"));
  REQUIRE_FALSE(r2.ec);
  CHECK(r2.resp.http_version == "2");
  CHECK(r2.resp.reason.empty());
}

TEST_CASE("h1: the reason phrase is the final response's, not an interim 100's") {
  client_fixture f;
  raw_server_options ro;
  ro.protocol = raw_protocol::http1;
  ro.on_request = [](raw_connection& c, const raw_request&) {
    c.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created Here\r\nContent-Length: 2\r\n\r\nok");
  };
  auto server = f.raw({"raw.test"}, ro);
  client c(f.io.get_executor(), f.http1_options());
  auto r = f.get(c, test_url("raw.test", server->port(), "/made"));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 201);
  CHECK(r.resp.reason == "Created Here");
  CHECK(r.resp.body == "ok");
}
