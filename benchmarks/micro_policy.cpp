// SPDX-License-Identifier: BSL-1.0
// benchmarks/micro_policy.cpp: the coalescing policies' decisions over plain views, as the pool asks
// them for every request, while live connections grow (10, 1,000, 10,000) and while the origins the
// connections are known to serve grow (1,000 to 100,000, as RFC 8336 origin sets).
//
// Each benchmark decides for one request against a fixed span of connection_views; the pool's cost of
// building those views is in micro_pool. Three lookups:
//   exact:      the request's origin has a ready connection (half-way down the list)
//   dns:        another host whose certificate and connected address match one connection (the last one)
//   origin-set: the origin policy finds the request's origin in one connection's origin set
// and one floor: a bare scan comparing the target with every view's initial origin, the least an O(n)
// lookup can cost, to set the decisions against.
#include <h2coal/policy.hpp>

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace {

using namespace h2coal;

origin make_origin(const std::string& host) {
  origin o;
  o.scheme = "https";
  o.host = host;
  o.port = 443;
  return o;
}

// "<prefix><i>.bench.test", built by appending (GCC 12 warns falsely about "x" + std::string temporaries).
std::string numbered_host(const char* prefix, std::size_t i) {
  std::string h = prefix;
  h += std::to_string(i);
  h += ".bench.test";
  return h;
}

std::string host_name(std::size_t i) { return numbered_host("h", i); }

// n ready HTTP/2 connections over verified TLS, each to its own host and address (10.x.y.z). The
// certificate of each covers only its own host unless `wildcard_cert` (then every view covers the target).
std::vector<connection_view> make_views(std::size_t n, bool wildcard_cert) {
  std::vector<connection_view> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    connection_view c;
    c.id = i + 1;
    c.initial_origin = make_origin(host_name(i));
    c.remote_address = "10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) + "." +
                       std::to_string(i & 255);
    c.remote_port = 443;
    c.initial_addresses = {c.remote_address};
    c.cert_covers = wildcard_cert;
    v.push_back(std::move(c));
  }
  return v;
}

template <class Policy>
void run(benchmark::State& state, const Policy& p, const request_view& r, const std::vector<connection_view>& views,
         decision_action expected) {
  for (auto _ : state) {
    decision d = p.decide(r, views);
    benchmark::DoNotOptimize(d);
    if (d.action != expected) {
      state.SkipWithError("unexpected decision");
      break;
    }
  }
  state.counters["conns"] = static_cast<double>(views.size());
}

// ---- exact origin ----
template <class Policy>
void BM_decide_exact(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto views = make_views(n, false);
  request_view r;
  r.target = make_origin(host_name(n / 2));
  run(state, Policy{}, r, views, decision_action::reuse);
}
BENCHMARK(BM_decide_exact<strict_policy>)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_decide_exact<browser_policy>)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_decide_exact<origin_policy>)->Arg(10)->Arg(1000)->Arg(10000);

// ---- DNS match (RFC 9113 section 9.1.1): the certificate covers the target only on the last view ----
void BM_decide_dns_match(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto views = make_views(n, false);
  views.back().cert_covers = true;
  request_view r;
  r.target = make_origin("other.bench.test");
  r.addresses = std::vector<std::string>{"192.0.2.1", views.back().remote_address};
  run(state, browser_policy{}, r, views, decision_action::coalesce);
}
BENCHMARK(BM_decide_dns_match)->Arg(10)->Arg(1000)->Arg(10000);

// The same when every certificate covers the target (a wildcard shared by all): every view reaches the
// address comparison, the worst case of the DNS check.
void BM_decide_dns_match_wildcard(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto views = make_views(n, true);
  request_view r;
  r.target = make_origin("other.bench.test");
  r.addresses = std::vector<std::string>{"192.0.2.1", views.back().remote_address};
  run(state, browser_policy{}, r, views, decision_action::coalesce);
}
BENCHMARK(BM_decide_dns_match_wildcard)->Arg(10)->Arg(1000)->Arg(10000);

// ---- origin set (RFC 8336): known origins grow; 100 origins per connection's set ----
void BM_decide_origin_set(benchmark::State& state) {
  const auto known = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t per_set = 100;
  const std::size_t n = known / per_set;
  auto views = make_views(n, true);
  for (std::size_t i = 0; i < n; ++i) {
    auto& set = views[i].origin_set.emplace();
    set.reserve(per_set);
    set.push_back(views[i].initial_origin);
    for (std::size_t k = 1; k < per_set; ++k) set.push_back(make_origin(numbered_host("s", i * per_set + k)));
  }
  request_view r;
  r.target = (*views[n / 2].origin_set)[per_set / 2];
  run(state, origin_policy{}, r, views, decision_action::coalesce);
  state.counters["origins"] = static_cast<double>(known);
}
BENCHMARK(BM_decide_origin_set)->Arg(1000)->Arg(10000)->Arg(100000);

// Known origins grow on a fixed 10 connections (sets of 100 to 10,000 members).
void BM_decide_origin_set_large_sets(benchmark::State& state) {
  const auto known = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t n = 10;
  const std::size_t per_set = known / n;
  auto views = make_views(n, true);
  for (std::size_t i = 0; i < n; ++i) {
    auto& set = views[i].origin_set.emplace();
    set.push_back(views[i].initial_origin);
    for (std::size_t k = 1; k < per_set; ++k) set.push_back(make_origin(numbered_host("s", i * per_set + k)));
  }
  request_view r;
  r.target = views[n / 2].origin_set->back();  // the worst place in a linear search
  run(state, origin_policy{}, r, views, decision_action::coalesce);
  state.counters["origins"] = static_cast<double>(known);
}
BENCHMARK(BM_decide_origin_set_large_sets)->Arg(1000)->Arg(10000)->Arg(100000);

// ---- the floor: compare the target with every view's initial origin, nothing else ----
void BM_floor_scan(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto views = make_views(n, false);
  const origin target = make_origin(host_name(n / 2));
  for (auto _ : state) {
    std::size_t found = 0;
    for (const auto& v : views)
      if (v.initial_origin == target) found = v.id;
    benchmark::DoNotOptimize(found);
  }
  state.counters["conns"] = static_cast<double>(n);
}
BENCHMARK(BM_floor_scan)->Arg(10)->Arg(1000)->Arg(10000);

// ---- policy_map: which policy a host gets, with a handful of patterns set ----
void BM_policy_map_for_host(benchmark::State& state) {
  policy_map m(policies::origin());
  m.set("*.corp.example", policies::strict());
  m.set("api.example", policies::browser());
  m.set("*.cdn.example", policies::browser());
  const std::string host = "img.eu.cdn.example";
  for (auto _ : state) benchmark::DoNotOptimize(&m.for_host(host));
}
BENCHMARK(BM_policy_map_for_host);

}  // namespace
