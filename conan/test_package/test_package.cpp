// conan/test_package/test_package.cpp: the package compiles, links and runs; no network.
//
// A client is made and shut down, and a request to a name nothing resolves fails with an h2coal error,
// which exercises Asio, OpenSSL (the client's SSL context), and the pool without leaving the process.
#include <h2coal/h2coal.hpp>

#include <asio/io_context.hpp>

#include <iostream>
#include <memory>

int main() {
  asio::io_context io;
  h2coal::client_options opts;
  opts.resolver = std::make_shared<h2coal::static_resolver>(nullptr);  // resolves nothing
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
