// SPDX-License-Identifier: BSL-1.0
// tests/interop/interop.hpp: what every interop test shares: finding a server binary (skip outside CI,
// fail under CI), a client fixture with a folder for the server's generated files, and start-up with one
// retry when the free port was taken in the meantime.
#pragma once

#include "catch.hpp"
#include "interop/server_process.hpp"
#include "support/client_fixture.hpp"

#include <h2coal/h2coal.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <poll.h>

namespace h2coal::interop {

/// Looks a server binary up. Outside CI a missing one ends the test with a warning (Catch2 v2 has no
/// SKIP); under CI (`CI=true`) it fails the test: CI installs every server (scripts/install-deps).
#define INTEROP_REQUIRE_PROGRAM(var, program)                                                              \
  const auto var##_found = ::h2coal::interop::find_program(program);                                      \
  if (!var##_found) {                                                                                     \
    if (::h2coal::interop::running_under_ci())                                                            \
      FAIL(program " is not installed; CI must install it (scripts/install-deps, group interop)");         \
    WARN("SKIPPED: " program " is not installed (scripts/install-deps installs it); this case did not run"); \
    return;                                                                                               \
  }                                                                                                       \
  const std::string var = *var##_found

/// Declares `const std::string var`, the path of one of the examples' tools (h2get, h2audit) that
/// `finder()` finds in this build tree; skips the case when it is not built, fails under CI (scripts/test
/// builds the examples).
#define INTEROP_REQUIRE_TOOL(var, finder, tool)                                                           \
  const auto var##_found = ::h2coal::interop::finder();                                                   \
  if (!var##_found) {                                                                                     \
    if (::h2coal::interop::running_under_ci()) FAIL(tool " was not built: scripts/test builds the examples"); \
    WARN("SKIPPED: " tool " is not built in this build tree (H2COAL_BUILD_EXAMPLES=OFF?)");               \
    return;                                                                                               \
  }                                                                                                       \
  const std::string var = *var##_found

/// Runs `start` (which builds a configuration on fresh ports, starts the server and waits for it); when
/// the server exited during start-up, most likely because another process took a port in between, once
/// more with new ports.
template <class Start>
auto start_with_retry(Start start) -> decltype(start()) {
  try {
    return start();
  } catch (const start_failure& e) {
    if (!e.exited()) throw;
    WARN("first start failed, retrying once with new ports: " << e.what());
    return start();
  }
}

struct cert_files {
  std::string cert;  ///< PEM leaf (and chain)
  std::string key;   ///< PEM key
  std::string both;  ///< leaf then key in one file (haproxy's crt)
};

class interop_fixture : public test::client_fixture {
 public:
  server_dir dir;

  /// Writes a certificate pair for the server under `name`.pem / `name`.key / `name`-both.pem.
  cert_files write_cert(const std::string& name, const test::cert_pair& p) {
    cert_files f;
    f.cert = dir.write(name + ".pem", p.cert_pem);
    f.key = dir.write(name + ".key", p.key_pem);
    f.both = dir.write(name + "-both.pem", p.cert_pem + p.key_pem);
    return f;
  }

  /// Options with `policy`, trusting the test CA and resolving only the test hosts.
  client_options options_with(any_policy policy, http_version v = http_version::automatic) {
    auto o = options();
    o.policies = policy_map(std::move(policy));
    o.version = v;
    return o;
  }

  /// How many events named `ev` the client traced so far.
  std::size_t count(const std::string& ev) const {
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const trace::event& e) { return e.ev == ev; }));
  }
  /// Connections the client opened (its conn.connect events): what the server saw as TCP connections.
  std::size_t connects() const { return count("conn.connect"); }
  void clear_events() { events.clear(); }

  /// Every `request.retry` reason, in order.
  std::vector<std::string> retry_reasons() const {
    std::vector<std::string> out;
    for (const auto& e : events)
      if (e.ev == "request.retry")
        if (auto* v = e.find("reason"); v && std::holds_alternative<std::string>(*v)) out.push_back(std::get<std::string>(*v));
    return out;
  }

  test::result get_with(client& c, const std::string& url, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    request r;
    r.url = url;
    r.timeout = timeout;
    return fetch(c, std::move(r));
  }
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

/// Polls `path` until it holds at least `n` lines, for at most `limit`: for servers that write a request's
/// log line in another process (apache2's children) some time after the response went out.
inline std::size_t wait_for_lines(const std::string& path, std::size_t n,
                                  std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::size_t have = read_lines(path).size();
  while (have < n && std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 20);
    have = read_lines(path).size();
  }
  return have;
}

inline std::string server_url(const std::string& host, std::uint16_t port, const std::string& path = "/",
                       const std::string& scheme = "https") {
  return test::test_url(host, port, path, scheme);
}

/// `text` with every `{{name}}` replaced by its value: configuration templates stay readable.
inline std::string fill(std::string text, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [name, value] : values) {
    const std::string key = "{{" + name + "}}";
    for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos + value.size()))
      text.replace(pos, key.size(), value);
  }
  return text;
}

/// h2audit's run over a.test and b.test, both on one server's address and port (examples/h2audit).
struct two_name_audit {
  program_result result;
  std::string a, b;  ///< "a.test:PORT", "b.test:PORT", as the report names them
  /// Whether the report has the pair from -> to, shared by both modelled browsers, with this verdict.
  bool says(const std::string& from, const std::string& to, const std::string& verdict) const {
    return result.output.find(from + " -> " + to + "  [chromium,firefox]  " + verdict) != std::string::npos;
  }
  bool mentions(const std::string& text) const { return result.output.find(text) != std::string::npos; }
};

/// Runs `h2audit` (the binary) over a.test and b.test on `address`:`port`, trusting `f`'s CA; `extra`
/// options come before the names. Its output is left in the fixture's folder.
inline two_name_audit audit_a_and_b(interop_fixture& f, const std::string& h2audit, const std::string& address,
                                    std::uint16_t port, const std::vector<std::string>& extra = {}) {
  two_name_audit run;
  run.a = "a.test:" + std::to_string(port);
  run.b = "b.test:" + std::to_string(port);
  std::vector<std::string> argv = {h2audit, "--cacert", f.ca.ca_file(), "--resolve", run.a + ":" + address,
                                   "--resolve", run.b + ":" + address};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {run.a, run.b});
  run.result = run_program(argv, f.dir.file("h2audit.out"));
  return run;
}

/// A deterministic body of `n` bytes with no repeating short period, for throughput checks.
inline std::string pattern_body(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 2463534242u;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s[i] = static_cast<char>('a' + x % 26);
  }
  return s;
}

}  // namespace h2coal::interop
