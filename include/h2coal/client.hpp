// SPDX-License-Identifier: BSL-1.0
// h2coal/client.hpp: the public entry point.
//
// A client owns a pool of connections, a resolver, a TLS context and the trace hook. It runs on one
// executor: every internal step and every trace event happens there. Use a strand as that executor when
// the io_context runs on several threads.
#pragma once

#include <h2coal/config.hpp>
#include <h2coal/connection_summary.hpp>
#include <h2coal/detail/request_op.hpp>
#include <h2coal/options.hpp>
#include <h2coal/request.hpp>
#include <h2coal/response.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace h2coal {
namespace detail {

class pool;

// The client's non-template machinery, defined in impl/client.ipp: inline in header-only mode, compiled
// once through <h2coal/src.hpp> with H2COAL_SEPARATE_COMPILATION, so that a user's translation units see
// neither OpenSSL nor nghttp2 nor llhttp.
H2COAL_DECL std::shared_ptr<pool> make_pool(asio::any_io_executor ex, client_options opts);
H2COAL_DECL const asio::any_io_executor& pool_executor(const pool& p) noexcept;
H2COAL_DECL const client_options& pool_options(const pool& p) noexcept;
/// Hands a request to the pool on its executor.
H2COAL_DECL void pool_start(const std::shared_ptr<pool>& p, std::shared_ptr<request_op> op);
/// Cancels a request from any thread (the work is posted to the pool's executor).
H2COAL_DECL void pool_cancel(const std::weak_ptr<pool>& p, const std::weak_ptr<request_op>& op);
H2COAL_DECL void pool_shutdown(pool& p);
/// Graceful shutdown, preconnect and network change (DESIGN section 14), posted to the pool's executor.
H2COAL_DECL void pool_graceful_shutdown(const std::shared_ptr<pool>& p, std::chrono::milliseconds grace,
                                        unique_function<void()> done);
H2COAL_DECL void pool_preconnect(const std::shared_ptr<pool>& p, std::string url, std::size_t n,
                                 unique_function<void(std::error_code, preconnect_result)> done);
H2COAL_DECL void pool_network_changed(const std::shared_ptr<pool>& p);
H2COAL_DECL std::vector<connection_summary> pool_summaries(const pool& p);

// A plain callable (a function, a function pointer, a lambda that is not generic, a functor with one
// call operator), as opposed to a completion token (use_future, use_awaitable, deferred, whose call
// operators, when they have any, are templates): a plain callable is the handler itself, so it must take
// the completion signature. Generic lambdas are left to Asio's own check.
template <class T, class = void>
struct has_one_call_operator : std::false_type {};
template <class T>
struct has_one_call_operator<T, std::void_t<decltype(&T::operator())>> : std::true_type {};

template <class T>
inline constexpr bool is_plain_callable_v =
    std::is_function_v<std::remove_pointer_t<T>> || has_one_call_operator<T>::value;

template <class Token>
inline constexpr bool takes_request_completion_v =
    !is_plain_callable_v<std::decay_t<Token>> ||
    std::is_invocable_v<std::decay_t<Token>, std::error_code, response>;

}  // namespace detail

/// An HTTP/2 (and HTTP/1.1) client on one executor: `h2coal::client` is `basic_client<>`.
///
/// `Executor` is the type get_executor() returns; the client's own work runs on that executor converted
/// to `asio::any_io_executor`. Its default completion token, as for Asio's own I/O objects, is the
/// executor's (`asio::default_completion_token_t<Executor>`), so on an executor that names one
/// (`asio::use_awaitable_t<>::as_default_on_t<h2coal::client>`, `use_awaitable.as_default_on(client)`)
/// `co_await client.async_request(req)` needs no token.
template <class Executor = asio::any_io_executor>
class basic_client {
  static_assert(std::is_convertible_v<Executor, asio::any_io_executor>,
                "h2coal::basic_client<Executor>: Executor must convert to asio::any_io_executor");

 public:
  /// The executor type given at construction.
  using executor_type = Executor;

  /// The same client type on another executor type (for `as_default_on`).
  template <class OtherExecutor>
  struct rebind_executor {
    /// The client type on `OtherExecutor`.
    using other = basic_client<OtherExecutor>;
  };

  /// Makes a client whose connections, timers and trace events run on `ex`.
  explicit basic_client(executor_type ex, client_options opts = {})
      : ex_(ex), pool_(detail::make_pool(asio::any_io_executor(std::move(ex)), std::move(opts))) {}

  /// Takes over `other`'s connections and requests, on another executor type (what
  /// `asio::use_awaitable.as_default_on(std::move(client))` does). `other` is left empty: destroy it.
  template <class OtherExecutor,
            class = std::enable_if_t<std::is_constructible_v<Executor, const OtherExecutor&>>>
  explicit basic_client(basic_client<OtherExecutor>&& other)
      : ex_(other.ex_), pool_(std::move(other.pool_)) {}

  basic_client(const basic_client&) = delete;
  basic_client& operator=(const basic_client&) = delete;

  /// Closes every connection; requests still outstanding complete with error::client_shutdown.
  /// Destroy the client on its executor (or after the io_context stopped).
  ~basic_client() {
    if (pool_) detail::pool_shutdown(*pool_);
  }

  /// The executor given at construction.
  executor_type get_executor() const noexcept { return ex_; }
  /// The options given at construction.
  const client_options& options() const noexcept { return detail::pool_options(*pool_); }

  /// Sends `req` and completes with its response.
  ///
  /// Completion signature: `void(std::error_code, h2coal::response)`. The response is filled in for HTTP
  /// error statuses too (a 404 is not an error code); errors are h2coal::error values. Without a token,
  /// the executor's default completion token is used (see the class).
  ///
  /// Per-Operation Cancellation: any cancellation type ends the request with error::cancelled. An HTTP/2
  /// stream is reset with CANCEL and its connection lives on; an HTTP/1.1 connection in the middle of the
  /// response is closed.
  template <class CompletionToken ASIO_DEFAULT_COMPLETION_TOKEN_TYPE(executor_type)>
  auto async_request(request req, CompletionToken&& token ASIO_DEFAULT_COMPLETION_TOKEN(executor_type)) {
    // Here rather than in Asio: its constraint on async_result::initiate gives a long error whose first
    // line does not name the signature.
    constexpr bool callable = detail::takes_request_completion_v<CompletionToken>;
    static_assert(callable,
                  "h2coal::client::async_request: the completion handler must be callable as "
                  "void(std::error_code, h2coal::response)");
    if constexpr (callable) {
      return asio::async_initiate<CompletionToken, void(std::error_code, response)>(initiation{pool_}, token,
                                                                                    std::move(req));
    }
  }

  /// The connections this client opened, for reports such as h2get -v's table: every open one and the
  /// latest closed ones (client_options::closed_connection_summaries).
  std::vector<connection_summary> connections() const { return detail::pool_summaries(*pool_); }

  /// Closes every connection now (see the destructor).
  void close() { detail::pool_shutdown(*pool_); }

  /// Shuts down gracefully (DESIGN section 14): new requests fail with error::client_shutdown at once;
  /// those outstanding finish for at most `grace`, after which what is left fails with client_shutdown;
  /// then every connection closes, HTTP/2 ones after GOAWAY(NO_ERROR). Completes once every connection
  /// is gone, so that an io_context with nothing else to do returns from run().
  ///
  /// Completion signature: `void(std::error_code)`, always an empty code. Idle connections alone keep
  /// the io_context running until their idle_timeout: use this (or close()) when a program is done.
  template <class CompletionToken ASIO_DEFAULT_COMPLETION_TOKEN_TYPE(executor_type)>
  auto async_shutdown(std::chrono::milliseconds grace,
                      CompletionToken&& token ASIO_DEFAULT_COMPLETION_TOKEN(executor_type)) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [p = pool_](auto handler, std::chrono::milliseconds g) {
          auto work = asio::prefer(asio::get_associated_executor(handler, detail::pool_executor(*p)),
                                   asio::execution::outstanding_work.tracked);
          detail::pool_graceful_shutdown(p, g, [h = std::move(handler), work]() mutable {
            asio::post(work, [h = std::move(h)]() mutable { std::move(h)(std::error_code()); });
          });
        },
        token, grace);
  }

  /// Opens (or finds) usable connections to the origin of `url` ahead of need: completes once there are
  /// `n` of them, or with the error that opening one met. An HTTP/2 connection carries any number of
  /// requests, so `n` counts for HTTP/1.1 origins (up to max_http1_connections_per_origin). Under a
  /// coalescing policy the connection found may be one opened for another origin: the result says so.
  /// When some opened and another failed (fewer than asked for), the error comes with the result, which
  /// lists the connections that do exist.
  ///
  /// Completion signature: `void(std::error_code, h2coal::preconnect_result)`.
  template <class CompletionToken ASIO_DEFAULT_COMPLETION_TOKEN_TYPE(executor_type)>
  auto async_preconnect(std::string url, std::size_t n,
                        CompletionToken&& token ASIO_DEFAULT_COMPLETION_TOKEN(executor_type)) {
    return asio::async_initiate<CompletionToken, void(std::error_code, preconnect_result)>(
        [p = pool_](auto handler, std::string u, std::size_t count) {
          auto work = asio::prefer(asio::get_associated_executor(handler, detail::pool_executor(*p)),
                                   asio::execution::outstanding_work.tracked);
          detail::pool_preconnect(p, std::move(u), count,
                                  [h = std::move(handler), work](std::error_code ec, preconnect_result r) mutable {
                                    asio::post(work, [h = std::move(h), ec, r = std::move(r)]() mutable {
                                      std::move(h)(ec, std::move(r));
                                    });
                                  });
        },
        token, std::move(url), n);
  }

  /// The network changed (another interface, another address; DESIGN section 14): every connection
  /// finishes what it carries and closes, new requests open new connections, and the DNS and TLS
  /// session caches forget what they held. Trace event `client.network_change`.
  void on_network_change() { detail::pool_network_changed(pool_); }

 private:
  template <class>
  friend class basic_client;

  struct initiation {
    std::shared_ptr<detail::pool> pool;

    template <class Handler>
    void operator()(Handler&& handler, request req) const {
      // The handler a callback, use_future, use_awaitable or deferred produced: it is called once, as an
      // rvalue, with (std::error_code, h2coal::response).
      constexpr bool callable = std::is_invocable_v<std::decay_t<Handler>, std::error_code, response>;
      static_assert(callable,
                    "h2coal::client::async_request: the completion handler must be callable as "
                    "void(std::error_code, h2coal::response)");
      if constexpr (callable) start(std::forward<Handler>(handler), std::move(req));
    }

    template <class Handler>
    void start(Handler&& handler, request req) const {
      auto op = detail::make_request_op();
      op->req = std::move(req);
      auto slot = asio::get_associated_cancellation_slot(handler);
      auto work = asio::prefer(asio::get_associated_executor(handler, detail::pool_executor(*pool)),
                               asio::execution::outstanding_work.tracked);
      op->complete = [h = std::forward<Handler>(handler), work](std::error_code ec, response&& r) mutable {
        // Never inline: the handler runs on its own executor, after the pool's step has returned. The
        // response travels on the heap: it is moved twice (in and out), not once per hop of the handler
        // through post, which moved its ten strings and two field lists about nine times.
        asio::post(work, [h = std::move(h), ec, r = std::make_unique<response>(std::move(r))]() mutable {
          std::move(h)(ec, std::move(*r));
        });
      };
      if (slot.is_connected()) {
        std::weak_ptr<detail::request_op> w = op;
        std::weak_ptr<detail::pool> wp = pool;
        slot.assign([w, wp](asio::cancellation_type type) {
          if (type == asio::cancellation_type::none) return;
          // At once, from whichever thread cancels: not one more body byte reaches the sinks, even before
          // the pool's executor gets to end the request (DESIGN section 10).
          if (auto o = w.lock()) o->cancel_requested.store(true, std::memory_order_relaxed);
          detail::pool_cancel(wp, w);
        });
        op->clear_cancellation = [slot]() mutable { slot.clear(); };
      }
      detail::pool_start(pool, std::move(op));
    }
  };

  executor_type ex_;
  std::shared_ptr<detail::pool> pool_;
};

/// The client on `asio::any_io_executor`: callbacks, use_future, use_awaitable, deferred as tokens.
using client = basic_client<>;

}  // namespace h2coal

#if defined(H2COAL_HEADER_ONLY)
#include <h2coal/impl/client.ipp>
#endif
