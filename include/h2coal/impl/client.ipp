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

H2COAL_DECL std::vector<connection_summary> pool_summaries(const pool& p) { return p.summaries(); }

}  // namespace h2coal::detail
