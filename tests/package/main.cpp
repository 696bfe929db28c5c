// SPDX-License-Identifier: BSL-1.0
// tests/package/main.cpp: one request through h2coal as a user's program makes it.
//
//   h2coal_package_consumer URL [--cacert FILE] [--resolve HOST:PORT:ADDR]
//
// Prints "<status> HTTP/<version> <body bytes>" on success and exits 0; prints the error and exits 1.
#include <h2coal/h2coal.hpp>
#if defined(H2COAL_HAS_CARES)
#include <h2coal/cares_resolver.hpp>
#endif

#include <asio/io_context.hpp>

#include <iostream>
#include <memory>
#include <string>

int main(int argc, char** argv) {
  asio::io_context io;
  h2coal::client_options opts;
  opts.request_timeout = std::chrono::seconds(30);
#if defined(H2COAL_HAS_CARES)
  // An h2coal built with c-ares: names --resolve does not know go to DNS through c-ares.
  auto resolver = std::make_shared<h2coal::static_resolver>(std::make_shared<h2coal::cares_resolver>(io.get_executor()));
#else
  auto resolver = std::make_shared<h2coal::static_resolver>();
#endif
  opts.resolver = resolver;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--cacert" && i + 1 < argc) {
      opts.tls.ca_file = argv[++i];
    } else if (a == "--resolve" && i + 1 < argc) {
      if (!resolver->add(std::string_view(argv[++i]))) {
        std::cerr << "consumer: bad --resolve " << argv[i] << "\n";
        return 2;
      }
    } else {
      url = a;
    }
  }
  if (url.empty()) {
    std::cerr << "usage: h2coal_package_consumer URL [--cacert FILE] [--resolve HOST:PORT:ADDR]\n";
    return 2;
  }

  h2coal::client client(io.get_executor(), opts);
  h2coal::request req;
  req.url = url;
  int rc = 1;
  client.async_request(req, [&](std::error_code ec, h2coal::response r) {
    if (ec) {
      std::cerr << "consumer: " << url << ": " << ec.message() << "\n";
    } else {
      std::cout << r.status << " HTTP/" << r.http_version << " " << r.body.size() << "\n";
      rc = 0;
    }
    client.close();
  });
  io.run();
  return rc;
}
