// SPDX-License-Identifier: BSL-1.0
// tests/support/test_ca.hpp: a throwaway certificate authority the tests make for themselves.
//
// Everything is generated in memory with the OpenSSL 3 API (EC P-256 keys, SHA-256 signatures); nothing is
// checked in or downloaded. Certificates are valid from an hour ago to a day from now, so clock skew between
// the moment of issue and the handshake never matters.
#pragma once

#include "support/temp_dir.hpp"

#include <string>
#include <vector>

namespace h2coal::test {

struct cert_pair {
  std::string cert_pem;  // leaf first; any further certificates are sent as the chain
  std::string key_pem;   // PKCS#8, unencrypted
};

class test_ca {
 public:
  // Self-signed root: CN "h2coal test CA", basicConstraints CA:TRUE, keyUsage keyCertSign + cRLSign.
  test_ca();
  test_ca(test_ca&&) noexcept = default;
  test_ca& operator=(test_ca&&) noexcept = default;

  // Server leaf signed by this CA: one SAN dNSName per `dns_names` entry (written as given, so wildcards
  // such as "*.a.test" work), one SAN iPAddress per `ip_addresses` entry (v4 or v6), CN = the first name,
  // extendedKeyUsage serverAuth.
  cert_pair issue(const std::vector<std::string>& dns_names,
                  const std::vector<std::string>& ip_addresses = {}) const;

  // Server leaf with a subject CN of its own and the SANs given (possibly none of a kind): for the rule
  // that a host name is only ever matched against dNSName SANs, never the CN (RFC 6125 section 6.4.4).
  cert_pair issue_named(const std::string& cn, const std::vector<std::string>& dns_names,
                        const std::vector<std::string>& ip_addresses) const;

  // Client leaf: CN = `cn`, extendedKeyUsage clientAuth, no SAN.
  cert_pair issue_client(const std::string& cn) const;

  const std::string& cert_pem() const { return cert_pem_; }

  // Path of a PEM file holding the CA certificate; the file lives in a private temporary directory that
  // goes away with this object.
  std::string ca_file() const { return ca_file_; }

 private:
  std::string cert_pem_;
  std::string key_pem_;
  temp_dir dir_;
  std::string ca_file_;
};

}  // namespace h2coal::test
