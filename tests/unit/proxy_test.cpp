// SPDX-License-Identifier: BSL-1.0
// tests/unit/proxy_test.cpp: proxy URLs, no_proxy and the proxy environment, as curl reads them
// (DESIGN section 13).
#include "catch.hpp"

#include <h2coal/proxy.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

using h2coal::error;
using h2coal::no_proxy_matches;
using h2coal::origin;
using h2coal::proxy_config;
using h2coal::proxy_from_environment;
using h2coal::proxy_scheme;
using h2coal::proxy_server;

namespace {

proxy_server parse_ok(std::string_view text) {
  std::error_code ec;
  auto p = proxy_server::parse(text, ec);
  INFO(text);
  REQUIRE(!ec);
  REQUIRE(p);
  return *p;
}

std::error_code parse_error(std::string_view text) {
  std::error_code ec;
  auto p = proxy_server::parse(text, ec);
  CHECK(!p);
  return ec;
}

// A fake environment: only the variables a test sets exist.
struct fake_env {
  std::map<std::string, std::string> vars;
  std::function<const char*(const char*)> fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

}  // namespace

TEST_CASE("proxy_server: schemes and curl's default ports", "[proxy]") {
  struct row {
    std::string_view text;
    proxy_scheme scheme;
    std::string_view host;
    std::uint16_t port;
  };
  const row rows[] = {
      {"proxy.test", proxy_scheme::http, "proxy.test", 1080},
      {"proxy.test:3128", proxy_scheme::http, "proxy.test", 3128},
      {"http://proxy.test", proxy_scheme::http, "proxy.test", 1080},
      {"HTTP://Proxy.TEST:8080/", proxy_scheme::http, "proxy.test", 8080},
      {"https://proxy.test", proxy_scheme::https, "proxy.test", 443},
      {"https://proxy.test:8443", proxy_scheme::https, "proxy.test", 8443},
      {"socks5://proxy.test", proxy_scheme::socks5, "proxy.test", 1080},
      {"SOCKS5H://proxy.test:9050", proxy_scheme::socks5h, "proxy.test", 9050},
      {"http://10.0.0.1:3128", proxy_scheme::http, "10.0.0.1", 3128},
      {"http://[::1]:3128", proxy_scheme::http, "::1", 3128},
      {"[2001:DB8::1]", proxy_scheme::http, "2001:db8::1", 1080},
      {"socks5h://[::ffff:192.0.2.1]", proxy_scheme::socks5h, "::ffff:192.0.2.1", 1080},
      {"http://proxy.test.:3128", proxy_scheme::http, "proxy.test", 3128},
      {"http://proxy.test:", proxy_scheme::http, "proxy.test", 1080},
      {"  http://proxy.test:3128  ", proxy_scheme::http, "proxy.test", 3128},
      {"http://proxy.test:65535", proxy_scheme::http, "proxy.test", 65535},
      {"http://[1:2:3:4:5:6:7::]", proxy_scheme::http, "1:2:3:4:5:6:7::", 1080},
      {"http://[::]:1", proxy_scheme::http, "::", 1},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    auto p = parse_ok(r.text);
    CHECK(p.scheme == r.scheme);
    CHECK(p.host == r.host);
    CHECK(p.port == r.port);
    CHECK(!p.has_credentials());
  }
}

TEST_CASE("proxy_server: credentials come percent-decoded from the userinfo", "[proxy]") {
  struct row {
    std::string_view text;
    std::string_view user;
    std::string_view password;
  };
  const row rows[] = {
      {"http://alice:secret@proxy.test:3128", "alice", "secret"},
      {"alice:secret@proxy.test", "alice", "secret"},
      {"socks5://bob@proxy.test", "bob", ""},
      {"http://al%40ice:p%3Ass%25@proxy.test", "al@ice", "p:ss%"},
      {"http://alice:pa:ss@proxy.test", "alice", "pa:ss"},
      {"http://alice:p@ss@proxy.test", "alice", "p@ss"},  // the host follows the last '@'
      {"https://u%20v:%2f@[::1]:8443", "u v", "/"},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    auto p = parse_ok(r.text);
    CHECK(p.user == r.user);
    CHECK(p.password == r.password);
    CHECK(p.has_credentials());
  }
}

TEST_CASE("proxy_server: socks4 and other schemes are unsupported, bad syntax is an invalid URL", "[proxy]") {
  for (std::string_view text : {"socks4://proxy.test", "socks4a://proxy.test", "socks://proxy.test",
                                "ftp://proxy.test", "Socks4://proxy.test:1080"}) {
    INFO(text);
    CHECK(parse_error(text) == error::unsupported_scheme);
  }
  for (std::string_view text :
       {"", "   ", "http://", "://proxy.test", "http://:3128", "http://proxy.test:0", "http://proxy.test:65536",
        "http://proxy.test:99999999", "http://proxy.test:port", "http://proxy.test:-1", "http://proxy.test/path",
        "http://proxy.test//", "http://proxy.test?x", "http://proxy.test#f", "http://[::1", "http://[::1]x",
        "http://[zz::1]:80", "http://[::1%eth0]", "http://a..test", "http://pro xy.test", "http://user@",
        "http://us%4ger@proxy.test", "http://user:%@proxy.test", "ht tp://proxy.test", "http://proxy.test\n",
        "http://::1:3128", "http://[1::2::3]", "http://[:1::]", "http://[1:2:3:4:5:6:7:8:9]", "http://[1::2:]",
        "http://[1:2:3:4:5:6:7:8::]", "http://[::1.2.3]", "http://[::256.1.1.1]", "http://[12345::]"}) {
    INFO(text);
    CHECK(parse_error(text) == error::invalid_url);
  }
}

TEST_CASE("proxy_server: display and identity never show the password", "[proxy]") {
  auto p = parse_ok("https://al%40ice:hunter2@[2001:db8::1]:8443");
  CHECK(p.display() == "https://[2001:db8::1]:8443");
  CHECK(p.identity() == "https://al%40ice@[2001:db8::1]:8443");
  CHECK(p.identity().find("hunter2") == std::string::npos);

  auto q = parse_ok("socks5h://proxy.test");
  CHECK(q.display() == "socks5h://proxy.test:1080");
  CHECK(q.identity() == "socks5h://proxy.test:1080");

  // Two users of one proxy are two identities; a password alone is not.
  auto a = parse_ok("http://a:x@proxy.test:3128");
  auto a2 = parse_ok("http://a:y@proxy.test:3128");
  auto b = parse_ok("http://b:x@proxy.test:3128");
  auto none = parse_ok("http://proxy.test:3128");
  CHECK(a.identity() == a2.identity());
  CHECK(a.identity() != b.identity());
  CHECK(a.identity() != none.identity());
  CHECK(a.display() == none.display());
  // A user name with '@' or ':' cannot make one identity look like another.
  CHECK(parse_ok("http://a%3Ab@c.test").identity() != parse_ok("http://a:b@c.test").identity());
  CHECK(parse_ok("http://a%40b@c.test").identity() == parse_ok("http://a@b@c.test").identity());
  CHECK(parse_ok("http://a%40b@c.test").identity() == "http://a%40b@c.test:1080");
}

TEST_CASE("no_proxy: curl's domain rules", "[proxy]") {
  struct row {
    std::string_view list;
    std::string_view host;
    bool matches;
  };
  const row rows[] = {
      // The curl --noproxy example: local.com matches local.com and www.local.com, not www.notlocal.com.
      {"local.com", "local.com", true},
      {"local.com", "www.local.com", true},
      {"local.com", "www.notlocal.com", false},
      {".local.com", "local.com", true},
      {".local.com", "a.b.local.com", true},
      {".local.com", "notlocal.com", false},
      {"example.com", "badexample.com", false},
      {"www.example.com", "example.com", false},
      {"EXAMPLE.com", "www.example.com", true},
      {"example.com.", "example.com", true},
      {"example.com", "example.com.", true},
      {"com", "example.com", true},
      {"a.test", "b.test", false},
      // Lists: commas, blanks, both, empty entries.
      {"a.test,b.test", "b.test", true},
      {"a.test, b.test", "b.test", true},
      {"a.test b.test", "b.test", true},
      {" ,, a.test ,\tb.test ,", "b.test", true},
      {",,,", "a.test", false},
      {"", "a.test", false},
      {"   ", "a.test", false},
      // The only wildcard is a lone '*'.
      {"*", "anything.test", true},
      {" * ", "10.0.0.1", true},
      {"*", "::1", true},
      {"a.test,*", "other.test", false},
      {"*.a.test", "www.a.test", false},
      {".", "a.test", false},
  };
  for (const auto& r : rows) {
    INFO("no_proxy=\"" << r.list << "\" host=" << r.host);
    CHECK(no_proxy_matches(r.list, r.host, 443) == r.matches);
  }
}

TEST_CASE("no_proxy: IP literals and CIDR ranges match IP hosts only", "[proxy]") {
  struct row {
    std::string_view list;
    std::string_view host;
    bool matches;
  };
  const row rows[] = {
      {"10.0.0.1", "10.0.0.1", true},
      {"10.0.0.1", "10.0.0.2", false},
      {"10.0.0.0/8", "10.200.3.4", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"192.168.0.0/16", "192.168.77.1", true},
      {"192.168.0.0/16", "192.169.0.1", false},
      {"192.168.1.128/25", "192.168.1.200", true},
      {"192.168.1.128/25", "192.168.1.127", false},
      {"10.0.0.1/32", "10.0.0.1", true},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"10.0.0.0/33", "10.0.0.1", false},
      {"10.0.0.0/x", "10.0.0.1", false},
      {"::1", "::1", true},
      {"[::1]", "::1", true},
      {"::1", "[::1]", true},
      {"0:0:0:0:0:0:0:1", "::1", true},
      {"::1/128", "::1", true},
      {"::1/128", "::2", false},
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"2001:db8::/33", "2001:db8:8000::1", false},
      {"2001:db8::/33", "2001:db8:7fff::1", true},
      {"2001:DB8::1", "2001:db8::1", true},
      {"::/0", "2001:db8::1", true},
      {"::1/129", "::1", false},
      // Families do not mix, and names never match IP hosts (no DNS lookups here).
      {"10.0.0.0/8", "::ffff:10.0.0.1", false},
      {"::ffff:10.0.0.0/104", "10.0.0.1", false},
      {"localhost", "127.0.0.1", false},
      {"0.0.1", "10.0.0.1", false},
      {"1", "10.0.0.1", false},
      // An IP entry matched against a name compares text, as curl does: only equal text.
      {"10.0.0.1", "10.0.0.1.example", false},
      {"10.0.0.0/8", "www.example", false},
  };
  for (const auto& r : rows) {
    INFO("no_proxy=\"" << r.list << "\" host=" << r.host);
    CHECK(no_proxy_matches(r.list, r.host, 80) == r.matches);
  }
}

TEST_CASE("no_proxy: an entry with a port matches that port only", "[proxy]") {
  struct row {
    std::string_view list;
    std::string_view host;
    std::uint16_t port;
    bool matches;
  };
  const row rows[] = {
      {"a.test:8443", "a.test", 8443, true},
      {"a.test:8443", "a.test", 443, false},
      {"a.test:8443", "www.a.test", 8443, true},
      {".a.test:80", "www.a.test", 80, true},
      {"10.0.0.1:80", "10.0.0.1", 80, true},
      {"10.0.0.1:80", "10.0.0.1", 8080, false},
      {"[::1]:8080", "::1", 8080, true},
      {"[::1]:8080", "::1", 80, false},
      {"::1:8080", "::1", 8080, false},  // no brackets: the whole entry is the (different) address
      {"a.test:0", "a.test", 443, false},
      {"a.test:x", "a.test", 443, false},
      {"a.test:443,b.test", "b.test", 80, true},
  };
  for (const auto& r : rows) {
    INFO("no_proxy=\"" << r.list << "\" host=" << r.host << " port=" << r.port);
    CHECK(no_proxy_matches(r.list, r.host, r.port) == r.matches);
  }
}

TEST_CASE("proxy_config: for_origin picks the scheme's proxy unless no_proxy names the host", "[proxy]") {
  proxy_config c;
  c.http = parse_ok("http://plain.proxy:3128");
  c.https = parse_ok("https://tls.proxy");
  c.no_proxy = "internal.test, 10.0.0.0/8, [::1]:8443";

  const auto* p = c.for_origin(*origin::parse("https://www.example"));
  REQUIRE(p);
  CHECK(p->host == "tls.proxy");
  p = c.for_origin(*origin::parse("http://www.example"));
  REQUIRE(p);
  CHECK(p->host == "plain.proxy");

  CHECK(!c.for_origin(*origin::parse("https://api.internal.test")));
  CHECK(!c.for_origin(*origin::parse("http://10.1.2.3:8080")));
  CHECK(!c.for_origin(*origin::parse("https://[::1]:8443")));
  CHECK(c.for_origin(*origin::parse("https://[::1]")));

  proxy_config only_https;
  only_https.https = c.https;
  CHECK(!only_https.for_origin(*origin::parse("http://www.example")));
  CHECK(only_https.for_origin(*origin::parse("https://www.example")));
  CHECK(!only_https.empty());
  CHECK(proxy_config{}.empty());
  CHECK(!proxy_config{}.for_origin(*origin::parse("https://www.example")));
}

TEST_CASE("proxy_from_environment: curl's precedence, lower case first", "[proxy]") {
  struct row {
    std::map<std::string, std::string> vars;
    std::string_view https;  // the host of the https proxy, empty for none
    std::string_view http;
    std::string_view no_proxy;
  };
  const row rows[] = {
      {{}, "", "", ""},
      {{{"https_proxy", "http://lower.test"}, {"HTTPS_PROXY", "http://upper.test"}}, "lower.test", "", ""},
      {{{"HTTPS_PROXY", "http://upper.test"}}, "upper.test", "", ""},
      {{{"http_proxy", "http://lower.test"}}, "", "lower.test", ""},
      // HTTP_PROXY is never read (httpoxy): http falls through to all_proxy.
      {{{"HTTP_PROXY", "http://upper.test"}}, "", "", ""},
      {{{"HTTP_PROXY", "http://upper.test"}, {"all_proxy", "socks5h://all.test"}}, "all.test", "all.test", ""},
      {{{"all_proxy", "socks5://all.test"}, {"ALL_PROXY", "socks5://ALL.test"}}, "all.test", "all.test", ""},
      {{{"ALL_PROXY", "socks5://upper-all.test"}}, "upper-all.test", "upper-all.test", ""},
      {{{"https_proxy", "http://s.test"}, {"all_proxy", "http://all.test"}}, "s.test", "all.test", ""},
      // An empty variable counts as unset.
      {{{"https_proxy", ""}, {"HTTPS_PROXY", "http://upper.test"}, {"http_proxy", ""}, {"all_proxy", "all.test"}},
       "upper.test",
       "all.test",
       ""},
      {{{"no_proxy", "a.test"}, {"NO_PROXY", "b.test"}}, "", "", "a.test"},
      {{{"NO_PROXY", "b.test"}}, "", "", "b.test"},
      {{{"no_proxy", ""}, {"NO_PROXY", "b.test"}}, "", "", "b.test"},
  };
  for (const auto& r : rows) {
    fake_env env{r.vars};
    std::error_code ec;
    proxy_config c = proxy_from_environment(ec, env.fn());
    std::string described;
    for (const auto& [k, v] : r.vars) described += k + "=" + v + " ";
    INFO(described);
    CHECK(!ec);
    CHECK((c.https ? c.https->host : "") == r.https);
    CHECK((c.http ? c.http->host : "") == r.http);
    CHECK(c.no_proxy == r.no_proxy);
    CHECK(proxy_from_environment(env.fn()) == c);
  }
}

TEST_CASE("proxy_from_environment: values that do not parse are left out and the first is reported", "[proxy]") {
  fake_env env{{{"https_proxy", "socks4://old.test"}, {"http_proxy", "http://bad.test:0"},
                {"all_proxy", "http://all.test"}}};
  std::error_code ec;
  proxy_config c = proxy_from_environment(ec, env.fn());
  CHECK(ec == error::unsupported_scheme);
  // The variable that is set decides, even when it is bad: no silent fallback to all_proxy.
  CHECK(!c.https);
  CHECK(!c.http);

  fake_env only_http{{{"http_proxy", "http://bad.test:0"}, {"https_proxy", "https://good.test"}}};
  c = proxy_from_environment(ec, only_http.fn());
  CHECK(ec == error::invalid_url);
  REQUIRE(c.https);
  CHECK(c.https->scheme == proxy_scheme::https);
  CHECK(c.https->port == 443);
  CHECK(!c.http);

  fake_env bad_all{{{"all_proxy", "ftp://all.test"}, {"no_proxy", "*"}}};
  c = proxy_from_environment(ec, bad_all.fn());
  CHECK(ec == error::unsupported_scheme);
  CHECK(c.empty());
  CHECK(c.no_proxy == "*");

  // A good environment clears an earlier error.
  fake_env good{{{"https_proxy", "http://alice:s%40cret@good.test:3128"}}};
  c = proxy_from_environment(ec, good.fn());
  CHECK(!ec);
  REQUIRE(c.https);
  CHECK(c.https->user == "alice");
  CHECK(c.https->password == "s@cret");
}
