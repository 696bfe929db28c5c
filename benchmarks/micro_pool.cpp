// SPDX-License-Identifier: BSL-1.0
// benchmarks/micro_pool.cpp: the pool's lookup for one request as its connections grow (10, 1,000,
// 10,000), through h2coal::detail::pool itself.
//
// The pool cannot hold ready connections without sockets and servers. It can hold pending ones: when
// the io_context never runs, every connection the pool opens stays in its first state (its start is
// posted, never run), and a request for one of those origins takes the whole lookup path: start (URL
// parse, validation), pick and describe the connections for the policy, ask the policy, wait on the
// exact-origin pending connection (queue the request on it). abort() then takes it out again, so the
// pool is the same for every iteration. The figure is start + abort of one request; BM_request_alone is
// the part that does not depend on the pool (making the request and parsing its URL), for subtraction.
//
// BM_pool_open_close is the other half of a connection's life in the pool: opened for a new origin,
// closed, forgotten.
//
// What this does not reach: lookups among READY connections (coalescing by DNS match or origin set, at
// capacity); micro_policy measures those decisions over views, without the view building.
#include <h2coal/h2coal.hpp>

#include <asio/io_context.hpp>
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>

namespace {

using namespace h2coal;

// Keeps every callback and never calls it: the pool's connections stay pending forever.
// Answers every name with 127.0.0.1 at once, inside the call (a real resolver answers later, through
// the executor). The pool then opens the connection and posts its start to the io_context, which the
// benchmark never runs: every connection stays pending, before its first socket operation.
class instant_resolver final : public resolver {
 public:
  void async_resolve(const asio::any_io_executor&, const std::string&, std::uint16_t, callback done) override {
    done({}, resolution{address_list{asio::ip::make_address("127.0.0.1")}, std::nullopt, {}});
  }
};

// What instant_resolver answers. Requests carry it from the start, as the pool's DNS cache would give it
// (through the executor, which the benchmark never runs): the lookup is the pool's alone.
const address_list& loopback() {
  static const address_list a{asio::ip::make_address("127.0.0.1")};
  return a;
}

std::string url_of(std::size_t i) { return "https://h" + std::to_string(i) + ".bench.test/"; }

struct fixture {
  asio::io_context io;
  std::shared_ptr<detail::pool> pool;
};

// One pool per (policy, size, trace), made once: filling it costs O(n^2) view building.
fixture& pool_with(const std::string& policy, std::size_t n) {
  static std::map<std::pair<std::string, std::size_t>, std::unique_ptr<fixture>> cache;
  const std::pair<std::string, std::size_t> key{policy, n};
  // Only one pool lives at a time: a pending connection still holds a 64 KiB read buffer.
  for (auto it = cache.begin(); it != cache.end();) it = it->second && it->first != key ? cache.erase(it) : std::next(it);
  auto& f = cache[key];
  if (f) return *f;
  f = std::make_unique<fixture>();
  client_options o;
  o.resolver = std::make_shared<instant_resolver>();
  if (policy == "strict") o.policies = policy_map(policies::strict());
  else if (policy == "browser") o.policies = policy_map(policies::browser());
  f->pool = std::make_shared<detail::pool>(f->io.get_executor(), o);
  for (std::size_t i = 0; i < n; ++i) {
    auto op = std::make_shared<detail::request_op>();
    op->req.url = url_of(i);
    op->addresses = loopback();  // resolved already: the client's DNS cache answers through the executor
    f->pool->start(op);
    f->pool->abort(op, error::cancelled);
  }
  return *f;
}

void lookup(benchmark::State& state, const std::string& policy) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto& f = pool_with(policy, n);
  if (f.pool->connection_count() != n) {
    state.SkipWithError("pool did not open one connection per origin");
    return;
  }
  const std::string target = url_of(n / 2);
  for (auto _ : state) {
    auto op = std::make_shared<detail::request_op>();
    op->req.url = target;
    op->addresses = loopback();
    f.pool->start(op);
    if (op->conn.expired()) {
      state.SkipWithError("request was not queued on the pending connection");
      break;
    }
    f.pool->abort(op, error::cancelled);
  }
  if (f.pool->connection_count() != n) state.SkipWithError("the lookup opened a connection");
  state.counters["conns"] = static_cast<double>(n);
}

void BM_pool_lookup_strict(benchmark::State& state) { lookup(state, "strict"); }
void BM_pool_lookup_browser(benchmark::State& state) { lookup(state, "browser"); }
void BM_pool_lookup_origin(benchmark::State& state) { lookup(state, "origin"); }
BENCHMARK(BM_pool_lookup_strict)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_pool_lookup_browser)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_pool_lookup_origin)->Arg(10)->Arg(1000)->Arg(10000);

// A connection opened and closed among N: start a request for an origin no connection serves (the pool
// opens one, pending), close that connection (the pool forgets it: its index entries, its place in the
// pool). The pool is the same after every iteration. The io_context still never runs (it would start the
// fixture's connections): each closed connection's posted start waits in its queue, so the iterations are
// a fixed number, which keeps that memory small.
void BM_pool_open_close(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto& f = pool_with("origin", n);
  if (f.pool->connection_count() != n) {
    state.SkipWithError("pool did not open one connection per origin");
    return;
  }
  const std::string target = "https://fresh.bench.test/";
  for (auto _ : state) {
    auto op = std::make_shared<detail::request_op>();
    op->req.url = target;
    op->addresses = loopback();
    f.pool->start(op);
    auto c = op->conn.lock();
    if (!c || f.pool->connection_count() != n + 1) {
      state.SkipWithError("the request did not open a connection");
      break;
    }
    c->close("benchmark");
  }
  if (f.pool->connection_count() != n) state.SkipWithError("the closed connection was not forgotten");
  state.counters["conns"] = static_cast<double>(n);
}
BENCHMARK(BM_pool_open_close)->Arg(10)->Arg(1000)->Arg(10000)->Iterations(20000);

// The part of an iteration that is not the lookup: make the request, parse its URL, finish it.
void BM_request_alone(benchmark::State& state) {
  const std::string target = url_of(5);
  for (auto _ : state) {
    auto op = std::make_shared<detail::request_op>();
    op->req.url = target;
    std::error_code ec;
    op->target = url::parse(op->req.url, ec);
    benchmark::DoNotOptimize(op);
  }
}
BENCHMARK(BM_request_alone);

}  // namespace
