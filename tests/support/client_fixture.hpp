// SPDX-License-Identifier: BSL-1.0
// tests/support/client_fixture.hpp: what an integration test needs around an h2coal::client: a test CA,
// a resolver that knows only the test hosts, and a way to run requests to completion without sleeping.
#pragma once

#include "support/raw_server.hpp"
#include "support/test_ca.hpp"
#include "support/test_server.hpp"

#include <h2coal/h2coal.hpp>

#include <asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace h2coal::test {

struct result {
  std::error_code ec;
  h2coal::response resp;
  int completions = 0;  // how often the handler ran (must be exactly 1)
};

class client_fixture {
 public:
  test_ca ca;
  asio::io_context io;
  // Only the names a test adds resolve; nothing ever reaches a real DNS server.
  std::shared_ptr<static_resolver> resolver = std::make_shared<static_resolver>(nullptr);
  std::vector<trace::event> events;

  /// Options trusting the test CA only, resolving through `resolver`, recording trace events.
  client_options options() {
    client_options o;
    o.tls.use_system_trust = false;
    o.tls.ca_file = ca.ca_file();
    o.resolver = resolver;
    o.trace = [this](const trace::event& e) { events.push_back(e); };
    return o;
  }

  /// options() with `p` for every host.
  client_options with_policy(any_policy p) {
    auto o = options();
    o.policies = policy_map(std::move(p));
    return o;
  }

  /// options() speaking HTTP/1.1 only.
  client_options http1_options() {
    auto o = options();
    o.version = http_version::http1_only;
    return o;
  }

  /// Starts a test_server for `hosts`: a certificate for all of them from `ca` (TLS modes, unless `so`
  /// brings its own), and each host resolving to the server's first address.
  std::unique_ptr<test_server> serve(const std::vector<std::string>& hosts, server_options so = {}) {
    const bool tls = so.protocol != server_protocol::h2c && so.protocol != server_protocol::http1_plain;
    if (tls && so.cert.cert_pem.empty() && !hosts.empty()) so.cert = ca.issue(hosts);
    auto server = std::make_unique<test_server>(std::move(so));
    for (const auto& h : hosts) resolve(h, {server->addresses().front()});
    return server;
  }

  /// The same for a raw_server: a certificate for `hosts` (TLS only, unless `ro` brings one), each host
  /// resolving to its address.
  std::unique_ptr<raw_server> raw(const std::vector<std::string>& hosts, raw_server_options ro = {}) {
    if (ro.tls && ro.cert.cert_pem.empty() && !hosts.empty()) ro.cert = ca.issue(hosts);
    const std::string address = ro.address;
    auto server = std::make_unique<raw_server>(std::move(ro));
    for (const auto& h : hosts) resolve(h, {address});
    return server;
  }

  /// Makes `host` resolve to `addrs` (any port).
  void resolve(const std::string& host, std::vector<std::string> addrs) {
    address_list l;
    for (auto& a : addrs) l.push_back(asio::ip::make_address(a));
    resolver->add(host, 0, std::move(l));
  }

  /// Runs the io_context until `done()` holds; fails the test (throws) after `limit` instead of hanging.
  void run_until(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(60)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("run_until: no completion in time");
      io.run_one_for(std::chrono::milliseconds(100));
    }
  }

  /// Sends every request at once on `c` and waits for all of them.
  std::vector<result> fetch_all(client& c, const std::vector<request>& reqs) {
    std::vector<result> out(reqs.size());
    std::size_t done = 0;
    for (std::size_t i = 0; i < reqs.size(); ++i)
      c.async_request(reqs[i], [&out, &done, i](std::error_code ec, response r) {
        out[i].ec = ec;
        out[i].resp = std::move(r);
        if (++out[i].completions == 1) ++done;
      });
    run_until([&] { return done == reqs.size(); });
    return out;
  }

  result fetch(client& c, request r) { return fetch_all(c, {std::move(r)}).front(); }

  result get(client& c, const std::string& url) {
    request r;
    r.url = url;
    return fetch(c, std::move(r));
  }

  /// Names of the trace events recorded so far, in order, optionally only those starting with `prefix`.
  std::vector<std::string> event_names(const std::string& prefix = "") const {
    std::vector<std::string> out;
    for (const auto& e : events)
      if (e.ev.rfind(prefix, 0) == 0) out.push_back(e.ev);
    return out;
  }
};

/// The body /bytes/N answers with.
inline std::string expected_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = test_body_byte(i);
  return s;
}

inline std::string test_url(const std::string& host, std::uint16_t port, const std::string& path = "/",
                       const std::string& scheme = "https") {
  return scheme + "://" + host + ":" + std::to_string(port) + path;
}

}  // namespace h2coal::test
