// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/dns_cache.hpp: the client's DNS cache (DESIGN section 11), one per client, owned by the pool.
//
// Answers are kept per (lowercased host, port): an answer with a TTL for that TTL clamped to [1 s, 1 h]
// (a TTL of 0 still holds for 1 s: the dialer and the pool's decisions read one answer), an answer without
// one (system_resolver, static_resolver) for the default TTL (client_options::dns_cache_ttl; zero: never
// served from the cache). While a lookup for a key is in flight, every caller for that key waits for the
// same resolver call and gets the same result, in the order they asked. Failures are not cached: the next
// caller asks again (a failed refresh leaves the last answer remembered, not served).
//
// The last address set per key is remembered beyond its TTL (also with a default TTL of zero), so a new
// answer whose set differs says what it replaced (result::previous: the pool's `dns.changed`).
//
// Bounded: at most max_entries keys; to make room, the expired ones go first, then the one that expires
// soonest. Time is steady_clock::now() plus testing::clock_skew_ms, so that tests move time forward
// instead of sleeping.
//
// Threading: none of its own. It is used on the client's executor (the one passed to async_resolve) like
// the pool; the resolver calls back through that executor. Destroying the cache drops the callbacks of
// lookups still in flight without calling them (their owner, the pool, is going away with it); the
// resolver's late answer then finds nothing.
#pragma once

#include <h2coal/error.hpp>
#include <h2coal/resolver.hpp>
#include <h2coal/detail/unique_function.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace h2coal::detail {

namespace testing {
/// Milliseconds added to steady_clock::now() by dns_cache: a test advances it instead of waiting.
inline std::atomic<std::int64_t> clock_skew_ms{0};
}  // namespace testing

class dns_cache {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t max_entries = 1024;
  static constexpr std::chrono::seconds min_ttl{1};
  static constexpr std::chrono::seconds max_ttl{3600};

  struct result {
    std::error_code ec;
    /// The addresses; ttl is what is left of the cached answer's life (from_cache) or the resolver's TTL.
    resolution answer;
    bool from_cache = false;
    /// Set only when this answer's address set differs from the last one held for the key.
    std::optional<address_list> previous;
    /// From this caller's async_resolve to its result.
    std::chrono::microseconds took{0};
  };

  /// `default_ttl` keeps answers that come without a TTL; zero keeps none.
  dns_cache(std::shared_ptr<resolver> upstream, std::chrono::seconds default_ttl)
      : s_(std::make_shared<state>()) {
    s_->upstream = std::move(upstream);
    s_->default_ttl = std::max(default_ttl, std::chrono::seconds(0));
  }

  /// The cache's notion of now (steady_clock plus the test skew).
  static clock::time_point now() noexcept {
    return clock::now() + std::chrono::milliseconds(testing::clock_skew_ms.load(std::memory_order_relaxed));
  }

  /// The fresh answer held for host:port, or nullptr. Valid until the cache is next changed.
  const address_list* fresh(const std::string& host, std::uint16_t port) const {
    auto it = s_->entries.find(key_of(host, port));
    if (it == s_->entries.end() || now() >= it->second.expires) return nullptr;
    return &it->second.addresses;
  }

  /// Resolves host:port: a fresh answer held completes through `ex` (never inline); otherwise one resolver
  /// call, shared by every caller for the key until it answers. `done(dns_cache::result)` runs on `ex`.
  template <class Done>
  void async_resolve(const asio::any_io_executor& ex, const std::string& host, std::uint16_t port, Done&& done) {
    start(ex, host, port, waiter_fn(std::forward<Done>(done)));
  }

  /// Forgets every answer (a network change); lookups in flight still answer their callers, but are not
  /// kept, and new callers do not join them.
  void clear() {
    s_->entries.clear();
    s_->flights.clear();
    ++s_->generation;
  }

  /// Keys held (fresh or not).
  std::size_t size() const noexcept { return s_->entries.size(); }

  const std::shared_ptr<resolver>& upstream() const noexcept { return s_->upstream; }

 private:
  using waiter_fn = unique_function<void(result)>;
  using key = std::pair<std::string, std::uint16_t>;

  struct entry {
    address_list addresses;
    clock::time_point expires;
  };
  struct waiter {
    asio::any_io_executor ex;
    clock::time_point asked;
    waiter_fn done;
  };
  struct flight {
    std::vector<waiter> waiters;
    std::uint64_t generation = 0;
    bool starting = true;  // the resolver call has not returned yet
  };
  struct state {
    std::shared_ptr<resolver> upstream;
    std::chrono::seconds default_ttl{0};
    std::map<key, entry> entries;
    std::map<key, std::shared_ptr<flight>> flights;
    std::uint64_t generation = 0;
  };

  static key key_of(const std::string& host, std::uint16_t port) {
    key k{host, port};
    for (auto& c : k.first)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return k;
  }

  void start(const asio::any_io_executor& ex, const std::string& host, std::uint16_t port, waiter_fn done) {
    const auto asked = clock::now();
    auto k = key_of(host, port);
    if (auto it = s_->entries.find(k); it != s_->entries.end()) {
      const auto t = now();
      if (t < it->second.expires) {
        result r;
        r.answer.addresses = it->second.addresses;
        r.answer.ttl = std::chrono::ceil<std::chrono::seconds>(it->second.expires - t);
        r.from_cache = true;
        asio::post(ex, [done = std::move(done), r = std::move(r), asked]() mutable {
          r.took = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - asked);
          done(std::move(r));
        });
        return;
      }
    }
    auto& slot = s_->flights[k];
    if (slot) {
      slot->waiters.push_back({ex, asked, std::move(done)});
      return;
    }
    auto f = std::make_shared<flight>();
    f->generation = s_->generation;
    f->waiters.push_back({ex, asked, std::move(done)});
    slot = f;
    auto upstream = s_->upstream;  // the call may end anything, this cache included
    if (!upstream) {  // still `starting`: the caller hears of it through `ex`
      return finish(s_, k, f, error::host_not_found, resolution{{}, std::nullopt, "no resolver"});
    }
    upstream->async_resolve(ex, k.first, port,
                            [w = std::weak_ptr<state>(s_), k, f](std::error_code ec, resolution r) {
                              if (auto s = w.lock()) finish(s, k, f, ec, std::move(r));
                            });
    f->starting = false;
  }

  static void finish(const std::shared_ptr<state>& s, const key& k, const std::shared_ptr<flight>& f,
                     std::error_code ec, resolution r) {
    if (auto it = s->flights.find(k); it != s->flights.end() && it->second == f) s->flights.erase(it);
    std::optional<address_list> previous;
    if (!ec && f->generation == s->generation) {
      auto it = s->entries.find(k);
      if (it == s->entries.end()) {
        make_room(*s);
        it = s->entries.emplace(k, entry{}).first;
      } else if (!same_set(it->second.addresses, r.addresses)) {
        previous = it->second.addresses;
      }
      it->second.addresses = r.addresses;
      it->second.expires = now() + keep_for(*s, r.ttl);
    }
    auto waiters = std::move(f->waiters);
    const auto& here = waiters.front().ex;  // the executor the resolver called back on
    for (auto& w : waiters) {
      result res;
      res.ec = ec;
      res.answer = r;
      res.previous = previous;
      if (f->starting || w.ex != here) {
        // A resolver that answered inline, or a caller on another executor: through the caller's executor.
        asio::post(w.ex, [done = std::move(w.done), res = std::move(res), asked = w.asked]() mutable {
          res.took = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - asked);
          done(std::move(res));
        });
      } else {
        res.took = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - w.asked);
        w.done(std::move(res));
      }
    }
  }

  static clock::duration keep_for(const state& s, const std::optional<std::chrono::seconds>& ttl) {
    if (!ttl) return s.default_ttl;
    return std::clamp(*ttl, min_ttl, max_ttl);
  }

  static bool same_set(address_list a, address_list b) {
    std::sort(a.begin(), a.end());
    a.erase(std::unique(a.begin(), a.end()), a.end());
    std::sort(b.begin(), b.end());
    b.erase(std::unique(b.begin(), b.end()), b.end());
    return a == b;
  }

  // Room for one more key: the expired ones go first, then the one that expires soonest.
  static void make_room(state& s) {
    if (s.entries.size() < max_entries) return;
    const auto t = now();
    std::erase_if(s.entries, [t](const auto& e) { return e.second.expires <= t; });
    while (s.entries.size() >= max_entries) {
      auto soonest = std::min_element(s.entries.begin(), s.entries.end(),
                                      [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
      s.entries.erase(soonest);
    }
  }

  std::shared_ptr<state> s_;
};

}  // namespace h2coal::detail
