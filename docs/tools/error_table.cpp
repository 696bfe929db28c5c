// SPDX-License-Identifier: BSL-1.0
// docs/tools/error_table.cpp: prints, for every h2coal::error value, its message and the exit code h2get
// gives it, one tab-separated line each: value, code, code with a client certificate, code with
// --cacert, code after a response status arrived, message. error_table.py turns this into the table of
// docs/limits-and-errors.md (and the test "docs: the error table is current" checks it is).
#include <h2coal/error.hpp>

#include "exit_codes.hpp"

#include <iostream>
#include <string>

int main() {
  for (int v = 1;; ++v) {
    const auto ec = make_error_code(static_cast<h2coal::error>(v));
    const std::string message = ec.message();
    if (message == "unknown h2coal error") break;
    h2tools::failure_context plain{"https://example.test/"};
    h2tools::failure_context cert = plain;
    cert.has_client_cert = true;
    h2tools::failure_context ca = plain;
    ca.has_ca_file = true;
    h2tools::failure_context answered = plain;
    answered.status = 200;
    std::cout << v << '\t' << h2tools::describe(ec, plain).code << '\t' << h2tools::describe(ec, cert).code << '\t'
              << h2tools::describe(ec, ca).code << '\t' << h2tools::describe(ec, answered).code << '\t' << message
              << '\n';
  }
}
