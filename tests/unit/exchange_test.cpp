// SPDX-License-Identifier: BSL-1.0
// tests/unit/exchange_test.cpp: the exchange's decisions without sockets (DESIGN section 12): HTTP-dates
// and Retry-After, the backoff, which redirect is followed and what the next hop's request carries.
#include "catch.hpp"

#include <h2coal/detail/exchange.hpp>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
namespace hd = h2coal::detail;

namespace {

// An operation at its final head: `status` and `location` answered to `method url`.
std::shared_ptr<hd::request_op> at_head(std::string method, std::string url, int status, std::string location = {}) {
  auto op = std::make_shared<hd::request_op>();
  op->req.method = std::move(method);
  op->req.url = url;
  std::error_code ec;
  op->target = h2coal::url::parse(url, ec);
  REQUIRE_FALSE(ec);
  op->resp.status = status;
  if (!location.empty()) op->resp.headers.add("Location", std::move(location));
  op->req.follow_redirects = true;
  op->visited.push_back(op->req.method + " " + op->target.to_string());
  return op;
}

}  // namespace

TEST_CASE("exchange: HTTP-dates in their three forms", "[exchange]") {
  // RFC 9110 section 5.6.7's example, 784111777 seconds after the epoch.
  CHECK(hd::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  CHECK(hd::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);
  CHECK(hd::parse_http_date("Sun Nov  6 08:49:37 1994") == 784111777);
  CHECK(hd::parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  CHECK(hd::parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT") == 1835481599);
  CHECK_FALSE(hd::parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
  CHECK_FALSE(hd::parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  CHECK_FALSE(hd::parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
  CHECK_FALSE(hd::parse_http_date("06 Nov 1994"));
  CHECK_FALSE(hd::parse_http_date(""));
}

TEST_CASE("exchange: Retry-After as seconds or as a date", "[exchange]") {
  h2coal::fields f;
  CHECK_FALSE(hd::retry_after(f, 0));
  f.add("Retry-After", " 120 ");
  CHECK(hd::retry_after(f, 0) == std::chrono::milliseconds(120000));
  h2coal::fields d{{"retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"}};
  CHECK(hd::retry_after(d, 784111777 - 30) == std::chrono::milliseconds(30000));
  CHECK(hd::retry_after(d, 784111777 + 30) == std::chrono::milliseconds(0));  // in the past: at once
  h2coal::fields bad{{"retry-after", "soon"}};
  CHECK_FALSE(hd::retry_after(bad, 0));
  h2coal::fields huge{{"retry-after", "99999999999999999999"}};
  REQUIRE(hd::retry_after(huge, 0));
  CHECK(*hd::retry_after(huge, 0) > std::chrono::hours(24));  // the policy's cap applies later
}

TEST_CASE("exchange: exponential backoff, capped, jittered down", "[exchange]") {
  h2coal::retry_policy p;
  p.base_delay = 100ms;
  p.max_delay = 1000ms;
  p.jitter = 0;
  CHECK(hd::backoff(p, 1) == 100ms);
  CHECK(hd::backoff(p, 2) == 200ms);
  CHECK(hd::backoff(p, 4) == 800ms);
  CHECK(hd::backoff(p, 5) == 1000ms);
  CHECK(hd::backoff(p, 40) == 1000ms);
  p.jitter = 0.5;
  for (int i = 0; i < 200; ++i) {
    const auto d = hd::backoff(p, 3);
    CHECK(d >= 200ms);
    CHECK(d <= 400ms);
  }
}

TEST_CASE("exchange: which redirects are followed", "[exchange]") {
  SECTION("relative Location, resolved against the URL") {
    auto op = at_head("GET", "https://a.test/dir/page?q=1", 302, "../other?x#frag");
    REQUIRE(hd::plan_follow_up(*op));
    CHECK(op->next == hd::request_op::follow::redirect);
    CHECK(op->next_url == "https://a.test/other?x");
  }
  SECTION("no Location: the 3xx is the answer") {
    auto op = at_head("GET", "https://a.test/", 301);
    CHECK_FALSE(hd::plan_follow_up(*op));
  }
  SECTION("300 and 304 are not followed") {
    CHECK_FALSE(hd::plan_follow_up(*at_head("GET", "https://a.test/", 300, "/x")));
    CHECK_FALSE(hd::plan_follow_up(*at_head("GET", "https://a.test/", 304, "/x")));
  }
  SECTION("https to http") {
    auto op = at_head("GET", "https://a.test/", 302, "http://a.test/");
    REQUIRE(hd::plan_follow_up(*op));
    CHECK(op->next == hd::request_op::follow::fail);
    CHECK(op->next_error == h2coal::error::insecure_redirect);
    auto allowed = at_head("GET", "https://a.test/", 302, "http://a.test/");
    allowed->req.allow_insecure_redirects = true;
    REQUIRE(hd::plan_follow_up(*allowed));
    CHECK(allowed->next == hd::request_op::follow::redirect);
  }
  SECTION("another scheme is invalid_redirect") {
    auto op = at_head("GET", "https://a.test/", 302, "ftp://a.test/f");
    REQUIRE(hd::plan_follow_up(*op));
    CHECK(op->next_error == h2coal::error::invalid_redirect);
  }
  SECTION("the limit") {
    auto op = at_head("GET", "https://a.test/", 302, "/next");
    op->req.max_redirects = 2;
    op->redirects = 2;
    REQUIRE(hd::plan_follow_up(*op));
    CHECK(op->next_error == h2coal::error::too_many_redirects);
  }
  SECTION("a loop back to a URL already visited with the same method") {
    auto op = at_head("GET", "https://a.test/b", 302, "/a");
    op->visited.push_back("GET https://a.test/a");
    REQUIRE(hd::plan_follow_up(*op));
    CHECK(op->next_error == h2coal::error::too_many_redirects);
  }
  SECTION("307 with a stream that cannot rewind: the 307 is the answer") {
    auto op = at_head("POST", "https://a.test/", 307, "/b");
    op->req.source.emplace();
    op->req.source->read = [](std::span<char>, bool& eof) -> std::size_t {
      eof = true;
      return 0;
    };
    CHECK_FALSE(hd::plan_follow_up(*op));
    op->req.source->rewind = [] { return true; };
    CHECK(hd::plan_follow_up(*op));
  }
}

TEST_CASE("exchange: the next hop's method, body and fields", "[exchange]") {
  for (int status : {301, 302, 303, 307, 308}) {
    DYNAMIC_SECTION("POST answered " << status) {
      auto op = at_head("POST", "https://a.test/form", status, "https://b.test/done");
      op->req.body = "a=1";
      op->req.headers.add("Content-Type", "application/x-www-form-urlencoded");
      op->req.headers.add("Authorization", "Bearer t");
      op->req.headers.add("Cookie", "c=1");
      op->req.headers.add("X-Other", "kept");
      op->req.authority = "vhost.test";
      REQUIRE(hd::plan_follow_up(*op));
      REQUIRE(hd::next_hop(*op, status));
      const bool keeps = status == 307 || status == 308;
      CHECK(op->req.method == (keeps ? "POST" : "GET"));
      CHECK(op->req.body == (keeps ? "a=1" : ""));
      CHECK(op->req.headers.contains("content-type") == keeps);
      CHECK_FALSE(op->req.headers.contains("authorization"));
      CHECK_FALSE(op->req.headers.contains("cookie"));
      CHECK_FALSE(op->req.authority);
      CHECK(op->req.headers.get("x-other") == "kept");
      CHECK(op->req.url == "https://b.test/done");
      CHECK(op->target.origin.host == "b.test");
      CHECK(op->redirects == 1);
    }
  }
  SECTION("a same-origin hop keeps the credentials, 303 turns PUT into GET, HEAD stays HEAD") {
    auto op = at_head("PUT", "https://a.test/x", 303, "/y");
    op->req.headers.add("Authorization", "Bearer t");
    REQUIRE(hd::plan_follow_up(*op));
    REQUIRE(hd::next_hop(*op, 303));
    CHECK(op->req.method == "GET");
    CHECK(op->req.headers.get("authorization") == "Bearer t");
    auto head = at_head("HEAD", "https://a.test/x", 303, "/y");
    REQUIRE(hd::plan_follow_up(*head));
    REQUIRE(hd::next_hop(*head, 303));
    CHECK(head->req.method == "HEAD");
  }
}

TEST_CASE("exchange: which statuses are retried", "[exchange]") {
  h2coal::retry_policy p;
  p.base_delay = 10ms;
  p.jitter = 0;
  auto op = at_head("GET", "https://a.test/", 503);
  op->req.follow_redirects = false;
  op->retry = &p;
  op->resp.headers.add("Retry-After", "2");
  REQUIRE(hd::plan_follow_up(*op));
  CHECK(op->next == hd::request_op::follow::retry);
  CHECK(op->next_delay == 2000ms);
  CHECK(op->retry_reason == "status-503");

  auto post = at_head("POST", "https://a.test/", 503);
  post->retry = &p;
  CHECK_FALSE(hd::plan_follow_up(*post));  // not idempotent
  post->req.headers.add("Idempotency-Key", "k1");
  CHECK(hd::plan_follow_up(*post));

  auto not_found = at_head("GET", "https://a.test/", 404);
  not_found->retry = &p;
  CHECK_FALSE(hd::plan_follow_up(*not_found));

  auto last = at_head("GET", "https://a.test/", 500);
  last->retry = &p;
  last->policy_attempts = p.attempts;  // all used
  CHECK_FALSE(hd::plan_follow_up(*last));
}
