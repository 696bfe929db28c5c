// SPDX-License-Identifier: BSL-1.0
// tests/interop/caddy_test.cpp: h2coal against Caddy (Debian 12: 2.6, Go's net/http and crypto/tls).
//
// With `strict_sni_host on`, Caddy answers 421 Misdirected Request when :authority differs from the TLS
// SNI, i.e. to every coalesced request: the server-side rule RFC 9110 section 15.5.20 expects, and the
// one the 421 retry of DESIGN section 3 exists for. A second site on another port speaks only HTTP/1.1.
#include "interop/interop.hpp"

using namespace h2coal;
using namespace h2coal::interop;

namespace {

constexpr const char* caddy_address = "127.0.62.1";

// No admin endpoint, no automatic HTTPS (no ACME, no port 80 redirect listener): only the sites below.
constexpr const char* caddyfile = R"({
	admin off
	auto_https off
	servers {{addr}}:{{h2}} {
		strict_sni_host on
		protocols h1 h2
	}
	servers {{addr}}:{{h1}} {
		protocols h1
	}
}

https://a.test:{{h2}}, https://b.test:{{h2}} {
	bind {{addr}}
	tls {{cert}} {{key}}
	log {
		output file {{dir}}/access.log
		format json
	}
	respond "caddy {host}"
}

https://a.test:{{h1}} {
	bind {{addr}}
	tls {{cert}} {{key}}
	# Content decoding (issue 15): zstd or gzip, whichever the client prefers, for /text/.
	handle /text/* {
		encode zstd gzip
		root * {{dir}}
		file_server
	}
	respond "caddy http/1.1 {host}"
}
)";

// Text that compresses as a real page does.
std::string caddy_text() {
  std::string s;
  for (std::size_t i = 0; s.size() < 100 * 1024; ++i) s += "<li>row " + std::to_string(i * 31 % 977) + " of the table</li>\n";
  return s;
}

struct caddy_instance {
  std::uint16_t h2 = 0, h1 = 0;
  std::unique_ptr<server_process> proc;
};

caddy_instance start_caddy(interop_fixture& f, const std::string& bin) {
  auto certs = f.write_cert("ab", f.ca.issue({"a.test", "b.test"}));
  f.dir.make_dir("text");
  f.dir.write("text/big.txt", caddy_text());
  return start_with_retry([&] {
    caddy_instance c;
    c.h2 = free_port({caddy_address});
    c.h1 = free_port({caddy_address});
    auto conf = f.dir.write("Caddyfile", fill(caddyfile, {{"dir", f.dir.path()},
                                                         {"addr", caddy_address},
                                                         {"cert", certs.cert},
                                                         {"key", certs.key},
                                                         {"h2", std::to_string(c.h2)},
                                                         {"h1", std::to_string(c.h1)}}));
    process_options po;
    po.argv = {bin, "run", "--config", conf, "--adapter", "caddyfile"};
    po.log_file = f.dir.file("caddy.out");
    // Caddy keeps its storage and autosaved config under HOME / XDG folders: keep them in the run's folder.
    po.env = {{"HOME", f.dir.path()},
              {"XDG_DATA_HOME", f.dir.file("data")},
              {"XDG_CONFIG_HOME", f.dir.file("config")}};
    c.proc = std::make_unique<server_process>("caddy", po);
    c.proc->wait_ready({{caddy_address, c.h2}, {caddy_address, c.h1}});
    return c;
  });
}

// Requests Caddy logged with status 421, once it logged `expected` requests (then it is stopped, so the
// log is complete).
std::size_t misdirected_in_log(interop_fixture& f, caddy_instance& c, std::size_t expected) {
  CHECK(wait_for_lines(f.dir.file("access.log"), expected) == expected);
  c.proc->stop();
  std::size_t n = 0;
  for (const auto& line : read_lines(f.dir.file("access.log"))) n += line.find("\"status\":421") != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("caddy: strict_sni_host answers 421 to a coalesced request: browser and origin get 200 in two attempts") {
  INTEROP_REQUIRE_PROGRAM(caddy, "caddy");
  for (auto [name, policy] : {std::pair{"origin", policies::origin()}, std::pair{"browser", policies::browser()}}) {
    INFO("policy " << name);
    interop_fixture f;
    auto s = start_caddy(f, caddy);
    f.resolve("a.test", {caddy_address});
    f.resolve("b.test", {caddy_address});
    client c(f.io.get_executor(), f.options_with(policy));
    auto a = f.get_with(c, server_url("a.test", s.h2));
    REQUIRE_FALSE(a.ec);
    CHECK(a.resp.status == 200);
    CHECK(a.resp.body == "caddy a.test");
    auto b = f.get_with(c, server_url("b.test", s.h2));
    REQUIRE_FALSE(b.ec);
    CHECK(b.resp.status == 200);
    CHECK(b.resp.body == "caddy b.test");
    CHECK(b.resp.attempts == 2);  // coalesced, 421, then b's own connection
    CHECK(b.resp.connection != a.resp.connection);
    CHECK_FALSE(b.resp.coalesced);
    CHECK(f.count("request.misdirected") == 1);
    CHECK(f.retry_reasons() == std::vector<std::string>{"421"});
    // b is misdirected on a's connection from now on: the next b request goes straight to b's own.
    auto b2 = f.get_with(c, server_url("b.test", s.h2));
    CHECK(b2.resp.status == 200);
    CHECK(b2.resp.attempts == 1);
    CHECK(b2.resp.connection == b.resp.connection);
    CHECK(f.connects() == 2);
    CHECK(misdirected_in_log(f, s, 4) == 1);  // Caddy's own account
  }
}

TEST_CASE("caddy: h2audit calls strict_sni_host's 421 a correct defence: clean, exit 0") {
  INTEROP_REQUIRE_PROGRAM(caddy, "caddy");
  INTEROP_REQUIRE_TOOL(h2audit, find_h2audit, "h2audit");
  interop_fixture f;
  auto s = start_caddy(f, caddy);
  auto run = audit_a_and_b(f, h2audit, caddy_address, s.h2);
  INFO("h2audit said:\n" << run.result.output);
  CHECK(run.result.exit_code == 0);
  CHECK(run.says(run.a, run.b, "421"));
  CHECK(run.says(run.b, run.a, "421"));
  CHECK(run.mentions("result: clean"));
}

TEST_CASE("caddy: strict_sni_host never answers 421 to the strict policy") {
  INTEROP_REQUIRE_PROGRAM(caddy, "caddy");
  interop_fixture f;
  auto s = start_caddy(f, caddy);
  f.resolve("a.test", {caddy_address});
  f.resolve("b.test", {caddy_address});
  client c(f.io.get_executor(), f.options_with(policies::strict()));
  for (int round = 0; round < 2; ++round) {
    for (const char* host : {"a.test", "b.test"}) {
      auto r = f.get_with(c, server_url(host, s.h2));
      REQUIRE_FALSE(r.ec);
      CHECK(r.resp.status == 200);
      CHECK(r.resp.body == std::string("caddy ") + host);
      CHECK(r.resp.attempts == 1);
      CHECK(r.resp.http_version == "2");
    }
  }
  CHECK(f.count("request.misdirected") == 0);
  CHECK(f.connects() == 2);
  CHECK(misdirected_in_log(f, s, 4) == 0);
}

TEST_CASE("caddy: an HTTP/1.1-only site: the default ALPN offer falls back to HTTP/1.1") {
  INTEROP_REQUIRE_PROGRAM(caddy, "caddy");
  interop_fixture f;
  auto s = start_caddy(f, caddy);
  f.resolve("a.test", {caddy_address});
  client c(f.io.get_executor(), f.options_with(policies::origin()));
  auto r = f.get_with(c, server_url("a.test", s.h1));
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);
  CHECK(r.resp.http_version == "1.1");
  CHECK(r.resp.body == "caddy http/1.1 a.test");
}

// Go's crypto/tls, like nginx, aborts the handshake with the fatal alert no_application_protocol
// (RFC 7301 section 3.2); the client says alpn_mismatch, not the generic tls_handshake_failed.
TEST_CASE("caddy: an h2-only ALPN offer to an HTTP/1.1-only site fails with alpn_mismatch") {
  INTEROP_REQUIRE_PROGRAM(caddy, "caddy");
  interop_fixture f;
  auto s = start_caddy(f, caddy);
  f.resolve("a.test", {caddy_address});
  client c(f.io.get_executor(), f.options_with(policies::origin(), http_version::h2_prior_knowledge));
  auto r = f.get_with(c, server_url("a.test", s.h1));
  INFO("error: " << r.ec.message());
  CHECK(r.ec == error::alpn_mismatch);
  CHECK(f.count("request.sent") == 0);
}

TEST_CASE("caddy: encode zstd gzip: each coding the client accepts is decoded") {
  INTEROP_REQUIRE_PROGRAM(caddy, "caddy");
  interop_fixture f;
  auto c = start_caddy(f, caddy);
  f.resolve("a.test", {caddy_address});
  client cl(f.io.get_executor(), f.options_with(policies::origin()));
  for (std::string accept : {"gzip, deflate, br, zstd", "gzip"}) {
    INFO("Accept-Encoding: " << accept);
    request req;
    req.url = server_url("a.test", c.h1, "/text/big.txt");
    req.decompress = true;
    req.headers.add("accept-encoding", accept);  // the caller's own value is kept
    req.timeout = std::chrono::seconds(20);
    auto r = f.fetch(cl, req);
    REQUIRE_FALSE(r.ec);
    CHECK(r.resp.status == 200);
    CHECK(r.resp.headers.get("content-encoding") == (accept == "gzip" ? "gzip" : "zstd"));
    CHECK(r.resp.decoded);
    CHECK(r.resp.body == caddy_text());
  }
}
