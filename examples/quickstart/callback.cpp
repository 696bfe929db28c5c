// SPDX-License-Identifier: BSL-1.0
// examples/quickstart/callback.cpp: README's quick start, with a completion callback and the text trace.
#include <h2coal/h2coal.hpp>

#include <asio/io_context.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  asio::io_context io;
  h2coal::client_options opts;
  opts.policies = h2coal::policy_map(h2coal::policies::browser());
  opts.trace = h2coal::trace::text(std::cerr);  // every decision, readable
  h2coal::client client(io.get_executor(), opts);

  h2coal::request req;
  req.url = argv[1];
  client.async_request(req, [&](std::error_code ec, h2coal::response r) {
    if (ec) std::cerr << ec.message() << "\n";
    else std::cout << r.status << " on connection " << r.connection
                   << (r.coalesced ? " (coalesced: " + r.basis + ")" : "") << "\n";
    client.close();
  });
  io.run();
}
