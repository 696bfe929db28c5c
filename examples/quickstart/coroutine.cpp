// SPDX-License-Identifier: BSL-1.0
// examples/quickstart/coroutine.cpp: README's quick start, with a C++20 coroutine.
#include <h2coal/h2coal.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  asio::io_context io;
  h2coal::client client(io.get_executor());  // the origin policy, the system's resolver and CAs
  auto fetch_all = [&]() -> asio::awaitable<void> {
    for (int i = 1; i < argc; ++i) {
      h2coal::request req;
      req.url = argv[i];
      auto r = co_await client.async_request(req, asio::use_awaitable);  // throws std::system_error
      std::cout << r.status << " " << req.url << " on connection " << r.connection
                << (r.coalesced ? " (coalesced: " + r.basis + ")" : "") << "\n";
    }
    client.close();
  };
  asio::co_spawn(io, fetch_all(), [&](std::exception_ptr e) {
    if (!e) return;
    try { std::rethrow_exception(e); } catch (const std::exception& x) { std::cerr << x.what() << "\n"; }
    client.close();
  });
  io.run();
}
