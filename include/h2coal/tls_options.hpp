// SPDX-License-Identifier: BSL-1.0
// h2coal/tls_options.hpp: the TLS settings of a client (no OpenSSL types: a light header).
#pragma once

#include <optional>
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

/// A TLS protocol version. TLS 1.2 is the floor for every connection (RFC 9113 section 9.2 for HTTP/2;
/// TLS 1.0 and 1.1 are deprecated by RFC 8996).
enum class tls_version : unsigned char {
  tls1_2,  ///< TLS 1.2 (RFC 5246)
  tls1_3,  ///< TLS 1.3 (RFC 8446)
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
  /// The oldest version a handshake may end with (curl --tlsv1.2, --tlsv1.3).
  tls_version min_version = tls_version::tls1_2;
  /// The newest version offered (curl --tls-max); none: the newest OpenSSL has. Below min_version the
  /// client cannot be made (error::invalid_option).
  std::optional<tls_version> max_version;
  /// TLS 1.2 cipher list in OpenSSL's syntax (curl --ciphers, "ECDHE-RSA-AES128-GCM-SHA256:..."); empty:
  /// OpenSSL's default. A list that names no cipher OpenSSL knows is error::invalid_option.
  std::string ciphers;
  /// TLS 1.3 cipher suites, colon-separated (curl --tls13-ciphers, "TLS_AES_128_GCM_SHA256"); empty:
  /// OpenSSL's default. error::invalid_option when none is known.
  std::string tls13_ciphers;

  /// Equal in every setting (one partition).
  friend bool operator==(const tls_options&, const tls_options&) = default;
};

}  // namespace h2coal
