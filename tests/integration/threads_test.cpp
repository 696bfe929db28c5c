// SPDX-License-Identifier: BSL-1.0
// tests/integration/threads_test.cpp: clients on io_contexts that several threads run.
//
// A client runs on one executor (client.hpp); with several threads that executor is a strand. These
// tests drive one client through a strand from several threads at once, and several clients on one
// thread pool, so that scripts/sanitize's ThreadSanitizer build (target h2coal_threads_test) sees every
// path a multi-threaded program takes: initiation from foreign threads, completion on the strand,
// trace events, cancellation, use_future, and destruction.
#include "catch.hpp"
#include "support/client_fixture.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// Counts completions from any thread; wait() blocks (no polling) until `expected` arrived.
class completion_counter {
 public:
  explicit completion_counter(std::size_t expected) : expected_(expected) {}
  void add(bool ok) {
    std::lock_guard lock(m_);
    ++done_;
    ok_ += ok;
    if (done_ >= expected_) cv_.notify_all();
  }
  bool wait(std::chrono::seconds limit) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, limit, [&] { return done_ >= expected_; });
  }
  std::size_t done() {
    std::lock_guard lock(m_);
    return done_;
  }
  std::size_t ok() {
    std::lock_guard lock(m_);
    return ok_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::size_t expected_;
  std::size_t done_ = 0;
  std::size_t ok_ = 0;
};

// Runs `f` on `ex` and waits for it: how a multi-threaded program destroys a client on its executor.
template <class Executor, class F>
void run_on(const Executor& ex, F&& f) {
  std::promise<void> done;
  asio::post(ex, [&] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace

TEST_CASE("threads: one client on a strand, driven from four threads while four threads run the io_context") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test"});
  test_server server(so);
  f.resolve("a.test", {"127.0.0.1"});
  f.resolve("b.test", {"127.0.0.1"});

  asio::io_context io;
  auto strand = asio::make_strand(io);
  auto opts = f.options();  // the trace hook appends to f.events: on the strand only, so no lock
  auto c = std::make_unique<client>(strand, opts);
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> runners;
  for (int i = 0; i < 4; ++i) runners.emplace_back([&io] { io.run(); });

  constexpr int callers = 4, per_caller = 60;
  completion_counter counter(callers * per_caller);
  std::atomic<int> double_completions{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_caller; ++i) {
        request r;
        r.url = test_url(i % 2 ? "b.test" : "a.test", server.port(), "/bytes/" + std::to_string(100 + t * 10 + i));
        auto once = std::make_shared<std::atomic<int>>(0);
        auto done = [&, once, n = std::size_t(100 + t * 10 + i)](std::error_code ec, response resp) {
          if (once->fetch_add(1) != 0) ++double_completions;
          counter.add(!ec && resp.status == 200 && resp.body == expected_bytes(n));
        };
        if (i % 3 == 0) {
          c->async_request(std::move(r), done);  // initiated on this thread, completed on the strand
        } else {
          // Through the strand, as a program that keeps all client calls on it would.
          asio::post(strand, [&c, r = std::move(r), done]() mutable { c->async_request(std::move(r), done); });
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(counter.wait(std::chrono::seconds(60)));
  CHECK(counter.ok() == callers * per_caller);
  CHECK(double_completions == 0);

  // Cancellation from another thread, through a cancellation slot bound to the request.
  asio::cancellation_signal cancel;
  std::promise<std::error_code> cancelled;
  run_on(strand, [&] {
    request r;
    r.url = test_url("a.test", server.port(), "/stall");
    c->async_request(r, asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code ec, response) { cancelled.set_value(ec); }));
  });
  std::thread([&] { asio::post(strand, [&] { cancel.emit(asio::cancellation_type::terminal); }); }).join();
  CHECK(cancelled.get_future().get() == error::cancelled);

  run_on(strand, [&] { c.reset(); });  // destroyed on its executor
  work.reset();
  io.stop();
  for (auto& t : runners) t.join();
  // a and b are coalesced; both first requests may start before either connection is up, so two.
  CHECK(server.connection_count() <= 2);
}

TEST_CASE("threads: four clients, each on its own strand of one thread pool") {
  client_fixture f;
  server_options so;
  so.cert = f.ca.issue({"a.test", "b.test", "c.test", "d.test"});
  test_server server(so);
  const std::vector<std::string> hosts{"a.test", "b.test", "c.test", "d.test"};
  for (const auto& h : hosts) f.resolve(h, {"127.0.0.1"});

  asio::thread_pool pool(4);
  std::mutex trace_mutex;
  std::size_t trace_events = 0;
  std::vector<std::unique_ptr<client>> clients;
  std::vector<asio::strand<asio::thread_pool::executor_type>> strands;
  for (int i = 0; i < 4; ++i) {
    auto o = f.options();
    // One hook shared by every client: it is called from several threads, so it locks.
    o.trace = [&](const trace::event&) {
      std::lock_guard lock(trace_mutex);
      ++trace_events;
    };
    strands.push_back(asio::make_strand(pool.get_executor()));
    clients.push_back(std::make_unique<client>(strands.back(), o));
  }

  constexpr int per_client = 80;
  completion_counter counter(4 * per_client);
  for (int i = 0; i < per_client; ++i)
    for (std::size_t k = 0; k < clients.size(); ++k) {
      request r;
      r.url = test_url(hosts[(k + static_cast<std::size_t>(i)) % hosts.size()], server.port(), "/bytes/64");
      clients[k]->async_request(std::move(r), [&](std::error_code ec, response resp) {
        counter.add(!ec && resp.status == 200 && resp.body == expected_bytes(64));
      });
    }
  // use_future: the caller's thread blocks on the answer while the pool works.
  std::vector<std::future<response>> futures;
  for (auto& c : clients) {
    request r;
    r.url = test_url("a.test", server.port(), "/echo");
    r.method = "POST";
    r.body = "from a future";
    futures.push_back(c->async_request(std::move(r), asio::use_future));
  }
  for (auto& fut : futures) CHECK(fut.get().body == "from a future");
  REQUIRE(counter.wait(std::chrono::seconds(60)));
  CHECK(counter.ok() == 4 * per_client);

  for (std::size_t k = 0; k < clients.size(); ++k) run_on(strands[k], [&] { clients[k].reset(); });
  pool.stop();
  pool.join();
  // Coalesced within each client (at most one connection per first request of each host).
  CHECK(server.connection_count() >= 4);
  CHECK(server.connection_count() <= 16);
  std::lock_guard lock(trace_mutex);
  CHECK(trace_events > 0);
}
