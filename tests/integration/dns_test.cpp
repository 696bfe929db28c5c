// SPDX-License-Identifier: BSL-1.0
// tests/integration/dns_test.cpp: cares_resolver against the tests' DNS server (tests/support/dns_server),
// and the client's DNS cache (detail/dns_cache) over it and over resolvers the test answers by hand.
// Time in the cache moves by h2coal::detail::testing::clock_skew_ms; nothing here sleeps.
#include "catch.hpp"
#include "support/dns_server.hpp"

#include <h2coal/detail/dns_cache.hpp>
#include <h2coal/resolver.hpp>
#if defined(H2COAL_HAS_CARES)
#include <h2coal/cares_resolver.hpp>
#endif

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace h2coal;
using namespace h2coal::test;
using namespace std::chrono_literals;
using h2coal::detail::dns_cache;

namespace {

// Runs `io` until `done()` holds; throws (failing the test) after `limit` instead of hanging.
void run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::seconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  io.restart();
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("run_until: no completion in time");
    io.run_one_for(100ms);
  }
}

address_list addrs(std::initializer_list<const char*> list) {
  address_list out;
  for (const char* a : list) out.push_back(asio::ip::make_address(a));
  return out;
}

struct answer {
  std::error_code ec;
  resolution r;
  int calls = 0;
};

// One lookup through `r`, run to completion; checks that the callback did not run inline.
answer resolve(asio::io_context& io, resolver& r, const std::string& host, std::uint16_t port = 443) {
  auto out = std::make_shared<answer>();
  r.async_resolve(io.get_executor(), host, port, [out](std::error_code ec, resolution res) {
    out->ec = ec;
    out->r = std::move(res);
    ++out->calls;
  });
  CHECK(out->calls == 0);
  run_until(io, [&] { return out->calls > 0; });
  return *out;
}

struct cached {
  dns_cache::result res;
  int calls = 0;
};

// One lookup through the cache, run to completion; checks that the callback did not run inline.
dns_cache::result lookup(asio::io_context& io, dns_cache& cache, const std::string& host, std::uint16_t port = 443) {
  auto out = std::make_shared<cached>();
  cache.async_resolve(io.get_executor(), host, port, [out](dns_cache::result res) {
    out->res = std::move(res);
    ++out->calls;
  });
  CHECK(out->calls == 0);
  run_until(io, [&] { return out->calls > 0; });
  CHECK(out->calls == 1);
  return out->res;
}

// Moves the cache's clock forward; puts it back when the test ends.
struct clock_skew {
  clock_skew() { h2coal::detail::testing::clock_skew_ms = 0; }
  ~clock_skew() { h2coal::detail::testing::clock_skew_ms = 0; }
  void advance(std::chrono::milliseconds d) { h2coal::detail::testing::clock_skew_ms += d.count(); }
};

// Answers every call at once (through the caller's executor) with `next`; counts the calls.
class counting_resolver final : public resolver {
 public:
  std::error_code next_ec;
  resolution next;
  int calls = 0;

  void async_resolve(const asio::any_io_executor& ex, const std::string&, std::uint16_t, callback done) override {
    ++calls;
    asio::post(ex, [done = std::move(done), ec = next_ec, r = next] { done(ec, r); });
  }
};

// Holds every call until the test answers it.
class manual_resolver final : public resolver {
 public:
  struct call {
    asio::any_io_executor ex;
    std::string host;
    std::uint16_t port = 0;
    callback done;
  };
  std::vector<call> calls;

  void async_resolve(const asio::any_io_executor& ex, const std::string& host, std::uint16_t port,
                     callback done) override {
    calls.push_back({ex, host, port, std::move(done)});
  }
  void answer(std::size_t i, std::error_code ec, resolution r) {
    auto& c = calls.at(i);
    asio::post(c.ex, [done = std::move(c.done), ec, r = std::move(r)] { done(ec, r); });
  }
};

// A table row for the DNS server.
dns_records records(std::vector<std::string> a, std::vector<std::string> aaaa, std::uint32_t ttl,
                    dns_mode mode = dns_mode::answer, std::optional<std::uint32_t> aaaa_ttl = std::nullopt) {
  dns_records r;
  r.a = std::move(a);
  r.aaaa = std::move(aaaa);
  r.ttl = ttl;
  r.aaaa_ttl = aaaa_ttl;
  r.mode = mode;
  return r;
}

resolution with_ttl(address_list a, std::optional<std::chrono::seconds> ttl) { return resolution{std::move(a), ttl, {}}; }

}  // namespace

// ---- cares_resolver against the DNS server ----------------------------------------------------------

#if defined(H2COAL_HAS_CARES)

namespace {

// Servers that answer: a generous timeout, so that only an answer (or its absence) decides.
cares_options answering(const dns_server& s) {
  cares_options o;
  o.servers = s.servers();
  o.timeout = 30s;
  o.tries = 1;
  return o;
}

}  // namespace

TEST_CASE("dns: cares_resolver delivers AAAA then A, with the smallest TTL", "[dns]") {
  dns_server s;
  s.set("a.test", records({"127.0.0.2", "127.0.0.3"}, {"::2", "::3"}, 300, dns_mode::answer, 60));
  asio::io_context io;
  auto o = answering(s);
  o.resolution_delay = 30s;  // however the two answers arrive, both are awaited
  cares_resolver r(io.get_executor(), o);
  REQUIRE_FALSE(r.status());

  auto a = resolve(io, r, "a.test");
  REQUIRE_FALSE(a.ec);
  CHECK(a.r.addresses == addrs({"::2", "::3", "127.0.0.2", "127.0.0.3"}));
  REQUIRE(a.r.ttl);
  CHECK(*a.r.ttl == 60s);
  CHECK(a.r.reason.empty());
  CHECK(s.queries("a.test", dns_type::aaaa) == 1);
  CHECK(s.queries("a.test", dns_type::a) == 1);

  SECTION("names are case-insensitive") {
    auto b = resolve(io, r, "A.Test");
    REQUIRE_FALSE(b.ec);
    CHECK(b.r.addresses == a.r.addresses);
  }
  SECTION("one family only: its records alone, with their TTL") {
    s.set("v4only.test", records({"127.0.0.4"}, {}, 90));
    s.set("v6only.test", records({}, {"::4"}, 45));
    auto v4 = resolve(io, r, "v4only.test");
    REQUIRE_FALSE(v4.ec);
    CHECK(v4.r.addresses == addrs({"127.0.0.4"}));
    CHECK(v4.r.ttl == std::optional<std::chrono::seconds>(90s));
    auto v6 = resolve(io, r, "v6only.test");
    REQUIRE_FALSE(v6.ec);
    CHECK(v6.r.addresses == addrs({"::4"}));
    CHECK(v6.r.ttl == std::optional<std::chrono::seconds>(45s));
  }
  CHECK(s.malformed() == 0);
}

TEST_CASE("dns: cares_resolver: NXDOMAIN, no records, SERVFAIL and REFUSED are host_not_found with the reason", "[dns]") {
  dns_server s;
  asio::io_context io;
  cares_resolver r(io.get_executor(), answering(s));
  SECTION("an unknown name: NXDOMAIN") {
    auto a = resolve(io, r, "nowhere.test");
    CHECK(a.ec == error::host_not_found);
    CHECK(a.r.reason == "NXDOMAIN");
    CHECK(a.r.addresses.empty());
    CHECK(s.queries("nowhere.test") >= 1);
  }
  SECTION("a name without address records: NODATA") {
    s.set("empty.test", records({}, {}, 300));
    auto a = resolve(io, r, "empty.test");
    CHECK(a.ec == error::host_not_found);
    CHECK(a.r.reason == "no address records");
  }
  SECTION("SERVFAIL") {
    s.set("broken.test", records({"127.0.0.2"}, {}, 300, dns_mode::servfail));
    auto a = resolve(io, r, "broken.test");
    CHECK(a.ec == error::host_not_found);
    CHECK(a.r.reason == "SERVFAIL");
  }
  SECTION("REFUSED") {
    s.set_mode("closed.test", dns_mode::refused);
    auto a = resolve(io, r, "closed.test");
    CHECK(a.ec == error::host_not_found);
    CHECK(a.r.reason == "REFUSED");
  }
  CHECK(s.malformed() == 0);
}

TEST_CASE("dns: cares_resolver: servers that never answer give resolve_timeout", "[dns]") {
  dns_server s;
  s.set("quiet.test", records({"127.0.0.2"}, {}, 300, dns_mode::silent));
  asio::io_context io;
  auto o = answering(s);
  o.timeout = 100ms;
  cares_resolver r(io.get_executor(), o);
  auto a = resolve(io, r, "quiet.test");
  CHECK(a.ec == error::resolve_timeout);
  CHECK(a.r.addresses.empty());
  CHECK(s.queries("quiet.test", dns_type::a) == 1);
  CHECK(s.queries("quiet.test", dns_type::aaaa) == 1);
}

TEST_CASE("dns: cares_resolver: when AAAA never comes, A alone after the Resolution Delay", "[dns]") {
  dns_server s;
  s.set("held.test", records({"127.0.0.5"}, {"::5"}, 120, dns_mode::hold_aaaa));
  asio::io_context io;
  auto o = answering(s);  // a 30 s timeout: only the Resolution Delay (50 ms) can end this lookup early
  REQUIRE(o.resolution_delay == 50ms);
  cares_resolver r(io.get_executor(), o);
  auto a = resolve(io, r, "held.test");
  REQUIRE_FALSE(a.ec);
  CHECK(a.r.addresses == addrs({"127.0.0.5"}));
  CHECK(a.r.ttl == std::optional<std::chrono::seconds>(120s));
  CHECK(s.queries("held.test", dns_type::aaaa) == 1);
  // The AAAA query nobody waits for is cancelled: nothing keeps the context busy until its timeout.
  io.restart();
  io.run_for(20s);
  CHECK(io.stopped());
}

TEST_CASE("dns: cares_resolver: .invalid names and IP literals never reach DNS", "[dns]") {
  dns_server s;
  asio::io_context io;
  cares_resolver r(io.get_executor(), answering(s));
  auto invalid = resolve(io, r, "x.invalid");
  CHECK(invalid.ec == error::host_not_found);
  CHECK(invalid.r.reason == "a name under .invalid");
  CHECK(resolve(io, r, "deep.name.INVALID.").ec == error::host_not_found);
  auto v4 = resolve(io, r, "127.0.0.9");
  REQUIRE_FALSE(v4.ec);
  CHECK(v4.r.addresses == addrs({"127.0.0.9"}));
  CHECK_FALSE(v4.r.ttl);
  auto v6 = resolve(io, r, "::1");
  REQUIRE_FALSE(v6.ec);
  CHECK(v6.r.addresses == addrs({"::1"}));
  CHECK(s.total_queries() == 0);
}

TEST_CASE("dns: cares_resolver: a malformed server list is invalid_option", "[dns]") {
  for (const char* good : {"127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1", "[::1]", "10.0.0.1,[::1]:5353,10.0.0.2:53"}) {
    INFO(good);
    CHECK_FALSE(cares_resolver::parse_servers(good));
  }
  std::vector<asio::ip::udp::endpoint> list;
  REQUIRE_FALSE(cares_resolver::parse_servers("10.0.0.1,[::1]:5353", list));
  REQUIRE(list.size() == 2);
  CHECK(list[0] == asio::ip::udp::endpoint(asio::ip::make_address("10.0.0.1"), 53));
  CHECK(list[1] == asio::ip::udp::endpoint(asio::ip::make_address("::1"), 5353));
  for (const char* bad : {"dns.example", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:5x", "[::1", "[::1]5353",
                          "[10.0.0.1]:53", "10.0.0.1,", ",10.0.0.1", " 10.0.0.1", "10.0.0.1;10.0.0.2", "[]:53"}) {
    INFO(bad);
    CHECK(cares_resolver::parse_servers(bad) == error::invalid_option);
  }
  CHECK_FALSE(cares_resolver::parse_servers(""));  // no list: the system's servers

  dns_server s;
  asio::io_context io;
  cares_options o;
  o.servers = "127.0.0.1:notaport";
  cares_resolver r(io.get_executor(), o);
  CHECK(r.status() == error::invalid_option);
  auto a = resolve(io, r, "a.test");
  CHECK(a.ec == error::invalid_option);
  CHECK(a.r.reason.find("127.0.0.1:notaport") != std::string::npos);
  CHECK(resolve(io, r, "127.0.0.1").r.addresses == addrs({"127.0.0.1"}));  // literals need no server
}

TEST_CASE("dns: cares_resolver: the next server answers when the first one is silent or fails", "[dns]") {
  dns_server first("127.0.0.1"), second("127.0.0.2");
  const auto mode = GENERATE(dns_mode::silent, dns_mode::servfail, dns_mode::refused);
  first.set("a.test", records({"127.0.0.9"}, {}, 300, mode));
  second.set("a.test", records({"127.0.0.2"}, {}, 300));
  asio::io_context io;
  cares_options o;
  o.servers = first.servers() + "," + second.servers();
  o.timeout = 200ms;  // per try; one round over the two servers
  o.tries = 1;
  cares_resolver r(io.get_executor(), o);
  auto a = resolve(io, r, "a.test");
  REQUIRE_FALSE(a.ec);
  CHECK(a.r.addresses == addrs({"127.0.0.2"}));
  CHECK(first.queries("a.test", dns_type::a) == 1);
  CHECK(second.queries("a.test", dns_type::a) == 1);
}

TEST_CASE("dns: cares_resolver: called from any thread, it answers on each caller's executor", "[dns]") {
  dns_server s;
  for (int i = 0; i < 8; ++i) s.set("h" + std::to_string(i) + ".test", records({"127.0.0." + std::to_string(i + 1)}, {}, 300));
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> runners;
  for (int i = 0; i < 2; ++i) runners.emplace_back([&io] { io.run(); });
  {
    cares_resolver r(io.get_executor(), answering(s));
    std::atomic<int> done{0}, on_own_strand{0}, answered{0};
    std::promise<void> all_done;
    std::vector<std::thread> callers;
    std::vector<asio::strand<asio::io_context::executor_type>> strands;
    for (int t = 0; t < 4; ++t) strands.push_back(asio::make_strand(io));
    for (int t = 0; t < 4; ++t)
      callers.emplace_back([&, t] {
        for (int i = 0; i < 8; ++i) {
          const auto& strand = strands[static_cast<std::size_t>(t)];
          r.async_resolve(strand, "h" + std::to_string(i) + ".test", 443,
                          [&, strand, i](std::error_code ec, resolution res) {
                            on_own_strand += strand.running_in_this_thread() ? 1 : 0;
                            answered += !ec && res.addresses == addrs({("127.0.0." + std::to_string(i + 1)).c_str()}) ? 1 : 0;
                            if (++done == 32) all_done.set_value();
                          });
        }
      });
    for (auto& c : callers) c.join();
    CHECK(all_done.get_future().wait_for(60s) == std::future_status::ready);
    CHECK(done == 32);
    CHECK(on_own_strand == 32);
    CHECK(answered == 32);
  }
  work.reset();
  for (auto& t : runners) t.join();
}

TEST_CASE("dns: cares_resolver destroyed with a query outstanding", "[dns]") {
  dns_server s;
  s.set("quiet.test", records({"127.0.0.2"}, {}, 300, dns_mode::silent));
  asio::io_context io;
  auto r = std::make_unique<cares_resolver>(io.get_executor(), answering(s));  // 30 s: never times out here
  auto out = std::make_shared<answer>();
  r->async_resolve(io.get_executor(), "quiet.test", 443, [out](std::error_code ec, resolution res) {
    out->ec = ec;
    out->r = std::move(res);
    ++out->calls;
  });
  run_until(io, [&] { return s.queries("quiet.test") == 2; });
  SECTION("while its executor runs: the callback gets client_shutdown, once") {
    r.reset();
    run_until(io, [&] { return out->calls > 0; });
    io.restart();
    io.run_for(5s);  // whatever else was pending has run
    CHECK(out->ec == error::client_shutdown);
    CHECK(out->calls == 1);
  }
  SECTION("with its execution context: the callback is dropped, and nothing breaks") {
    auto late = std::make_shared<answer>();
    {
      asio::io_context gone;  // destroyed without ever running the resolver's teardown
      auto r2 = std::make_unique<cares_resolver>(gone.get_executor(), answering(s));
      r2->async_resolve(gone.get_executor(), "quiet.test", 443, [late](std::error_code, resolution) { ++late->calls; });
      run_until(gone, [&] { return s.queries("quiet.test") == 4; });  // its two queries went out too
      r2.reset();
    }
    CHECK(late->calls == 0);
    r.reset();
    run_until(io, [&] { return out->calls > 0; });
    CHECK(out->calls == 1);
  }
}

// ---- the cache over cares_resolver --------------------------------------------------------------------

TEST_CASE("dns: the cache answers within the TTL without a query, and asks again after it", "[dns]") {
  clock_skew skew;
  dns_server s;
  s.set("a.test", records({"127.0.0.2", "127.0.0.3"}, {}, 300));
  asio::io_context io;
  dns_cache cache(std::make_shared<cares_resolver>(io.get_executor(), answering(s)), 60s);

  auto first = lookup(io, cache, "a.test");
  REQUIRE_FALSE(first.ec);
  CHECK_FALSE(first.from_cache);
  CHECK(first.answer.addresses == addrs({"127.0.0.2", "127.0.0.3"}));
  CHECK(first.answer.ttl == std::optional<std::chrono::seconds>(300s));
  CHECK_FALSE(first.previous);
  CHECK(s.queries("a.test", dns_type::a) == 1);

  skew.advance(299s);
  REQUIRE(cache.fresh("a.test", 443));
  CHECK(*cache.fresh("A.TEST", 443) == first.answer.addresses);
  auto second = lookup(io, cache, "a.test");
  REQUIRE_FALSE(second.ec);
  CHECK(second.from_cache);
  CHECK(second.answer.addresses == first.answer.addresses);
  CHECK(second.answer.ttl == std::optional<std::chrono::seconds>(1s));
  CHECK(s.queries("a.test", dns_type::a) == 1);

  SECTION("past the TTL: a query, and the changed answer names the previous one") {
    s.set("a.test", records({"127.0.0.4"}, {}, 300));
    skew.advance(2s);
    CHECK_FALSE(cache.fresh("a.test", 443));
    auto third = lookup(io, cache, "a.test");
    REQUIRE_FALSE(third.ec);
    CHECK_FALSE(third.from_cache);
    CHECK(third.answer.addresses == addrs({"127.0.0.4"}));
    REQUIRE(third.previous);
    CHECK(*third.previous == addrs({"127.0.0.2", "127.0.0.3"}));
    CHECK(s.queries("a.test", dns_type::a) == 2);
  }
  SECTION("past the TTL: the same addresses in another order are no change") {
    s.set("a.test", records({"127.0.0.3", "127.0.0.2"}, {}, 300));
    skew.advance(2s);
    auto third = lookup(io, cache, "a.test");
    REQUIRE_FALSE(third.ec);
    CHECK_FALSE(third.from_cache);
    CHECK(third.answer.addresses == addrs({"127.0.0.3", "127.0.0.2"}));
    CHECK_FALSE(third.previous);
  }
}

TEST_CASE("dns: concurrent lookups through the cache send one query", "[dns]") {
  dns_server s;
  s.set("a.test", records({"127.0.0.2"}, {"::2"}, 300));
  asio::io_context io;
  dns_cache cache(std::make_shared<cares_resolver>(io.get_executor(), answering(s)), 60s);
  std::vector<dns_cache::result> got;
  for (int i = 0; i < 5; ++i)
    cache.async_resolve(io.get_executor(), "a.test", 443, [&got](dns_cache::result r) { got.push_back(std::move(r)); });
  run_until(io, [&] { return got.size() == 5; });
  for (const auto& g : got) {
    CHECK_FALSE(g.ec);
    CHECK_FALSE(g.from_cache);
    CHECK(g.answer.addresses == addrs({"::2", "127.0.0.2"}));
  }
  CHECK(s.queries("a.test", dns_type::a) == 1);
  CHECK(s.queries("a.test", dns_type::aaaa) == 1);
}

#endif  // H2COAL_HAS_CARES

// ---- the cache over resolvers the test answers -----------------------------------------------------

TEST_CASE("dns: the cache clamps TTLs to [1 s, 1 h]", "[dns]") {
  clock_skew skew;
  asio::io_context io;
  auto r = std::make_shared<counting_resolver>();
  dns_cache cache(r, 60s);
  SECTION("0 s is kept 1 s") {
    r->next = with_ttl(addrs({"127.0.0.2"}), 0s);
    lookup(io, cache, "zero.test");
    skew.advance(999ms);
    CHECK(cache.fresh("zero.test", 443));
    CHECK(lookup(io, cache, "zero.test").from_cache);
    skew.advance(2ms);
    CHECK_FALSE(cache.fresh("zero.test", 443));
    CHECK_FALSE(lookup(io, cache, "zero.test").from_cache);
    CHECK(r->calls == 2);
  }
  SECTION("3 days are kept 1 h") {
    r->next = with_ttl(addrs({"127.0.0.2"}), std::chrono::hours(72));
    lookup(io, cache, "long.test");
    skew.advance(3599s);
    CHECK(cache.fresh("long.test", 443));
    skew.advance(2s);
    CHECK_FALSE(cache.fresh("long.test", 443));
    CHECK_FALSE(lookup(io, cache, "long.test").from_cache);
    CHECK(r->calls == 2);
  }
}

TEST_CASE("dns: answers without a TTL are kept the default TTL, and a default of 0 keeps nothing", "[dns]") {
  clock_skew skew;
  asio::io_context io;
  auto r = std::make_shared<counting_resolver>();
  r->next = with_ttl(addrs({"127.0.0.2"}), std::nullopt);
  SECTION("60 s") {
    dns_cache cache(r, 60s);
    lookup(io, cache, "a.test");
    skew.advance(59s);
    CHECK(lookup(io, cache, "a.test").from_cache);
    skew.advance(2s);
    CHECK_FALSE(lookup(io, cache, "a.test").from_cache);
    CHECK(r->calls == 2);
  }
  SECTION("0 s") {
    dns_cache cache(r, 0s);
    CHECK_FALSE(lookup(io, cache, "a.test").from_cache);
    CHECK_FALSE(cache.fresh("a.test", 443));
    CHECK_FALSE(lookup(io, cache, "a.test").from_cache);
    CHECK(r->calls == 2);
    // Nothing is served, but a change is still told.
    r->next = with_ttl(addrs({"127.0.0.3"}), std::nullopt);
    auto changed = lookup(io, cache, "a.test");
    REQUIRE(changed.previous);
    CHECK(*changed.previous == addrs({"127.0.0.2"}));
  }
}

TEST_CASE("dns: lookups for one key share one resolver call and hear in the order they asked", "[dns]") {
  asio::io_context io;
  auto r = std::make_shared<manual_resolver>();
  dns_cache cache(r, 60s);
  std::vector<std::pair<int, dns_cache::result>> got;
  auto ask = [&](const char* host, std::uint16_t port, int tag) {
    cache.async_resolve(io.get_executor(), host, port, [&got, tag](dns_cache::result res) { got.emplace_back(tag, std::move(res)); });
  };
  ask("a.test", 443, 1);
  ask("A.TEST", 443, 2);   // the same key: hosts are lowercased
  ask("a.test", 8443, 3);  // another port: another key
  ask("a.test", 443, 4);
  REQUIRE(r->calls.size() == 2);
  CHECK(r->calls[0].host == "a.test");
  CHECK(r->calls[0].port == 443);
  CHECK(r->calls[1].port == 8443);

  r->answer(0, {}, with_ttl(addrs({"127.0.0.2"}), 30s));
  run_until(io, [&] { return got.size() == 3; });
  REQUIRE(got.size() == 3);
  CHECK(got[0].first == 1);
  CHECK(got[1].first == 2);
  CHECK(got[2].first == 4);
  for (const auto& [tag, res] : got) {
    CHECK_FALSE(res.ec);
    CHECK(res.answer.addresses == addrs({"127.0.0.2"}));
    CHECK_FALSE(res.from_cache);
  }
  r->answer(1, error::host_not_found, resolution{{}, std::nullopt, "NXDOMAIN"});
  run_until(io, [&] { return got.size() == 4; });
  CHECK(got[3].first == 3);
  CHECK(got[3].second.ec == error::host_not_found);
  CHECK(got[3].second.answer.reason == "NXDOMAIN");
}

TEST_CASE("dns: failures are not cached", "[dns]") {
  asio::io_context io;
  auto r = std::make_shared<counting_resolver>();
  r->next_ec = error::resolve_timeout;
  dns_cache cache(r, 60s);
  CHECK(lookup(io, cache, "a.test").ec == error::resolve_timeout);
  CHECK_FALSE(cache.fresh("a.test", 443));
  r->next_ec = {};
  r->next = with_ttl(addrs({"127.0.0.2"}), 30s);
  auto ok = lookup(io, cache, "a.test");
  CHECK_FALSE(ok.ec);
  CHECK_FALSE(ok.from_cache);
  CHECK(r->calls == 2);
  SECTION("a failed refresh does not replace the answer held") {
    clock_skew skew;
    skew.advance(31s);
    r->next_ec = error::host_not_found;
    CHECK(lookup(io, cache, "a.test").ec == error::host_not_found);
    r->next_ec = {};
    r->next = with_ttl(addrs({"127.0.0.3"}), 30s);
    auto changed = lookup(io, cache, "a.test");
    REQUIRE(changed.previous);
    CHECK(*changed.previous == addrs({"127.0.0.2"}));
  }
}

TEST_CASE("dns: the cache holds at most 1024 keys, dropping the expired ones first", "[dns]") {
  clock_skew skew;
  asio::io_context io;
  auto r = std::make_shared<counting_resolver>();
  dns_cache cache(r, 60s);
  r->next = with_ttl(addrs({"127.0.0.2"}), 1s);
  lookup(io, cache, "old.test");
  r->next = with_ttl(addrs({"127.0.0.2"}), 100s);
  int done = 0;
  for (std::size_t i = 1; i < dns_cache::max_entries; ++i)
    cache.async_resolve(io.get_executor(), "k" + std::to_string(i) + ".test", 443, [&done](dns_cache::result) { ++done; });
  run_until(io, [&] { return done == static_cast<int>(dns_cache::max_entries) - 1; });
  CHECK(cache.size() == dns_cache::max_entries);

  skew.advance(2s);  // old.test expired, the others not
  r->next = with_ttl(addrs({"127.0.0.2"}), 200s);
  lookup(io, cache, "new.test");
  CHECK(cache.size() == dns_cache::max_entries);
  CHECK(cache.fresh("new.test", 443));
  CHECK(cache.fresh("k1.test", 443));
  CHECK(cache.fresh("k1023.test", 443));
  CHECK(lookup(io, cache, "k500.test").from_cache);

  // Nothing expired: the one that expires soonest makes room.
  lookup(io, cache, "newer.test");
  CHECK(cache.size() == dns_cache::max_entries);
  CHECK(cache.fresh("newer.test", 443));
  CHECK(cache.fresh("new.test", 443));
  std::size_t fresh = 0;
  for (std::size_t i = 1; i < dns_cache::max_entries; ++i) fresh += cache.fresh("k" + std::to_string(i) + ".test", 443) ? 1 : 0;
  CHECK(fresh == dns_cache::max_entries - 2);
}

TEST_CASE("dns: clear() forgets every answer, and a lookup in flight still answers but is not kept", "[dns]") {
  asio::io_context io;
  auto r = std::make_shared<manual_resolver>();
  dns_cache cache(r, 60s);
  std::vector<dns_cache::result> got;
  cache.async_resolve(io.get_executor(), "a.test", 443, [&got](dns_cache::result res) { got.push_back(std::move(res)); });
  r->answer(0, {}, with_ttl(addrs({"127.0.0.2"}), 30s));
  run_until(io, [&] { return got.size() == 1; });
  REQUIRE(cache.fresh("a.test", 443));

  cache.clear();
  CHECK_FALSE(cache.fresh("a.test", 443));
  CHECK(cache.size() == 0);
  cache.async_resolve(io.get_executor(), "a.test", 443, [&got](dns_cache::result res) { got.push_back(std::move(res)); });
  REQUIRE(r->calls.size() == 2);
  cache.clear();  // while that lookup is in flight
  cache.async_resolve(io.get_executor(), "a.test", 443, [&got](dns_cache::result res) { got.push_back(std::move(res)); });
  REQUIRE(r->calls.size() == 3);  // did not join the lookup from before clear()
  r->answer(1, {}, with_ttl(addrs({"127.0.0.3"}), 30s));
  run_until(io, [&] { return got.size() == 2; });
  CHECK(got[1].answer.addresses == addrs({"127.0.0.3"}));
  CHECK_FALSE(cache.fresh("a.test", 443));
  r->answer(2, {}, with_ttl(addrs({"127.0.0.4"}), 30s));
  run_until(io, [&] { return got.size() == 3; });
  REQUIRE(cache.fresh("a.test", 443));
  CHECK(*cache.fresh("a.test", 443) == addrs({"127.0.0.4"}));
}

TEST_CASE("dns: the cache never calls back inline, not even over a resolver that does", "[dns]") {
  // A resolver that breaks the contract (the benchmarks' instant resolvers answer inline).
  class inline_resolver final : public resolver {
   public:
    void async_resolve(const asio::any_io_executor&, const std::string&, std::uint16_t, callback done) override {
      done({}, resolution{addrs({"127.0.0.2"}), std::nullopt, {}});
    }
  };
  asio::io_context io;
  dns_cache cache(std::make_shared<inline_resolver>(), 60s);
  auto first = lookup(io, cache, "a.test");  // lookup() checks that nothing ran inline
  CHECK_FALSE(first.from_cache);
  CHECK(lookup(io, cache, "a.test").from_cache);
}

TEST_CASE("dns: a cache destroyed with a lookup in flight drops its callback", "[dns]") {
  asio::io_context io;
  auto r = std::make_shared<manual_resolver>();
  int calls = 0;
  {
    dns_cache cache(r, 60s);
    cache.async_resolve(io.get_executor(), "a.test", 443, [&calls](dns_cache::result) { ++calls; });
  }
  r->answer(0, {}, with_ttl(addrs({"127.0.0.2"}), 30s));
  io.run();
  CHECK(calls == 0);
}
