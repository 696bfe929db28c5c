// SPDX-License-Identifier: BSL-1.0
// tests/h2get/h2get_test.cpp: h2get end to end. The built binary runs as a child process against the
// programmable test server in this process; each case is one option's effect or one exit code.
#include "catch.hpp"
#include "codecs/encode.hpp"
#include "process.hpp"
#include "support/client_fixture.hpp"
#include "support/dns_server.hpp"
#include "support/test_ca.hpp"
#include "support/test_server.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace h2coal::test;
using h2get_test::run_result;
using json = nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// A test CA, a scratch directory, and h2get run with that CA trusted and chosen names resolved.
struct h2get_fixture {
  test_ca ca;
  temp_dir dir;
  std::vector<std::string> resolves;

  void resolve(const std::string& host, std::uint16_t port, const std::string& addrs = "127.0.0.1") {
    resolves.push_back("--resolve");
    resolves.push_back(host + ":" + std::to_string(port) + ":" + addrs);
  }

  std::string file(const std::string& name) const { return dir.path() + "/" + name; }

  run_result h2get(const std::vector<std::string>& args, const std::string& input = {},
                   const std::vector<std::string>& env = {}) const {
    std::vector<std::string> argv = {H2GET_PATH, "--cacert", ca.ca_file()};
    argv.insert(argv.end(), resolves.begin(), resolves.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = h2get_test::run_process(argv, input, env);
    INFO("stderr: " << r.err);
    REQUIRE_FALSE(r.timed_out);
    return r;
  }
};

// A server for a.test and b.test (one certificate naming both), both names resolving to 127.0.0.1.
struct two_hosts {
  h2get_fixture f;
  std::unique_ptr<test_server> server;
  std::uint16_t port = 0;

  explicit two_hosts(server_options so = {}) {
    if (so.cert.cert_pem.empty()) so.cert = f.ca.issue({"a.test", "b.test"});
    server = std::make_unique<test_server>(so);
    port = server->port();
    f.resolve("a.test", port);
    f.resolve("b.test", port);
  }
  std::string url(const std::string& host, const std::string& path = "/") const { return test_url(host, port, path); }
  std::string origin(const std::string& host) const { return "https://" + host + ":" + std::to_string(port); }
};

// The demo server's set-up (examples/demo-server): one router for a.test and b.test that routes by SNI,
// a.test serving /login, b.test serving /v1/; `mode` says what it does about a mismatched :authority.
server_options demo_like(const std::string& mode) {
  server_options so;
  so.routing = route_by::sni;
  so.paths_by_host = {{"a.test", {"/login"}}, {"b.test", {"/v1/"}}};
  if (mode == "misdirected") so.misdirect_on_mismatch = true;
  return so;
}

// Answers one HTTP/1.1 request with the request's own bytes as the body, so a test sees exactly which
// method, header fields and body h2get sent (the test server records no header fields). Given a
// greeting, it writes that as soon as the connection is accepted instead, and closes.
class echo_request_server {
 public:
  explicit echo_request_server(std::string greeting = {})
      : greeting_(std::move(greeting)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~echo_request_server() {
    if (!accepted_) {  // wake the blocking accept when no client came
      asio::ip::tcp::socket s(io_);
      std::error_code ec;
      s.connect(acceptor_.local_endpoint(), ec);
    }
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  void serve() {
    std::error_code ec;
    asio::ip::tcp::socket s(io_);
    acceptor_.accept(s, ec);
    accepted_ = true;
    if (ec) return;
    if (!greeting_.empty()) {
      asio::write(s, asio::buffer(greeting_), ec);
      return;
    }
    std::string data;
    char buf[4096];
    std::size_t head_end;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      auto n = s.read_some(asio::buffer(buf), ec);
      if (ec) return;
      data.append(buf, n);
    }
    std::size_t length = 0;
    std::string lower = data.substr(0, head_end);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos) length = std::stoul(lower.substr(p + 17));
    while (data.size() < head_end + 4 + length) {
      auto n = s.read_some(asio::buffer(buf), ec);
      if (ec) return;
      data.append(buf, n);
    }
    std::string resp = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: " + std::to_string(data.size()) +
                       "\r\nconnection: close\r\n\r\n" + data;
    asio::write(s, asio::buffer(resp), ec);
  }

  std::string greeting_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> accepted_{false};
  std::thread thread_;
};

// A loopback port nobody listens on (bound, then closed).
std::uint16_t closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

}  // namespace

// ---- Options and their effects ----

TEST_CASE("h2get: --help is curl's: the important options, then by category, and all of them") {
  h2get_fixture f;
  auto brief = f.h2get({"--help"});
  CHECK(brief.exit_code == 0);
  CHECK(contains(brief.out, "Usage: h2get [options...] <url>..."));
  for (const char* opt : {"-d, --data", "-f, --fail", "-h, --help", "-i, --include", "-o, --output", "-O, --remote-name",
                          "-s, --silent", "-T, --upload-file", "-u, --user", "-A, --user-agent", "-v, --verbose",
                          "-V, --version", "--policy", "--probe"})
    CHECK(contains(brief.out, opt));
  CHECK_FALSE(contains(brief.out, "--cacert"));
  CHECK(contains(brief.out, "Use \"--help category\" to get an overview of all categories."));
  auto categories = f.h2get({"--help", "category"});
  for (const char* c : {" auth ", " connection ", " dns ", " http ", " output ", " post ", " proxy ", " tls ", " upload ", " verbose ", " coalescing "})
    CHECK(contains(categories.out, c));
  auto tls = f.h2get({"--help", "tls"});
  CHECK(contains(tls.out, "tls: All TLS/SSL related options"));
  for (const char* opt : {"--cacert", "-k, --insecure", "--tlsv1.2", "--tls-max", "--ciphers", "--pinnedpubkey", "--proxy-cacert"})
    CHECK(contains(tls.out, opt));
  CHECK_FALSE(contains(tls.out, "--data"));
  CHECK(contains(tls.out, "                            "));  // an option's continuation lines come along
  auto unknown = f.h2get({"--help", "nosuch"});
  CHECK(unknown.exit_code == 0);
  CHECK(contains(unknown.out, "Invalid category provided, here is a list of all categories:"));
  auto r = f.h2get({"--help", "all"});
  // curl's --help all: every option, in the order of its long name.
  CHECK(r.out.find("--cacert") < r.out.find("-E, --cert"));
  CHECK(r.out.find("-E, --cert") < r.out.find("--compressed"));
  CHECK(r.out.find("--user-agent") < r.out.find("-v, --verbose"));
  CHECK(r.out.find("-v, --verbose") < r.out.find("-w, --write-out"));
  CHECK(r.exit_code == 0);
  for (const char* opt : {"--policy", "--ip-match", "--resolve", "--cacert", "-k", "-E, --cert", "--key", "-X", "-H",
                          "-d", "-o", "-i", "-I", "-Z, --parallel", "--http1.1", "--http2-prior-knowledge", "-s", "-v",
                          "--trace", "--graph", "--connect-timeout", "--max-time", "--fail", "--probe", "-4, --ipv4",
                          "-6, --ipv6", "--dns-servers", "--no-sessionid", "--pinnedpubkey", "-x, --proxy",
                          "--noproxy", "-U, --proxy-user", "--socks5", "--socks5-hostname", "--proxy-cacert",
                          "--proxy-insecure", "-L, --location", "--max-redirs", "--compressed", "--retry",
                          "--retry-delay", "--retry-max-time", "--expect100-timeout"})
    CHECK(contains(r.out, opt));
  CHECK(contains(r.out, "Usage: h2get [options...] <url>..."));
}

TEST_CASE("h2get: a GET writes the body to stdout, nothing else, and exits 0") {
  two_hosts s;
  auto r = s.f.h2get({s.url("a.test", "/bytes/5000")});
  CHECK(r.exit_code == 0);
  CHECK(r.out == expected_bytes(5000));
  CHECK(r.err.empty());
}

TEST_CASE("h2get: -o writes bodies to files in URL order, the rest goes to stdout") {
  two_hosts s;
  auto one = s.f.file("one"), two = s.f.file("two");
  auto r = s.f.h2get({"-o", one, s.url("a.test", "/bytes/10"), "-o", two, s.url("a.test", "/bytes/20"),
                      s.url("b.test", "/stdout")});
  CHECK(r.exit_code == 0);
  CHECK(slurp(one) == expected_bytes(10));
  CHECK(slurp(two) == expected_bytes(20));
  CHECK(r.out == "host=b.test path=/stdout");
}

TEST_CASE("h2get: -i puts the status line and header fields before the body; -I sends HEAD and prints only them") {
  two_hosts s;
  auto r = s.f.h2get({"-i", s.url("a.test", "/hello")});
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("HTTP/2 200 \r\n", 0) == 0);
  CHECK(contains(r.out, "x-routed-host: a.test\r\n"));
  auto split = r.out.find("\r\n\r\n");
  REQUIRE(split != std::string::npos);
  CHECK(r.out.substr(split + 4) == "host=a.test path=/hello");

  auto h = s.f.h2get({"-I", s.url("a.test", "/hello")});
  CHECK(h.exit_code == 0);
  CHECK(h.out.rfind("HTTP/2 200 \r\n", 0) == 0);
  CHECK(h.out.size() >= 4);
  CHECK(h.out.substr(h.out.size() - 4) == "\r\n\r\n");
  CHECK(s.server->requests().back().method == "HEAD");
}

TEST_CASE("h2get: -X, -H and -d shape the request (method, header fields, body from @FILE)") {
  SECTION("over HTTP/2: the server sees the method and the joined body") {
    two_hosts s;
    std::ofstream(s.f.file("data")) << "b=2\r\nc=3\n";
    auto r = s.f.h2get({"-d", "a=1", "-d", "@" + s.f.file("data"), s.url("a.test", "/echo")});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "a=1&b=2c=3");
    CHECK(s.server->requests().back().method == "POST");
    auto x = s.f.h2get({"-X", "PUT", "-d", "@-", s.url("a.test", "/echo")}, "from stdin\n");
    CHECK(x.out == "from stdin");
    CHECK(s.server->requests().back().method == "PUT");
  }
  SECTION("over HTTP/1.1: the exact header fields") {
    echo_request_server echo;
    h2get_fixture f;
    auto r = f.h2get({"-X", "PATCH", "-H", "X-Test: one two", "-H", "User-Agent:", "-H", "Accept: text/plain",
                      "-H", "X-Empty;", "-H", "Host: other.test", "-d", "k=v",
                      "http://127.0.0.1:" + std::to_string(echo.port()) + "/path?q=1"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("PATCH /path?q=1 HTTP/1.1\r\n", 0) == 0);
    // curl's -H 'Host: x' is request::authority: one Host field, the given one (DESIGN section 10).
    CHECK(contains(r.out, "\r\nHost: other.test\r\n"));
    CHECK(r.out.find("Host:") == r.out.rfind("Host:"));
    CHECK(contains(r.out, "X-Test: one two\r\n"));
    CHECK(contains(r.out, "Accept: text/plain\r\n"));
    CHECK_FALSE(contains(r.out, "accept: */*"));
    CHECK(contains(r.out, "X-Empty: \r\n"));
    CHECK_FALSE(contains(r.out, "user-agent"));
    CHECK(contains(r.out, "content-type: application/x-www-form-urlencoded\r\n"));
    CHECK(r.out.substr(r.out.size() - 3) == "k=v");
  }
  SECTION("bad header or method: exit 2") {
    h2get_fixture f;
    CHECK(f.h2get({"-H", "no colon", "http://127.0.0.1/"}).exit_code == 2);
    CHECK(f.h2get({"-H", "Content-Length: 5", "http://127.0.0.1/"}).exit_code == 2);
    CHECK(f.h2get({"-H", "Transfer-Encoding: chunked", "http://127.0.0.1/"}).exit_code == 2);
    CHECK(f.h2get({"-H", "Host: a b", "http://127.0.0.1/"}).exit_code == 2);
    CHECK(f.h2get({"-X", "GE T", "http://127.0.0.1/"}).exit_code == 2);
    CHECK(f.h2get({"-I", "-d", "x", "http://127.0.0.1/"}).exit_code == 2);
    CHECK(f.h2get({"-d", "@" + f.file("missing"), "http://127.0.0.1/"}).exit_code == 26);
  }
}

TEST_CASE("h2get: -Z runs the transfers at once and still writes them in URL order") {
  two_hosts s;
  auto seq = s.f.h2get({s.url("a.test", "/delay/200"), s.url("a.test", "/bytes/5")});
  CHECK(seq.exit_code == 0);
  CHECK(s.server->max_open_streams() == 1);

  two_hosts p;
  auto par = p.f.h2get({"-Z", p.url("a.test", "/delay/200"), p.url("a.test", "/bytes/5")});
  CHECK(par.exit_code == 0);
  CHECK(p.server->max_open_streams() == 2);  // both streams open together on one connection
  CHECK(par.out == "host=a.test path=/delay/200" + expected_bytes(5));
  CHECK(par.out == seq.out);
}

TEST_CASE("h2get: --http1.1 and --http2-prior-knowledge choose the protocol") {
  two_hosts s;
  auto h1 = s.f.h2get({"--http1.1", "-w", "%{http_version}", "-o", "/dev/null", s.url("a.test")});
  CHECK(h1.exit_code == 0);
  CHECK(h1.out == "1.1");
  CHECK(s.server->connections().back().alpn == "http/1.1");
  auto h2 = s.f.h2get({"-w", "%{http_version}", "-o", "/dev/null", s.url("a.test")});
  CHECK(h2.out == "2");

  server_options so;
  so.protocol = server_protocol::h2c;
  test_server h2c(so);
  h2get_fixture f;
  auto pk = f.h2get({"--http2-prior-knowledge", "-w", " %{http_version}", "http://127.0.0.1:" + std::to_string(h2c.port()) + "/x"});
  CHECK(pk.exit_code == 0);
  CHECK(pk.out == "host=127.0.0.1 path=/x 2");
}

TEST_CASE("h2get: --policy and --ip-match decide what is shared (-w %{connections})") {
  server_options so;
  so.addresses = {"127.0.0.1", "127.0.0.2"};
  h2get_fixture f;
  so.cert = f.ca.issue({"a.test", "b.test"});
  test_server server(so);
  auto p = server.port();
  auto url = [p](const char* h) { return test_url(h, p); };
  const std::string w = "%{connection}:%{coalesced}:%{coalesce_basis} ";

  SECTION("one address: strict opens two connections, browser and origin share one") {
    f.resolve("a.test", p);
    f.resolve("b.test", p);
    for (auto [policy, expected] : {std::pair{"strict", "1:0:same-origin 2:0:same-origin "},
                                    std::pair{"browser", "1:0:same-origin 1:1:dns-match "},
                                    std::pair{"origin", "1:0:same-origin 1:1:dns-match "}}) {
      auto r = f.h2get({"--policy", policy, "-o", "/dev/null", "-o", "/dev/null", "-w", w, url("a.test"), url("b.test")});
      INFO(policy);
      CHECK(r.exit_code == 0);
      CHECK(r.out == expected);
    }
  }
  SECTION("a on [.1, .2] (connected to .1), b on [.2]: --ip-match any shares, connected does not") {
    f.resolve("a.test", p, "127.0.0.1,127.0.0.2");
    f.resolve("b.test", p, "127.0.0.2");
    auto connected = f.h2get({"--policy", "browser", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{connections} ", url("a.test"), url("b.test")});
    CHECK(connected.out == "1 2 ");
    auto any = f.h2get({"--policy", "browser", "--ip-match", "any", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{connections} ", url("a.test"), url("b.test")});
    CHECK(any.out == "1 1 ");
  }
}

TEST_CASE("h2get: --resolve steers a name to the given address") {
  server_options so;
  so.addresses = {"127.0.0.1", "127.0.0.2"};
  h2get_fixture f;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", server.port(), "127.0.0.2");
  auto r = f.h2get({"-o", "/dev/null", test_url("a.test", server.port())});
  CHECK(r.exit_code == 0);
  CHECK(server.requests().back().local_address == "127.0.0.2");
  CHECK(f.h2get({"--resolve", "a.test:notaport:127.0.0.1", "http://a.test/"}).exit_code == 2);
}

namespace {

// Whether this machine's loopback has ::1 (containers may run without IPv6).
bool has_ipv6_loopback() {
  asio::io_context io;
  std::error_code ec;
  asio::ip::tcp::acceptor a(io);
  a.open(asio::ip::tcp::v6(), ec);
  if (!ec) a.bind({asio::ip::make_address("::1"), 0}, ec);
  return !ec;
}

}  // namespace

TEST_CASE("h2get: -4 and -6 are options, not URLs, and another dash is still an unknown option (exit 2)") {
  two_hosts s;  // a.test on 127.0.0.1
  for (const char* flag : {"-4", "--ipv4"}) {
    INFO(flag);
    auto r = s.f.h2get({flag, "-o", "/dev/null", "-w", "%{http_code}", s.url("a.test")});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "200");
  }
  for (const char* flag : {"-4", "-6", "--ipv6", "-46"}) {
    INFO(flag);
    auto alone = s.f.h2get({flag});  // an option, so still no URL
    CHECK(alone.exit_code == 2);
    CHECK(contains(alone.err, "h2get: (2) no URL specified"));
  }
  auto unknown = s.f.h2get({"-7", s.url("a.test")});
  CHECK(unknown.exit_code == 2);
  CHECK(contains(unknown.err, "h2get: (2) option -7: is unknown"));
  CHECK(s.f.h2get({"-q", s.url("a.test")}).exit_code == 2);
}

TEST_CASE("h2get: the proxy options check their arguments before any transfer, with curl's exit codes") {
  h2get_fixture f;
  const std::string url = "http://127.0.0.1:1/";  // never reached: every case stops before connecting
  for (const char* opt : {"-x", "--proxy", "--noproxy", "-U", "--proxy-user", "--socks5", "--socks5-hostname",
                          "--proxy-cacert"}) {
    INFO(opt);
    CHECK(f.h2get({url, opt}).exit_code == 2);  // the argument is missing
  }
  struct row {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  const std::vector<row> rows = {
      // --socks5 and --socks5-hostname take HOST[:PORT]: no scheme, not empty.
      {{"--socks5", "http://p.test"}, 2, "h2get: (2) --socks5: 'http://p.test' is not HOST[:PORT]"},
      {{"--socks5-hostname", ""}, 2, "--socks5-hostname: '' is not HOST[:PORT]"},
      // curl: a proxy string it cannot parse is CURLE_COULDNT_RESOLVE_PROXY (5), an unknown scheme 7.
      {{"-x", "http://p.test:0"}, 5, "h2get: (5) unsupported proxy syntax in 'http://p.test:0'"},
      {{"--proxy", "http://p.test/path"}, 5, "unsupported proxy syntax"},
      {{"--socks5", "p.test:99999"}, 5, "unsupported proxy syntax"},
      {{"-x", "socks4://p.test"}, 7, "h2get: (7) unsupported proxy scheme for 'socks4://p.test'"},
      {{"-x", "ftp://p.test"}, 7, "unsupported proxy scheme"},
      // The last of -x, --socks5 and --socks5-hostname is the one used.
      {{"-x", "socks4://p.test", "--socks5", "p.test:0"}, 5, "unsupported proxy syntax"},
      {{"--socks5-hostname", "p.test:0", "-x", "socks4://p.test"}, 7, "unsupported proxy scheme"},
      // --proxy-cacert must be readable, as --cacert (77).
      {{"-x", "https://p.test", "--proxy-cacert", "/nonexistent/ca.pem"}, 77, "--proxy-cacert"},
  };
  for (const auto& r : rows) {
    std::vector<std::string> args = r.args;
    args.push_back(url);
    std::string described;
    for (const auto& a : args) described += "'" + a + "' ";
    INFO(described);
    auto result = f.h2get(args);
    CHECK(result.exit_code == r.exit_code);
    CHECK(contains(result.err, r.message));
  }
}

TEST_CASE("h2get: -x with an empty string uses no proxy, not even the environment's") {
  two_hosts s;
  // A proxy variable h2get would reject (exit 7) if it read it: -x "" must not.
  auto r = s.f.h2get({"-x", "", "-o", "/dev/null", "-w", "%{http_code}", s.url("a.test")}, {},
                     {"https_proxy=socks4://p.test", "http_proxy=socks4://p.test", "all_proxy=socks4://p.test"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "200");
}

TEST_CASE("h2get: -6 with a v6-only --resolve connects over ::1") {
  if (!has_ipv6_loopback()) {
    WARN("no ::1 on this machine's loopback: nothing to connect over IPv6 to");
    return;
  }
  h2get_fixture f;
  server_options so;
  so.addresses = {"127.0.0.1", "::1"};
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", server.port(), "[::1]");
  auto r = f.h2get({"-6", "-o", "/dev/null", test_url("a.test", server.port())});
  CHECK(r.exit_code == 0);
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests().back().local_address == "::1");
}

// The client's ip_family is the dialer's to honour (DESIGN section 11): until it does, -4 still connects.
TEST_CASE("h2get: -4 with a v6-only --resolve does not connect") {
  if (!has_ipv6_loopback()) {
    FAIL("no ::1 on this machine's loopback");  // keeps the expected failure expected
  }
  h2get_fixture f;
  server_options so;
  so.addresses = {"127.0.0.1", "::1"};
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", server.port(), "[::1]");
  auto r = f.h2get({"-4", "-o", "/dev/null", test_url("a.test", server.port())});
  CHECK((r.exit_code == 6 || r.exit_code == 7));
  CHECK(server.connection_count() == 0);
}

TEST_CASE("h2get: --no-sessionid is accepted, and a malformed --pinnedpubkey exits 2") {
  two_hosts s;
  CHECK(s.f.h2get({"--no-sessionid", "-o", "/dev/null", s.url("a.test")}).exit_code == 0);
  for (const char* bad : {"sha256//abc", "sha1//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "/etc/key.pem",
                          "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;"}) {
    INFO(bad);
    auto r = s.f.h2get({"--pinnedpubkey", bad, s.url("a.test")});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "h2get: (2) --pinnedpubkey: "));
  }
}

// Key pinning is the TLS layer's to enforce (tls_options::pinned_public_keys): until it does, a wrong pin
// still connects.
TEST_CASE("h2get: a --pinnedpubkey the server's key does not match exits 90") {
  two_hosts s;
  auto r = s.f.h2get({"--pinnedpubkey", "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", s.url("a.test")});
  CHECK(r.exit_code == 90);
  CHECK(contains(r.err, "h2get: (90) public key of a.test does not match"));
}

#if defined(H2COAL_HAS_CARES)
TEST_CASE("h2get: --dns-servers resolves through the given servers (c-ares)") {
  dns_server dns;
  two_hosts s;
  s.f.resolves.clear();  // nothing from --resolve: a.test and c.test come from the DNS server
  dns.set("a.test", [] {
    dns_records r;
    r.a = {"127.0.0.1"};
    return r;
  }());
  SECTION("an answer") {
    auto r = s.f.h2get({"--dns-servers", dns.servers(), "-o", "/dev/null", "-w", "%{http_code}", s.url("a.test")});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "200");
    CHECK(dns.queries("a.test", dns_type::a) == 1);
    CHECK(dns.queries("a.test", dns_type::aaaa) == 1);
  }
  SECTION("--resolve still comes first") {
    s.f.resolve("a.test", s.port);
    auto r = s.f.h2get({"--dns-servers", dns.servers(), "-o", "/dev/null", s.url("a.test")});
    CHECK(r.exit_code == 0);
    CHECK(dns.total_queries() == 0);
  }
  SECTION("NXDOMAIN: exit 6") {
    auto r = s.f.h2get({"--dns-servers", dns.servers(), "https://nx.test/"});
    CHECK(r.exit_code == 6);
    CHECK(r.err.rfind("h2get: (6) could not resolve host: nx.test", 0) == 0);
  }
  SECTION("a silent server: exit 28 within --connect-timeout") {
    dns.set_mode("quiet.test", dns_mode::silent);
    auto r = s.f.h2get({"--dns-servers", dns.servers(), "--connect-timeout", "0.3", "https://quiet.test/"});
    CHECK(r.exit_code == 28);
    CHECK(contains(r.err, "h2get: (28) resolving quiet.test timed out"));
  }
  SECTION("a malformed list: exit 2") {
    for (const char* bad : {"", "dns.example", "127.0.0.1:", "[::1"}) {
      INFO(bad);
      auto r = s.f.h2get({"--dns-servers", bad, s.url("a.test")});
      CHECK(r.exit_code == 2);
      CHECK(contains(r.err, "h2get: (2) --dns-servers: cannot parse"));
    }
  }
  CHECK(dns.malformed() == 0);
}

// The DNS server's word reaches the message once the pool passes resolution::reason on as
// response::error_detail (DESIGN section 11's establishment work); until then the line ends at the host.
TEST_CASE("h2get: an NXDOMAIN is told as such") {
  dns_server dns;
  h2get_fixture f;
  auto r = f.h2get({"--dns-servers", dns.servers(), "https://nx.test/"});
  CHECK(r.exit_code == 6);
  CHECK(contains(r.err, "h2get: (6) could not resolve host: nx.test (NXDOMAIN)\n"));
}
#else
TEST_CASE("h2get: --dns-servers without c-ares is not built in (exit 4)") {
  h2get_fixture f;
  auto r = f.h2get({"--dns-servers", "127.0.0.1", "https://a.test/"});
  CHECK(r.exit_code == 4);
  CHECK(contains(r.err, "h2get: (4) --dns-servers: not built in"));
}
#endif

TEST_CASE("h2get: --cacert, -k and certificate errors (exit 60)") {
  two_hosts s;
  SECTION("a certificate from another CA: 60 with one clear line; -k goes on") {
    test_ca other;
    server_options so;
    so.cert = other.issue({"a.test"});
    test_server foreign(so);
    h2get_fixture f;
    f.resolve("a.test", foreign.port());
    auto r = f.h2get({test_url("a.test", foreign.port())});
    CHECK(r.exit_code == 60);
    CHECK(r.err.rfind("h2get: (60) certificate for a.test is not valid: ", 0) == 0);
    CHECK(lines_of(r.err).size() == 1);
    auto k = f.h2get({"-k", "-o", "/dev/null", test_url("a.test", foreign.port())});
    CHECK(k.exit_code == 0);
  }
  SECTION("a name the certificate does not cover: 60") {
    s.f.resolve("c.test", s.port);
    auto r = s.f.h2get({s.url("c.test")});
    CHECK(r.exit_code == 60);
    CHECK(contains(r.err, "certificate for c.test is not valid"));
  }
  SECTION("an unreadable --cacert: 77") {
    auto r = h2get_test::run_process({H2GET_PATH, "--cacert", s.f.file("missing.pem"), s.url("a.test")});
    CHECK(r.exit_code == 77);
  }
}

TEST_CASE("h2get: -E and --key present a client certificate") {
  h2get_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  so.request_client_cert = true;
  test_server server(so);
  f.resolve("a.test", server.port());
  auto client = f.ca.issue_client("h2get");
  auto cert = f.dir.write_temp_file(client.cert_pem, ".pem");
  auto key = f.dir.write_temp_file(client.key_pem, ".key");
  auto r = f.h2get({"-E", cert, "--key", key, "-o", "/dev/null", test_url("a.test", server.port())});
  CHECK(r.exit_code == 0);
  REQUIRE(server.connections().size() == 1);
  CHECK(server.connections()[0].client_cert);
  auto missing = f.h2get({"--cert", f.file("nope.pem"), test_url("a.test", server.port())});
  CHECK(missing.exit_code == 58);
}

TEST_CASE("h2get: -s silences error messages, -S brings them back, the exit code stays") {
  h2get_fixture f;
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/";
  auto loud = f.h2get({url});
  CHECK(loud.exit_code == 7);
  CHECK(loud.err.rfind("h2get: (7) failed to connect to 127.0.0.1 port ", 0) == 0);
  auto quiet = f.h2get({"-s", url});
  CHECK(quiet.exit_code == 7);
  CHECK(quiet.err.empty());
  auto shown = f.h2get({"-sS", url});
  CHECK(shown.exit_code == 7);
  CHECK(contains(shown.err, "h2get: (7) "));
}

TEST_CASE("h2get: the progress meter shows only when stderr is a terminal, and not with -s") {
  if (access("/usr/bin/script", X_OK) != 0) {
    WARN("util-linux 'script' is missing: no terminal to test the meter with");
    return;
  }
  two_hosts s;
  // script(1) gives h2get a pseudo-terminal; everything h2get prints arrives on script's stdout.
  auto command = [&](const std::string& extra) {
    std::string c = std::string(H2GET_PATH) + " --cacert " + s.f.ca.ca_file();
    for (const auto& r : s.f.resolves) c += " " + r;
    return c + " " + extra + " -o " + s.f.file("body") + " " + s.url("a.test", "/bytes/100000");
  };
  auto shown = h2get_test::run_process({"/usr/bin/script", "-qec", command(""), "/dev/null"});
  CHECK(shown.exit_code == 0);
  // curl's columns: its header, then a line that ends at 100% of the 100,000 bytes (97k in curl's units).
  CHECK(contains(shown.out, "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current"));
  CHECK(contains(shown.out, "100   97k  100   97k    0     0"));
  CHECK(slurp(s.f.file("body")) == expected_bytes(100000));
  auto silent = h2get_test::run_process({"/usr/bin/script", "-qec", command("-s"), "/dev/null"});
  CHECK(silent.exit_code == 0);
  CHECK_FALSE(contains(silent.out, "% Total"));
  auto quiet = h2get_test::run_process({"/usr/bin/script", "-qec", command("--no-progress-meter"), "/dev/null"});
  CHECK(quiet.exit_code == 0);
  CHECK_FALSE(contains(quiet.out, "% Total"));
  auto bar = h2get_test::run_process({"/usr/bin/script", "-qec", command("-#"), "/dev/null"});
  CHECK(bar.exit_code == 0);
  CHECK(contains(bar.out, "###"));
  CHECK(contains(bar.out, "100.0%"));
  // curl under the same terminal prints the same header and the same first columns.
  std::string curl = "/usr/bin/curl --cacert " + s.f.ca.ca_file();
  for (const auto& r : s.f.resolves) curl += " " + r;
  curl += " -o " + s.f.file("curl-body") + " " + s.url("a.test", "/bytes/100000");
  auto theirs = h2get_test::run_process({"/usr/bin/script", "-qec", curl, "/dev/null"});
  CHECK(contains(theirs.out, "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current"));
  CHECK(contains(theirs.out, "100   97k  100   97k    0     0"));
}

// ---- Exit codes, one per error class ----

TEST_CASE("h2get: exit codes follow curl's meanings") {
  h2get_fixture f;
  SECTION("2: unknown option, bad option value, no URL") {
    CHECK(f.h2get({"--no-such-option", "http://127.0.0.1/"}).exit_code == 2);
    CHECK(f.h2get({"--policy", "greedy", "http://127.0.0.1/"}).exit_code == 2);
    CHECK(f.h2get({"--connect-timeout", "-1", "http://127.0.0.1/"}).exit_code == 2);
    auto none = f.h2get({});
    CHECK(none.exit_code == 2);
    CHECK(contains(none.err, "h2get: (2) no URL specified"));
  }
  SECTION("3: malformed URL; 1: unsupported scheme") {
    CHECK(f.h2get({"https://bad host/"}).exit_code == 3);
    CHECK(f.h2get({"ftp://127.0.0.1/"}).exit_code == 1);
  }
  SECTION("6: the name does not resolve") {
    // A reserved name (RFC 6761); the resolver is told to give up quickly if no DNS server answers.
    auto r = f.h2get({"https://no-such-host.invalid/"}, {}, {"RES_OPTIONS=timeout:1 attempts:1"});
    CHECK(r.exit_code == 6);
    CHECK(contains(r.err, "h2get: (6) could not resolve host: no-such-host.invalid"));
  }
  SECTION("7: nobody listens") {
    CHECK(f.h2get({"https://127.0.0.1:" + std::to_string(closed_port()) + "/"}).exit_code == 7);
  }
  SECTION("28: --connect-timeout (the TLS handshake never finishes) and --max-time (the answer never comes)") {
    server_options stall;
    stall.cert = f.ca.issue({"a.test"});
    stall.stall_handshake = true;
    test_server silent(stall);
    f.resolve("a.test", silent.port());
    auto c = f.h2get({"--connect-timeout", "0.3", test_url("a.test", silent.port())});
    CHECK(c.exit_code == 28);
    CHECK(contains(c.err, "h2get: (28) "));

    two_hosts s;
    auto m = s.f.h2get({"-m", "0.3", s.url("a.test", "/stall")});
    CHECK(m.exit_code == 28);
    CHECK(contains(m.err, "h2get: (28) operation timed out"));
  }
  SECTION("35: the TLS handshake fails (the server answers in cleartext HTTP/1.1)") {
    echo_request_server plain("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    f.resolve("a.test", plain.port());
    auto r = f.h2get({test_url("a.test", plain.port())});
    CHECK(r.exit_code == 35);
    CHECK(contains(r.err, "h2get: (35) "));
  }
  SECTION("22: an HTTP error with --fail, and no body; without --fail the body and 0") {
    two_hosts s;
    auto failed = s.f.h2get({"--fail", s.url("a.test", "/status/404")});
    CHECK(failed.exit_code == 22);
    CHECK(failed.out.empty());
    CHECK(contains(failed.err, "h2get: (22) the requested URL returned error: 404"));
    auto plain = s.f.h2get({s.url("a.test", "/status/404")});
    CHECK(plain.exit_code == 0);
    CHECK(plain.out == "status 404");
  }
  SECTION("23: the output cannot be written") {
    two_hosts s;
    auto r = s.f.h2get({"-o", s.f.file("no/such/dir"), s.url("a.test")});
    CHECK(r.exit_code == 23);
  }
  SECTION("with several URLs the last one's result counts, as in curl; every failure is reported") {
    two_hosts s;
    const std::string refused = "https://127.0.0.1:" + std::to_string(closed_port()) + "/";
    auto last_ok = s.f.h2get({"-o", "/dev/null", refused, s.url("a.test")});
    CHECK(last_ok.exit_code == 0);
    CHECK(contains(last_ok.err, "h2get: (7) "));
    auto last_bad = s.f.h2get({"-o", "/dev/null", s.url("a.test"), refused});
    CHECK(last_bad.exit_code == 7);
  }
}

// ---- -v, --trace, --graph ----

TEST_CASE("h2get: -v shows pool decisions and connection events, then the connection table") {
  two_hosts s;
  auto r = s.f.h2get({"-v", "-o", "/dev/null", "-o", "/dev/null", s.url("a.test"), s.url("b.test")});
  CHECK(r.exit_code == 0);
  for (const char* ev : {"request.start", "pool.decision", "conn.connect", "conn.ready", "request.sent", "request.done"})
    CHECK(contains(r.err, ev));
  CHECK(contains(r.err, "action=coalesce"));
  CHECK(contains(r.err, "* connections opened: 1\n"));
  bool row = false;
  for (const auto& line : lines_of(r.err))
    if (line.rfind("*   1 ", 0) == 0)
      row = contains(line, "127.0.0.1:" + std::to_string(s.port)) && contains(line, " a.test ") &&
            contains(line, " h2 ") && contains(line, s.origin("a.test")) && contains(line, s.origin("b.test"));
  CHECK(row);
  CHECK(contains(r.err, "< HTTP/2 200"));
}

namespace {

// Checks one --trace line against DESIGN section 5: t and ev, then each event's fields and their types.
void check_trace_line(const std::string& line, std::set<std::string>& seen) {
  INFO(line);
  json e = json::parse(line);  // throws (and fails the test) when the line is not JSON
  REQUIRE(e.is_object());
  REQUIRE(e.at("t").is_number_integer());
  REQUIRE(e.at("ev").is_string());
  const std::string ev = e["ev"];
  seen.insert(ev);
  auto integer = [&](const char* k) { CHECK(e.at(k).is_number_integer()); };
  auto string = [&](const char* k) { CHECK(e.at(k).is_string()); };
  auto strings = [&](const char* k) {
    REQUIRE(e.at(k).is_array());
    for (const auto& x : e[k]) CHECK(x.is_string());
  };
  static const std::map<std::string, std::set<std::string>> fields = {
      {"request.start", {"req", "method", "url", "origin"}},
      {"dns.done", {"host", "addrs", "error", "us", "cached"}},
      {"dns.changed", {"host", "addrs", "previous"}},
      {"pool.decision", {"req", "origin", "policy", "action", "conn", "basis", "matched_ip", "candidates"}},
      {"conn.attempt", {"conn", "remote", "family", "attempt"}},
      {"conn.attempt_failed", {"conn", "remote", "error"}},
      {"conn.connect", {"conn", "origin", "remote", "sni"}},
      {"conn.ready", {"conn", "alpn", "tls_version", "peer_sans", "verified", "resumed", "max_concurrent_streams"}},
      {"conn.failed", {"conn", "error"}},
      {"conn.origin_frame", {"conn", "origins", "origin_set", "ignored", "truncated"}},
      {"conn.goaway", {"conn", "last_stream_id", "error_code"}},
      {"conn.redundant", {"conn", "served_by", "basis", "closed"}},  // pool.hpp: a duplicate connection
      {"conn.close", {"conn", "reason", "requests"}},
      {"request.sent", {"req", "conn", "stream"}},
      {"request.misdirected", {"req", "conn", "origin"}},
      {"request.retry", {"req", "reason", "attempt"}},
      {"request.done", {"req", "conn", "status", "bytes", "error"}},
  };
  REQUIRE(fields.count(ev) == 1);
  for (const auto& [k, v] : e.items())
    if (k != "t" && k != "ev") CHECK(fields.at(ev).count(k) == 1);  // nothing outside the schema
  if (ev == "request.start") {
    integer("req"), string("method"), string("url"), string("origin");
  } else if (ev == "dns.done") {
    string("host"), strings("addrs"), integer("us");
  } else if (ev == "pool.decision") {
    integer("req"), string("origin"), string("policy"), integer("conn");
    CHECK(std::set<std::string>{"reuse", "coalesce", "wait", "connect"}.count(e.at("action")) == 1);
    if (e.contains("basis")) CHECK(std::set<std::string>{"same-origin", "dns-match", "origin-frame"}.count(e["basis"]) == 1);
    REQUIRE(e.at("candidates").is_array());
    static const std::set<std::string> reasons = {
        "other-origin", "different-scheme", "different-port", "ip-mismatch", "cert-mismatch", "unverified", "client-cert", "draining",
        "at-capacity", "not-in-origin-set", "misdirected", "http1", "partition", "proper-subset", "not-ready"};
    for (const auto& c : e["candidates"]) {
      CHECK(c.at("conn").is_number_integer());
      CHECK(c.at("origin").is_string());
      CHECK(std::set<std::string>{"chosen", "rejected"}.count(c.at("verdict")) == 1);
      if (c.contains("reason")) CHECK(reasons.count(c["reason"]) == 1);
    }
  } else if (ev == "conn.connect") {
    integer("conn"), string("origin"), string("remote"), string("sni");
  } else if (ev == "conn.ready") {
    integer("conn"), string("alpn"), string("tls_version"), strings("peer_sans"), integer("max_concurrent_streams");
    CHECK(e.at("verified").is_boolean());
    CHECK(e.at("resumed").is_boolean());
  } else if (ev == "conn.failed") {
    integer("conn"), string("error");
  } else if (ev == "conn.origin_frame") {
    integer("conn"), strings("origins"), strings("origin_set");
  } else if (ev == "conn.close") {
    integer("conn"), string("reason"), integer("requests");
  } else if (ev == "request.sent") {
    integer("req"), integer("conn"), integer("stream");
  } else if (ev == "request.misdirected") {
    integer("req"), integer("conn"), string("origin");
  } else if (ev == "request.retry") {
    integer("req"), string("reason"), integer("attempt");
  } else if (ev == "request.done") {
    integer("req"), integer("conn"), integer("status"), integer("bytes");
  }
}

}  // namespace

TEST_CASE("h2get: --trace writes JSON lines that match the trace schema") {
  std::set<std::string> seen;
  auto check_file = [&seen](const std::string& text) {
    auto lines = lines_of(text);
    CHECK_FALSE(lines.empty());
    for (const auto& l : lines) check_trace_line(l, seen);
  };
  SECTION("coalescing, a 421 retry, an ORIGIN frame, a failed connection; '-' is stderr") {
    {
      two_hosts s(demo_like("misdirected"));
      auto trace = s.f.file("trace.jsonl");
      auto r = s.f.h2get({"--trace", trace, "-o", "/dev/null", "-o", "/dev/null", s.url("a.test", "/login"), s.url("b.test", "/v1/x")});
      CHECK(r.exit_code == 0);
      check_file(slurp(trace));
    }
    {
      server_options so;
      so.origin_frames_for_sni = [](const std::string&) { return std::vector<std::vector<std::string>>{{"https://b.test"}}; };
      two_hosts s(so);
      auto r = s.f.h2get({"--trace", "-", "-s", "-o", "/dev/null", s.url("a.test")});
      CHECK(r.exit_code == 0);
      check_file(r.err);
    }
    {
      two_hosts s;
      auto r = s.f.h2get({"--trace", "-", "-s", "-o", "/dev/null", s.url("a.test", "/goaway")});
      CHECK(r.exit_code == 0);
      check_file(r.err);
    }
    {
      h2get_fixture f;
      auto r = f.h2get({"--trace", "-", "-s", "https://127.0.0.1:" + std::to_string(closed_port()) + "/"});
      CHECK(r.exit_code == 7);
      check_file(r.err);
    }
    for (const char* ev : {"request.start", "dns.done", "pool.decision", "conn.attempt", "conn.attempt_failed",
                           "conn.connect", "conn.ready", "conn.failed",
                           "conn.origin_frame", "conn.goaway", "request.sent", "request.misdirected", "request.retry",
                           "request.done"})
      CHECK(seen.count(ev) == 1);
  }
}

TEST_CASE("h2get: --graph writes DOT naming every connection and origin, with 421s and rejections") {
  two_hosts s(demo_like("misdirected"));
  auto dot = s.f.file("g.dot");
  auto r = s.f.h2get({"--policy", "browser", "--graph", dot, "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                      s.url("a.test", "/login"), s.url("b.test", "/v1/x"), s.url("b.test", "/v1/y")});
  CHECK(r.exit_code == 0);
  auto g = slurp(dot);
  CHECK(g.rfind("digraph h2get {", 0) == 0);
  CHECK(contains(g, "conn1 [shape=box"));
  CHECK(contains(g, "conn2 [shape=box"));
  CHECK_FALSE(contains(g, "conn3"));
  CHECK(contains(g, "\"" + s.origin("a.test") + "\" [shape=ellipse"));
  CHECK(contains(g, "\"" + s.origin("b.test") + "\" [shape=ellipse"));
  CHECK(contains(g, "\"" + s.origin("b.test") + "\" -> conn1 [label=\"421 misdirected (1 request)\""));
  CHECK(contains(g, "\"" + s.origin("b.test") + "\" -> conn2 [label=\"same-origin (retry after 421) (1 request)\""));
  CHECK(contains(g, "\"" + s.origin("b.test") + "\" -> conn1 [label=\"rejected: misdirected\""));
  CHECK(contains(g, "SNI b.test"));

  SECTION(".svg: rendered by Graphviz when it is there, else DOT beside it and a warning") {
    auto svg = s.f.file("g.svg");
    auto v = s.f.h2get({"--graph", svg, "-o", "/dev/null", s.url("a.test", "/login")});
    CHECK(v.exit_code == 0);
    if (slurp(svg).empty()) {
      CHECK(contains(v.err, "wrote DOT to"));
      CHECK(contains(slurp(s.f.file("g.dot")), "conn1"));
    } else {
      CHECK(contains(slurp(svg), "<svg"));
    }
  }
}

// ---- --probe ----

TEST_CASE("h2get: --probe finds the misrouted origin behind an SNI router, and nothing elsewhere") {
  SECTION("sni-routing: b coalesced onto a's connection reaches a's service: misrouted, exit 120") {
    two_hosts s(demo_like("sni-routing"));
    auto r = s.f.h2get({"--probe", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} ", s.url("a.test", "/login"),
                        s.url("b.test", "/v1/items")});
    CHECK(r.exit_code == 120);
    CHECK(r.out == "200 404 ");
    CHECK(contains(r.err, "MISROUTED"));
    CHECK(contains(r.err, "1 coalesced response checked, 1 misrouted: " + s.origin("b.test")));
  }
  SECTION("sni-routing under strict: nothing coalesced, nothing misrouted") {
    two_hosts s(demo_like("sni-routing"));
    auto r = s.f.h2get({"--probe", "--policy", "strict", "-o", "/dev/null", "-o", "/dev/null", s.url("a.test", "/login"),
                        s.url("b.test", "/v1/items")});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.err, "no response was coalesced"));
  }
  SECTION("misdirected: the 421 sends b to its own connection: nothing misrouted") {
    two_hosts s(demo_like("misdirected"));
    auto r = s.f.h2get({"--probe", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} ", s.url("a.test", "/login"),
                        s.url("b.test", "/v1/items")});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "200 200 ");
    CHECK_FALSE(contains(r.err, "MISROUTED"));
  }
  SECTION("origin-frame: a's connection declares only a; the origin policy keeps b apart") {
    server_options so = demo_like("sni-routing");
    auto port = std::make_shared<std::atomic<std::uint16_t>>(0);
    so.origin_frames_for_sni = [port](const std::string& sni) {
      return std::vector<std::vector<std::string>>{{"https://" + sni + ":" + std::to_string(port->load())}};
    };
    two_hosts s(so);
    port->store(s.port);
    auto r = s.f.h2get({"--probe", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} ", s.url("a.test", "/login"),
                        s.url("b.test", "/v1/items")});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "200 200 ");
    CHECK_FALSE(contains(r.err, "MISROUTED"));
  }
  SECTION("a server that routes by :authority: coalesced, and consistent") {
    two_hosts s;
    auto r = s.f.h2get({"--probe", "-o", "/dev/null", "-o", "/dev/null", s.url("a.test", "/x"), s.url("b.test", "/x")});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.err, "verdict    consistent"));
    CHECK(contains(r.err, "1 coalesced response checked, 0 misrouted"));
  }
}

TEST_CASE("h2get: a 421 retry's output is the final answer only") {
  two_hosts s(demo_like("misdirected"));
  auto r = s.f.h2get({"-w", " %{num_retries}", "-o", "/dev/null", s.url("a.test", "/login"), s.url("b.test", "/v1/items")});
  CHECK(r.exit_code == 0);
  CHECK(r.out == " 0host=b.test path=/v1/items 1");
}

// ---- Request features (issue 15): -L, --max-redirs, --compressed, --retry, and -w's timings ----------


TEST_CASE("h2get: -L follows redirects, --max-redirs bounds them (exit 47)") {
  two_hosts s(answering([](const request_info& r) -> std::optional<custom_answer> {
    if (r.path == "/r2") return redirect_answer(302, "/r1");
    if (r.path == "/r1") return redirect_answer(301, "/landed");
    return std::nullopt;
  }));
  auto plain = s.f.h2get({"-w", "%{http_code} %{num_redirects}", s.url("a.test", "/r2")});
  CHECK(plain.exit_code == 0);
  CHECK(plain.out == "moved302 0");
  auto followed = s.f.h2get({"-L", "-w", "\n%{http_code} %{num_redirects} %{url_effective}", s.url("a.test", "/r2")});
  CHECK(followed.exit_code == 0);
  CHECK(followed.out == "host=a.test path=/landed\n200 2 " + s.url("a.test", "/landed"));
  auto bounded = s.f.h2get({"-L", "--max-redirs", "1", s.url("a.test", "/r2")});
  CHECK(bounded.exit_code == 47);
}

#if defined(H2COAL_HAS_ZLIB)
TEST_CASE("h2get: --compressed asks for and decodes a coded body") {
  const std::string original(20000, 'z');
  const std::string coded = gzip_encode(original);
  two_hosts s(answering([&](const request_info& r) -> std::optional<custom_answer> {
    if (r.path != "/coded") return std::nullopt;
    custom_answer a;
    a.headers = {{"content-encoding", "gzip"}};
    a.body = r.header("accept-encoding").find("gzip") != std::string::npos ? coded : original;
    if (a.body == original) a.headers.clear();
    return a;
  }));
  auto r = s.f.h2get({"--compressed", s.url("a.test", "/coded")});
  CHECK(r.exit_code == 0);
  CHECK(r.out == original);
  auto raw = s.f.h2get({s.url("a.test", "/coded")});  // without it: no Accept-Encoding, the plain body
  CHECK(raw.out == original);
}

#endif

TEST_CASE("h2get: --retry goes again after 503, -w has curl's timings") {
  std::atomic<int> calls{0};
  two_hosts s(answering([&calls](const request_info& r) -> std::optional<custom_answer> {
    if (r.path != "/flaky" && r.path != "/down") return std::nullopt;
    if (calls.fetch_add(1) == 0 || r.path == "/down") {
      custom_answer a;
      a.status = 503;
      a.headers = {{"retry-after", "0"}};
      a.body = "busy";
      return a;
    }
    return std::nullopt;  // the default answer
  }));
  auto r = s.f.h2get({"--retry", "2", "--retry-delay", "0.01", "-w", "\n%{http_code} %{num_retries} %{remote_ip}",
                      s.url("a.test", "/flaky")});
  CHECK(r.exit_code == 0);
  CHECK(calls.load() == 2);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "host=a.test path=/flaky");
  CHECK(lines[1] == "200 1 127.0.0.1");
  // One transfer on a new connection: every step took time, in curl's order. (The retry above went on
  // the connection the 503 came on: its connect and TLS steps are 0, as curl reports a reused one.)
  auto timed = s.f.h2get({"-o", "/dev/null", "-w", "%{time_namelookup} %{time_connect} %{time_appconnect} "
                          "%{time_pretransfer} %{time_starttransfer} %{time_total} %{remote_port}",
                          s.url("a.test", "/bytes/100")});
  CHECK(timed.exit_code == 0);
  std::istringstream facts(timed.out);
  double lookup = -1, connect = -1, appconnect = -1, pretransfer = -1, start = -1, total = -1;
  std::uint16_t remote_port = 0;
  facts >> lookup >> connect >> appconnect >> pretransfer >> start >> total >> remote_port;
  CHECK(connect > 0);
  CHECK(connect >= lookup);
  CHECK(appconnect >= connect);
  CHECK(pretransfer >= appconnect);
  CHECK(start >= pretransfer);
  CHECK(total >= start);
  CHECK(remote_port == s.port);
  calls = 0;
  auto gave_up = s.f.h2get({"--retry", "1", "--retry-delay", "0.01", "-w", "%{http_code}", s.url("a.test", "/down")});
  CHECK(gave_up.exit_code == 0);
  CHECK(gave_up.out == "busy503");
  CHECK(calls.load() == 2);
}

// ---- The curl oracle (issue 16) ----
// One command line through curl and through h2get, against the same server: what the server received
// (method, :authority, path, header fields but User-Agent, body) and what each wrote (stdout, the files
// it made, the exit code) must agree. curl's behaviour is the expectation, not a hand-written one.
// In an argument, "URL" at the start stands for https://a.test:PORT, "{in}" for a folder of inputs both
// share and "{out}" for a folder of the tool's own.
namespace {

// SHA-256 through OpenSSL's EVP API, fed in pieces.
class sha256_state {
 public:
  sha256_state() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  sha256_state(const sha256_state&) = delete;
  sha256_state& operator=(const sha256_state&) = delete;
  ~sha256_state() { EVP_MD_CTX_free(ctx_); }
  void update(std::string_view bytes) { EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += "0123456789abcdef"[md[i] >> 4];
      out += "0123456789abcdef"[md[i] & 0xf];
    }
    return out;
  }
  static std::string of(std::string_view bytes) {
    sha256_state s;
    s.update(bytes);
    return s.hex();
  }

 private:
  EVP_MD_CTX* ctx_;
};

struct oracle_run {
  int exit_code = -1;
  std::string out;
  std::map<std::string, std::string> files;  // path under {out} -> content
  std::vector<request_info> requests;
  std::string err;
};

std::string substitute(std::string arg, const std::string& origin, const std::string& in, const std::string& out) {
  if (arg.rfind("URL", 0) == 0) arg = origin + arg.substr(3);
  const std::string port = origin.substr(origin.rfind(':') + 1);
  for (auto [key, value] : {std::pair<std::string, std::string>{"{in}", in}, {"{out}", out}, {"{port}", port}})
    for (auto p = arg.find(key); p != std::string::npos; p = arg.find(key)) arg.replace(p, key.size(), value);
  return arg;
}

void collect_files(const std::string& root, std::map<std::string, std::string>& into) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec); !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file()) {
      std::string content = slurp(it->path().string());
      if (it->path().extension() == ".jar") {
        // A cookie jar (-c): its cookie lines, in any order; comments are each tool's own.
        std::vector<std::string> lines;
        for (const auto& l : lines_of(content))
          if (l.front() != '#' || l.rfind("#HttpOnly_", 0) == 0) lines.push_back(l);
        std::sort(lines.begin(), lines.end());
        content.clear();
        for (const auto& l : lines) content += l + "\n";
      }
      into[std::filesystem::relative(it->path(), root).string()] = content;
    }
}

oracle_run run_tool(bool curl, const std::vector<std::string>& args, const test_server& server, const test_ca& ca,
                    std::uint16_t port, const std::string& in, const std::string& input,
                    const std::map<std::string, std::string>& pre) {
  temp_dir out;
  for (const auto& [name, content] : pre) std::ofstream(out.path() + "/" + name, std::ios::binary) << content;
  std::vector<std::string> argv = {curl ? "/usr/bin/curl" : H2GET_PATH, "--cacert", ca.ca_file(), "--resolve",
                                   "a.test:" + std::to_string(port) + ":127.0.0.1", "--resolve",
                                   "b.test:" + std::to_string(port) + ":127.0.0.1"};
  const std::string origin = "https://a.test:" + std::to_string(port);
  for (const auto& a : args) argv.push_back(substitute(a, origin, in, out.path()));
  const auto before = server.requests().size();
  auto r = h2get_test::run_process(argv, input);
  oracle_run o;
  o.exit_code = r.exit_code;
  o.out = r.out;
  o.err = r.err;
  collect_files(out.path(), o.files);
  auto all = server.requests();
  o.requests.assign(all.begin() + static_cast<std::ptrdiff_t>(before), all.end());
  return o;
}

// The request as compared: what the server saw, User-Agent left out unless the case sets it.
std::string request_text(const request_info& r, bool with_user_agent) {
  // A multipart body's boundary is random in both tools: it is compared as "BOUNDARY".
  std::string boundary, body = r.body;
  if (const auto ct = r.header("content-type"); ct.find("boundary=") != std::string::npos) boundary = ct.substr(ct.find("boundary=") + 9);
  auto unbound = [&boundary](std::string text) {
    if (boundary.empty()) return text;
    for (auto p = text.find(boundary); p != std::string::npos; p = text.find(boundary, p + 8)) text.replace(p, boundary.size(), "BOUNDARY");
    return text;
  };
  body = unbound(body);
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& f : r.headers)
    if (with_user_agent || f.first != "user-agent") fields.emplace_back(f.first, unbound(f.second));
  std::sort(fields.begin(), fields.end());
  std::string text = r.method + " " + r.authority + " " + r.path + "\n";
  for (const auto& [n, v] : fields) text += n + ": " + v + "\n";
  if (!boundary.empty()) return text + "body:\n" + body;  // short, and readable when it differs
  return text + "body sha256 " + sha256_state::of(body) + " (" + std::to_string(body.size()) + " bytes)\n";
}

}  // namespace

TEST_CASE("h2get: curl's flags do what curl does (curl itself is the oracle)") {
  REQUIRE(std::filesystem::exists("/usr/bin/curl"));  // scripts/install-deps installs it
  h2get_fixture f;  // its CA and scratch folder (the inputs)
  auto so = answering([](const request_info& r) -> std::optional<custom_answer> {
    const std::string path = r.path.substr(0, r.path.find('?'));
    if (path == "/redirect") return redirect_answer(302, "/bytes/300");
    if (path == "/fixed") return text_answer("the same header fields every time");
    if (path == "/to-fixed") return redirect_answer(301, "/fixed");
    if (path == "/gone") return text_answer("gone", 404);
    if (path == "/setcookie") {
      auto a = text_answer("cookies");
      for (const char* c : {"a=1", "b=2; Path=/app; Secure; HttpOnly", "c=3; Domain=a.test; Expires=Wed, 01 Jan 2031 00:00:00 GMT",
                            "d=4; Domain=other.test", "e=5; Max-Age=0", "site=replaced; Domain=.a.test; Path=/"})
        a.headers.emplace_back("set-cookie", c);
      return a;
    }
    if (path == "/ranged") {  // honours "Range: bytes=N-" and "bytes=N-M" (RFC 9110 section 14)
      std::string full;
      for (int i = 0; i < 1000; ++i) full += static_cast<char>('A' + i % 26);
      const std::string range = r.header("range");
      if (range.rfind("bytes=", 0) != 0) return text_answer(full);
      const auto dash = range.find('-');
      const std::size_t first = std::stoul(range.substr(6, dash - 6));
      std::size_t last = full.size() - 1;
      if (dash + 1 < range.size()) last = std::min(last, static_cast<std::size_t>(std::stoul(range.substr(dash + 1))));
      if (first >= full.size()) {
        custom_answer a = text_answer("", 416);
        a.headers.emplace_back("content-range", "bytes */1000");
        return a;
      }
      custom_answer a = text_answer(full.substr(first, last - first + 1), 206);
      a.headers.emplace_back("content-range", "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/1000");
      return a;
    }
    if (path == "/attachment") {
      auto a = text_answer("attached");
      a.headers.emplace_back("content-disposition", "attachment; filename=\"../../evil/report.txt\"");
      return a;
    }
    return std::nullopt;
  });
  so.cert = f.ca.issue({"a.test", "b.test"});
  test_server server(so);
  const auto port = server.port();
  const std::string in = f.dir.path();
  {
    std::string all_bytes;
    for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
    std::ofstream(in + "/binary", std::ios::binary) << all_bytes << all_bytes;
    std::ofstream(in + "/text", std::ios::binary) << "line one\r\nline two\nend";
    std::ofstream(in + "/index.html", std::ios::binary) << "<p>page</p>";
    std::ofstream(in + "/cookies", std::ios::binary)
        << "# Netscape HTTP Cookie File\n"
        << ".a.test\tTRUE\t/\tFALSE\t0\tsite\twide\n"
        << "a.test\tFALSE\t/app\tTRUE\t0\tapp\tsecure-one\n"
        << "b.test\tFALSE\t/\tFALSE\t0\tother\thost\n"
        << "a.test\tFALSE\t/\tFALSE\t1\told\texpired\n"
        << "#HttpOnly_a.test\tFALSE\t/app/deep\tFALSE\t0\tdeep\tcookie\n";
    std::ofstream(in + "/format", std::ios::binary) << "code %{http_code}\\n";
    std::ofstream(in + "/config", std::ios::binary)
        << "# options as curl reads them\n"
        << "header = \"X-From-Config: one two\"\n"
        << "  --data-raw \"k=v w\"\n"
        << "user-agent: \"config \\\"agent\\\"\"\n"
        << "\n"
        << "url https://a.test:" << port << "/config\n";
  }
  struct oracle_case {
    oracle_case(std::vector<std::string> a, std::string stdin_text = {}, bool ua = false, std::map<std::string, std::string> p = {})
        : args(std::move(a)), input(std::move(stdin_text)), user_agent(ua), pre(std::move(p)) {}
    std::vector<std::string> args;
    std::string input;  // stdin
    bool user_agent = false;
    std::map<std::string, std::string> pre;  // files in {out} before the run
  };
  const std::vector<oracle_case> cases = {
      {{"URL/plain"}},
      {{"-d", "a=1", "--data-binary", "@{in}/text", "--data-raw", "@not-a-file", "URL/echo"}},
      {{"-d", "@{in}/text", "URL/echo"}},
      {{"--data-binary", "@{in}/binary", "URL/echo"}},
      {{"--data-urlencode", "name=a b&c=d", "--data-urlencode", "=x/y?z", "--data-urlencode", "plain text ~._-",
        "--data-urlencode", "file@{in}/text", "URL/echo"}},
      {{"-d", "@-", "URL/echo"}, "from\r\nstdin"},
      {{"-G", "-d", "a=1", "-d", "b=two words", "URL/query?x=1"}},
      {{"-G", "--data-urlencode", "q=a b", "URL/nopath"}},
      {{"-u", "user:pa:ss", "URL/auth"}},
      {{"-A", "agent/1.0", "-e", "https://ref.test/page", "URL/ua"}, {}, true},
      {{"-A", "", "URL/no-ua"}, {}, true},
      {{"-e", "https://ref.test/;auto", "URL/auto"}},
      {{"-b", "k=v; k2=v2", "URL/cookie"}},
      {{"-b", "{in}/cookies", "URL/app/deep/page"}},
      {{"-b", "{in}/cookies", "URL/other"}},
      {{"-b", "{in}/missing-file", "URL/none"}},
      {{"-c", "{out}/cookies.jar", "URL/setcookie"}},
      {{"-b", "{in}/cookies", "-c", "{out}/all.jar", "URL/setcookie"}},
      {{"-c", "{out}/x.jar", "URL/setcookie", "URL/app/next", "URL/elsewhere"}},
      {{"-F", "name=value one", "-F", "file=@{in}/text", "-F", "bin=@{in}/binary;type=application/x-test", "-F",
        "inline=<{in}/text", "-F", "page=@{in}/index.html", "URL/formparts"}},
      {{"-F", "only=1", "URL/form"}},
      {{"-T", "{in}/binary", "URL/up/"}},
      {{"-T", "{in}/binary", "URL/up/named"}},
      {{"-T", "{in}/text", "-X", "POST", "URL/echo"}},
      {{"-T", "-", "URL/echo"}, "streamed from stdin"},
      {{"--url", "URL/one", "URL/two", "--url", "URL/three"}},
      {{"--output-dir", "{out}", "-O", "URL/bytes/100", "-o", "second", "URL/bytes/50"}},
      {{"--output-dir", "{out}", "--remote-name-all", "URL/bytes/10", "URL/status/201"}},
      {{"--create-dirs", "-o", "{out}/a/b/c.txt", "URL/bytes/20"}},
      {{"--output-dir", "{out}/made", "--create-dirs", "-O", "URL/bytes/30"}},
      {{"-f", "-o", "{out}/not-made", "URL/status/404"}},
      {{"-f", "URL/status/404"}},
      {{"--fail-with-body", "URL/status/404"}},
      {{"--fail-with-body", "-o", "{out}/made", "URL/status/500"}},
      {{"--max-filesize", "10", "-o", "{out}/big", "URL/bytes/100"}},
      {{"--max-filesize", "100", "URL/bytes/100"}},
      {{"-fsSL", "URL/redirect"}},
      {{"-L", "-o", "{out}/followed", "URL/redirect"}},
      {{"-J", "-O", "--output-dir", "{out}", "URL/attachment"}},
      {{"-H", "Host: b.test", "URL/vhost"}},
      {{"-D", "{out}/headers", "URL/fixed", "URL/fixed"}},
      {{"-D", "-", "URL/fixed"}},
      {{"-D", "-", "-o", "{out}/b", "URL/fixed"}},
      {{"--http2", "URL/h2"}},
      {{"-I", "-o", "{out}/head", "URL/fixed"}},
      {{"-i", "URL/fixed"}},
      {{"-K", "{in}/config"}, {}, true},
      {{"-K", "{in}/config", "-A", "later wins", "URL/second"}, {}, true},
      {{"--limit-rate", "300k", "URL/bytes/200000"}},
      {{"URL/g/{one,two}/[1-2]"}},
      {{"-o", "{out}/file_#1_#2", "URL/h/{x,y}/[08-10]", "URL/after"}},
      {{"URL/s/[1-6:2]", "URL/l/[a-c]"}},
      {{"-g", "URL/lit/{a}/[1]"}},
      {{"URL/bad/[3-1]"}},
      {{"-r", "0-9", "URL/ranged"}},
      {{"-r", "990-", "-o", "{out}/tail", "URL/ranged"}},
      {{"-C", "-", "-o", "{out}/partial", "URL/ranged"}, {}, false, {{"partial", std::string(100, 'x')}}},
      {{"-C", "-", "-o", "{out}/whole", "URL/ranged"}, {}, false, {{"whole", std::string(1000, 'x')}}},
      {{"-C", "-", "-o", "{out}/partial", "URL/bytes/500"}, {}, false, {{"partial", std::string(100, 'x')}}},
      {{"-C", "-", "-o", "{out}/new", "URL/ranged"}},
      {{"-C", "100", "-o", "{out}/n", "URL/ranged"}},
      {{"-w", "%{http_code} %{size_download} %{content_type} %header{Content-Type} %{num_redirects} %{scheme}\\n", "URL/bytes/42"}},
      {{"-w", "%{onerror}failed: %{http_code}\\n", "URL/bytes/1"}},
      {{"-f", "-w", "ok%{onerror} failed %{exitcode} %{http_code}\\n", "URL/status/404"}},
      {{"-w", "%{redirect_url} %{http_code}\\n", "URL/redirect"}},
      {{"-w", "@{in}/format", "URL/bytes/3"}},
      {{"-w", "%{local_ip} %{remote_ip} %{remote_port}\\n", "URL/bytes/4"}},
      {{"--http1.1", "-i", "URL/fixed"}},
      {{"-L", "-i", "URL/to-fixed"}},
      {{"--http1.1", "-L", "-i", "URL/to-fixed"}},
      {{"-L", "-D", "{out}/hops", "-o", "{out}/body", "URL/to-fixed"}},
      {{"-L", "-I", "URL/to-fixed"}},
      {{"--http1.1", "-D", "-", "-o", "{out}/h1", "URL/gone"}},
      {{"--tlsv1.3", "-w", "%{http_code}\\n", "URL/tls13"}},
      {{"--tlsv1.2", "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", "URL/tls12"}},
      {{"--tls13-ciphers", "TLS_CHACHA20_POLY1305_SHA256", "URL/suites"}},
      {{"--ciphers", "NO-SUCH-CIPHER", "URL/never"}},
      {{"--connect-to", "b.test:{port}:a.test:{port}", "-w", "%{remote_ip}\\n", "https://b.test:{port}/ct"}},
  };
  for (const auto& c : cases) {
    std::string line;
    for (const auto& a : c.args) line += (line.empty() ? "" : " ") + a;
    INFO("case: " << line);
    auto want = run_tool(true, c.args, server, f.ca, port, in, c.input, c.pre);
    auto got = run_tool(false, c.args, server, f.ca, port, in, c.input, c.pre);
    INFO("curl stderr: " << want.err);
    INFO("h2get stderr: " << got.err);
    CHECK(got.exit_code == want.exit_code);
    CHECK(got.out == want.out);
    CHECK(got.files == want.files);
    REQUIRE(got.requests.size() == want.requests.size());
    for (std::size_t i = 0; i < want.requests.size(); ++i)
      CHECK(request_text(got.requests[i], c.user_agent) == request_text(want.requests[i], c.user_agent));
  }
}

TEST_CASE("h2get: 1 GiB streams to a file and to a slowly read pipe in flat memory") {
  two_hosts s;
  constexpr std::size_t size = std::size_t{1} << 30;
  const std::string url = s.url("a.test", "/bytes/" + std::to_string(size));
  // The expected digest, from the server's deterministic bytes, in pieces.
  h2get_test::run_result r;
  auto expected = [] {
    sha256_state d;
    std::string piece;
    for (std::size_t off = 0; off < size; off += piece.size()) {
      piece.resize(std::min<std::size_t>(1 << 20, size - off));
      for (std::size_t i = 0; i < piece.size(); ++i) piece[i] = test_body_byte(off + i);
      d.update(piece);
    }
    return d.hex();
  }();
  SECTION("to a file") {
    const auto file = s.f.file("big");
    std::vector<std::string> argv = {H2GET_PATH, "--cacert", s.f.ca.ca_file()};
    argv.insert(argv.end(), s.f.resolves.begin(), s.f.resolves.end());
    argv.insert(argv.end(), {"-o", file, url});
    r = h2get_test::run_process(argv, {}, {}, std::chrono::seconds(100));
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
    CHECK(std::filesystem::file_size(file) == size);
    sha256_state d;
    std::ifstream in(file, std::ios::binary);
    std::string piece(1 << 20, '\0');
    while (in.read(piece.data(), static_cast<std::streamsize>(piece.size())) || in.gcount() > 0)
      d.update(std::string_view(piece.data(), static_cast<std::size_t>(in.gcount())));
    CHECK(d.hex() == expected);
    std::filesystem::remove(file);
  }
  SECTION("to a pipe that is read slowly") {
    std::vector<std::string> argv = {H2GET_PATH, "--cacert", s.f.ca.ca_file()};
    argv.insert(argv.end(), s.f.resolves.begin(), s.f.resolves.end());
    argv.push_back(url);
    sha256_state d;
    std::size_t got = 0, since_pause = 0;
    r = h2get_test::run_process(argv, {}, {}, std::chrono::seconds(100), [&](std::string_view bytes) {
      d.update(bytes);
      got += bytes.size();
      since_pause += bytes.size();
      if (since_pause >= (16u << 20)) {  // a slow reader (the scenario): the writer must wait, not buffer
        since_pause = 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
      }
    });
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
    CHECK(got == size);
    CHECK(d.hex() == expected);
  }
  INFO("peak RSS " << r.max_rss_kib << " KiB");
  CHECK(r.max_rss_kib < 32 * 1024);
}

TEST_CASE("h2get: --limit-rate holds the download to the rate; --max-filesize stops a body that runs over") {
  two_hosts s;
  auto r = s.f.h2get({"--limit-rate", "200k", "-o", s.f.file("slow"), "-w", "%{speed_download}", s.url("a.test", "/bytes/300000")});
  CHECK(r.exit_code == 0);
  CHECK(slurp(s.f.file("slow")) == expected_bytes(300000));
  // A slower machine only makes it slower: the bound holds whatever the load.
  CHECK(std::stoull(r.out) <= 200 * 1024 * 3 / 2);

  // No Content-Length (chunked HTTP/1.1): the limit is found while the body arrives. The file made when the
  // response started stays, unless --remove-on-error.
  server_options so;
  so.protocol = server_protocol::http1;
  two_hosts h1(so);
  auto kept = h1.f.h2get({"--max-filesize", "1000", "-o", h1.f.file("kept"), h1.url("a.test", "/chunked/100000")});
  CHECK(kept.exit_code == 63);
  CHECK(std::filesystem::exists(h1.f.file("kept")));
  auto gone = h1.f.h2get({"--max-filesize", "1000", "--remove-on-error", "-o", h1.f.file("gone"), h1.url("a.test", "/chunked/100000")});
  CHECK(gone.exit_code == 63);
  CHECK_FALSE(std::filesystem::exists(h1.f.file("gone")));
}

TEST_CASE("h2get: -o files are made only once a response starts, and a file that cannot be made is exit 23") {
  two_hosts s;
  auto refused = s.f.h2get({"-o", s.f.file("never"), "https://127.0.0.1:" + std::to_string(closed_port()) + "/"});
  CHECK(refused.exit_code == 7);
  CHECK_FALSE(std::filesystem::exists(s.f.file("never")));
  auto nowhere = s.f.h2get({"-o", s.f.file("no/such/folder/x"), s.url("a.test", "/bytes/10")});
  CHECK(nowhere.exit_code == 23);
  auto made = s.f.h2get({"--create-dirs", "-o", s.f.file("no/such/folder/x"), s.url("a.test", "/bytes/10")});
  CHECK(made.exit_code == 0);
  CHECK(slurp(s.f.file("no/such/folder/x")) == expected_bytes(10));
}

TEST_CASE("h2get: CURL_CA_BUNDLE trusts a CA as --cacert does") {
  two_hosts s;
  std::vector<std::string> argv = {H2GET_PATH};
  argv.insert(argv.end(), s.f.resolves.begin(), s.f.resolves.end());
  argv.push_back(s.url("a.test", "/bytes/10"));
  auto untrusted = h2get_test::run_process(argv, {}, {"CURL_CA_BUNDLE="});  // whatever the machine sets
  CHECK(untrusted.exit_code == 60);
  auto trusted = h2get_test::run_process(argv, {}, {"CURL_CA_BUNDLE=" + s.f.ca.ca_file()});
  INFO("stderr: " << trusted.err);
  CHECK(trusted.exit_code == 0);
  CHECK(trusted.out == expected_bytes(10));
}

TEST_CASE("h2get: --connect-to sends a host's connections to another server, which sees the URL's authority and SNI, as curl does") {
  REQUIRE(std::filesystem::exists("/usr/bin/curl"));
  h2get_fixture f;
  server_options here;
  here.cert = f.ca.issue({"a.test"});
  test_server url_server(here);
  server_options there;
  there.addresses = {"127.0.0.3"};
  there.cert = f.ca.issue({"a.test"});
  test_server elsewhere(there);
  f.resolve("a.test", url_server.port());
  const std::string rule = "a.test:" + std::to_string(url_server.port()) + ":127.0.0.3:" + std::to_string(elsewhere.port());
  const std::vector<std::string> args = {"--connect-to", rule, "-o", "/dev/null", "-w", "%{remote_ip} %{remote_port}",
                                         test_url("a.test", url_server.port(), "/moved")};
  auto r = f.h2get(args);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "127.0.0.3 " + std::to_string(elsewhere.port()));
  REQUIRE(elsewhere.requests().size() == 1);
  CHECK(elsewhere.requests()[0].authority == "a.test:" + std::to_string(url_server.port()));
  CHECK(elsewhere.requests()[0].sni == "a.test");
  CHECK(url_server.connection_count() == 0);

  std::vector<std::string> argv = {"/usr/bin/curl", "-s", "--cacert", f.ca.ca_file()};
  argv.insert(argv.end(), f.resolves.begin(), f.resolves.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto curl = h2get_test::run_process(argv);
  CHECK(curl.exit_code == 0);
  CHECK(curl.out == r.out);
  REQUIRE(elsewhere.requests().size() == 2);
  CHECK(elsewhere.requests()[1].authority == elsewhere.requests()[0].authority);
  CHECK(url_server.connection_count() == 0);

  auto bad = f.h2get({"--connect-to", "a.test:443", test_url("a.test", url_server.port())});
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.err, "--connect-to"));
}

TEST_CASE("h2get: TLS versions and cipher lists that cannot be had fail before anything is sent") {
  two_hosts s;
  auto old = s.f.h2get({"--tls-max", "1.1", s.url("a.test")});
  CHECK(old.exit_code == 4);
  auto crossed = s.f.h2get({"--tlsv1.3", "--tls-max", "1.2", s.url("a.test")});
  CHECK(crossed.exit_code == 2);
  auto suites = s.f.h2get({"--tls13-ciphers", "TLS_NO_SUCH_SUITE", s.url("a.test")});
  CHECK(suites.exit_code == 59);
  CHECK(contains(suites.err, "TLS_NO_SUCH_SUITE"));
  CHECK(s.server->connection_count() == 0);
}
