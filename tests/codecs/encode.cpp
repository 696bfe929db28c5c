// SPDX-License-Identifier: BSL-1.0
// tests/codecs/encode.cpp: test-side encoders for Content-Encoding bodies.
#include "codecs/encode.hpp"

#if defined(H2COAL_HAS_BROTLI)
#include <brotli/encode.h>
#endif
#if defined(H2COAL_HAS_ZLIB)
#include <zlib.h>
#endif
#if defined(H2COAL_HAS_ZSTD)
#include <zstd.h>
#endif

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace h2coal::test {
namespace {

[[noreturn, maybe_unused]] void not_built(const char* what) {
  throw std::runtime_error(std::string("tests/codecs: built without ") + what);
}

std::string deflate_with(std::string_view in, int window_bits) {
#if !defined(H2COAL_HAS_ZLIB)
  (void)in, (void)window_bits;
  not_built("zlib");
#else
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
#endif
}

}  // namespace

std::string gzip_encode(std::string_view in) { return deflate_with(in, 15 + 16); }
std::string zlib_encode(std::string_view in) { return deflate_with(in, 15); }
std::string raw_deflate_encode(std::string_view in) { return deflate_with(in, -15); }

std::string brotli_encode(std::string_view in) {
#if !defined(H2COAL_HAS_BROTLI)
  (void)in;
  not_built("libbrotli");
#else
  std::size_t size = BrotliEncoderMaxCompressedSize(in.size());
  if (size == 0) size = in.size() + 1024;
  std::string out(size, '\0');
  if (!BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, in.size(),
                             reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                             reinterpret_cast<std::uint8_t*>(out.data())))
    throw std::runtime_error("BrotliEncoderCompress");
  out.resize(size);
  return out;
#endif
}

std::string zstd_encode(std::string_view in) {
#if !defined(H2COAL_HAS_ZSTD)
  (void)in;
  not_built("libzstd");
#else
  std::string out(ZSTD_compressBound(in.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress");
  out.resize(n);
  return out;
#endif
}

std::string encode(std::string_view coding, std::string_view in) {
  if (coding == "gzip") return gzip_encode(in);
  if (coding == "deflate") return zlib_encode(in);
  if (coding == "raw-deflate") return raw_deflate_encode(in);
  if (coding == "br") return brotli_encode(in);
  if (coding == "zstd") return zstd_encode(in);
  throw std::invalid_argument("encode: unknown coding");
}

std::string gzip_zeros(std::size_t n) {
#if !defined(H2COAL_HAS_ZLIB)
  (void)n;
  not_built("zlib");
#else
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  std::vector<char> zeros(1 << 20, '\0');
  std::string out;
  char buf[1 << 16];
  std::size_t left = n;
  int flush = Z_NO_FLUSH;
  do {
    const std::size_t take = std::min(left, zeros.size());
    left -= take;
    flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    z.next_in = reinterpret_cast<Bytef*>(zeros.data());
    z.avail_in = static_cast<uInt>(take);
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      deflate(&z, flush);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
  } while (flush != Z_FINISH);
  deflateEnd(&z);
  return out;
#endif
}

}  // namespace h2coal::test
