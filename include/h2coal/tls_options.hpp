// SPDX-License-Identifier: BSL-1.0
// h2coal/tls_options.hpp: the TLS settings of a client (no OpenSSL types: a light header).
#pragma once

#include <string>
#include <vector>

namespace h2coal {

/// Public-key pins for the hosts a pattern names (as policy_map's: "host", "*.domain", "*"), in curl's
/// --pinnedpubkey syntax: "sha256//BASE64[;sha256//BASE64...]" (the SHA-256 of the leaf's
/// SubjectPublicKeyInfo, base64).
struct public_key_pin {
  /// The hosts the pins apply to: "host", "*.domain" or "*".
  std::string host_pattern;
  /// "sha256//BASE64[;sha256//BASE64...]": the leaf's key must match one of them.
  std::string pins;

  /// Equal patterns and pins.
  friend bool operator==(const public_key_pin&, const public_key_pin&) = default;
};

/// The TLS settings of a client (client_options::tls) or of an https:// proxy (proxy_server::tls).
///
/// They are part of the partition: connections made with different settings are never shared. Trust is the
/// system store (use_system_trust) plus ca_file when set; see docs/tls.md.
struct tls_options {
  bool insecure = false;            ///< no verification at all (curl -k); turns coalescing off
  bool use_system_trust = true;     ///< the system's default CA store
  std::string ca_file;              ///< an extra PEM file of trusted CAs (curl --cacert)
  std::string client_cert_file;     ///< PEM client certificate (curl -E)
  std::string client_key_file;      ///< its key (curl --key); the certificate file when empty
  /// A user verifier: the pool cannot re-run it for another host, so its presence turns coalescing off.
  bool has_custom_verifier = false;
  /// Resume TLS sessions (RFC 8446 section 2.2): one cache per client, keyed by (SNI host, port).
  bool session_resumption = true;
  /// Checked at every handshake for its SNI host, and again for every host coalesced onto a connection
  /// (the most specific pattern for that host applies): pins do not turn coalescing off.
  std::vector<public_key_pin> pinned_public_keys;

  /// Equal in every setting (one partition).
  friend bool operator==(const tls_options&, const tls_options&) = default;
};

}  // namespace h2coal
