// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_proxy_answer.cpp: what a hostile proxy can send: a CONNECT answer (detail/tunnel.hpp's
// http_connect), SOCKS5 replies (socks5_connect, with and without RFC 1929 credentials), and the proxy
// URL and no_proxy parsers (proxy.hpp) on arbitrary bytes.
//
// The first byte picks the target. None may crash; the codecs read no more than they allow (read_limit),
// open a tunnel only on a 2xx status or SOCKS5 reply 0, and fail with an error and a detail; a parsed
// proxy URL displays as a URL that parses again to the same proxy without credentials.
#include <h2coal/detail/tunnel.hpp>
#include <h2coal/proxy.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void drive(h2coal::detail::tunnel_protocol& t, std::string_view in, bool http) {
  using status = h2coal::detail::tunnel_protocol::status;
  (void)t.take_output();
  status st = status::more;
  std::size_t step = 1;
  while (!in.empty() && st == status::more) {
    const std::size_t limit = t.read_limit();
    if (limit == 0) std::abort();  // a codec that wants more must allow a read
    const std::size_t n = std::min({step, in.size(), limit});
    st = t.feed(in.substr(0, n));
    in.remove_prefix(n);
    (void)t.take_output();
    step = step * 3 % 17 + 1;  // pieces of varying size
  }
  if (st == status::open) {
    if (http && (t.reply() < 200 || t.reply() > 299)) std::abort();
    if (!http && t.reply() != 0) std::abort();
    if (t.error()) std::abort();
  }
  if (st == status::failed && (!t.error() || t.detail().empty())) std::abort();
  if (st == status::more) {
    t.closed();
    if (!t.error()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const char mode = static_cast<char>(data[0]);
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode == 'C') {
    h2coal::detail::http_connect t("a.test", 443, "Basic dTpw");
    drive(t, in, true);
  } else if (mode == 'S') {
    h2coal::detail::socks5_connect t("a.test", 443, std::nullopt, "", "");
    drive(t, in, false);
  } else if (mode == 'A') {
    h2coal::detail::socks5_connect t("a.test", 443, asio::ip::make_address("127.0.0.1"), "user", "pass");
    drive(t, in, false);
  } else {
    // Three lines: a proxy URL, a no_proxy list, a host.
    const auto nl1 = in.find('\n');
    const auto url = in.substr(0, nl1);
    const auto rest = nl1 == std::string_view::npos ? std::string_view{} : in.substr(nl1 + 1);
    const auto nl2 = rest.find('\n');
    const auto list = rest.substr(0, nl2);
    const auto host = nl2 == std::string_view::npos ? std::string_view{} : rest.substr(nl2 + 1);
    std::error_code ec;
    if (const auto p = h2coal::proxy_server::parse(url, ec)) {
      if (ec || p->host.empty() || p->port == 0) std::abort();
      std::error_code again_ec;
      const auto again = h2coal::proxy_server::parse(p->display(), again_ec);
      if (!again || again->scheme != p->scheme || again->host != p->host || again->port != p->port) std::abort();
      if (p->display().find('@') != std::string::npos) std::abort();  // credentials are never shown
    }
    (void)h2coal::no_proxy_matches(list, host, 443);
    if (!host.empty() && !h2coal::no_proxy_matches("*", host, 80)) std::abort();  // "*" covers every host
  }
  return 0;
}
