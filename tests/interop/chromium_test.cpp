// SPDX-License-Identifier: BSL-1.0
// tests/interop/chromium_test.cpp: h2audit with a real browser (issue 17). Debian's Chromium, headless,
// loads a page on one name with an image from the other from the project's test server; its NetLog
// (--log-net-log) goes to `h2audit --netlog`, which must say what Chromium did: the image's name sent on
// the page's session when both names resolve to the connected address, its own session when they do not.
// The test server's own record (which SNI each request arrived under) says the same independently. Then
// h2audit's HTML report is opened in that Chromium with the network off: it renders, has one row per
// finding, logs no console message and fetches nothing.
//
// Chromium's pooling needs a certificate it verified (an ignored certificate error turns pooling off), so
// each test gives Chromium a throw-away HOME whose NSS database ($HOME/.pki/nssdb, written with certutil)
// trusts the test CA. --host-resolver-rules maps the test names to loopback and every other name to
// NOTFOUND: nothing leaves the machine. The names share a registrable domain (site.test): Chromium keys
// sessions by privacy mode, and a cross-site image is fetched in another mode than the page.
#include "interop/interop.hpp"

#include "support/test_server.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

using namespace h2coal;
using namespace h2coal::interop;

namespace {

// One Chromium profile: a HOME whose NSS database trusts the test CA, and a user-data folder.
struct chromium_profile {
  std::string chromium, home, user_data;
  server_dir& dir;

  chromium_profile(interop_fixture& f, std::string binary, const std::string& certutil) : chromium(std::move(binary)), dir(f.dir) {
    home = f.dir.make_dir("home");
    std::filesystem::create_directories(home + "/.pki/nssdb");
    user_data = f.dir.make_dir("chromium-profile");
    const std::string db = "sql:" + home + "/.pki/nssdb";
    auto made = run_program({certutil, "-d", db, "-N", "--empty-password"}, f.dir.file("certutil-new.log"));
    REQUIRE(made.exit_code == 0);
    auto trusted = run_program({certutil, "-d", db, "-A", "-t", "C,,", "-n", "h2coal test CA", "-i", f.ca.ca_file()},
                               f.dir.file("certutil-add.log"));
    INFO(trusted.output);
    REQUIRE(trusted.exit_code == 0);
  }

  // Chromium headless on `url` with `rules` (then every other name NOTFOUND) and `extra` flags; its
  // NetLog goes to `netlog`. Returns what it printed (--dump-dom: the DOM after load).
  program_result run(const std::string& url, const std::string& rules, const std::string& netlog,
                     const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {"/usr/bin/env", "HOME=" + home, chromium, "--headless=new", "--no-sandbox",
                                     "--disable-gpu", "--no-first-run", "--disable-background-networking",
                                     "--disable-component-update", "--disable-sync", "--user-data-dir=" + user_data,
                                     "--log-net-log=" + netlog,
                                     "--host-resolver-rules=" + (rules.empty() ? "" : rules + ", ") + "MAP * ~NOTFOUND"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    return run_program(argv, netlog + ".out", std::chrono::seconds(90));
  }
};

// A 1x1 PNG (a valid image, so the <img> loads).
std::string pixel_png() {
  static const unsigned char png[] = {
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
      0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
      0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x56, 0xc6, 0x2d,
      0x4b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
  return std::string(reinterpret_cast<const char*>(png), sizeof png);
}

// The test server as both names' site: "/" on a.site.test is a page with an image from b.site.test.
struct page_server {
  std::atomic<std::uint16_t> port{0};
  std::unique_ptr<test::test_server> server;

  page_server(interop_fixture& f, std::vector<std::string> addresses) {
    test::server_options so;
    so.addresses = std::move(addresses);
    so.cert = f.ca.issue({"a.site.test", "b.site.test"});
    so.answer = [this](const test::request_info& r) -> std::optional<test::custom_answer> {
      test::custom_answer a;
      if (r.path == "/") {
        a.headers = {{"content-type", "text/html"}};
        a.body = "<!DOCTYPE html><html><body><p>page on a</p><img src=\"https://b.site.test:" + std::to_string(port.load()) +
                 "/pixel.png\" alt=\"pixel from b\"></body></html>";
      } else if (r.path == "/pixel.png") {
        a.headers = {{"content-type", "image/png"}};
        a.body = pixel_png();
      } else {
        a.status = 404;
      }
      return a;
    };
    server = std::make_unique<test::test_server>(so);
    port = server->port();
  }
  std::string name(const std::string& host) const { return host + ":" + std::to_string(port.load()); }
  // The SNI the image's request arrived under.
  std::string pixel_sni() const {
    for (const auto& r : server->requests())
      if (r.path == "/pixel.png") return r.sni;
    return "(no request for the image)";
  }
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, false);
}

}  // namespace

TEST_CASE("chromium: h2audit --netlog says Chromium sent the image's name on the page's session, as it did") {
  INTEROP_REQUIRE_PROGRAM(chromium, "chromium");
  INTEROP_REQUIRE_PROGRAM(certutil, "certutil");
  INTEROP_REQUIRE_TOOL(h2audit, find_h2audit, "h2audit");
  interop_fixture f;
  chromium_profile profile(f, chromium, certutil);
  page_server s(f, {"127.0.0.1"});
  const std::string a = s.name("a.site.test"), b = s.name("b.site.test");
  const std::string netlog = f.dir.file("netlog.json");
  auto page = profile.run("https://" + a + "/", "MAP a.site.test 127.0.0.1, MAP b.site.test 127.0.0.1", netlog, {"--dump-dom"});
  INFO("chromium said:\n" << page.output);
  REQUIRE(page.exit_code == 0);
  REQUIRE(page.output.find("page on a") != std::string::npos);
  // The server saw the image's request on the connection Chromium opened for a (its SNI is a's).
  CHECK(s.pixel_sni() == "a.site.test");

  // The NetLog alone.
  const std::string json = f.dir.file("netlog-report.json");
  auto alone = run_program({h2audit, "--netlog", netlog, "--json", json}, f.dir.file("h2audit-netlog.out"));
  INFO("h2audit said:\n" << alone.output);
  CHECK(alone.exit_code == 0);
  CHECK(alone.output.find("pooled: " + b + " onto " + a + "'s session") != std::string::npos);
  auto report = read_json(json);
  REQUIRE(report.is_object());
  REQUIRE(report["netlog"]["pooled"].size() == 1);
  CHECK(report["netlog"]["pooled"][0]["name"] == "https://" + b);
  CHECK(report["netlog"]["pooled"][0]["onto"] == "https://" + a);
  CHECK(report["netlog"]["pooled"][0]["remote_address"] == "127.0.0.1:" + std::to_string(s.port.load()));
  CHECK(report["netlog"]["truncated"] == false);

  // Beside an audit of the same names: the chromium model predicted it, and the pair says Chromium did it.
  const std::string both = f.dir.file("audit-report.json");
  auto audit = run_program({h2audit, "--cacert", f.ca.ca_file(), "--resolve", a + ":127.0.0.1", "--resolve",
                            b + ":127.0.0.1", "--netlog", netlog, "--json", both, a, b},
                           f.dir.file("h2audit-audit.out"));
  INFO("h2audit (audit) said:\n" << audit.output);
  CHECK(audit.exit_code == 0);
  auto r = read_json(both);
  REQUIRE(r.is_object());
  bool found = false;
  for (const auto& p : r["pairs"])
    if (p["from"] == "https://" + a && p["to"] == "https://" + b) {
      found = true;
      CHECK(p["chromium_netlog"] == "pooled");
      CHECK(p["verdict"] == "same");
    }
  CHECK(found);
  REQUIRE(r["netlog"]["pooled"].size() == 1);
  CHECK(r["netlog"]["pooled"][0]["predicted"] == true);
}

TEST_CASE("chromium: names on different addresses get their own sessions, and h2audit --netlog says so") {
  INTEROP_REQUIRE_PROGRAM(chromium, "chromium");
  INTEROP_REQUIRE_PROGRAM(certutil, "certutil");
  INTEROP_REQUIRE_TOOL(h2audit, find_h2audit, "h2audit");
  interop_fixture f;
  chromium_profile profile(f, chromium, certutil);
  page_server s(f, {"127.0.0.1", "127.0.0.2"});
  const std::string a = s.name("a.site.test"), b = s.name("b.site.test");
  const std::string netlog = f.dir.file("netlog.json");
  auto page = profile.run("https://" + a + "/", "MAP a.site.test 127.0.0.1, MAP b.site.test 127.0.0.2", netlog, {"--dump-dom"});
  INFO("chromium said:\n" << page.output);
  REQUIRE(page.exit_code == 0);
  REQUIRE(page.output.find("page on a") != std::string::npos);
  CHECK(s.pixel_sni() == "b.site.test");

  const std::string json = f.dir.file("netlog-report.json");
  auto alone = run_program({h2audit, "--netlog", netlog, "--json", json}, f.dir.file("h2audit-netlog.out"));
  INFO("h2audit said:\n" << alone.output);
  CHECK(alone.exit_code == 0);
  CHECK(alone.output.find("none pooled") != std::string::npos);
  CHECK(alone.output.find("\n  pooled: ") == std::string::npos);
  auto report = read_json(json);
  REQUIRE(report.is_object());
  CHECK(report["netlog"]["pooled"].empty());
  // Both names had a session of their own, each at its own address.
  std::map<std::string, std::string> at;
  for (const auto& se : report["netlog"]["sessions"]) at[se["host"].get<std::string>()] = se["remote_address"].get<std::string>();
  CHECK(at["https://" + a] == "127.0.0.1:" + std::to_string(s.port.load()));
  CHECK(at["https://" + b] == "127.0.0.2:" + std::to_string(s.port.load()));
}

TEST_CASE("chromium: h2audit's HTML report renders in Chromium with the network off: one row per finding") {
  INTEROP_REQUIRE_PROGRAM(chromium, "chromium");
  INTEROP_REQUIRE_PROGRAM(certutil, "certutil");
  INTEROP_REQUIRE_TOOL(h2audit, find_h2audit, "h2audit");
  interop_fixture f;
  // The seed's deployment: a router that picks the service by SNI (a.test serves /login, b.test /v1/):
  // both pairs misrouted, two findings.
  test::server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  so.routing = test::route_by::sni;
  so.paths_by_host = {{"a.test", {"/login"}}, {"b.test", {"/v1/"}}};
  test::test_server server(so);
  const std::string a = "a.test:" + std::to_string(server.port()), b = "b.test:" + std::to_string(server.port());
  const std::string html = f.dir.file("report.html");
  auto audit = run_program({h2audit, "--cacert", f.ca.ca_file(), "--resolve", a + ":127.0.0.1", "--resolve",
                            b + ":127.0.0.1", "--paths", "a.test=/login", "--paths", "b.test=/v1/", "--html", html, a, b},
                           f.dir.file("h2audit.out"));
  INFO("h2audit said:\n" << audit.output);
  REQUIRE(audit.exit_code == 1);

  chromium_profile profile(f, chromium, certutil);
  const std::string netlog = f.dir.file("render-netlog.json");
  auto dom = profile.run("file://" + html, "", netlog, {"--dump-dom", "--enable-logging=stderr", "--v=0"});
  INFO("chromium said:\n" << dom.output);
  REQUIRE(dom.exit_code == 0);
  auto rows = [&dom](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = dom.output.find(needle); at != std::string::npos; at = dom.output.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(rows("<tr class=\"finding\">") == 2);
  CHECK(rows("class=\"misrouted\"") == 2);
  CHECK(dom.output.find("<svg") != std::string::npos);
  CHECK(dom.output.find(":CONSOLE") == std::string::npos);  // the page logs nothing (no script, no error)
  // It fetched nothing: every request in the rendering's NetLog is Chromium's own (no page initiated one).
  auto log = read_json(netlog);
  REQUIRE(log.is_object());
  const auto start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
  for (const auto& e : log["events"])
    if (e["type"] == start_job && e.contains("params") && e["params"].contains("initiator")) {
      INFO("a request: " << e["params"].dump());
      CHECK(e["params"]["initiator"] == "not an origin");
    }

  // The screenshot is not blank: against a screenshot of an empty page of the same size in the same run
  // (a blank PNG compresses to a few KiB; text, tables and the graph do not).
  const std::string shot = f.dir.file("report.png"), blank = f.dir.file("blank.png");
  const std::string empty = f.dir.write("empty.html", "<!DOCTYPE html><html><body></body></html>");
  auto taken = profile.run("file://" + html, "", netlog + ".2", {"--window-size=1200,900", "--screenshot=" + shot});
  auto taken_blank = profile.run("file://" + empty, "", netlog + ".3", {"--window-size=1200,900", "--screenshot=" + blank});
  REQUIRE(taken.exit_code == 0);
  REQUIRE(taken_blank.exit_code == 0);
  const auto shot_size = read_file(shot).size();
  const auto blank_size = read_file(blank).size();
  INFO("screenshot " << shot_size << " bytes, blank " << blank_size << " bytes");
  REQUIRE(blank_size > 0);
  CHECK(shot_size > 3 * blank_size);
}
