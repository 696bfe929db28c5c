// SPDX-License-Identifier: BSL-1.0
// tests/integration/trace_cost_test.cpp: with no hook, tracing builds nothing (DESIGN section 5).
//
// A counting global operator new measures the allocations of warm requests on one connection. With a
// hook, every request builds its events (start, decision, sent, done: each a vector of fields with
// strings), so it allocates at least one block per event; without one, those blocks are not there: the
// pool tests the hook before it builds anything (pool::emit). benchmarks/micro_trace measures the time.
#include "catch.hpp"
#include "support/client_fixture.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> g_allocations{0};
}

// The replacements pair malloc with free; GCC cannot see that every operator new below is this one.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Every form that can pair with another is replaced (plain, array, nothrow; deletes sized or not):
// a program whose nothrow new (Catch's) came from the library while delete came from here would pair
// one allocator's block with another's free, which AddressSanitizer rightly reports. The aligned forms
// stay the library's, with their own deletes.
namespace {
void* counted_alloc(std::size_t n) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace h2coal;
using namespace h2coal::test;

namespace {

// Allocations made by `n` sequential GETs of `url` on an already open connection.
std::size_t allocations_for(client_fixture& f, client& c, const std::string& url, int n) {
  f.get(c, url);  // warm: the connection exists, buffers are sized
  std::size_t before = g_allocations.load();
  for (int i = 0; i < n; ++i) {
    auto r = f.get(c, url);
    REQUIRE(r.resp.status == 200);
  }
  return g_allocations.load() - before;
}

}  // namespace

TEST_CASE("trace cost: with no hook, a request allocates nothing for its events") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  const std::string url = test_url("a.test", server.port(), "/s");
  constexpr int n = 50;

  auto quiet = f.options();
  quiet.trace = nullptr;
  client without(f.io.get_executor(), quiet);
  auto a = allocations_for(f, without, url, n);

  auto traced = f.options();
  traced.trace = [](const trace::event&) {};
  client with(f.io.get_executor(), traced);
  auto b = allocations_for(f, with, url, n);

  // Each traced request builds at least its four events, each at least one allocation (its fields);
  // the untraced one saves all of them.
  CHECK(b >= a + 4 * n);
  INFO("allocations per request: " << a / n << " without a hook, " << b / n << " with one");
  CHECK(a / n < b / n);
}
