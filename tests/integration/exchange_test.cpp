// SPDX-License-Identifier: BSL-1.0
// tests/integration/exchange_test.cpp: request features above the pool (issue 15, DESIGN section 12):
// redirects that re-decide coalescing, content decoding, the retry policy, trailers and timings, each
// checked by what the test server received and what the caller got.
#include "catch.hpp"
#include "codecs/encode.hpp"
#include "support/client_fixture.hpp"
#include "support/trace_fields.hpp"

#include <asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// The path without its query.
std::string path_of(const request_info& r) { return r.path.substr(0, r.path.find('?')); }

custom_answer redirect_to(unsigned status, std::string location) { return redirect_answer(status, std::move(location)); }
custom_answer plain(std::string body, unsigned status = 200) { return text_answer(std::move(body), status); }

std::size_t count_events(const std::vector<trace::event>& events, std::string_view name) {
  return static_cast<std::size_t>(
      std::count_if(events.begin(), events.end(), [&](const trace::event& e) { return e.ev == name; }));
}

const trace::event* nth_event(const std::vector<trace::event>& events, std::string_view name, std::size_t n) {
  for (const auto& e : events)
    if (e.ev == name && n-- == 0) return &e;
  return nullptr;
}

// Text-like data that compresses as real bodies do.
std::string sample_text(std::size_t n) {
  std::string s;
  unsigned x = 12345;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s += "{\"id\":" + std::to_string(x % 100000) + ",\"name\":\"item-" + std::to_string((x >> 8) % 977) + "\"}\n";
  }
  s.resize(n);
  return s;
}

struct protocol_case {
  const char* name;
  server_protocol server;
  bool http1;
  bool chunked;
};

const protocol_case protocols[] = {
    {"HTTP/2", server_protocol::h2, false, false},
    {"HTTP/1.1 content-length", server_protocol::http1, true, false},
    {"HTTP/1.1 chunked", server_protocol::http1, true, true},
};

}  // namespace

// ---- Redirects ----------------------------------------------------------------------------------------

TEST_CASE("exchange: a chain of relative and absolute redirects is followed to the end", "[exchange][redirect]") {
  for (const auto& proto : protocols) {
    if (proto.chunked) continue;
    SECTION(proto.name) {
      client_fixture f;
      std::uint16_t port = 0;
      server_options so;
      so.protocol = proto.server;
      so.answer = [&port](const request_info& r) -> std::optional<custom_answer> {
        if (path_of(r) == "/start") return redirect_to(302, "next?x=1");                  // relative
        if (path_of(r) == "/next") return redirect_to(301, test_url("a.test", port, "/sub/../end"));
        if (path_of(r) == "/end") return plain("the end");
        return std::nullopt;
      };
      auto server = f.serve({"a.test"}, so);
      port = server->port();
      client c(f.io.get_executor(), proto.http1 ? f.http1_options() : f.options());
      request req;
      req.url = test_url("a.test", port, "/start");
      req.follow_redirects = true;
      auto r = f.fetch(c, req);
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.status == 200);
      CHECK(r.resp.body == "the end");
      CHECK(r.resp.redirects == 2);
      CHECK(r.resp.effective_url == test_url("a.test", port, "/end"));
      auto seen = server->requests();
      REQUIRE(seen.size() == 3);
      CHECK(seen[0].path == "/start");
      CHECK(seen[1].path == "/next?x=1");
      CHECK(seen[2].path == "/end");
      REQUIRE(count_events(f.events, "request.redirect") == 2);
      const auto* first = nth_event(f.events, "request.redirect", 0);
      CHECK(num(*first, "status") == 302);
      CHECK(num(*first, "hop") == 1);
      CHECK(str(*first, "location") == test_url("a.test", port, "/next?x=1"));
      CHECK(count_events(f.events, "pool.decision") == 3);  // each hop its own decision
      CHECK(count_events(f.events, "request.done") == 1);
    }
  }
}

TEST_CASE("exchange: without follow_redirects the 3xx is the answer", "[exchange][redirect]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, answering({{"/start", redirect_to(302, "/end")}}));
  client c(f.io.get_executor(), f.options());
  auto r = f.get(c, test_url("a.test", server->port(), "/start"));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 302);
  CHECK(r.resp.body == "moved");
  CHECK(r.resp.redirects == 0);
  CHECK(server->requests().size() == 1);
}

TEST_CASE("exchange: 301 302 303 turn POST into GET without body, 307 308 keep both", "[exchange][redirect]") {
  for (const auto& proto : protocols) {
    if (proto.chunked) continue;
    for (unsigned status : {301u, 302u, 303u, 307u, 308u}) {
      DYNAMIC_SECTION(proto.name << " " << status) {
        client_fixture f;
        server_options so;
        so.protocol = proto.server;
        so.answer = [status](const request_info& r) -> std::optional<custom_answer> {
          if (path_of(r) == "/form") return redirect_to(status, "/done");
          if (path_of(r) == "/done") return plain("done " + r.method + " " + std::to_string(r.body.size()));
          return std::nullopt;
        };
        auto server = f.serve({"a.test"}, so);
        client c(f.io.get_executor(), proto.http1 ? f.http1_options() : f.options());
        request req;
        req.method = "POST";
        req.url = test_url("a.test", server->port(), "/form");
        req.headers.add("content-type", "application/x-www-form-urlencoded");
        req.body = "name=value&other=1";
        req.follow_redirects = true;
        auto r = f.fetch(c, req);
        REQUIRE_FALSE(r.ec);
        CHECK(r.resp.status == 200);
        auto seen = server->requests();
        REQUIRE(seen.size() == 2);
        CHECK(seen[0].method == "POST");
        CHECK(seen[0].body == "name=value&other=1");
        if (status == 307 || status == 308) {
          CHECK(seen[1].method == "POST");
          CHECK(seen[1].body == "name=value&other=1");
          CHECK(seen[1].header("content-type") == "application/x-www-form-urlencoded");
        } else {
          CHECK(seen[1].method == "GET");
          CHECK(seen[1].body.empty());
          CHECK_FALSE(seen[1].has_header("content-type"));
          CHECK_FALSE(seen[1].has_header("content-length"));
        }
      }
    }
  }
}

TEST_CASE("exchange: a 307 with a body that cannot be sent again is the answer", "[exchange][redirect]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, answering({{"/upload", redirect_to(307, "/elsewhere")}}));
  client c(f.io.get_executor(), f.options());
  request req;
  req.method = "PUT";
  req.url = test_url("a.test", server->port(), "/upload");
  auto sent = std::make_shared<bool>(false);
  body_source src;
  src.length = 5;
  src.read = [sent](std::span<char> buf, bool& eof) -> std::size_t {
    if (*sent) {
      eof = true;
      return 0;
    }
    *sent = true;
    std::copy_n("hello", 5, buf.begin());
    eof = true;
    return 5;
  };
  req.source = std::move(src);  // no rewind
  req.follow_redirects = true;
  auto r = f.fetch(c, req);
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 307);
  CHECK(r.resp.redirects == 0);
  CHECK(server->requests().size() == 1);
}

TEST_CASE("exchange: a cross-origin hop drops credentials, a same-origin hop keeps them", "[exchange][redirect]") {
  client_fixture f;
  std::uint16_t port = 0;
  server_options so;
  so.answer = [&port](const request_info& r) -> std::optional<custom_answer> {
    if (path_of(r) == "/same") return redirect_to(302, "/same-done");
    if (path_of(r) == "/cross") return redirect_to(302, test_url("b.test", port, "/cross-done"));
    return std::nullopt;
  };
  auto server = f.serve({"a.test", "b.test"}, so);
  port = server->port();
  client c(f.io.get_executor(), f.options());
  auto with_credentials = [&](const std::string& path) {
    request req;
    req.url = test_url("a.test", port, path);
    req.headers.add("authorization", "Bearer secret");
    req.headers.add("cookie", "session=1");
    req.headers.add("proxy-authorization", "Basic eDp5");
    req.headers.add("x-keep", "kept");
    req.follow_redirects = true;
    return req;
  };
  auto same = f.fetch(c, with_credentials("/same"));
  auto cross = f.fetch(c, with_credentials("/cross"));
  REQUIRE_FALSE(same.ec);
  REQUIRE_FALSE(cross.ec);
  auto seen = server->requests();
  REQUIRE(seen.size() == 4);
  CHECK(seen[1].path == "/same-done");
  CHECK(seen[1].header("authorization") == "Bearer secret");
  CHECK(seen[1].header("cookie") == "session=1");
  CHECK(seen[3].path == "/cross-done");
  CHECK(seen[3].authority == "b.test:" + std::to_string(port));
  CHECK_FALSE(seen[3].has_header("authorization"));
  CHECK_FALSE(seen[3].has_header("cookie"));
  CHECK_FALSE(seen[3].has_header("proxy-authorization"));
  CHECK(seen[3].header("x-keep") == "kept");
}

TEST_CASE("exchange: https to http is refused unless allowed", "[exchange][redirect]") {
  client_fixture f;
  server_options plain_opts;
  plain_opts.protocol = server_protocol::http1_plain;
  auto cleartext = f.serve({"a.test"}, plain_opts);
  server_options so;
  const std::string target = test_url("a.test", cleartext->port(), "/plain", "http");
  so.answer = [target](const request_info& r) -> std::optional<custom_answer> {
    if (path_of(r) == "/secure") return redirect_to(302, target);
    return std::nullopt;
  };
  auto server = f.serve({"a.test"}, so);
  client c(f.io.get_executor(), f.options());
  request req;
  req.url = test_url("a.test", server->port(), "/secure");
  req.follow_redirects = true;
  auto refused = f.fetch(c, req);
  CHECK(refused.ec == error::insecure_redirect);
  CHECK(cleartext->requests().empty());
  req.allow_insecure_redirects = true;
  auto allowed = f.fetch(c, req);
  REQUIRE_FALSE(allowed.ec);
  CHECK(allowed.resp.status == 200);
  CHECK(allowed.resp.effective_url == target);
  REQUIRE(cleartext->requests().size() == 1);
  CHECK(cleartext->requests()[0].path == "/plain");
}

TEST_CASE("exchange: a redirect loop and a chain over the limit are too_many_redirects", "[exchange][redirect]") {
  client_fixture f;
  server_options so;
  so.answer = [](const request_info& r) -> std::optional<custom_answer> {
    const auto p = path_of(r);
    if (p == "/loop-a") return redirect_to(302, "/loop-b");
    if (p == "/loop-b") return redirect_to(302, "/loop-a");
    if (p.starts_with("/hop/")) {
      const int n = std::stoi(p.substr(5));
      return n == 0 ? plain("arrived") : redirect_to(302, "/hop/" + std::to_string(n - 1));
    }
    return std::nullopt;
  };
  auto server = f.serve({"a.test"}, so);
  client c(f.io.get_executor(), f.options());
  request loop;
  loop.url = test_url("a.test", server->port(), "/loop-a");
  loop.follow_redirects = true;
  auto looped = f.fetch(c, loop);
  CHECK(looped.ec == error::too_many_redirects);
  CHECK(server->requests().size() == 2);  // found at the second hop, not after ten

  request chain;
  chain.url = test_url("a.test", server->port(), "/hop/3");
  chain.follow_redirects = true;
  chain.max_redirects = 3;
  auto within = f.fetch(c, chain);
  REQUIRE_FALSE(within.ec);
  CHECK(within.resp.body == "arrived");
  CHECK(within.resp.redirects == 3);
  chain.max_redirects = 2;
  auto over = f.fetch(c, chain);
  CHECK(over.ec == error::too_many_redirects);
}

TEST_CASE("exchange: a missing or unusable Location", "[exchange][redirect]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, answering({{"/none", plain("no location", 302)},
                                               {"/ftp", redirect_to(302, "ftp://a.test/file")}}));
  client c(f.io.get_executor(), f.options());
  request req;
  req.follow_redirects = true;
  req.url = test_url("a.test", server->port(), "/none");
  auto none = f.fetch(c, req);
  REQUIRE_FALSE(none.ec);
  CHECK(none.resp.status == 302);
  CHECK(none.resp.body == "no location");
  req.url = test_url("a.test", server->port(), "/ftp");
  auto ftp = f.fetch(c, req);
  CHECK(ftp.ec == error::invalid_redirect);
}

// OkHttp's bug: a redirect to a host the connection's certificate covers, but whose DNS answer does not
// hold the connection's address, must get a connection of its own; one whose answer does is coalesced.
TEST_CASE("exchange: every hop is a new pool decision (the OkHttp case)", "[exchange][redirect][coalescing]") {
  client_fixture f;
  std::uint16_t port = 0;
  server_options so;
  so.addresses = {"127.0.0.1", "127.0.0.2"};
  so.answer = [&port](const request_info& r) -> std::optional<custom_answer> {
    if (path_of(r) == "/to-other-ip") return redirect_to(302, test_url("elsewhere.test", port, "/landed"));
    if (path_of(r) == "/to-same-ip") return redirect_to(302, test_url("alias.test", port, "/landed"));
    return std::nullopt;
  };
  so.cert = f.ca.issue({"a.test", "elsewhere.test", "alias.test"});
  auto server = f.serve({}, so);
  port = server->port();
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("alias.test", {"127.0.0.1"});
  f.resolve("elsewhere.test", {"127.0.0.2"});
  client c(f.io.get_executor(), f.with_policy(policies::browser()));

  request req;
  req.follow_redirects = true;
  req.url = test_url("a.test", port, "/to-same-ip");
  auto same = f.fetch(c, req);
  REQUIRE_FALSE(same.ec);
  CHECK(same.resp.status == 200);
  CHECK(same.resp.coalesced);
  CHECK(server->connection_count() == 1);

  req.url = test_url("a.test", port, "/to-other-ip");
  auto other = f.fetch(c, req);
  REQUIRE_FALSE(other.ec);
  CHECK(other.resp.status == 200);
  CHECK_FALSE(other.resp.coalesced);
  CHECK(server->connection_count() == 2);
  auto seen = server->requests();
  REQUIRE(seen.size() == 4);
  CHECK(seen[3].local_address == "127.0.0.2");
  CHECK(seen[3].sni == "elsewhere.test");
}

TEST_CASE("exchange: the sinks see only the final response", "[exchange][redirect]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, answering({{"/start", redirect_to(303, "/final")}, {"/final", plain("final body")}}));
  client c(f.io.get_executor(), f.options());
  std::vector<int> statuses;
  std::string body;
  request req;
  req.url = test_url("a.test", server->port(), "/start");
  req.follow_redirects = true;
  req.on_response = [&](int status, const fields&) { statuses.push_back(status); };
  req.on_body = [&](std::string_view piece) { body += piece; };
  auto r = f.fetch(c, req);
  REQUIRE_FALSE(r.ec);
  CHECK(statuses == std::vector<int>{200});
  CHECK(body == "final body");
}

TEST_CASE("exchange: on_redirect sees each followed hop's head, in order, and never its body", "[exchange][redirect]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, answering({{"/one", redirect_to(302, "/two")}, {"/two", redirect_to(308, "/three")},
                                               {"/three", plain("the end")}}));
  client c(f.io.get_executor(), f.options());
  std::vector<std::string> hops;
  std::vector<std::string> order;
  request req;
  req.url = test_url("a.test", server->port(), "/one");
  req.follow_redirects = true;
  req.on_redirect = [&](const response& h) {
    hops.push_back(std::to_string(h.status) + " " + std::string(h.headers.get("location").value_or("")) + " " + h.effective_url);
    CHECK(h.body.empty());
    CHECK(h.connection != 0);
    order.push_back("hop");
  };
  req.on_response = [&](int status, const fields&) { order.push_back("final " + std::to_string(status)); };
  auto r = f.fetch(c, req);
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.body == "the end");
  CHECK(hops == std::vector<std::string>{"302 /two " + test_url("a.test", server->port(), "/one"),
                                         "308 /three " + test_url("a.test", server->port(), "/two")});
  CHECK(order == std::vector<std::string>{"hop", "hop", "final 200"});
  CHECK(r.resp.connects == 1);  // three hops, one connection
}

TEST_CASE("exchange: response::connects counts the connections opened for the request, every hop included", "[exchange][redirect]") {
  client_fixture f;
  auto server = f.serve({"a.test", "b.test"},
                        answering([](const request_info& r) -> std::optional<custom_answer> {
                          if (r.path == "/away") return redirect_to(302, "https://b.test:" + r.authority.substr(r.authority.find(':') + 1) + "/there");
                          return std::nullopt;
                        }));
  client c(f.io.get_executor(), f.with_policy(policies::strict()));
  auto first = f.get(c, test_url("a.test", server->port(), "/one"));
  REQUIRE_FALSE(first.ec);
  CHECK(first.resp.connects == 1);
  auto again = f.get(c, test_url("a.test", server->port(), "/two"));
  REQUIRE_FALSE(again.ec);
  CHECK(again.resp.connects == 0);  // the connection was there
  request req;
  req.url = test_url("a.test", server->port(), "/away");
  req.follow_redirects = true;
  auto hop = f.fetch(c, req);
  REQUIRE_FALSE(hop.ec);
  CHECK(hop.resp.redirects == 1);
  CHECK(hop.resp.connects == 1);  // b.test's (strict: never on a.test's)
  CHECK(server->connection_count() == 2);
}

// ---- Retry policy -------------------------------------------------------------------------------------

TEST_CASE("exchange: 503 with Retry-After twice, then 200", "[exchange][retry]") {
  client_fixture f;
  std::atomic<int> calls{0};
  server_options so;
  so.answer = [&calls](const request_info& r) -> std::optional<custom_answer> {
    if (path_of(r) != "/busy") return std::nullopt;
    if (calls.fetch_add(1) < 2) {
      auto a = plain("busy", 503);
      a.headers.emplace_back("retry-after", "1");
      return a;
    }
    return plain("ready");
  };
  auto server = f.serve({"a.test"}, so);
  auto opts = f.options();
  retry_policy p;
  p.attempts = 3;
  p.base_delay = std::chrono::milliseconds(10);
  opts.retry = p;
  client c(f.io.get_executor(), opts);
  const auto started = std::chrono::steady_clock::now();
  auto r = f.get(c, test_url("a.test", server->port(), "/busy"));
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.body == "ready");
  CHECK(calls.load() == 3);
  CHECK(took >= std::chrono::seconds(2));  // Retry-After honoured: at least, never a timed bound
  REQUIRE(count_events(f.events, "request.retry") == 2);
  const auto* first = nth_event(f.events, "request.retry", 0);
  CHECK(str(*first, "reason") == "status-503");
  CHECK(num(*first, "delay_ms") == 1000);
}

TEST_CASE("exchange: all_errors retries a response cut off mid-body, for requests that may go twice", "[exchange][retry]") {
  client_fixture f;
  raw_server_options ro;
  ro.protocol = raw_protocol::http1;
  std::atomic<int> flaky{0}, cut{0};
  ro.on_request = [&](raw_connection& c, const raw_request& r) {
    // /flaky is cut off the first time only, /cut every time: 10 bytes of 100, then the connection is gone.
    if ((r.target == "/flaky" && flaky++ == 0) || (r.target == "/cut" && ++cut > 0)) {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      c.close();
      return;
    }
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole");
  };
  auto server = f.raw({"raw.test"}, ro);
  auto opts = f.http1_options();
  retry_policy p;
  p.attempts = 3;
  p.base_delay = std::chrono::milliseconds(1);
  p.all_errors = true;
  opts.retry = p;
  client c(f.io.get_executor(), opts);
  auto r = f.get(c, test_url("raw.test", server->port(), "/flaky"));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.body == "whole");
  CHECK(r.resp.attempts == 2);
  CHECK(flaky.load() == 2);
  std::vector<std::string> reasons;
  for (const auto& e : f.events)
    if (e.ev == "request.retry") reasons.push_back(str(e, "reason"));
  CHECK(reasons == std::vector<std::string>{"error"});
  // Bounded: three attempts, then the error stands.
  auto bounded = f.get(c, test_url("raw.test", server->port(), "/cut"));
  CHECK(bounded.ec == error::connection_closed);
  CHECK(cut.load() == 3);
  // A POST may have been processed: it is not sent again.
  request post;
  post.method = "POST";
  post.body = "x";
  post.url = test_url("raw.test", server->port(), "/cut");
  auto once = f.fetch(c, post);
  CHECK(once.ec == error::connection_closed);
  CHECK(cut.load() == 4);
  // Without all_errors the cut-off GET is the answer.
  auto plain_opts = f.http1_options();
  retry_policy q = p;
  q.all_errors = false;
  plain_opts.retry = q;
  client plain_client(f.io.get_executor(), plain_opts);
  auto plain = f.get(plain_client, test_url("raw.test", server->port(), "/cut"));
  CHECK(plain.ec == error::connection_closed);
  CHECK(cut.load() == 5);
}

TEST_CASE("exchange: a POST is never retried by status, and the attempts are capped", "[exchange][retry]") {
  client_fixture f;
  std::atomic<int> calls{0};
  server_options so;
  so.answer = [&calls](const request_info& r) -> std::optional<custom_answer> {
    if (path_of(r) != "/down") return std::nullopt;
    ++calls;
    return plain("down", 502);
  };
  auto server = f.serve({"a.test"}, so);
  auto opts = f.options();
  retry_policy p;
  p.attempts = 2;
  p.base_delay = std::chrono::milliseconds(1);
  opts.retry = p;
  client c(f.io.get_executor(), opts);
  request post;
  post.method = "POST";
  post.body = "x";
  post.url = test_url("a.test", server->port(), "/down");
  auto once = f.fetch(c, post);
  REQUIRE_FALSE(once.ec);
  CHECK(once.resp.status == 502);
  CHECK(calls.load() == 1);

  post.idempotent = true;  // the caller says it may go twice
  auto twice = f.fetch(c, post);
  CHECK(twice.resp.status == 502);
  CHECK(calls.load() == 3);
  CHECK(twice.resp.attempts == 2);

  auto get = f.get(c, test_url("a.test", server->port(), "/down"));
  CHECK(get.resp.status == 502);
  CHECK(calls.load() == 5);  // attempts = 2 in all
}

TEST_CASE("exchange: Retry-After is capped by the policy, and the deadline bounds the exchange", "[exchange][retry]") {
  client_fixture f;
  std::atomic<int> calls{0};
  server_options so;
  so.answer = [&calls](const request_info& r) -> std::optional<custom_answer> {
    if (path_of(r) != "/later") return std::nullopt;
    if (calls.fetch_add(1) == 0) {
      auto a = plain("later", 429);
      a.headers.emplace_back("retry-after", "3600");
      return a;
    }
    return plain("now");
  };
  auto server = f.serve({"a.test"}, so);
  auto opts = f.options();
  retry_policy p;
  p.max_delay = std::chrono::milliseconds(50);
  opts.retry = p;
  client c(f.io.get_executor(), opts);
  auto capped = f.get(c, test_url("a.test", server->port(), "/later"));
  REQUIRE_FALSE(capped.ec);
  CHECK(capped.resp.status == 200);
  CHECK(num(*nth_event(f.events, "request.retry", 0), "delay_ms") == 50);

  // A delay past the request's deadline is not waited for: the 429 stands.
  calls = 0;
  request req;
  req.url = test_url("a.test", server->port(), "/later");
  retry_policy slow;
  slow.max_delay = std::chrono::hours(2);
  req.retry = slow;
  req.timeout = std::chrono::seconds(5);
  auto bounded = f.fetch(c, req);
  REQUIRE_FALSE(bounded.ec);
  CHECK(bounded.resp.status == 429);
  CHECK(calls.load() == 1);
}

TEST_CASE("exchange: a connection that cannot be made is retried", "[exchange][retry]") {
  client_fixture f;
  std::uint16_t closed_port = 0;
  {
    auto gone = f.serve({"a.test"});
    closed_port = gone->port();
  }
  auto opts = f.options();
  retry_policy p;
  p.attempts = 3;
  p.base_delay = std::chrono::milliseconds(5);
  opts.retry = p;
  client c(f.io.get_executor(), opts);
  request req;
  req.method = "POST";  // nothing reached a server: any method goes again
  req.body = "x";
  req.url = test_url("a.test", closed_port, "/");
  auto r = f.fetch(c, req);
  CHECK(r.ec == error::connection_refused);
  REQUIRE(count_events(f.events, "request.retry") == 2);
  CHECK(str(*nth_event(f.events, "request.retry", 0), "reason") == "connect-error");
  CHECK(count_events(f.events, "conn.failed") == 3);
}

#if defined(H2COAL_HAS_ZLIB) && defined(H2COAL_HAS_BROTLI) && defined(H2COAL_HAS_ZSTD)
// ---- Content decoding ---------------------------------------------------------------------------------

TEST_CASE("exchange: every codec decodes on each protocol", "[exchange][decode]") {
  const std::string original = sample_text(100 * 1024);
  for (const auto& proto : protocols) {
    for (std::string coding : {"gzip", "deflate", "raw-deflate", "br", "zstd"}) {
      DYNAMIC_SECTION(proto.name << " " << coding) {
        client_fixture f;
        std::string accept_seen;
        std::mutex m;
        const std::string encoded = encode(coding, original);
        const std::string label = coding == "raw-deflate" ? "deflate" : coding;
        server_options so;
        so.protocol = proto.server;
        so.answer = [&, chunked = proto.chunked](const request_info& r) -> std::optional<custom_answer> {
          {
            std::lock_guard<std::mutex> l(m);
            accept_seen = r.header("accept-encoding");
          }
          auto a = plain(encoded);
          a.headers.emplace_back("content-encoding", label);
          a.chunked = chunked;
          return a;
        };
        auto server = f.serve({"a.test"}, so);
        client c(f.io.get_executor(), proto.http1 ? f.http1_options() : f.options());
        request req;
        req.url = test_url("a.test", server->port(), "/coded");
        req.decompress = true;
        auto r = f.fetch(c, req);
        REQUIRE_FALSE(r.ec);
        CHECK(r.resp.decoded);
        CHECK(r.resp.undecoded_encoding.empty());
        CHECK(r.resp.body.size() == original.size());
        CHECK(r.resp.body == original);
        CHECK(r.resp.body_bytes == original.size());
        CHECK(r.resp.bytes_received == encoded.size());
        CHECK(accept_seen == "gzip, deflate, br, zstd");
      }
    }
  }
}

TEST_CASE("exchange: several codings decode in order, an unknown one passes through", "[exchange][decode]") {
  client_fixture f;
  const std::string original = sample_text(20000);
  const std::string both = brotli_encode(gzip_encode(original));  // gzip applied first, then br
  server_options so;
  so.answer = [&](const request_info& r) -> std::optional<custom_answer> {
    if (path_of(r) == "/two") {
      auto a = plain(both);
      a.headers.emplace_back("content-encoding", "gzip, br");
      return a;
    }
    if (path_of(r) == "/unknown") {
      auto a = plain("opaque bytes");
      a.headers.emplace_back("content-encoding", "x-custom");
      return a;
    }
    return std::nullopt;
  };
  auto server = f.serve({"a.test"}, so);
  client c(f.io.get_executor(), f.options());
  request req;
  req.decompress = true;
  req.url = test_url("a.test", server->port(), "/two");
  auto two = f.fetch(c, req);
  REQUIRE_FALSE(two.ec);
  CHECK(two.resp.body == original);
  req.url = test_url("a.test", server->port(), "/unknown");
  auto unknown = f.fetch(c, req);
  REQUIRE_FALSE(unknown.ec);
  CHECK_FALSE(unknown.resp.decoded);
  CHECK(unknown.resp.undecoded_encoding == "x-custom");
  CHECK(unknown.resp.body == "opaque bytes");
}

TEST_CASE("exchange: a decompression bomb ends at max_body_size, streamed in bounded pieces", "[exchange][decode]") {
  client_fixture f;
  const std::string bomb = gzip_zeros(std::size_t(256) << 20);  // 256 MiB of zeros in about 256 KiB
  server_options so;
  so.answer = [&](const request_info&) -> std::optional<custom_answer> {
    auto a = plain(bomb);
    a.headers.emplace_back("content-encoding", "gzip");
    return a;
  };
  auto server = f.serve({"a.test"}, so);
  auto opts = f.options();
  opts.max_body_size = 1 << 20;
  client c(f.io.get_executor(), opts);
  request req;
  req.decompress = true;
  req.url = test_url("a.test", server->port(), "/bomb");
  auto buffered = f.fetch(c, req);
  CHECK(buffered.ec == error::body_too_large);
  CHECK(buffered.resp.body.size() <= opts.max_body_size);

  // To a sink (no limit there): all of it, every piece at most 16 KiB, nothing accumulated.
  std::size_t largest = 0, total = 0;
  request streamed = req;
  streamed.on_body = [&](std::string_view piece) {
    largest = std::max(largest, piece.size());
    total += piece.size();
  };
  auto r = f.fetch(c, streamed);
  REQUIRE_FALSE(r.ec);
  CHECK(total == std::size_t(256) << 20);
  CHECK(largest <= 16 * 1024);
}

TEST_CASE("exchange: a truncated or corrupt coded body is decoding_failed", "[exchange][decode]") {
  for (const auto& proto : protocols) {
    if (proto.chunked) continue;
    DYNAMIC_SECTION(proto.name) {
      client_fixture f;
      const std::string good = gzip_encode(sample_text(50000));
      server_options so;
      so.protocol = proto.server;
      so.answer = [&](const request_info& r) -> std::optional<custom_answer> {
        auto a = plain(path_of(r) == "/truncated" ? good.substr(0, good.size() / 2)
                                                   : good.substr(0, 20) + std::string(200, 'x') + good.substr(220));
        a.headers.emplace_back("content-encoding", "gzip");
        return a;
      };
      auto server = f.serve({"a.test"}, so);
      client c(f.io.get_executor(), proto.http1 ? f.http1_options() : f.options());
      request req;
      req.decompress = true;
      req.url = test_url("a.test", server->port(), "/truncated");
      CHECK(f.fetch(c, req).ec == error::decoding_failed);
      req.url = test_url("a.test", server->port(), "/corrupt");
      CHECK(f.fetch(c, req).ec == error::decoding_failed);
    }
  }
}

TEST_CASE("exchange: a sink that pauses after every piece gets the whole decoded body", "[exchange][decode]") {
  const std::string original = sample_text(300 * 1024);
  for (const auto& proto : protocols) {
    DYNAMIC_SECTION(proto.name) {
      client_fixture f;
      const std::string encoded = zstd_encode(original);
      server_options so;
      so.protocol = proto.server;
      so.answer = [&, chunked = proto.chunked](const request_info&) -> std::optional<custom_answer> {
        auto a = plain(encoded);
        a.headers.emplace_back("content-encoding", "zstd");
        a.chunked = chunked;
        return a;
      };
      auto server = f.serve({"a.test"}, so);
      client c(f.io.get_executor(), proto.http1 ? f.http1_options() : f.options());
      std::string got;
      std::size_t pauses = 0;
      request req;
      req.decompress = true;
      req.url = test_url("a.test", server->port(), "/paused");
      req.on_body = [&](std::string_view piece, const resume_handle& resume) {
        got += piece;
        ++pauses;
        asio::post(f.io, [resume] { resume(); });
        return body_action::pause;
      };
      auto r = f.fetch(c, req);
      REQUIRE_FALSE(r.ec);
      CHECK(got.size() == original.size());
      CHECK(got == original);
      CHECK(pauses >= original.size() / (16 * 1024));
    }
  }
}

#endif  // the three codecs

// ---- Trailers -----------------------------------------------------------------------------------------

TEST_CASE("exchange: trailers are kept apart from the head", "[exchange][trailers]") {
  for (const auto& proto : protocols) {
    if (proto.chunked) continue;  // trailers make HTTP/1.1 chunked anyway
    DYNAMIC_SECTION(proto.name) {
      client_fixture f;
      server_options so;
      so.protocol = proto.server;
      so.answer = [](const request_info&) -> std::optional<custom_answer> {
        auto a = plain("with trailers");
        a.trailers = {{"x-checksum", "abc123"}, {"grpc-status", "0"}};
        return a;
      };
      auto server = f.serve({"a.test"}, so);
      client c(f.io.get_executor(), proto.http1 ? f.http1_options() : f.options());
      auto r = f.get(c, test_url("a.test", server->port(), "/t"));
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.body == "with trailers");
      CHECK(r.resp.trailers.get("x-checksum") == "abc123");
      CHECK(r.resp.trailers.get("grpc-status") == "0");
      CHECK_FALSE(r.resp.headers.contains("x-checksum"));
      CHECK(r.resp.headers.get("content-type") == "text/plain");
    }
  }
}

// ---- Timings ------------------------------------------------------------------------------------------

TEST_CASE("exchange: timings in order, and zero for the steps a reused connection skipped", "[exchange][timings]") {
  for (const auto& proto : protocols) {
    if (proto.chunked) continue;
    DYNAMIC_SECTION(proto.name) {
      client_fixture f;
      auto server = f.serve({"a.test"}, [&] {
        server_options so;
        so.protocol = proto.server;
        return so;
      }());
      client c(f.io.get_executor(), proto.http1 ? f.http1_options() : f.options());
      request req;
      req.method = "POST";
      req.body = std::string(1000, 'p');
      req.url = test_url("a.test", server->port(), "/echo");
      auto first = f.fetch(c, req);
      REQUIRE_FALSE(first.ec);
      const auto& t = first.resp.timings;
      CHECK(t.namelookup.count() > 0);
      CHECK(t.connect >= t.namelookup);
      CHECK(t.appconnect > t.connect);
      CHECK(t.pretransfer >= t.appconnect);
      CHECK(t.starttransfer >= t.pretransfer);
      CHECK(t.total >= t.starttransfer);
      CHECK(t.redirect.count() == 0);
      CHECK(first.resp.remote_address == "127.0.0.1");
      CHECK(first.resp.remote_port == server->port());
      CHECK(first.resp.bytes_sent == 1000);
      CHECK(first.resp.bytes_received == 1000);
      CHECK(first.resp.header_bytes > 0);

      auto second = f.fetch(c, req);
      REQUIRE_FALSE(second.ec);
      CHECK(second.resp.connection == first.resp.connection);
      CHECK(second.resp.timings.connect.count() == 0);
      CHECK(second.resp.timings.appconnect.count() == 0);
      CHECK(second.resp.timings.pretransfer.count() > 0);
      CHECK(second.resp.timings.total >= second.resp.timings.pretransfer);
      CHECK(second.resp.remote_port == server->port());
    }
  }
}

TEST_CASE("exchange: time_redirect counts the hops before the final one", "[exchange][timings]") {
  client_fixture f;
  auto server = f.serve({"a.test"}, answering({{"/slow-redirect", redirect_to(302, "/delay/1")}}));
  client c(f.io.get_executor(), f.options());
  request req;
  req.url = test_url("a.test", server->port(), "/slow-redirect");
  req.follow_redirects = true;
  auto r = f.fetch(c, req);
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.redirects == 1);
  CHECK(r.resp.timings.redirect.count() > 0);
  CHECK(r.resp.timings.pretransfer > r.resp.timings.redirect);
  CHECK(r.resp.timings.total >= r.resp.timings.starttransfer);
}

// ---- Expect: 100-continue -----------------------------------------------------------------------------

namespace {

std::string field_of(const raw_fields& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    std::string lower(n);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == name) return v;
  }
  return {};
}

client_options continue_options(client_fixture& f, bool http1) {
  auto o = http1 ? f.http1_options() : f.options();
  o.expect_continue_threshold = 1024;
  return o;
}

}  // namespace

TEST_CASE("exchange: a final status before 100 Continue: the body is never sent", "[exchange][continue]") {
  for (bool http1 : {false, true}) {
    DYNAMIC_SECTION((http1 ? "HTTP/1.1" : "HTTP/2")) {
      client_fixture f;
      raw_server_options ro;
      ro.protocol = http1 ? raw_protocol::http1 : raw_protocol::h2;
      ro.answer_at_head = true;
      ro.on_request = [http1](raw_connection& c, const raw_request& r) {
        if (http1) c.write("HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\nlog in");
        else c.write(h2::headers(r.stream, {{":status", "401"}, {"content-length", "6"}}, false) + h2::data(r.stream, "log in", true));
      };
      auto server = f.raw({"raw.test"}, ro);
      client c(f.io.get_executor(), continue_options(f, http1));
      request up;
      up.method = "POST";
      up.url = test_url("raw.test", server->port(), "/upload");
      up.body = std::string(32 * 1024, 'B');  // within the raw server's 64 KiB window
      auto r = f.fetch(c, up);
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.status == 401);
      CHECK(r.resp.body == "log in");
      CHECK(r.resp.bytes_sent == 0);
      auto seen = server->requests();
      REQUIRE(seen.size() == 1);
      CHECK(field_of(seen[0].fields, "expect") == "100-continue");
      CHECK(server->received(0).find("BBBB") == std::string::npos);
      if (!http1) {
        // Our side of the stream ends with RST_STREAM, written once the response completed it.
        auto rst_seen = [&] {
          for (const auto& fr : server->frames(0))
            if (fr.type == h2::type_rst_stream && fr.stream == seen[0].stream) return true;
          return false;
        };
        f.run_until(rst_seen, std::chrono::seconds(10));
        for (const auto& fr : server->frames(0))
          CHECK_FALSE((fr.type == h2::type_data && fr.stream == seen[0].stream && !fr.payload.empty()));
      }
    }
  }
}

TEST_CASE("exchange: the body goes after 100 Continue", "[exchange][continue]") {
  for (bool http1 : {false, true}) {
    DYNAMIC_SECTION((http1 ? "HTTP/1.1" : "HTTP/2")) {
      client_fixture f;
      raw_server_options ro;
      ro.protocol = http1 ? raw_protocol::http1 : raw_protocol::h2;
      ro.answer_at_head = true;
      ro.on_request = [http1](raw_connection& c, const raw_request& r) {
        c.write(http1 ? std::string("HTTP/1.1 100 Continue\r\n\r\n") : h2::headers(r.stream, {{":status", "100"}}, false));
      };
      ro.on_request_complete = [http1](raw_connection& c, const raw_request& r) {
        const std::string size = std::to_string(r.body.size());
        if (http1) c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size.size()) + "\r\n\r\n" + size);
        else c.write(h2::response(r.stream, size));
      };
      auto server = f.raw({"raw.test"}, ro);
      auto opts = continue_options(f, http1);
      opts.expect_continue_timeout = std::chrono::hours(1);  // only the 100 can let the body go
      client c(f.io.get_executor(), opts);
      request up;
      up.method = "PUT";
      up.url = test_url("raw.test", server->port(), "/upload");
      up.body = std::string(32 * 1024, 'B');  // within the raw server's 64 KiB window
      auto r = f.fetch(c, up);
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.status == 200);
      CHECK(r.resp.body == std::to_string(32 * 1024));
      CHECK(r.resp.bytes_sent == 32 * 1024);
    }
  }
}

TEST_CASE("exchange: without a 100 the body goes after the wait, and small bodies do not wait", "[exchange][continue]") {
  for (const auto& proto : protocols) {
    if (proto.chunked) continue;
    DYNAMIC_SECTION(proto.name) {
      client_fixture f;
      server_options so;
      so.protocol = proto.server;
      auto server = f.serve({"a.test"}, so);  // the test server ignores Expect, as some servers do
      auto opts = continue_options(f, proto.http1);
      opts.expect_continue_timeout = std::chrono::milliseconds(20);
      client c(f.io.get_executor(), opts);
      request big;
      big.method = "POST";
      big.url = test_url("a.test", server->port(), "/echo");
      big.body = std::string(4096, 'x');
      auto r = f.fetch(c, big);
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.body == big.body);
      request small = big;
      small.body = "tiny";
      auto s = f.fetch(c, small);
      REQUIRE_FALSE(s.ec);
      CHECK(s.resp.body == "tiny");
      auto seen = server->requests();
      REQUIRE(seen.size() == 2);
      CHECK(seen[0].header("expect") == "100-continue");
      CHECK_FALSE(seen[1].has_header("expect"));
    }
  }
}

TEST_CASE("exchange: a streamed body's trailers go after it (HTTP/2 trailing HEADERS, HTTP/1.1 chunked)", "[exchange][trailers]") {
  for (bool http1 : {false, true}) {
    DYNAMIC_SECTION((http1 ? "HTTP/1.1" : "HTTP/2")) {
      client_fixture f;
      raw_server_options ro;
      ro.protocol = http1 ? raw_protocol::http1 : raw_protocol::h2;
      ro.on_request_complete = [http1](raw_connection& c, const raw_request& r) {
        if (http1) c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        else c.write(h2::response(r.stream, "ok"));
      };
      auto server = f.raw({"raw.test"}, ro);
      client c(f.io.get_executor(), http1 ? f.http1_options() : f.options());
      auto make = [&](fields trailers) {
        request up;
        up.method = "POST";
        up.url = test_url("raw.test", server->port(), "/stream");
        auto left = std::make_shared<std::string>("streamed body");
        body_source src;  // no length: chunked on HTTP/1.1
        src.read = [left](std::span<char> buf, bool& eof) {
          const std::size_t n = std::min(buf.size(), left->size());
          std::copy_n(left->begin(), n, buf.begin());
          left->erase(0, n);
          eof = left->empty();
          return n;
        };
        src.trailers = [trailers] { return trailers; };
        up.source = std::move(src);
        return up;
      };
      auto r = f.fetch(c, make({{"Grpc-Status", "0"}, {"x-checksum", "9f"}}));
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.status == 200);
      auto seen = server->requests();
      REQUIRE(seen.size() == 1);
      CHECK(seen[0].body == "streamed body");
      REQUIRE(seen[0].trailers.size() == 2);
      CHECK(seen[0].trailers[0] == std::pair<std::string, std::string>("grpc-status", "0"));
      CHECK(seen[0].trailers[1] == std::pair<std::string, std::string>("x-checksum", "9f"));

      auto bad = f.fetch(c, make({{"content-length", "5"}}));  // a framing field is no trailer
      CHECK(bad.ec == error::invalid_header);
    }
  }
}
