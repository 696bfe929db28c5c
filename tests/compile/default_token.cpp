// SPDX-License-Identifier: BSL-1.0
// tests/compile/default_token.cpp: must compile. A client whose executor names a default completion
// token (use_awaitable's) is awaited without a token, as Asio's sockets are; the other tokens still
// work on the plain client.
#include <h2coal/client.hpp>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <future>
#include <type_traits>

using awaitable_client = asio::use_awaitable_t<>::as_default_on_t<h2coal::client>;
static_assert(std::is_same_v<awaitable_client::executor_type,
                             asio::use_awaitable_t<>::executor_with_default<asio::any_io_executor>>);

asio::awaitable<int> fetch(h2coal::request req) {
  awaitable_client c(co_await asio::this_coro::executor);
  h2coal::response r = co_await c.async_request(req);
  // as_default_on: the same from an existing client.
  auto d = asio::use_awaitable.as_default_on(h2coal::client(co_await asio::this_coro::executor));
  h2coal::response r2 = co_await d.async_request(std::move(req));
  co_return r.status + r2.status;
}

int main() {
  asio::io_context io;
  asio::co_spawn(io, fetch(h2coal::request{}), asio::detached);
  h2coal::client c(io.get_executor());
  std::future<h2coal::response> f = c.async_request(h2coal::request{}, asio::use_future);
  auto later = c.async_request(h2coal::request{}, asio::experimental::deferred);
  std::move(later)([](std::error_code, h2coal::response) {});
  c.async_request(h2coal::request{}, [](const std::error_code&, const h2coal::response&) {});
}
