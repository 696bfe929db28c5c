// SPDX-License-Identifier: BSL-1.0
// examples/h2get/proxy_options.hpp: from h2get's proxy flags and the environment to a proxy_config,
// as curl decides it (DESIGN sections 7 and 13).
//
// -x (or --socks5, --socks5-hostname) names the proxy for both schemes; an empty -x means none, the
// environment's included. Without them the environment's variables apply (proxy_from_environment).
// --noproxy replaces no_proxy / NO_PROXY, which otherwise apply to -x's proxy too (as in curl);
// -U replaces the URL's credentials; --proxy-cacert and --proxy-insecure are the https:// proxy's trust.
#pragma once

#include "cli.hpp"
#include "exit_codes.hpp"

#include <h2coal/proxy.hpp>

#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <system_error>

namespace h2get {
using namespace h2tools;  // the tools' exit codes and failures (examples/common)

namespace detail {

// curl's codes for a proxy string it cannot use: 5 for bad syntax, 7 for a scheme it does not speak.
inline failure bad_proxy(std::error_code ec, const std::string& where, const std::string& value) {
  if (ec == h2coal::error::unsupported_scheme)
    return {exit_code::connect, "unsupported proxy scheme for '" + value + "'" + where +
                                    " (http, https, socks5 and socks5h are)"};
  return {exit_code::resolve_proxy, "unsupported proxy syntax in '" + value + "'" + where};
}

// The variable proxy_from_environment chose for a scheme (the first one set, in curl's order) and
// could not parse: for the message.
inline std::optional<failure> bad_environment_proxy(const std::function<const char*(const char*)>& getenv_fn) {
  auto get = [&](const char* name) -> const char* {
    const char* v = getenv_fn ? getenv_fn(name) : std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
    return v && *v ? v : nullptr;
  };
  for (auto names : {std::initializer_list<const char*>{"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"},
                     std::initializer_list<const char*>{"http_proxy", "all_proxy", "ALL_PROXY"}})
    for (const char* name : names) {
      const char* value = get(name);
      if (!value) continue;
      std::error_code ec;
      if (!h2coal::proxy_server::parse(value, ec)) return bad_proxy(ec, " (from " + std::string(name) + ")", value);
      break;
    }
  return std::nullopt;
}

}  // namespace detail

/// Fills `out` from the command line and the environment. A proxy URL that does not parse (on the
/// command line or in the environment) stops h2get before any transfer, with curl's code.
inline std::optional<failure> configure_proxy(const command_line& cl, h2coal::proxy_config& out,
                                              const std::function<const char*(const char*)>& getenv_fn = {}) {
  out = {};
  std::error_code ec;
  h2coal::proxy_config env = h2coal::proxy_from_environment(ec, getenv_fn);
  if (cl.proxy) {
    if (cl.proxy->empty()) return std::nullopt;  // -x "": no proxy at all
    auto p = h2coal::proxy_server::parse(*cl.proxy, ec);
    if (!p) return detail::bad_proxy(ec, " (" + cl.proxy_option + ")", *cl.proxy);
    out.http = *p;
    out.https = *p;
    out.no_proxy = env.no_proxy;
  } else {
    if (ec)
      if (auto f = detail::bad_environment_proxy(getenv_fn)) return f;
    out = env;
  }
  if (cl.noproxy) out.no_proxy = *cl.noproxy;

  for (auto* p : {&out.http, &out.https}) {
    if (!*p) continue;
    if (cl.proxy_user) {
      // curl's -U: "user[:password]", taken as it is (not percent-decoded); the first ':' splits.
      auto colon = cl.proxy_user->find(':');
      (*p)->user = cl.proxy_user->substr(0, colon);
      (*p)->password = colon == std::string::npos ? std::string() : cl.proxy_user->substr(colon + 1);
    }
    (*p)->tls.insecure = cl.proxy_insecure;
    if (!cl.proxy_cacert.empty()) {
      (*p)->tls.ca_file = cl.proxy_cacert;
      (*p)->tls.use_system_trust = false;  // as --cacert: the file replaces the default store
    }
  }
  return std::nullopt;
}

}  // namespace h2get
