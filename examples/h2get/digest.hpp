// SPDX-License-Identifier: BSL-1.0
// examples/h2get/digest.hpp: the body fingerprint --probe compares (SHA-256 through OpenSSL's EVP API).
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace h2get {

/// Lowercase hex SHA-256 of `data`.
inline std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return "?";
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 0xf];
  }
  return out;
}

}  // namespace h2get
