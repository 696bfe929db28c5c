// SPDX-License-Identifier: BSL-1.0
// benchmarks/h2bench/main.cpp: an h2load-like load generator on h2coal's public client API.
//
//   h2bench [--cacert FILE] [-k] [--resolve H:P:A]... [--connect-to ADDR] [--policy strict|browser|origin]
//           [--coalesce-pending] [-c CONNS] [-m STREAMS] [-n REQUESTS] [--time-limit S] [-v] URL...
//
// Fetches the URLs (in turn) N times over C connections with M requests in flight on each, and prints
// one line: requests, time, req/s, MiB/s, errors, statuses, connections opened, the CPU time the run
// used and the resident memory at its end (connections still open). Exit 0 only when every response
// was a 200.
//
// How it gets C connections to one origin: one h2coal::client per connection. A client's pool keeps
// one HTTP/2 connection per origin and queues requests beyond the server's stream limit on it, so C
// connections to one origin need C pools; each client carries N/C of the requests with M in flight,
// as each of h2load's clients does. With several URLs (other origins), each client's pool decides
// under --policy whether they share its connection: the coalescing-payoff run uses -c 1.
//
// Bodies are counted and dropped (request::on_body), as h2load and curl_multi drop theirs.
#include <h2coal/h2coal.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

struct options {
  std::vector<std::string> urls;
  std::string cacert;
  bool insecure = false;
  bool verbose = false;
  std::vector<std::string> resolves;
  std::string connect_to;   // every host resolves to this address (curl's --connect-to ::ADDR:)
  std::string policy = "origin";
  bool coalesce_pending = false;  // client_options::coalesce_pending
  std::size_t conns = 1;
  std::size_t streams = 1;
  std::size_t requests = 1;
  double time_limit = 300;  // seconds; the run is stopped and counted as failed after this
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "h2bench: " << why << "\n"
            << "usage: h2bench [--cacert FILE] [-k] [--resolve HOST:PORT:ADDR]... [--connect-to ADDR]\n"
               "               [--policy strict|browser|origin] [--coalesce-pending] [-c CONNS] [-m STREAMS]\n"
               "               [-n REQUESTS] [--time-limit SECONDS] [-v] URL...\n";
  std::exit(2);
}

std::size_t count_arg(const char* s, const char* name) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (!end || *end || v == 0 || v > 100'000'000) usage(std::string("bad ") + name + " '" + s + "'");
  return static_cast<std::size_t>(v);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--cacert") o.cacert = next();
    else if (a == "-k" || a == "--insecure") o.insecure = true;
    else if (a == "--resolve") o.resolves.emplace_back(next());
    else if (a == "--connect-to") o.connect_to = next();
    else if (a == "--policy") o.policy = next();
    else if (a == "--coalesce-pending") o.coalesce_pending = true;
    else if (a == "-c") o.conns = count_arg(next(), "-c");
    else if (a == "-m") o.streams = count_arg(next(), "-m");
    else if (a == "-n") o.requests = count_arg(next(), "-n");
    else if (a == "--time-limit") o.time_limit = std::atof(next());
    else if (a == "-v") o.verbose = true;
    else if (a == "-h" || a == "--help") usage("help");
    else if (!a.empty() && a[0] == '-') usage("unknown option " + a);
    else o.urls.push_back(a);
  }
  if (o.urls.empty()) usage("no URL");
  if (o.policy != "strict" && o.policy != "browser" && o.policy != "origin") usage("bad --policy " + o.policy);
  if (o.time_limit <= 0) usage("bad --time-limit");
  return o;
}

// Every host resolves to one address: benchmarks/compare's many origins on one local server.
class fixed_resolver final : public h2coal::resolver {
 public:
  explicit fixed_resolver(asio::ip::address a) : addr_(a) {}
  void async_resolve(const asio::any_io_executor& ex, const std::string&, std::uint16_t, callback done) override {
    asio::post(ex, [done = std::move(done), a = addr_] { done({}, h2coal::resolution{h2coal::address_list{a}, std::nullopt, {}}); });
  }

 private:
  asio::ip::address addr_;
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// VmRSS now, in KiB (Linux); 0 when unknown.
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

// One client (one connection to each origin it serves) carrying its share of the requests.
struct lane {
  std::unique_ptr<h2coal::client> client;
  std::size_t share = 0;    // requests this lane sends
  std::size_t issued = 0;
  std::size_t done = 0;
};

struct totals {
  std::size_t done = 0;
  std::size_t errors = 0;
  std::uint64_t bytes = 0;
  std::map<int, std::size_t> statuses;
  std::map<std::string, std::size_t> error_kinds;
};

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);

  h2coal::client_options copts;
  copts.tls.insecure = o.insecure;
  if (!o.cacert.empty()) {
    // As curl's --cacert: this file replaces the system store (which would cost every client a parse
    // of the whole system bundle).
    copts.tls.ca_file = o.cacert;
    copts.tls.use_system_trust = false;
  }
  copts.coalesce_pending = o.coalesce_pending;
  if (o.policy == "strict") copts.policies = h2coal::policy_map(h2coal::policies::strict());
  else if (o.policy == "browser") copts.policies = h2coal::policy_map(h2coal::policies::browser());
  if (!o.connect_to.empty()) {
    std::error_code ec;
    auto a = asio::ip::make_address(o.connect_to, ec);
    if (ec) usage("bad --connect-to " + o.connect_to);
    copts.resolver = std::make_shared<fixed_resolver>(a);
  } else if (!o.resolves.empty()) {
    auto r = std::make_shared<h2coal::static_resolver>();
    for (const auto& spec : o.resolves)
      if (!r->add(spec)) usage("bad --resolve " + spec);
    copts.resolver = r;
  }

  // One request per URL, copied for each send (as an application builds one per call).
  std::vector<h2coal::request> templates;
  for (const auto& u : o.urls) {
    h2coal::request r;
    r.url = u;
    r.on_body = [](std::string_view) {};
    templates.push_back(std::move(r));
  }

  asio::io_context io(1);
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t nlanes = std::min(o.conns, o.requests);
  std::vector<lane> lanes(nlanes);
  for (std::size_t i = 0; i < nlanes; ++i) {
    lanes[i].client = std::make_unique<h2coal::client>(io.get_executor(), copts);
    lanes[i].share = o.requests / nlanes + (i < o.requests % nlanes ? 1 : 0);
  }

  totals tot;
  std::size_t next_url = 0;
  bool stopped = false;
  // Sends the lane's next request; on completion it records the result and sends the next one.
  std::function<void(lane&)> send = [&](lane& l) {
    if (stopped || l.issued >= l.share) return;
    ++l.issued;
    auto req = templates[next_url++ % templates.size()];
    l.client->async_request(std::move(req), [&, lp = &l](std::error_code ec, h2coal::response r) {
      ++lp->done;
      ++tot.done;
      if (ec) {
        ++tot.errors;
        ++tot.error_kinds[ec.message()];
      } else {
        ++tot.statuses[r.status];
        tot.bytes += r.body_bytes;
      }
      send(*lp);
    });
  };
  for (auto& l : lanes)
    for (std::size_t s = 0; s < o.streams; ++s) send(l);

  // The whole run is bounded in time: past the limit every client closes, and what is outstanding fails.
  asio::steady_timer limit(io, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(o.time_limit)));
  bool timed_out = false;
  limit.async_wait([&](std::error_code ec) {
    if (ec) return;
    timed_out = true;
    stopped = true;
    for (auto& l : lanes) l.client->close();
  });

  // Run until every request completed; connections stay open (idle) for the memory figure.
  while (tot.done < o.requests && !timed_out && io.run_one()) {
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double cpu1 = cpu_seconds();
  const long rss = rss_kib();

  std::size_t conns = 0;
  std::size_t coalesced_origins = 0;
  for (auto& l : lanes)
    for (const auto& s : l.client->connections()) {
      ++conns;
      coalesced_origins += s.origins.size() > 1 ? s.origins.size() - 1 : 0;
    }

  const double secs = std::chrono::duration<double>(t1 - t0).count();
  std::size_t ok = 0;
  std::string statuses;
  for (const auto& [st, n] : tot.statuses) {
    if (st == 200) ok = n;
    if (!statuses.empty()) statuses += ',';
    statuses += std::to_string(st);
    statuses += ':';
    statuses += std::to_string(n);
  }
  if (statuses.empty()) statuses = "-";
  std::size_t missing = o.requests - std::min(o.requests, tot.done);
  char line[512];
  std::snprintf(line, sizeof line,
                "h2bench: %zu requests in %.3fs, %.1f req/s, %.2f MiB/s, %zu errors, status %s, %zu connections, "
                "cpu %.3fs, rss %.1f MiB\n",
                o.requests, secs, secs > 0 ? static_cast<double>(tot.done) / secs : 0.0,
                secs > 0 ? static_cast<double>(tot.bytes) / secs / (1024.0 * 1024.0) : 0.0, tot.errors + missing,
                statuses.c_str(), conns, cpu1 - cpu0, static_cast<double>(rss) / 1024.0);
  std::fputs(line, stdout);

  if (o.verbose) {
    std::fprintf(stderr, "h2bench: %zu clients, %zu in flight each, policy %s, %zu body bytes\n", nlanes,
                 o.streams, o.policy.c_str(), static_cast<std::size_t>(tot.bytes));
    std::fprintf(stderr, "h2bench: %zu connections opened, %zu extra origins carried on shared ones\n", conns,
                 coalesced_origins);
    for (const auto& [what, n] : tot.error_kinds) std::fprintf(stderr, "h2bench: error x%zu: %s\n", n, what.c_str());
    if (timed_out) std::fprintf(stderr, "h2bench: stopped by --time-limit %.0fs\n", o.time_limit);
  }

  // Close everything and let the completions run while the lanes still exist.
  stopped = true;
  limit.cancel();
  for (auto& l : lanes) l.client->close();
  io.run_for(std::chrono::seconds(5));
  lanes.clear();
  return (ok == o.requests && tot.errors == 0 && !timed_out) ? 0 : 1;
}
