// SPDX-License-Identifier: BSL-1.0
// benchmarks/micro_trace.cpp: what tracing costs the pool: no hook, a hook that does nothing, and the
// json_lines sink writing to a stream that drops its bytes.
//
// The operation is micro_pool's lookup (start a request for an origin with a pending connection, abort
// it) on a pool of 10 connections; it emits three events: request.start, pool.decision (with one
// candidate per connection) and request.done. The same lookup with 1,000 connections shows the
// decision event growing with its candidate list. The cost of building and serialising one decision
// event alone is BM_event_to_json.
//
// h2coal has no build that compiles tracing out, so "no hook" is compared with what a pool lookup costs
// and with BM_hook_check, the check each emit makes when no hook is set.
#include <h2coal/h2coal.hpp>

#include <asio/io_context.hpp>
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>

namespace {

using namespace h2coal;

// Answers every name with 127.0.0.1 at once, inside the call (a real resolver answers later, through
// the executor). The pool then opens the connection and posts its start to the io_context, which the
// benchmark never runs: every connection stays pending, before its first socket operation.
class instant_resolver final : public resolver {
 public:
  void async_resolve(const asio::any_io_executor&, const std::string&, std::uint16_t, callback done) override {
    done({}, resolution{address_list{asio::ip::make_address("127.0.0.1")}, std::nullopt, {}});
  }
};

// A stream whose bytes go nowhere (counted, so the writes are not optimised away).
class null_buffer final : public std::streambuf {
 public:
  std::size_t bytes = 0;

 protected:
  std::streamsize xsputn(const char*, std::streamsize n) override {
    bytes += static_cast<std::size_t>(n);
    return n;
  }
  int_type overflow(int_type c) override {
    ++bytes;
    return traits_type::not_eof(c);
  }
};

null_buffer null_buf;
std::ostream null_stream(&null_buf);

enum class sink { none, noop, json };

std::string url_of(std::size_t i) { return "https://h" + std::to_string(i) + ".bench.test/"; }

struct fixture {
  asio::io_context io;
  std::shared_ptr<detail::pool> pool;
};

fixture& pool_with(sink s, std::size_t n) {
  static std::map<std::pair<int, std::size_t>, std::unique_ptr<fixture>> cache;
  const std::pair<int, std::size_t> key{static_cast<int>(s), n};
  // Only one pool lives at a time: a pending connection still holds a 64 KiB read buffer.
  for (auto it = cache.begin(); it != cache.end();) it = it->second && it->first != key ? cache.erase(it) : std::next(it);
  auto& f = cache[key];
  if (f) return *f;
  f = std::make_unique<fixture>();
  client_options o;
  o.resolver = std::make_shared<instant_resolver>();
  o.policies = policy_map(policies::browser());
  if (s == sink::noop) o.trace = [](const trace::event& e) { benchmark::DoNotOptimize(&e); };
  else if (s == sink::json) o.trace = trace::json_lines(null_stream);
  f->pool = std::make_shared<detail::pool>(f->io.get_executor(), o);
  for (std::size_t i = 0; i < n; ++i) {
    auto op = std::make_shared<detail::request_op>();
    op->req.url = url_of(i);
    f->pool->start(op);
    f->pool->abort(op, error::cancelled);
  }
  return *f;
}

void lookup(benchmark::State& state, sink s) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto& f = pool_with(s, n);
  const std::string target = url_of(n / 2);
  for (auto _ : state) {
    auto op = std::make_shared<detail::request_op>();
    op->req.url = target;
    f.pool->start(op);
    f.pool->abort(op, error::cancelled);
  }
  state.counters["conns"] = static_cast<double>(n);
}

void BM_trace_no_hook(benchmark::State& state) { lookup(state, sink::none); }
void BM_trace_noop_hook(benchmark::State& state) { lookup(state, sink::noop); }
void BM_trace_json_lines(benchmark::State& state) { lookup(state, sink::json); }
BENCHMARK(BM_trace_no_hook)->Arg(10)->Arg(1000);
BENCHMARK(BM_trace_noop_hook)->Arg(10)->Arg(1000);
BENCHMARK(BM_trace_json_lines)->Arg(10)->Arg(1000);

// The check every emit makes: is a hook set? (an empty std::function here)
void BM_hook_check(benchmark::State& state) {
  trace::hook h;
  benchmark::DoNotOptimize(h);
  for (auto _ : state) {
    bool set = static_cast<bool>(h);
    benchmark::DoNotOptimize(set);
  }
}
BENCHMARK(BM_hook_check);

// One pool.decision event with 10 candidates, built and serialised as a JSON line.
void BM_event_to_json(benchmark::State& state) {
  for (auto _ : state) {
    trace::event e;
    e.t = 123456;
    e.ev = "pool.decision";
    e.add("req", 42).add("origin", "https://h5.bench.test").add("policy", "browser").add("action", "wait");
    e.add("conn", 6).add("basis", "same-origin");
    std::vector<trace::record> cands;
    for (int i = 0; i < 10; ++i) {
      trace::record r;
      r.emplace_back("conn", static_cast<std::int64_t>(i + 1));
      r.emplace_back("origin", "https://h" + std::to_string(i) + ".bench.test");
      r.emplace_back("verdict", std::string(i == 5 ? "chosen" : "rejected"));
      if (i != 5) r.emplace_back("reason", std::string("not-ready"));
      cands.push_back(std::move(r));
    }
    e.add("candidates", std::move(cands));
    auto line = trace::to_json(e);
    benchmark::DoNotOptimize(line);
  }
}
BENCHMARK(BM_event_to_json);

}  // namespace
