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

#include <memory>
#include <system_error>
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
H2COAL_DECL std::vector<connection_summary> pool_summaries(const pool& p);

}  // namespace detail

class client {
 public:
  using executor_type = asio::any_io_executor;

  explicit client(executor_type ex, client_options opts = {})
      : pool_(detail::make_pool(std::move(ex), std::move(opts))) {}

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Closes every connection; requests still outstanding complete with error::client_shutdown.
  /// Destroy the client on its executor (or after the io_context stopped).
  ~client() { detail::pool_shutdown(*pool_); }

  executor_type get_executor() const noexcept { return detail::pool_executor(*pool_); }
  const client_options& options() const noexcept { return detail::pool_options(*pool_); }

  /// Sends `req` and completes with its response.
  ///
  /// Completion signature: `void(std::error_code, h2coal::response)`. The response is filled in for HTTP
  /// error statuses too (a 404 is not an error code); errors are h2coal::error values.
  ///
  /// Per-Operation Cancellation: any cancellation type ends the request with error::cancelled. An HTTP/2
  /// stream is reset with CANCEL and its connection lives on; an HTTP/1.1 connection in the middle of the
  /// response is closed.
  template <class CompletionToken>
  auto async_request(request req, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code, response)>(initiation{pool_}, token,
                                                                                  std::move(req));
  }

  /// The connections this client opened, for reports such as h2get -v's table: every open one and the
  /// latest closed ones (client_options::closed_connection_summaries).
  std::vector<connection_summary> connections() const { return detail::pool_summaries(*pool_); }

  /// Closes every connection now (see the destructor).
  void close() { detail::pool_shutdown(*pool_); }

 private:
  struct initiation {
    std::shared_ptr<detail::pool> pool;

    template <class Handler>
    void operator()(Handler&& handler, request req) const {
      auto op = std::make_shared<detail::request_op>();
      op->req = std::move(req);
      auto slot = asio::get_associated_cancellation_slot(handler);
      auto work = asio::prefer(asio::get_associated_executor(handler, detail::pool_executor(*pool)),
                               asio::execution::outstanding_work.tracked);
      op->complete = [h = std::forward<Handler>(handler), work](std::error_code ec, response r) mutable {
        // Never inline: the handler runs on its own executor, after the pool's step has returned.
        asio::post(work, [h = std::move(h), ec, r = std::move(r)]() mutable { std::move(h)(ec, std::move(r)); });
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

  std::shared_ptr<detail::pool> pool_;
};

}  // namespace h2coal

#if defined(H2COAL_HEADER_ONLY)
#include <h2coal/impl/client.ipp>
#endif
