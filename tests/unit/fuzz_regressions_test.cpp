// SPDX-License-Identifier: BSL-1.0
// tests/unit/fuzz_regressions_test.cpp: inputs the fuzz targets (fuzz/, scripts/fuzz) found, kept as
// ordinary tests so that the fixes stay fixed without running a fuzzer.
#include "catch.hpp"

#include <h2coal/detail/h1_engine.hpp>
#include <h2coal/url.hpp>

using namespace h2coal;

namespace {

struct h1_recorder final : detail::h1_listener {
  int status = 0;
  bool on_h1_header(std::string_view, std::string_view) override { return true; }
  void on_h1_headers_end(int s) override { status = s; }
  data_result on_h1_data(const char*, std::size_t) override { return data_result::more; }
  void on_h1_complete() override {}
};

std::error_code feed_all(detail::h1_engine& e, std::string_view bytes) {
  std::size_t used = 0;
  return e.feed(bytes.data(), bytes.size(), used);
}

}  // namespace

TEST_CASE("fuzz regression (url): a host with an empty label is not a host name", "[url][fuzz]") {
  // fuzz_url found "https://12.s070..://12.070": the host "12.s070.." lost one trailing dot and kept
  // the other, so the normalised URL parsed back as another origin ("12.s070").
  for (const char* text : {"https://12.s070..://12.070", "https://a.test../", "https://a..test/", "https://.a.test/",
                           "https://./", "https://../"}) {
    INFO(text);
    std::error_code ec;
    url::parse(text, ec);
    CHECK(ec == error::invalid_url);
    CHECK_FALSE(origin::parse(std::string(text).substr(0, std::string(text).rfind('/'))).has_value());
  }
  std::error_code ec;
  CHECK(url::parse("https://a.test./x", ec).to_string() == "https://a.test/x");  // one trailing dot: the FQDN
  CHECK_FALSE(ec);
}

TEST_CASE("fuzz regression (h1): a status code below 100 is a protocol error, not a response", "[h1][fuzz]") {
  // fuzz_h1_response found "HTTP/1.1 050 ...": llhttp reads three digits, so 050 is 50, which is no
  // HTTP status (RFC 9110 section 15: 100-599; HTTP/2 rejects it likewise).
  for (std::string_view head : {"HTTP/1.1 050 Odd\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 000 Zero\r\n\r\n",
                                "HTTP/1.1 099 X\r\n\r\n"}) {
    INFO(head);
    h1_recorder l;
    detail::h1_engine e(l);
    e.begin_response(false);
    CHECK(feed_all(e, head) == error::protocol_error);
    CHECK(l.status == 0);
    CHECK_FALSE(e.complete());
  }
  h1_recorder l;
  detail::h1_engine e(l);
  e.begin_response(false);
  CHECK_FALSE(feed_all(e, "HTTP/1.1 599 Edge\r\nContent-Length: 0\r\n\r\n"));
  CHECK(l.status == 599);
  CHECK(e.complete());
}
