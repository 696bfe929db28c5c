// SPDX-License-Identifier: BSL-1.0
// tests/compile/wrong_handler.cpp: must NOT compile. A handler that cannot take
// (std::error_code, h2coal::response) is refused with one readable static_assert, which
// tests/compile/check_compile.cmake looks for in the compiler's first error line.
#include <h2coal/client.hpp>

#include <asio/io_context.hpp>

int main() {
  asio::io_context io;
  h2coal::client c(io.get_executor());
  h2coal::request req;
  // Wrong: the response is missing from the signature.
  c.async_request(req, [](std::error_code) {});
}
