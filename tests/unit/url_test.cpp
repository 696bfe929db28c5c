// SPDX-License-Identifier: BSL-1.0
// tests/unit/url_test.cpp: URL and origin parsing (RFC 3986, RFC 6454, RFC 8336 section 2).
#include "catch.hpp"

#include <h2coal/url.hpp>

#include <string>
#include <system_error>
#include <unordered_set>

using h2coal::error;
using h2coal::origin;
using h2coal::url;

namespace {

url parse_ok(std::string_view text) {
  std::error_code ec;
  url u = url::parse(text, ec);
  INFO(text);
  REQUIRE(!ec);
  return u;
}

std::error_code parse_error(std::string_view text) {
  std::error_code ec;
  (void)url::parse(text, ec);
  return ec;
}

}  // namespace

TEST_CASE("url: the default port is filled in and omitted again when serialised", "[url]") {
  auto a = parse_ok("https://a.test");
  CHECK(a.scheme() == "https");
  CHECK(a.host() == "a.test");
  CHECK(a.port() == 443);
  CHECK(a.target == "/");
  CHECK(a.to_string() == "https://a.test/");
  CHECK(a.origin.serialize() == "https://a.test");
  CHECK(a.origin.is_default_port());

  auto b = parse_ok("http://a.test/x");
  CHECK(b.port() == 80);
  CHECK(b.origin.authority() == "a.test");

  SECTION("an explicit default port names the same origin") {
    CHECK(parse_ok("https://a.test:443/").origin == a.origin);
    CHECK(parse_ok("http://a.test:80").origin == b.origin);
  }
  SECTION("another port is another origin") {
    auto c = parse_ok("https://a.test:8443/p");
    CHECK(c.port() == 8443);
    CHECK(c.origin != a.origin);
    CHECK(c.origin.serialize() == "https://a.test:8443");
    CHECK(c.origin.authority() == "a.test:8443");
    CHECK(c.to_string() == "https://a.test:8443/p");
  }
  SECTION("http on 443 and https on 80 keep their port") {
    CHECK(parse_ok("http://a.test:443").origin.serialize() == "http://a.test:443");
    CHECK(parse_ok("https://a.test:80").origin.serialize() == "https://a.test:80");
  }
}

TEST_CASE("url: scheme and host are lowercased, the path is not", "[url]") {
  auto u = parse_ok("HTTPS://WWW.Example.TEST/Path/To?Q=A");
  CHECK(u.scheme() == "https");
  CHECK(u.host() == "www.example.test");
  CHECK(u.target == "/Path/To?Q=A");
  CHECK(u.to_string() == "https://www.example.test/Path/To?Q=A");
}

TEST_CASE("url: IPv6 literals lose their brackets in host and keep them in serialisation", "[url]") {
  auto u = parse_ok("https://[::1]:8443/x");
  CHECK(u.host() == "::1");
  CHECK(u.origin.is_ipv6_literal());
  CHECK(u.port() == 8443);
  CHECK(u.origin.authority_host() == "[::1]");
  CHECK(u.origin.serialize() == "https://[::1]:8443");

  auto v = parse_ok("https://[2001:DB8::A]/");
  CHECK(v.host() == "2001:db8::a");
  CHECK(v.port() == 443);
  CHECK(v.origin.authority() == "[2001:db8::a]");

  CHECK(parse_ok("http://[::ffff:127.0.0.1]").host() == "::ffff:127.0.0.1");
  CHECK(parse_ok("http://127.0.0.1:8080").origin.authority() == "127.0.0.1:8080");
  CHECK_FALSE(parse_ok("http://127.0.0.1").origin.is_ipv6_literal());

  CHECK(parse_error("https://[::1/") == error::invalid_url);       // unclosed
  CHECK(parse_error("https://[::1]x/") == error::invalid_url);     // junk after ']'
  CHECK(parse_error("https://[]/") == error::invalid_url);
  CHECK(parse_error("https://[127.0.0.1]/") == error::invalid_url);  // not IPv6
  CHECK(parse_error("https://[fe80::1%25eth0]/") == error::invalid_url);  // zone ids unsupported
  CHECK(parse_error("https://::1/") == error::invalid_url);        // brackets required
}

TEST_CASE("url: the fragment is removed and a query-only URL gets the root path", "[url]") {
  CHECK(parse_ok("https://a.test/p?q=1#frag").target == "/p?q=1");
  CHECK(parse_ok("https://a.test#frag").target == "/");
  CHECK(parse_ok("https://a.test/#").target == "/");
  CHECK(parse_ok("https://a.test?x=1&y=2").target == "/?x=1&y=2");
  CHECK(parse_ok("https://a.test:8443?x").to_string() == "https://a.test:8443/?x");
}

TEST_CASE("url: invalid ports are rejected", "[url]") {
  CHECK(parse_error("https://a.test:0/") == error::invalid_url);
  CHECK(parse_error("https://a.test:65536/") == error::invalid_url);
  CHECK(parse_error("https://a.test:99999/") == error::invalid_url);
  CHECK(parse_error("https://a.test:123456/") == error::invalid_url);
  CHECK(parse_error("https://a.test:abc/") == error::invalid_url);
  CHECK(parse_error("https://a.test:-1/") == error::invalid_url);
  CHECK(parse_error("https://a.test:+80/") == error::invalid_url);
  CHECK(parse_error("https://[::1]:0/") == error::invalid_url);
  CHECK(parse_ok("https://a.test:65535/").port() == 65535);
  CHECK(parse_ok("https://a.test:1/").port() == 1);
}

TEST_CASE("url: userinfo is rejected", "[url]") {
  CHECK(parse_error("https://user@a.test/") == error::invalid_url);
  CHECK(parse_error("https://user:pw@a.test/") == error::invalid_url);
  CHECK(parse_error("https://a.test@evil.test/") == error::invalid_url);
  // An '@' after the authority is part of the path, not userinfo.
  CHECK(parse_ok("https://a.test/@me").target == "/@me");
}

TEST_CASE("url: unsupported and malformed schemes", "[url]") {
  CHECK(parse_error("ftp://a.test/") == error::unsupported_scheme);
  CHECK(parse_error("wss://a.test/") == error::unsupported_scheme);
  CHECK(parse_error("FILE://a.test/") == error::unsupported_scheme);
  CHECK(parse_error("a.test/x") == error::invalid_url);  // no scheme at all
  CHECK(parse_error("://a.test/") == error::invalid_url);
  CHECK(parse_error("ht tp://a.test/") == error::invalid_url);
  CHECK(parse_error("mailto:a@b.test") == error::invalid_url);
  CHECK(parse_error("") == error::invalid_url);
}

TEST_CASE("url: an empty or malformed host is rejected", "[url]") {
  CHECK(parse_error("https://") == error::invalid_url);
  CHECK(parse_error("https:///path") == error::invalid_url);
  CHECK(parse_error("https://:443/") == error::invalid_url);
  CHECK(parse_error("https://?q") == error::invalid_url);
  CHECK(parse_error("https://a test/") == error::invalid_url);
  CHECK(parse_error("https://a%2etest/") == error::invalid_url);
  CHECK(parse_error("https://./") == error::invalid_url);
}

TEST_CASE("url: whitespace around is trimmed, control characters inside are not allowed", "[url]") {
  CHECK(parse_ok("  https://a.test/x \t").to_string() == "https://a.test/x");
  CHECK(parse_error("https://a.test/a b") == error::invalid_url);
  CHECK(parse_error("https://a.test/a\r\nX: y") == error::invalid_url);
  CHECK(parse_error(std::string_view("https://a.test/\0", 16)) == error::invalid_url);
  CHECK(parse_error("https://a.test/\x7f") == error::invalid_url);
}

TEST_CASE("url: a trailing dot on the host names the same host", "[url]") {
  CHECK(parse_ok("https://a.test./").host() == "a.test");
  CHECK(parse_ok("https://a.test.:8443/").origin.serialize() == "https://a.test:8443");
}

TEST_CASE("url: an empty port means the default one (RFC 3986 section 3.2.3)", "[url]") {
  CHECK(parse_ok("https://a.test:/").port() == 443);
  CHECK(parse_ok("http://[::1]:/").port() == 80);
}

TEST_CASE("url: the error code explains itself", "[url]") {
  std::error_code ec;
  (void)url::parse("gopher://a.test/", ec);
  CHECK(ec == error::unsupported_scheme);
  CHECK(ec.category().name() == std::string("h2coal"));
  CHECK_FALSE(ec.message().empty());
  (void)url::parse("https://a.test/", ec);
  CHECK_FALSE(ec);  // cleared on success
}

TEST_CASE("origin::parse reads ORIGIN frame entries (RFC 8336 section 2)", "[url][origin]") {
  auto a = origin::parse("https://a.test");
  REQUIRE(a);
  CHECK(a->scheme == "https");
  CHECK(a->host == "a.test");
  CHECK(a->port == 443);

  auto b = origin::parse("https://B.Test:8443");
  REQUIRE(b);
  CHECK(b->host == "b.test");
  CHECK(b->port == 8443);

  auto v6 = origin::parse("https://[::1]:4433");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->serialize() == "https://[::1]:4433");

  SECTION("a serialisation followed by a bare slash is tolerated") {
    auto s = origin::parse("https://a.test/");
    REQUIRE(s);
    CHECK(*s == *a);
  }
  SECTION("anything beyond an origin is rejected") {
    CHECK_FALSE(origin::parse("https://a.test/path"));
    CHECK_FALSE(origin::parse("https://a.test/index.html"));
    CHECK_FALSE(origin::parse("https://a.test?q"));
    CHECK_FALSE(origin::parse("https://a.test#f"));
    CHECK_FALSE(origin::parse("https://user@a.test"));
    CHECK_FALSE(origin::parse("ftp://a.test"));
    CHECK_FALSE(origin::parse("a.test"));
    CHECK_FALSE(origin::parse("https://"));
    CHECK_FALSE(origin::parse("https://a.test:0"));
    CHECK_FALSE(origin::parse("https://a.test:99999"));
    CHECK_FALSE(origin::parse(""));
    CHECK_FALSE(origin::parse("null"));  // the opaque origin's serialisation
  }
}

TEST_CASE("origin: equality, ordering and hashing agree", "[url][origin]") {
  auto a1 = *origin::parse("https://a.test");
  auto a2 = *origin::parse("https://A.TEST:443");
  auto a3 = *origin::parse("https://a.test:8443");
  auto h = *origin::parse("http://a.test");
  CHECK(a1 == a2);
  CHECK(a1 != a3);
  CHECK(a1 != h);
  CHECK_FALSE(a1 < a2);
  CHECK_FALSE(a2 < a1);
  CHECK(std::hash<origin>{}(a1) == std::hash<origin>{}(a2));

  std::unordered_set<origin> set{a1, a2, a3, h};
  CHECK(set.size() == 3);
  CHECK(set.count(*origin::parse("https://a.test:443")) == 1);
}

TEST_CASE("origin: scheme helpers", "[url][origin]") {
  CHECK(origin::parse("https://a.test")->is_tls());
  CHECK_FALSE(origin::parse("http://a.test")->is_tls());
  CHECK(origin::parse("http://a.test:80")->is_default_port());
  CHECK_FALSE(origin::parse("http://a.test:8080")->is_default_port());
}

TEST_CASE("url: resolve follows RFC 3986 section 5.4's normal and abnormal examples (fragments dropped)", "[url]") {
  std::error_code ec;
  const url base = url::parse("http://a/b/c/d;p?q", ec);
  REQUIRE(!ec);
  const std::pair<const char*, const char*> examples[] = {
      // 5.4.1
      {"g", "http://a/b/c/g"}, {"./g", "http://a/b/c/g"}, {"g/", "http://a/b/c/g/"}, {"/g", "http://a/g"},
      {"//g", "http://g/"}, {"?y", "http://a/b/c/d;p?y"}, {"g?y", "http://a/b/c/g?y"}, {"#s", "http://a/b/c/d;p?q"},
      {"g#s", "http://a/b/c/g"}, {"g?y#s", "http://a/b/c/g?y"}, {";x", "http://a/b/c/;x"}, {"g;x", "http://a/b/c/g;x"},
      {"g;x?y#s", "http://a/b/c/g;x?y"}, {"", "http://a/b/c/d;p?q"}, {".", "http://a/b/c/"}, {"./", "http://a/b/c/"},
      {"..", "http://a/b/"}, {"../", "http://a/b/"}, {"../g", "http://a/b/g"}, {"../..", "http://a/"},
      {"../../", "http://a/"}, {"../../g", "http://a/g"},
      // 5.4.2
      {"../../../g", "http://a/g"}, {"../../../../g", "http://a/g"}, {"/./g", "http://a/g"}, {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."}, {".g", "http://a/b/c/.g"}, {"g..", "http://a/b/c/g.."}, {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"}, {"./g/.", "http://a/b/c/g/"}, {"g/./h", "http://a/b/c/g/h"}, {"g/../h", "http://a/b/c/h"},
      {"g;x=1/./y", "http://a/b/c/g;x=1/y"}, {"g;x=1/../y", "http://a/b/c/y"}, {"g?y/./x", "http://a/b/c/g?y/./x"},
      {"g?y/../x", "http://a/b/c/g?y/../x"}, {"g#s/./x", "http://a/b/c/g"}, {"g#s/../x", "http://a/b/c/g"},
  };
  for (const auto& [ref, expected] : examples) {
    INFO("reference \"" << ref << "\"");
    const url r = url::resolve(base, ref, ec);
    REQUIRE(!ec);
    CHECK(r.to_string() == expected);
  }
}

TEST_CASE("url: resolve takes absolute and network-path Locations, encodes spaces, refuses other schemes", "[url]") {
  std::error_code ec;
  const url base = url::parse("https://a.test:8443/dir/page?x=1", ec);
  REQUIRE(!ec);
  CHECK(url::resolve(base, "https://B.test/x/../y", ec).to_string() == "https://b.test/y");
  CHECK(!ec);
  CHECK(url::resolve(base, "//c.test/p", ec).to_string() == "https://c.test/p");  // the base's scheme
  CHECK(url::resolve(base, "http://a.test:8443/", ec).to_string() == "http://a.test:8443/");
  CHECK(url::resolve(base, "  next page\xc3\xa9 ", ec).to_string() == "https://a.test:8443/dir/next%20page%C3%A9");
  CHECK(!ec);
  CHECK(url::resolve(base, "?y=2", ec).to_string() == "https://a.test:8443/dir/page?y=2");
  (void)url::resolve(base, "ftp://a.test/f", ec);
  CHECK(ec == error::unsupported_scheme);
  (void)url::resolve(base, "/a\r\nSet-Cookie: x", ec);
  CHECK(ec == error::invalid_url);
  (void)url::resolve(base, "http:g", ec);  // RFC 3986 section 5.4.2: strict parsers take it as absolute
  CHECK(ec == error::invalid_url);
  (void)url::resolve(base, "https://user@a.test/", ec);
  CHECK(ec == error::invalid_url);
}
