// h2coal/tls_options.hpp: the TLS settings of a client (no OpenSSL types: a light header).
#pragma once

#include <string>

namespace h2coal {

struct tls_options {
  bool insecure = false;            ///< no verification at all (curl -k); turns coalescing off
  bool use_system_trust = true;     ///< the system's default CA store
  std::string ca_file;              ///< an extra PEM file of trusted CAs (curl --cacert)
  std::string client_cert_file;     ///< PEM client certificate (curl -E)
  std::string client_key_file;      ///< its key (curl --key); the certificate file when empty
  /// A user verifier: the pool cannot re-run it for another host, so its presence turns coalescing off.
  bool has_custom_verifier = false;

  friend bool operator==(const tls_options&, const tls_options&) = default;
};

}  // namespace h2coal
