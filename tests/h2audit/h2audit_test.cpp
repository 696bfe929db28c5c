// SPDX-License-Identifier: BSL-1.0
// tests/h2audit/h2audit_test.cpp: h2audit (DESIGN section 15) as an operator runs it, against the
// project's test server set up as the deployments that break or hold: an SNI-routing proxy (misrouted),
// one that answers 421 (a correct defence), vhosts by :authority (harmless), separate certificates (no
// group), an ORIGIN frame (Firefox follows it, Chromium does not), separate addresses, and a HAR's
// origins. The model alone
// (audit.hpp) is tested without I/O first.
#include "catch.hpp"
#include "h2get/process.hpp"
#include "support/test_ca.hpp"
#include "support/test_server.hpp"
#include "support/temp_dir.hpp"

#include "audit.hpp"
#include "inputs.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

#include <atomic>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

using namespace h2coal;
using namespace h2coal::test;

namespace {

h2audit::origin_facts facts(const std::string& host, std::vector<std::string> addrs, std::vector<std::string> sans,
                            const std::string& connected) {
  h2audit::origin_facts f;
  f.origin = *origin::parse("https://" + host);
  f.addresses = std::move(addrs);
  f.sans = std::move(sans);
  f.connected_ip = connected;
  f.alpn = "h2";
  f.verified = true;
  f.status = 200;
  return f;
}

// What docs/h2audit.schema.json finds wrong with the JSON report in `file` ("" when it is valid), by
// Debian's python3-jsonschema (Draft 2020-12).
std::string schema_errors(const std::string& file) {
  static const char* check = R"py(
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))), key=str)
for e in errors: print('/'.join(map(str, e.absolute_path)) + ': ' + e.message)
sys.exit(1 if errors else 0)
)py";
  auto r = h2get_test::run_process({"/usr/bin/python3", "-c", check, H2AUDIT_SCHEMA, file});
  if (r.exit_code == 0) return "";
  return "exit " + std::to_string(r.exit_code) + ": " + r.out + r.err;
}

// Two names on one test server (one port, one certificate for both unless `so` brings its own), and
// h2audit run against them.
struct two_names {
  test_ca ca;
  temp_dir dir;
  std::unique_ptr<test_server> server;
  std::uint16_t port = 0;
  std::vector<std::string> resolves;

  explicit two_names(server_options so, std::string b_address = "127.0.0.1")
      : two_names([&so](test_ca&) { return so; }, std::move(b_address)) {}
  // `make` builds the server's options with the CA the audit trusts.
  explicit two_names(const std::function<server_options(test_ca&)>& make, std::string b_address = "127.0.0.1") {
    server_options so = make(ca);
    if (so.cert.cert_pem.empty()) so.cert = ca.issue({"a.test", "b.test"});
    if (b_address != "127.0.0.1") so.addresses = {"127.0.0.1", b_address};
    server = std::make_unique<test_server>(so);
    port = server->port();
    resolves = {"--resolve", "a.test:" + std::to_string(port) + ":127.0.0.1", "--resolve",
                "b.test:" + std::to_string(port) + ":" + b_address};
  }
  std::string name(const std::string& host) const { return host + ":" + std::to_string(port); }
  std::string origin(const std::string& host) const { return "https://" + name(host); }

  struct result {
    h2get_test::run_result run;
    nlohmann::json report;
  };
  result audit(std::vector<std::string> args) const {
    std::vector<std::string> argv = {H2AUDIT_PATH, "--cacert", ca.ca_file(), "--json", dir.path() + "/report.json"};
    argv.insert(argv.end(), resolves.begin(), resolves.end());
    argv.insert(argv.end(), args.begin(), args.end());
    result r;
    r.run = h2get_test::run_process(argv);
    INFO("stdout: " << r.run.out);
    INFO("stderr: " << r.run.err);
    REQUIRE_FALSE(r.run.timed_out);
    std::ifstream in(dir.path() + "/report.json");
    if (in) r.report = nlohmann::json::parse(in, nullptr, false);
    if (in) CHECK(schema_errors(dir.path() + "/report.json") == "");
    return r;
  }

  // The verdict of the pair from -> to in the report, "" when the pair is not in it.
  static std::string verdict(const nlohmann::json& report, const std::string& from, const std::string& to) {
    for (const auto& p : report["pairs"])
      if (p["from"] == from && p["to"] == to) return p["verdict"].is_null() ? "null" : p["verdict"].get<std::string>();
    return "";
  }
};

// The SNI-routing deployment of the seed (DESIGN section 1): the router picks the service by SNI; a.test
// serves /login, b.test /v1/.
server_options sni_routed() {
  server_options so;
  so.routing = route_by::sni;
  so.paths_by_host = {{"a.test", {"/login"}}, {"b.test", {"/v1/"}}};
  return so;
}

}  // namespace

TEST_CASE("h2audit: the model asks h2coal's policies what each browser would share") {
  using h2audit::model;
  auto a = facts("a.test", {"10.0.0.1"}, {"a.test", "b.test"}, "10.0.0.1");
  auto b = facts("b.test", {"10.0.0.1", "10.0.0.2"}, {"a.test", "b.test"}, "10.0.0.1");
  CHECK(h2audit::would_share(model::chromium, a, b));
  CHECK(h2audit::would_share(model::firefox, a, b));
  CHECK_FALSE(h2audit::would_share(model::strict, a, b));
  // The certificate must cover the other name; a wildcard covers one label only.
  auto w = facts("w.test", {"10.0.0.1"}, {"*.example"}, "10.0.0.1");
  CHECK(h2audit::covers(w.sans, "api.example"));
  CHECK(h2audit::covers(w.sans, "API.Example"));
  CHECK_FALSE(h2audit::covers(w.sans, "a.b.example"));
  CHECK_FALSE(h2audit::covers(w.sans, "example"));
  CHECK_FALSE(h2audit::would_share(model::chromium, facts("x.test", {"10.0.0.1"}, {"x.test"}, "10.0.0.1"), b));
  // The connected IP must be in the other name's answer.
  auto far = facts("b.test", {"10.0.0.9"}, {"a.test", "b.test"}, "10.0.0.9");
  CHECK_FALSE(h2audit::would_share(model::chromium, a, far));
  // An ORIGIN frame without b.test: Firefox follows it, Chromium does not read it.
  auto framed = a;
  framed.origin_set = std::vector<std::string>{"https://a.test"};
  CHECK(h2audit::would_share(model::chromium, framed, b));
  CHECK_FALSE(h2audit::would_share(model::firefox, framed, b));
  // An ORIGIN frame may also name a host whose answer does not match (RFC 8336 section 2.4).
  auto naming = a;
  naming.origin_set = std::vector<std::string>{"https://a.test", "https://b.test"};
  CHECK(h2audit::would_share(model::firefox, naming, far));
  // Never onto an unverified connection.
  auto unverified = a;
  unverified.verified = false;
  CHECK_FALSE(h2audit::would_share(model::chromium, unverified, b));

  std::vector<h2audit::origin_facts> all{a, b, facts("c.test", {"10.0.0.3"}, {"c.test"}, "10.0.0.3")};
  auto pairs = h2audit::predicted_pairs(all);
  REQUIRE(pairs.size() == 2);  // a -> b and b -> a
  auto groups = h2audit::groups(model::chromium, all, pairs);
  REQUIRE(groups.size() == 1);
  CHECK(groups[0] == std::vector<std::size_t>{0, 1});
  CHECK(h2audit::groups(model::strict, all, pairs).empty());
}

TEST_CASE("h2audit: an SNI-routing server misroutes the shared requests (exit 1, and the fix)") {
  two_names t(sni_routed());
  auto r = t.audit({"--paths", "a.test=/login", "--paths", "b.test=/v1/", t.name("a.test"), t.name("b.test")});
  CHECK(r.run.exit_code == 1);
  REQUIRE(r.report.is_object());
  CHECK(two_names::verdict(r.report, t.origin("a.test"), t.origin("b.test")) == "misrouted");
  CHECK(two_names::verdict(r.report, t.origin("b.test"), t.origin("a.test")) == "misrouted");
  CHECK(r.report["misrouted"] == true);
  REQUIRE(r.report["groups"]["chromium"].size() == 1);
  CHECK(r.report["groups"]["chromium"][0] == nlohmann::json{t.origin("a.test"), t.origin("b.test")});
  CHECK(r.report["groups"]["strict"].empty());
  for (const auto& p : r.report["pairs"]) {
    CHECK(p["status"] == 404);  // the router sent it to the other service
    CHECK(p["fix"].get<std::string>().find("421") != std::string::npos);
  }
  CHECK(r.run.out.find("misrouted") != std::string::npos);
  CHECK(r.run.out.find("result: misrouting found") != std::string::npos);
  // Each name's own answer was fetched on its own connection, and the probes on shared ones.
  const auto reqs = t.server->requests();
  CHECK(reqs.size() == 6);  // two own answers, two probes of two requests each
  std::size_t shared = 0;
  for (const auto& q : reqs) shared += q.sni != q.authority.substr(0, q.authority.find(':'));
  CHECK(shared == 2);
  for (const auto& q : reqs) CHECK(q.method == "GET");
}

TEST_CASE("h2audit: --html writes one self-contained page: the graph with the misrouted pairs in red, the fixes") {
  two_names t(sni_routed());
  const std::string page_file = t.dir.path() + "/audit.html";
  auto r = t.audit({"--html", page_file, "--paths", "a.test=/login", "--paths", "b.test=/v1/", t.name("a.test"), t.name("b.test")});
  CHECK(r.run.exit_code == 1);
  std::ifstream in(page_file);
  REQUIRE(in);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("<svg") != std::string::npos);
  std::size_t red = 0;
  for (auto p = page.find("class=\"pair misrouted\""); p != std::string::npos; p = page.find("class=\"pair misrouted\"", p + 1)) ++red;
  CHECK(red == 2);
  CHECK(page.find("stroke=\"#d00\"") != std::string::npos);
  CHECK(page.find("answer 421 Misdirected Request for " + t.name("b.test")) != std::string::npos);
  // Nothing to fetch, nothing to run: no scripts, no sources, no links, no style sheets from elsewhere.
  for (const char* never : {"<script", " src=", " href=", "@import", "url("}) CHECK(page.find(never) == std::string::npos);
}

TEST_CASE("h2audit: a server that answers 421 for a name not served on that SNI is clean") {
  auto so = sni_routed();
  so.misdirect_on_mismatch = true;
  two_names t(so);
  auto r = t.audit({"--paths", "a.test=/login", "--paths", "b.test=/v1/", t.name("a.test"), t.name("b.test")});
  CHECK(r.run.exit_code == 0);
  CHECK(two_names::verdict(r.report, t.origin("a.test"), t.origin("b.test")) == "421");
  CHECK(two_names::verdict(r.report, t.origin("b.test"), t.origin("a.test")) == "421");
  CHECK(r.report["misrouted"] == false);
  CHECK(r.run.out.find("result: clean") != std::string::npos);
}

TEST_CASE("h2audit: vhosts chosen by :authority answer the same on a shared connection") {
  two_names t(server_options{});
  auto r = t.audit({t.name("a.test"), t.name("b.test")});
  CHECK(r.run.exit_code == 0);
  CHECK(two_names::verdict(r.report, t.origin("a.test"), t.origin("b.test")) == "same");
  CHECK(two_names::verdict(r.report, t.origin("b.test"), t.origin("a.test")) == "same");
  REQUIRE(r.report["names"].size() == 2);
  CHECK(r.report["names"][0]["alpn"] == "h2");
  CHECK(r.report["names"][0]["connected_ip"] == "127.0.0.1");
  CHECK(r.report["names"][0]["answers"].size() == 3);  // --rounds' default
  CHECK(r.report["names"][0]["answers_differ"] == false);
}

TEST_CASE("h2audit: names with separate certificates, or on separate addresses, form no group") {
  SECTION("separate certificates") {
    two_names t([](test_ca& ca) {
      server_options so;
      so.cert = ca.issue({"a.test"});
      so.sni_certs = {{"a.test", ca.issue({"a.test"})}, {"b.test", ca.issue({"b.test"})}};
      return so;
    });
    auto r = t.audit({t.name("a.test"), t.name("b.test")});
    CHECK(r.run.exit_code == 0);
    CHECK(r.report["pairs"].empty());
    CHECK(r.report["groups"]["chromium"].empty());
    CHECK(r.run.out.find("none: no modelled client shares") != std::string::npos);
    CHECK(t.server->requests().size() == 2);  // the two own answers, nothing else
  }
  SECTION("separate addresses, one certificate") {
    two_names t(server_options{}, "127.0.0.2");
    auto r = t.audit({t.name("a.test"), t.name("b.test")});
    CHECK(r.run.exit_code == 0);
    CHECK(r.report["pairs"].empty());
    CHECK(t.server->requests().size() == 2);
  }
}

TEST_CASE("h2audit: an ORIGIN frame that names only its own origin keeps Firefox apart, not Chromium") {
  auto port = std::make_shared<std::atomic<std::uint16_t>>(0);
  server_options so;
  so.origin_frames_for_sni = [port](const std::string& sni) {
    return std::vector<std::vector<std::string>>{{"https://" + sni + ":" + std::to_string(port->load())}};
  };
  two_names t(so);
  port->store(t.port);
  auto r = t.audit({t.name("a.test"), t.name("b.test")});
  CHECK(r.run.exit_code == 0);
  REQUIRE(r.report["pairs"].size() == 2);
  for (const auto& p : r.report["pairs"]) {
    CHECK(p["shared_by"] == nlohmann::json{"chromium"});
    CHECK(p["verdict"] == "same");
  }
  CHECK(r.report["groups"]["firefox"].empty());
  CHECK(r.report["names"][0]["origin_set"] == nlohmann::json{t.origin("a.test")});
}

TEST_CASE("h2audit: --har takes the https origins a page used, each with the first path it fetched") {
  two_names t(server_options{});
  const std::string har = t.dir.path() + "/page.har";
  std::ofstream(har) << nlohmann::json{
      {"log",
       {{"version", "1.2"},
        {"entries",
         {{{"request", {{"method", "GET"}, {"url", t.origin("a.test") + "/page"}}}},
          {{"request", {{"method", "GET"}, {"url", t.origin("b.test") + "/img.png"}}}},
          {{"request", {{"method", "GET"}, {"url", t.origin("a.test") + "/later"}}}},
          {{"request", {{"method", "GET"}, {"url", "http://c.test/plain"}}}}}}}}}.dump();
  auto r = t.audit({"--har", har});
  CHECK(r.run.exit_code == 0);
  REQUIRE(r.report["names"].size() == 2);
  CHECK(r.report["names"][0]["origin"] == t.origin("a.test"));
  CHECK(r.report["names"][0]["path"] == "/page");
  CHECK(r.report["names"][1]["path"] == "/img.png");
  CHECK(two_names::verdict(r.report, t.origin("a.test"), t.origin("b.test")) == "same");
  std::ofstream(t.dir.path() + "/not.har") << "{\"log\": 1}";
  CHECK(t.audit({"--har", t.dir.path() + "/not.har"}).run.exit_code == 2);
}

TEST_CASE("h2audit: usage errors are exit 2, a name that does not resolve is h2get's 6") {
  two_names t(server_options{});
  CHECK(t.audit({}).run.exit_code == 2);
  CHECK(t.audit({"--rounds", "0", t.name("a.test")}).run.exit_code == 2);
  CHECK(t.audit({"--paths", "a.test", t.name("a.test")}).run.exit_code == 2);
  auto r = t.audit({"nowhere.invalid"});
  CHECK(r.run.exit_code == 6);
  CHECK(r.run.err.find("nowhere.invalid") != std::string::npos);
}

namespace {

// A NetLog as Chromium writes one: the constants (names to numbers), then one event per line. The numbers
// here are not Chromium's: the reader must go by the constants.
struct netlog_writer {
  std::string text =
      "{\"constants\":{\"logEventTypes\":{\"HTTP2_SESSION\":40,\"HTTP2_SESSION_INITIALIZED\":41,"
      "\"HTTP2_SESSION_SEND_HEADERS\":42,\"HTTP2_SESSION_RECV_HEADERS\":43,\"TCP_CONNECT\":44,\"HTTP_STREAM_JOB\":45,"
      "\"HTTP2_SESSION_POOL_FOUND_EXISTING_SESSION_FROM_IP_POOL\":46,\"HTTP_TRANSACTION_RESTART_MISDIRECTED_REQUEST\":47,"
      "\"URL_REQUEST_START_JOB\":48,\"HTTP2_SESSION_POOL_IMPORTED_SESSION_FROM_SOCKET\":49},"
      "\"logSourceType\":{\"URL_REQUEST\":3,\"SOCKET\":7,\"HTTP2_SESSION\":9,\"HTTP_STREAM_JOB\":12},"
      "\"logEventPhase\":{\"PHASE_BEGIN\":5,\"PHASE_END\":6,\"PHASE_NONE\":4},\"clientInfo\":{\"name\":\"Chromium\"}},\n"
      "\"events\": [\n";
  void event(int type, int source, int source_type, int phase, const std::string& params = "{}") {
    text += "{\"params\":" + params + ",\"phase\":" + std::to_string(phase) + ",\"source\":{\"id\":" + std::to_string(source) +
            ",\"start_time\":\"1\",\"type\":" + std::to_string(source_type) + "},\"time\":\"2\",\"type\":" +
            std::to_string(type) + "},\n";
  }
  // A socket connected to `remote` and a session on it opened for `host`.
  void session(int id, int socket, const std::string& host, const std::string& remote) {
    event(44, socket, 7, 6, "{\"remote_address\":\"" + remote + "\",\"local_address\":\"127.0.0.1:5000\"}");
    event(40, id, 9, 5, "{\"host\":\"" + host + "\",\"proxy\":\"[direct://]\"}");
    event(41, id, 9, 4, "{\"protocol\":\"h2\",\"source_dependency\":{\"id\":" + std::to_string(socket) + ",\"type\":7}}");
  }
  void headers(int session, int stream, const std::string& authority) {
    event(42, session, 9, 4, "{\"headers\":[\":method: GET\",\":authority: " + authority +
                                 "\",\":scheme: https\",\":path: /\"],\"stream_id\":" + std::to_string(stream) + "}");
  }
  void status(int session, int stream, int code) {
    event(43, session, 9, 4, "{\"headers\":[\":status: " + std::to_string(code) + "\"],\"stream_id\":" + std::to_string(stream) + "}");
  }
  std::string closed() const { return text.substr(0, text.size() - 2) + "\n],\n\"polledData\":{}}\n"; }
};

h2audit::netlog_result read(const std::string& text, const h2audit::read_limits& limits = {}) {
  std::istringstream in(text);
  return h2audit::read_netlog(in, limits);
}

}  // namespace

TEST_CASE("h2audit: the NetLog reader finds each name Chromium sent on a session opened for another name") {
  netlog_writer w;
  w.session(100, 90, "a.test:8443", "127.0.0.1:8443");
  w.headers(100, 1, "a.test:8443");
  // A job for b.test found a's session by IP, and b.test's request went on it.
  w.event(45, 200, 12, 5, "{\"logical_destination\":\"https://b.test:8443\",\"destination\":\"https://b.test:8443\"}");
  w.event(46, 200, 12, 4, "{\"source_dependency\":{\"id\":100,\"type\":9}}");
  w.event(45, 200, 12, 6);
  w.headers(100, 3, "b.test:8443");
  w.status(100, 3, 200);
  // c.test on a session of its own (443: named without the port).
  w.session(101, 91, "c.test:443", "127.0.0.3:443");
  w.headers(101, 1, "c.test");
  auto r = read(w.closed());
  REQUIRE(r.error.empty());
  CHECK_FALSE(r.report.truncated);
  CHECK(r.report.events == 13);
  REQUIRE(r.report.sessions.size() == 2);
  CHECK(r.report.sessions[0].host.serialize() == "https://a.test:8443");
  CHECK(r.report.sessions[0].remote == "127.0.0.1:8443");
  CHECK(r.report.sessions[0].origins.size() == 2);
  CHECK(r.report.sessions[1].origins.size() == 1);
  REQUIRE(r.report.pooled.size() == 1);
  const auto& p = r.report.pooled[0];
  CHECK(p.name.serialize() == "https://b.test:8443");
  CHECK(p.onto.serialize() == "https://a.test:8443");
  CHECK(p.session == 100);
  CHECK(p.remote == "127.0.0.1:8443");
  CHECK(p.events == std::vector<std::string>{"HTTP2_SESSION_POOL_FOUND_EXISTING_SESSION_FROM_IP_POOL"});

  h2audit::audit a;
  a.netlog = r.report;
  a.netlog->file = "x.json";
  const auto text = h2audit::text_report(a);
  CHECK(text.find("pooled: b.test:8443 onto a.test:8443's session 100 (127.0.0.1:8443)") != std::string::npos);
  auto json = nlohmann::json::parse(h2audit::json_report(a));
  CHECK(json["netlog"]["pooled"][0]["predicted"].is_null());  // no names audited
  CHECK(json["netlog"]["sessions"].size() == 2);

  // Beside an audit of those names: the chromium model's pair a -> b, and what Chromium did with each.
  a.origins = {facts("a.test:8443", {"127.0.0.1"}, {"a.test", "b.test"}, "127.0.0.1"),
               facts("b.test:8443", {"127.0.0.1"}, {"a.test", "b.test"}, "127.0.0.1"),
               facts("c.test", {"127.0.0.3"}, {"c.test"}, "127.0.0.3")};
  a.pairs = h2audit::predicted_pairs(a.origins);
  REQUIRE(a.pairs.size() == 2);
  CHECK(a.chromium_did(a.pairs[0]) == "pooled");          // a -> b
  CHECK(a.chromium_did(a.pairs[1]) == "own session");  // b -> a: a had a session of its own
  REQUIRE(a.predicted(p).has_value());
  CHECK(*a.predicted(p));
}

TEST_CASE("h2audit: the NetLog reader sees 421s, Chromium's restarts, a log cut short, and stays bounded") {
  netlog_writer w;
  w.session(100, 90, "a.test", "127.0.0.1:443");
  w.headers(100, 1, "a.test");
  w.headers(100, 3, "b.test");
  w.status(100, 3, 421);
  w.event(48, 300, 3, 5, "{\"url\":\"https://b.test/x\",\"method\":\"GET\"}");
  w.event(47, 300, 3, 4);
  SECTION("421 on the session, and the request Chromium sent again") {
    auto r = read(w.closed());
    REQUIRE(r.error.empty());
    REQUIRE(r.report.sessions.size() == 1);
    REQUIRE(r.report.sessions[0].misdirected.size() == 1);
    CHECK(r.report.sessions[0].misdirected[0].host == "b.test");
    REQUIRE(r.report.restarted.size() == 1);
    CHECK(r.report.restarted[0].host == "b.test");
    h2audit::audit a;
    a.netlog = r.report;
    const auto text = h2audit::text_report(a);
    CHECK(text.find("421 for b.test on it") != std::string::npos);
    CHECK(text.find("sent again after a 421: b.test") != std::string::npos);
  }
  SECTION("Chromium killed while writing: the events up to the cut are read, the log marked truncated") {
    for (std::size_t cut : {w.text.size(), w.text.size() - 7}) {
      auto r = read(w.text.substr(0, cut));
      INFO("cut at " << cut);
      REQUIRE(r.error.empty());
      CHECK(r.report.truncated);
      CHECK(r.report.sessions.size() == 1);
    }
  }
  SECTION("an event larger than the limit is counted and skipped, the rest read") {
    netlog_writer big;
    big.session(100, 90, "a.test", "127.0.0.1:443");
    big.event(42, 100, 9, 4, "{\"headers\":[\":authority: b.test\",\"x: " + std::string(4096, 'x') + "\"],\"stream_id\":1}");
    big.headers(100, 3, "c.test");
    h2audit::read_limits limits;
    limits.max_event_bytes = 1024;
    auto r = read(big.closed(), limits);
    REQUIRE(r.error.empty());
    CHECK(r.report.skipped == 1);
    REQUIRE(r.report.pooled.size() == 1);
    CHECK(r.report.pooled[0].name.host == "c.test");
  }
  SECTION("what is no NetLog is a clear error") {
    CHECK(read("").error.find("not JSON") != std::string::npos);
    CHECK(read("[1,2]").error.find("not a NetLog") != std::string::npos);
    CHECK(read("{\"events\":[]}").error.find("no constants") != std::string::npos);
    CHECK(read("{\"constants\":{}}").error.find("no events") != std::string::npos);
    CHECK(read("{\"constants\":{\"logEventTypes\":{\"X\":1}},\"events\":{}}").error.find("events is no array") != std::string::npos);
    // Deep nesting stops at the limit, before the parser goes further.
    const std::string deep = "{\"constants\":{\"logEventTypes\":{\"X\":1}},\"events\":[" + std::string(100000, '[');
    CHECK(read(deep).error.find("nested deeper than 64") != std::string::npos);
    CHECK(read("{\"constants\":{\"logEventTypes\":{\"X\":1}},\"events\":[{\"type\":1}] xx, \"more\": 1}").error.find("not JSON") !=
          std::string::npos);
  }
}

TEST_CASE("h2audit: the HAR reader streams the https request URLs and says what is no HAR") {
  auto har = [](const std::string& text) {
    std::istringstream in(text);
    return h2audit::read_har(in);
  };
  auto r = har(R"({"log":{"version":"1.2","entries":[{"request":{"method":"GET","url":"https://a.test/x","headers":[]},)"
               R"("response":{"content":{"text":"{\"url\":\"https://no.test/\"}"}}},{"request":{"url":"http://plain.test/"}},)"
               R"({"request":{"url":"https://b.test:8443/y"}}]}})");
  REQUIRE(r.error.empty());
  CHECK(r.urls == std::vector<std::string>{"https://a.test/x", "https://b.test:8443/y"});
  CHECK(har(R"({"log":{"entries":{}}})").error.find("no array") != std::string::npos);
  CHECK(har(R"({"log":1})").error.find("no log.entries") != std::string::npos);
  CHECK(har(R"([])").error.find("array") != std::string::npos);
  CHECK(har(R"({"log":{"entries":[)").error.find("not JSON") != std::string::npos);
  CHECK(har("{\"log\":" + std::string(1000, '[')).error.find("nested deeper") != std::string::npos);
}

TEST_CASE("h2audit: the schema check rejects a report that departs from docs/h2audit.schema.json") {
  temp_dir dir;
  h2audit::audit a;
  a.rounds = 3;
  a.origins = {facts("a.test", {"127.0.0.1"}, {"a.test", "b.test"}, "127.0.0.1"),
               facts("b.test", {"127.0.0.1"}, {"a.test", "b.test"}, "127.0.0.1")};
  a.pairs = h2audit::predicted_pairs(a.origins);
  a.pairs[0].result = h2audit::verdict::misrouted;
  const std::string file = dir.path() + "/r.json";
  std::ofstream(file) << h2audit::json_report(a);
  CHECK(schema_errors(file) == "");
  auto bad = nlohmann::json::parse(h2audit::json_report(a));
  bad["pairs"][0]["verdict"] = "fine";
  bad["names"][0].erase("verified");
  std::ofstream(file, std::ios::trunc) << bad.dump();
  const auto errors = schema_errors(file);
  CHECK(errors.find("pairs/0/verdict") != std::string::npos);
  CHECK(errors.find("'verified' is a required property") != std::string::npos);
}
