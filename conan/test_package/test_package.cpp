// conan/test_package/test_package.cpp: the package compiles, links and runs; no network.
//
// A client is made and shut down, and a request to a name nothing resolves fails with an h2coal error,
// which exercises Asio, OpenSSL (the client's SSL context), and the pool without leaving the process.
// With c-ares (the with_cares option) the name goes through cares_resolver, which fails it itself
// (RFC 6761: .invalid never reaches DNS), so c-ares is linked and initialised too.
#include <h2coal/h2coal.hpp>
#if defined(H2COAL_HAS_CARES)
#include <h2coal/cares_resolver.hpp>
#endif

#include <asio/io_context.hpp>

#include <iostream>
#include <memory>

int main() {
  asio::io_context io;
  h2coal::client_options opts;
#if defined(H2COAL_HAS_CARES)
  opts.resolver = std::make_shared<h2coal::cares_resolver>(io.get_executor());
#else
  opts.resolver = std::make_shared<h2coal::static_resolver>(nullptr);  // resolves nothing
#endif
  h2coal::client client(io.get_executor(), opts);
  h2coal::request req;
  req.url = "https://example.invalid/";
  std::error_code result;
  client.async_request(req, [&](std::error_code ec, h2coal::response) {
    result = ec;
    client.close();
  });
  io.run();
  std::cout << "h2coal " << H2COAL_VERSION_STRING << ": " << result.message() << "\n";
  return result ? 0 : 1;
}
