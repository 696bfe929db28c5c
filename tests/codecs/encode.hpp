// SPDX-License-Identifier: BSL-1.0
// tests/codecs/encode.hpp: the encoders tests make Content-Encoding bodies with (zlib, libbrotli,
// libzstd, the same libraries the decoders use), compiled once as h2coal_test_codecs.
#pragma once

#include <string>
#include <string_view>

namespace h2coal::test {

std::string gzip_encode(std::string_view in);         // RFC 1952, one member
std::string zlib_encode(std::string_view in);         // RFC 1950: what `deflate` names
std::string raw_deflate_encode(std::string_view in);  // RFC 1951: what some servers send as `deflate`
std::string brotli_encode(std::string_view in);       // RFC 7932
std::string zstd_encode(std::string_view in);         // RFC 8878, one frame
/// `coding` is gzip, deflate (zlib-wrapped), raw-deflate, br or zstd.
std::string encode(std::string_view coding, std::string_view in);
/// `n` zero bytes, gzip-encoded, made a piece at a time (a decompression bomb of n bytes).
std::string gzip_zeros(std::size_t n);

}  // namespace h2coal::test
