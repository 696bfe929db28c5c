// SPDX-License-Identifier: BSL-1.0
// tests/interop/nghttp2_test.cpp: h2coal against nghttp2's own servers (Debian 12: 1.52).
//
// nghttpd serves files and echoes uploads: many streams on one connection, large bodies both ways.
// nghttpx in front of it ends each client connection after 5 requests (--frontend-max-requests) with its
// graceful shutdown: a GOAWAY naming stream 2^31-1, then, after a PING round trip, the final GOAWAY with
// the real last stream id (RFC 9113 section 6.8). The client must move the rest on and lose nothing.
#include "interop/interop.hpp"

#include <map>

using namespace h2coal;
using namespace h2coal::interop;

namespace {

constexpr const char* nghttpd_address = "127.0.65.1";
constexpr const char* nghttpx_address = "127.0.65.2";
constexpr std::size_t big_size = 4 * 1024 * 1024;
constexpr std::size_t medium_size = 256 * 1024;

struct nghttpd_instance {
  std::uint16_t port = 0;
  std::unique_ptr<server_process> proc;
};

// nghttpd on TLS (with `tls`) or cleartext h2 (as nghttpx's backend), serving {{dir}}/www.
nghttpd_instance start_nghttpd(interop_fixture& f, const std::string& bin, bool tls) {
  auto www = f.dir.make_dir("www");
  f.dir.write("www/small.txt", "nghttpd small\n");
  f.dir.write("www/medium.bin", pattern_body(medium_size));
  f.dir.write("www/big.bin", pattern_body(big_size));
  auto certs = f.write_cert("h", f.ca.issue({"h.test"}));
  return start_with_retry([&] {
    nghttpd_instance n;
    n.port = free_port({nghttpd_address});
    process_options po;
    po.argv = {bin, "--address=" + std::string(nghttpd_address), "--htdocs=" + www, "--echo-upload", "--workers=1"};
    if (tls) {
      po.argv.push_back(std::to_string(n.port));
      po.argv.push_back(certs.key);
      po.argv.push_back(certs.cert);
    } else {
      po.argv.push_back("--no-tls");
      po.argv.push_back(std::to_string(n.port));
    }
    po.log_file = f.dir.file(tls ? "nghttpd.out" : "nghttpd-backend.out");
    n.proc = std::make_unique<server_process>("nghttpd", po);
    n.proc->wait_ready({{nghttpd_address, n.port}});
    return n;
  });
}

}  // namespace

TEST_CASE("nghttpd: throughput sanity: 200 streams, 4 MB downloads and 1 MB echoed uploads on one connection") {
  INTEROP_REQUIRE_PROGRAM(nghttpd, "nghttpd");
  interop_fixture f;
  auto n = start_nghttpd(f, nghttpd, true);
  f.resolve("h.test", {nghttpd_address});
  client c(f.io.get_executor(), f.options_with(policies::origin()));
  const auto upload = pattern_body(1024 * 1024 + 7);
  std::vector<request> reqs;
  auto add = [&](const char* method, const char* path, const std::string& body) {
    request r;
    r.method = method;
    r.url = server_url("h.test", n.port, path);
    r.body = body;
    r.timeout = std::chrono::seconds(60);
    reqs.push_back(std::move(r));
  };
  for (int i = 0; i < 200; ++i) add("GET", "/small.txt", "");
  for (int i = 0; i < 4; ++i) add("GET", "/big.bin", "");
  for (int i = 0; i < 4; ++i) add("POST", "/echo", upload);

  const auto t0 = std::chrono::steady_clock::now();
  auto results = f.fetch_all(c, reqs);
  const auto elapsed = std::chrono::steady_clock::now() - t0;

  const auto big = pattern_body(big_size);
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    INFO("request " << i << " " << reqs[i].method << " " << reqs[i].url);
    REQUIRE_FALSE(results[i].ec);
    CHECK(results[i].completions == 1);
    CHECK(results[i].resp.status == 200);
    CHECK(results[i].resp.http_version == "2");
    if (i < 200) CHECK(results[i].resp.body == "nghttpd small\n");
    else if (i < 204) CHECK(results[i].resp.body == big);
    else CHECK(results[i].resp.body == upload);
    bytes += results[i].resp.body_bytes;
  }
  CHECK(f.connects() == 1);  // nghttpd allows 100 concurrent streams: the rest wait for one, on it
  CHECK(f.count("request.retry") == 0);
  // A sanity bound, not a benchmark: about 25 MB over loopback.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  INFO(bytes << " bytes in " << ms << " ms");
  CHECK(ms < 20000);
}

TEST_CASE("nghttpx: --frontend-max-requests 5 ends connections with GOAWAY and every request completes exactly once") {
  INTEROP_REQUIRE_PROGRAM(nghttpd, "nghttpd");
  INTEROP_REQUIRE_PROGRAM(nghttpx, "nghttpx");
  interop_fixture f;
  auto backend = start_nghttpd(f, nghttpd, false);
  auto certs = f.write_cert("x", f.ca.issue({"x.test"}));
  auto access_log = f.dir.file("nghttpx-access.log");
  auto proxy = start_with_retry([&] {
    auto port = free_port({nghttpx_address});
    process_options po;
    po.argv = {nghttpx,
               "--conf=/dev/null",
               "--single-process",
               "--workers=1",
               "--no-ocsp",
               "--frontend=" + std::string(nghttpx_address) + "," + std::to_string(port),
               "--backend=" + std::string(nghttpd_address) + "," + std::to_string(backend.port) + ";;proto=h2",
               "--frontend-max-requests=5",
               "--errorlog-file=" + f.dir.file("nghttpx-error.log"),
               "--accesslog-file=" + access_log,
               "--accesslog-format=$remote_port $status $path",
               certs.key,
               certs.cert};
    po.log_file = f.dir.file("nghttpx.out");
    auto p = std::make_unique<server_process>("nghttpx", po);
    p->wait_ready({{nghttpx_address, port}});
    return std::pair{port, std::move(p)};
  });
  const auto port = proxy.first;
  f.resolve("x.test", {nghttpx_address});
  client c(f.io.get_executor(), f.options_with(policies::origin()));
  const auto body = pattern_body(medium_size);
  std::size_t sent = 0;
  auto next_request = [&] {
    request r;
    r.url = server_url("x.test", port, "/medium.bin?i=" + std::to_string(sent++));
    r.timeout = std::chrono::seconds(30);
    return r;
  };
  auto check_all = [&](const std::vector<test::result>& results) {
    for (const auto& r : results) {
      REQUIRE_FALSE(r.ec);
      CHECK(r.completions == 1);
      CHECK(r.resp.status == 200);
      CHECK(r.resp.body == body);
    }
  };

  // One after another: nghttpx announces the end with the 5th request, so the 6th goes on a new
  // connection, and so on: 12 requests, 3 connections, 5 + 5 + 2.
  for (int i = 0; i < 12; ++i) check_all({f.fetch(c, next_request())});
  CHECK(f.connects() == 3);
  CHECK(f.count("conn.goaway") >= 2);

  // 23 at once on a fresh connection: the streams nghttpx already accepted when it reached 5 are served
  // (its GOAWAY names them), the rest move to new connections; each request completes exactly once.
  std::vector<request> burst;
  for (int i = 0; i < 23; ++i) burst.push_back(next_request());
  check_all(f.fetch_all(c, burst));

  // nghttpx's account: every request exactly once; sequentially, never more than 5 per connection.
  wait_for_lines(access_log, sent);
  proxy.second->stop();
  std::map<std::string, unsigned> per_connection;
  std::set<std::string> paths;
  std::size_t lines = 0;
  for (const auto& line : read_lines(access_log)) {
    std::istringstream in(line);
    std::string remote_port, path;
    int status = 0;
    in >> remote_port >> status >> path;
    CHECK(status == 200);
    CHECK(paths.insert(path).second);  // never twice
    if (lines++ < 12) ++per_connection[remote_port];
  }
  CHECK(paths.size() == sent);
  CHECK(per_connection.size() == 3);
  for (const auto& [p, n] : per_connection) CHECK(n <= 5);
}
