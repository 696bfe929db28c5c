// SPDX-License-Identifier: BSL-1.0
// examples/common/digest.hpp: the body fingerprint h2get --probe and h2audit compare
// (SHA-256 through OpenSSL's EVP API).
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace h2tools {

inline std::string hex(const unsigned char* md, unsigned int len) {
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 0xf];
  }
  return out;
}

/// Lowercase hex SHA-256 of `data`.
inline std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return "?";
  return hex(md, len);
}

/// SHA-256 of a body that streams past (--probe compares bodies that were never kept).
class sha256_stream {
 public:
  sha256_stream() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
      EVP_MD_CTX_free(ctx_);
      ctx_ = nullptr;
    }
  }
  sha256_stream(const sha256_stream&) = delete;
  sha256_stream& operator=(const sha256_stream&) = delete;
  ~sha256_stream() { EVP_MD_CTX_free(ctx_); }

  void update(std::string_view bytes) {
    if (ctx_ && EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1) {
      EVP_MD_CTX_free(ctx_);
      ctx_ = nullptr;
    }
  }
  /// The digest of everything given (once; "?" when OpenSSL failed).
  std::string hex_digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!ctx_ || EVP_DigestFinal_ex(ctx_, md, &len) != 1) return "?";
    EVP_MD_CTX_free(ctx_);
    ctx_ = nullptr;
    return hex(md, len);
  }

 private:
  EVP_MD_CTX* ctx_ = nullptr;
};

}  // namespace h2tools
