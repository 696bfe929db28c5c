// SPDX-License-Identifier: BSL-1.0
// examples/common/names_and_trust.hpp: what the tools (h2get, h2audit) read the same way from their
// command lines and give a client: where names resolve (--resolve, --dns-servers, --connect-to) and whom
// it trusts (--cacert, or curl's CURL_CA_BUNDLE).
#pragma once

#include "exit_codes.hpp"

#include <h2coal/options.hpp>
#include <h2coal/resolver.hpp>
#if defined(H2COAL_HAS_CARES)
#include <h2coal/cares_resolver.hpp>
#endif

#include <asio/any_io_executor.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace h2tools {

/// The options, as given.
struct names_and_trust {
  std::vector<std::string> resolve;         ///< --resolve HOST:PORT:ADDR[,ADDR...]
  std::vector<std::string> connect_to;      ///< --connect-to HOST1:PORT1:HOST2:PORT2
  std::optional<std::string> dns_servers;   ///< --dns-servers ADDR[:PORT][,...] (c-ares)
  std::string cacert;                       ///< --cacert FILE; CURL_CA_BUNDLE when empty
  double connect_timeout = -1;              ///< seconds, for c-ares' tries; negative: none given
};

/// Whether `path` can be read (the tools check files before anything is sent, as curl does).
inline bool readable(const std::string& path) { return static_cast<bool>(std::ifstream(path, std::ios::binary)); }

/// Sets `opts.resolver`, `opts.connect_to` and the trust of `opts.tls` from `in` (c-ares when built in, as
/// a curl built with it, else the system's resolver, under the --resolve answers). The failure to report
/// when an option is unusable.
inline std::optional<failure> apply(const names_and_trust& in, const asio::any_io_executor& ex,
                                    h2coal::client_options& opts) {
  std::shared_ptr<h2coal::resolver> dns;
#if defined(H2COAL_HAS_CARES)
  if (in.dns_servers && (in.dns_servers->empty() || h2coal::cares_resolver::parse_servers(*in.dns_servers)))
    return failure{exit_code::usage, "--dns-servers: cannot parse '" + *in.dns_servers + "' (ADDR[:PORT][,ADDR[:PORT]...])"};
  h2coal::cares_options dns_options;
  dns_options.servers = in.dns_servers.value_or("");
  if (in.connect_timeout > 0) {
    // curl's --connect-timeout covers resolving too: two tries, the second twice as long, fit in it.
    dns_options.tries = 2;
    dns_options.timeout = std::max(std::chrono::milliseconds(1),
                                   std::chrono::milliseconds(static_cast<long long>(in.connect_timeout / 3 * 1000)));
  }
  dns = std::make_shared<h2coal::cares_resolver>(ex, dns_options);
#else
  if (in.dns_servers) return failure{exit_code::not_built_in, "--dns-servers: not built in (built without c-ares)"};
  dns = std::make_shared<h2coal::system_resolver>();
#endif
  auto resolver = std::make_shared<h2coal::static_resolver>(dns);
  for (const auto& spec : in.resolve)
    if (!resolver->add(spec)) return failure{exit_code::usage, "--resolve: cannot parse '" + spec + "' (HOST:PORT:ADDR[,ADDR...])"};
  opts.resolver = resolver;
  for (const auto& spec : in.connect_to) {
    auto rule = h2coal::connect_to_rule::parse(spec);
    if (!rule) return failure{exit_code::usage, "--connect-to: cannot parse '" + spec + "' (HOST1:PORT1:HOST2:PORT2)"};
    opts.connect_to.push_back(std::move(*rule));
  }
  // curl's environment: CURL_CA_BUNDLE stands for --cacert when none is given (SSL_CERT_FILE and
  // SSL_CERT_DIR reach OpenSSL's default store, the system trust, by themselves).
  std::string cacert = in.cacert;
  if (cacert.empty())
    if (const char* bundle = std::getenv("CURL_CA_BUNDLE"); bundle && *bundle) cacert = bundle;
  if (!cacert.empty()) {
    if (!readable(cacert)) return failure{exit_code::ca_file, "cannot read the CA file '" + cacert + "' (--cacert)"};
    opts.tls.ca_file = cacert;
    opts.tls.use_system_trust = false;  // curl's --cacert replaces the default store
  }
  return std::nullopt;
}

}  // namespace h2tools
