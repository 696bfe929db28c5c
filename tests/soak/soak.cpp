// SPDX-License-Identifier: BSL-1.0
// tests/soak/soak.cpp: many requests, many origins, faults all the time (issue 9, soak).
//
// One client sends H2COAL_SOAK_REQUESTS requests (default 100,000), H2COAL_SOAK_PARALLEL (default 200)
// at a time, to 50 origins h0.soak.test .. h49.soak.test on one test_server listening on 10 loopback
// addresses (127.0.0.10 .. 127.0.0.19; every fifth host resolves to two of them). One request in five
// asks for a fault: a 421, a GOAWAY, RST_STREAM INTERNAL_ERROR or REFUSED_STREAM, a stall the request's
// timeout ends, a dropped connection, or a connection that goes silent (never writes again, never closes:
// the client's PING health check must find it dead); and every 5,000 requests the server sends GOAWAY on every
// connection. It checks that
//   - every request completes exactly once, with an outcome its kind allows (a dropped connection may
//     take the other requests in flight on it along, a silent one too once the health check finds it
//     dead, and GOAWAYs may refuse one request more often than max_retries: connection_closed,
//     connection_dead and too_many_retries are allowed for every kind);
//   - every 200 answer carries its own host and path (nothing misrouted) and the right body;
//   - memory (bytes allocated, as malloc or ASan counts them) after the client is gone is back within
//     H2COAL_SOAK_MARGIN_KB (default 512) of where it was before the client was made. The server runs in
//     a child process, so that these numbers are the client's alone;
//   - it all ends within H2COAL_SOAK_SECONDS (default 300); then it fails rather than hang.
// Under AddressSanitizer (scripts/sanitize builds it so) LeakSanitizer checks at exit that nothing leaked.
// Exit status 0 on success; prints one summary line "soak: N passed, M failed".
#include "support/client_fixture.hpp"

#include <h2coal/h2coal.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define H2COAL_SOAK_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define H2COAL_SOAK_ASAN 1
#endif
#if defined(H2COAL_SOAK_ASAN)
// From the sanitizer runtime (sanitizer/allocator_interface.h, which gcc does not install).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

using namespace h2coal;
using namespace h2coal::test;

namespace {

std::size_t env_number(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return static_cast<std::size_t>(std::strtoull(v, nullptr, 10));
}

// Bytes currently allocated by the program.
std::size_t allocated_bytes() {
#if defined(H2COAL_SOAK_ASAN)
  return __sanitizer_get_current_allocated_bytes();
#else
  malloc_trim(0);
  return mallinfo2().uordblks;
#endif
}

enum class kind { ok, bytes, misdirected, goaway, reset_internal, reset_refused, stall, close, silent, count };

constexpr std::array<const char*, static_cast<std::size_t>(kind::count)> kind_names{
    "ok", "bytes", "421", "goaway", "reset-internal", "reset-refused", "stall", "close", "silent"};

kind pick(std::mt19937& rng) {
  const auto r = static_cast<unsigned>(rng() % 1000);
  if (r < 740) return kind::ok;
  if (r < 800) return kind::bytes;
  if (r < 840) return kind::misdirected;
  if (r < 880) return kind::goaway;
  if (r < 910) return kind::reset_internal;
  if (r < 940) return kind::reset_refused;
  if (r < 977) return kind::stall;
  if (r < 980) return kind::silent;
  return kind::close;
}

struct slot {
  kind k = kind::ok;
  std::size_t host = 0;
  std::size_t size = 0;
  std::string path;
  std::uint8_t completions = 0;
};

}  // namespace

int main() {
  const std::size_t total = env_number("H2COAL_SOAK_REQUESTS", 100000);
  const std::size_t parallel = std::max<std::size_t>(1, env_number("H2COAL_SOAK_PARALLEL", 200));
  const auto limit = std::chrono::seconds(env_number("H2COAL_SOAK_SECONDS", 300));
  const std::size_t margin = env_number("H2COAL_SOAK_MARGIN_KB", 512) * 1024;
  constexpr std::size_t hosts = 50, addresses = 10;
  const auto started = std::chrono::steady_clock::now();

  client_fixture f;
  server_options so;
  for (std::size_t i = 0; i < addresses; ++i) so.addresses.push_back("127.0.0." + std::to_string(10 + i));
  so.cert = f.ca.issue({"*.soak.test"});
  so.record_requests = false;
  so.answer_421 = [](const request_info& r) { return r.path.rfind("/m421", 0) == 0; };

  // The server, in a child process (forked before any thread exists). The pipes: the port comes back on
  // one; on the other, 'g' asks for GOAWAY on every connection and the end of the pipe ends the child.
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return 2;
  const pid_t child = ::fork();
  if (child < 0) return 2;
  if (child == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    int rc = 0;
    try {
      test_server server(so);
      const std::uint16_t p = server.port();
      if (::write(from_child[1], &p, sizeof p) != sizeof p) rc = 3;
      char c = 0;
      while (rc == 0 && ::read(to_child[0], &c, 1) == 1)
        if (c == 'g') server.send_goaway_all();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "soak: server: %s\n", e.what());
      rc = 3;
    }
    ::_exit(rc);  // no LeakSanitizer pass over the server: it is the client that is under test
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  std::uint16_t server_port = 0;
  if (::read(from_child[0], &server_port, sizeof server_port) != sizeof server_port) {
    std::fprintf(stderr, "soak: the server did not start\n");
    return 2;
  }
  auto goaway_all = [&] {
    const char g = 'g';
    if (::write(to_child[1], &g, 1) != 1) std::fprintf(stderr, "soak: cannot reach the server\n");
  };

  for (std::size_t h = 0; h < hosts; ++h) {
    std::vector<std::string> addrs{"127.0.0." + std::to_string(10 + h % addresses)};
    if (h % 5 == 0) addrs.push_back("127.0.0." + std::to_string(10 + (h + 3) % addresses));
    f.resolve("h" + std::to_string(h) + ".soak.test", addrs);
  }
  const std::string port = std::to_string(server_port);

  auto opts = f.options();
  opts.trace = nullptr;  // 100,000 requests' events would be the memory this test watches
  opts.idle_timeout = std::chrono::seconds(5);
  // The health check on (DESIGN section 14): /silence connections are found dead and their requests move on.
  opts.read_idle_timeout = std::chrono::milliseconds(200);
  opts.ping_timeout = std::chrono::milliseconds(300);

  std::vector<slot> slots(total);
  std::mt19937 rng(20261126);
  for (std::size_t i = 0; i < total; ++i) {
    auto& s = slots[i];
    s.k = pick(rng);
    s.host = rng() % hosts;
    const std::string n = "?n=" + std::to_string(i);
    switch (s.k) {
      case kind::ok: s.path = "/ok" + n; break;
      case kind::bytes: s.size = rng() % 70000; s.path = "/bytes/" + std::to_string(s.size) + n; break;
      case kind::misdirected: s.path = "/m421" + n; break;
      case kind::goaway: s.path = "/goaway" + n; break;
      case kind::reset_internal: s.path = "/reset/2" + n; break;
      case kind::reset_refused: s.path = "/reset/7" + n; break;
      case kind::stall: s.path = "/stall" + n; break;
      case kind::close: s.path = "/close" + n; break;
      case kind::silent: s.path = "/silence" + n; break;
      case kind::count: break;
    }
  }

  const std::size_t before = allocated_bytes();
  std::size_t issued = 0, completed = 0, wrong = 0, doubles = 0, peak = before;
  std::map<std::string, std::size_t> outcomes;  // "kind: outcome" -> count
  std::size_t connections_seen = 0, closed_client = 0;
  // Both outlive the client: handlers that run after it is gone (client_shutdown) still look at them.
  bool accepting = true;  // off once the run is over (or out of time): no request after the client
  std::function<void()> issue_next;
  {
    client c(f.io.get_executor(), opts);
    issue_next = [&] {
      if (!accepting || issued >= total) return;
      const std::size_t i = issued++;
      const auto& slot = slots[i];
      request r;
      r.url = "https://h" + std::to_string(slot.host) + ".soak.test:" + port + slot.path;
      if (slot.k == kind::stall) r.timeout = std::chrono::milliseconds(20);
      c.async_request(std::move(r), [&, i](std::error_code ec, response resp) {
        auto& s = slots[i];
        if (++s.completions > 1) {
          ++doubles;
          return;
        }
        ++completed;
        const std::string host = "h" + std::to_string(s.host) + ".soak.test";
        bool ok = false;
        if (ec == error::connection_closed || ec == error::too_many_retries || ec == error::connection_dead) {
          // A /close on the same connection (or a GOAWAY's close) took it along, or a /silence did (the
          // health check found that connection dead after the first response bytes, or on every connection
          // the request went on to, max_retries times); or it was refused by GOAWAY after GOAWAY more
          // often than max_retries allows.
          ok = true;
        } else {
          switch (s.k) {
            case kind::ok:
            case kind::goaway:
              ok = !ec && resp.status == 200 && resp.body == "host=" + host + " path=" + s.path;
              break;
            case kind::bytes:
              ok = !ec && resp.status == 200 && resp.body.size() == s.size &&
                   (s.size == 0 || resp.body.back() == test_body_byte(s.size - 1));
              break;
            case kind::misdirected: ok = !ec && resp.status == 421 && resp.attempts >= 2; break;  // + GOAWAY retries
            case kind::reset_internal: ok = ec == error::h2_internal_error; break;
            case kind::reset_refused: ok = ec == error::refused_stream; break;
            case kind::stall: ok = ec == error::request_timeout; break;
            case kind::close: ok = false; break;  // connection_closed is handled above
            // Every connection it lands on goes silent: the health check finds each one dead, and the
            // request goes on until max_retries, then fails as connection_dead (above); nothing else.
            case kind::silent: ok = false; break;
            case kind::count: break;
          }
        }
        std::string outcome = ec ? ec.message() : "status " + std::to_string(resp.status);
        ++outcomes[std::string(kind_names[static_cast<std::size_t>(s.k)]) + ": " + outcome];
        if (!ok) {
          if (++wrong <= 10)
            std::fprintf(stderr, "soak: request %zu (%s) %s: %s (attempts %u)\n", i, host.c_str(), s.path.c_str(),
                         outcome.c_str(), resp.attempts);
        }
        if (completed % 5000 == 0) {
          goaway_all();
          peak = std::max(peak, allocated_bytes());
        }
        issue_next();
      });
    };
    for (std::size_t i = 0; i < parallel; ++i) issue_next();
    try {
      f.run_until([&] { return completed == total; }, limit);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "soak: %s: %zu of %zu requests completed\n", e.what(), completed, total);
    }
    accepting = false;
    connections_seen = c.connections().size();
    // Closed but not yet destroyed: what the pool keeps after its connections are gone.
    c.close();
    f.io.restart();
    f.io.poll();
    closed_client = allocated_bytes();
  }
  // The client is gone: its connections close and their last handlers run.
  f.io.restart();
  f.io.run_for(std::chrono::seconds(5));  // returns as soon as nothing is left to run
  const std::size_t after = allocated_bytes();
  ::close(to_child[1]);
  int status = 0;
  ::waitpid(child, &status, 0);

  std::size_t never = 0;
  for (const auto& s : slots) never += s.completions == 0;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("soak: %zu requests, %zu at a time, 50 origins on 10 addresses, %.1f s, %zu connections\n", total,
              parallel, seconds, connections_seen);
  for (const auto& [what, n] : outcomes) std::printf("  %-40s %zu\n", what.c_str(), n);
  const long long grown = static_cast<long long>(after) - static_cast<long long>(before);
  std::printf("soak: client memory before %zu KiB, peak %zu KiB, closed %zu KiB, destroyed %zu KiB (%+lld KiB; margin %zu KiB)\n",
              before / 1024, peak / 1024, closed_client / 1024, after / 1024, grown / 1024, margin / 1024);

  std::size_t failed = 0;
  auto check = [&](bool ok, const char* what) {
    std::printf("  %-58s %s\n", what, ok ? "ok" : "FAILED");
    failed += !ok;
  };
  check(never == 0 && completed == total, "every request completed");
  check(doubles == 0, "no request completed twice");
  check(wrong == 0, "every outcome is one its kind allows");
  check(grown < static_cast<long long>(margin), "memory back within the margin");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the server process ended cleanly");
  std::printf("soak: %zu passed, %zu failed\n", 5 - failed, failed);
  return failed ? 1 : 0;
}
