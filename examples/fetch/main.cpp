// SPDX-License-Identifier: BSL-1.0
// examples/fetch/main.cpp: fetch URLs on one client and say which connection carried each.
//
//   h2coal_fetch [--cacert FILE] [--resolve HOST:PORT:ADDR] URL...
//
// Each URL is fetched with a C++20 coroutine; the trace of pool decisions goes to stderr as text.
#include <h2coal/h2coal.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  h2coal::client_options opts;
  auto resolver = std::make_shared<h2coal::static_resolver>();
  std::vector<std::string> urls;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--cacert" && i + 1 < argc) opts.tls.ca_file = argv[++i];
    else if (a == "--resolve" && i + 1 < argc) {
      if (!resolver->add(argv[++i])) {
        std::cerr << "fetch: bad --resolve " << argv[i] << "\n";
        return 2;
      }
    } else urls.push_back(a);
  }
  opts.resolver = resolver;
  opts.trace = h2coal::trace::text(std::cerr);
  asio::io_context io;
  h2coal::client c(io.get_executor(), opts);
  int failures = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (const auto& u : urls) {
          h2coal::request req;
          req.url = u;
          std::error_code ec;
          auto resp = co_await c.async_request(req, asio::redirect_error(asio::use_awaitable, ec));
          if (ec) {
            std::cerr << "fetch: " << u << ": " << ec.message() << "\n";
            ++failures;
            continue;
          }
          std::cout << resp.status << " " << u << " (connection " << resp.connection
                    << (resp.coalesced ? ", coalesced by " + resp.basis : std::string()) << ", "
                    << resp.body.size() << " bytes)\n";
        }
        c.close();
      },
      asio::detached);
  io.run();
  return failures ? 1 : 0;
}
