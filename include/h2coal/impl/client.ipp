// SPDX-License-Identifier: BSL-1.0
// h2coal/impl/client.ipp: the client's non-template machinery over the pool.
#pragma once

#include <h2coal/client.hpp>
#include <h2coal/pool.hpp>

#include <asio/post.hpp>

namespace h2coal::detail {

H2COAL_DECL std::shared_ptr<pool> make_pool(asio::any_io_executor ex, client_options opts) {
  return std::make_shared<pool>(std::move(ex), std::move(opts));
}

H2COAL_DECL const asio::any_io_executor& pool_executor(const pool& p) noexcept { return p.executor(); }

H2COAL_DECL const client_options& pool_options(const pool& p) noexcept { return p.options(); }

H2COAL_DECL void pool_start(const std::shared_ptr<pool>& p, std::shared_ptr<request_op> op) {
  asio::post(p->executor(), [p, op = std::move(op)]() mutable { p->start(std::move(op)); });
}

H2COAL_DECL void pool_cancel(const std::weak_ptr<pool>& wp, const std::weak_ptr<request_op>& w) {
  auto p = wp.lock();
  if (!p) return;
  asio::post(p->executor(), [wp, w] {
    auto o = w.lock();
    auto pl = wp.lock();
    if (o && pl) pl->abort(o, error::cancelled);
  });
}

H2COAL_DECL void pool_shutdown(pool& p) { p.shutdown(); }

H2COAL_DECL void pool_graceful_shutdown(const std::shared_ptr<pool>& p, std::chrono::milliseconds grace,
                                        unique_function<void()> done) {
  asio::post(p->executor(), [p, grace, done = std::move(done)]() mutable { p->graceful_shutdown(grace, std::move(done)); });
}

H2COAL_DECL void pool_preconnect(const std::shared_ptr<pool>& p, std::string url, std::size_t n,
                                 unique_function<void(std::error_code, preconnect_result)> done) {
  asio::post(p->executor(), [p, url = std::move(url), n, done = std::move(done)]() mutable {
    p->preconnect(url, n, std::move(done));
  });
}

H2COAL_DECL void pool_network_changed(const std::shared_ptr<pool>& p) {
  asio::post(p->executor(), [p] { p->network_changed(); });
}

H2COAL_DECL std::vector<connection_summary> pool_summaries(const pool& p) { return p.summaries(); }

}  // namespace h2coal::detail
