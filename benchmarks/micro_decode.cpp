// SPDX-License-Identifier: BSL-1.0
// benchmarks/micro_decode.cpp: Content-Encoding decoding throughput (detail/content_decoder), per codec.
//
// About 1 MiB of JSON-like lines (what an API answers), compressed once with the codec's library at its
// usual server level (gzip/deflate 6, br 5, zstd 3), then decoded in 16 KiB writes (socket-sized reads)
// into a sink that only counts. Bytes processed are the decoded bytes, so the rate is decoded MiB/s.
#include <h2coal/detail/decoder.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#if defined(H2COAL_HAS_ZLIB)
#include <zlib.h>
#endif
#if defined(H2COAL_HAS_BROTLI)
#include <brotli/encode.h>
#endif
#if defined(H2COAL_HAS_ZSTD)
#include <zstd.h>
#endif

namespace {

using h2coal::detail::content_decoder;

// Lines with varied numbers and names, as a list endpoint returns; deterministic.
const std::string& text() {
  static const std::string t = [] {
    std::string s;
    std::uint32_t x = 12345;
    for (std::size_t i = 0; s.size() < (std::size_t{1} << 20); ++i) {
      x = x * 1103515245u + 12345u;
      s += "{\"id\":" + std::to_string(i) + ",\"user\":\"user" + std::to_string(x % 5000) +
           "\",\"score\":" + std::to_string((x >> 8) % 100000) + ",\"active\":" + ((x >> 3) & 1 ? "true" : "false") +
           ",\"tags\":[\"t" + std::to_string((x >> 12) % 40) + "\",\"t" + std::to_string((x >> 18) % 40) +
           "\"],\"created\":\"2024-05-" + std::to_string(10 + (x >> 20) % 18) + "T10:" +
           std::to_string(10 + (x >> 4) % 50) + ":00Z\"}\n";
    }
    return s;
  }();
  return t;
}

#if defined(H2COAL_HAS_ZLIB)
std::string zlib_compress(const std::string& in, int window_bits) {
  z_stream s{};
  deflateInit2(&s, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&s, static_cast<uLong>(in.size())), '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}
#endif

void decode(benchmark::State& state, std::string_view coding, const std::string& body) {
  std::string undecoded;
  std::size_t out = 0;
  auto sink = [&](std::string_view piece) {
    out += piece.size();
    return true;
  };
  for (auto _ : state) {
    auto d = content_decoder::make(coding, undecoded);
    if (!d) {
      state.SkipWithError("coding not built in");
      return;
    }
    for (std::size_t at = 0; at < body.size(); at += 16384)
      if (d->write(std::string_view(body).substr(at, 16384), sink)) state.SkipWithError("decoding failed");
    if (d->finish(sink)) state.SkipWithError("decoding failed");
    benchmark::DoNotOptimize(out);
  }
  if (out != text().size() * static_cast<std::size_t>(state.iterations())) state.SkipWithError("wrong size");
  state.SetBytesProcessed(static_cast<std::int64_t>(out));
  state.counters["ratio"] = static_cast<double>(text().size()) / static_cast<double>(body.size());
}

}  // namespace

#if defined(H2COAL_HAS_ZLIB)
static void BM_decode_gzip(benchmark::State& state) {
  static const std::string body = zlib_compress(text(), 15 + 16);
  decode(state, "gzip", body);
}
BENCHMARK(BM_decode_gzip);

static void BM_decode_deflate(benchmark::State& state) {
  static const std::string body = zlib_compress(text(), 15);
  decode(state, "deflate", body);
}
BENCHMARK(BM_decode_deflate);
#endif

#if defined(H2COAL_HAS_BROTLI)
static void BM_decode_br(benchmark::State& state) {
  static const std::string body = [] {
    std::string out(BrotliEncoderMaxCompressedSize(text().size()), '\0');
    std::size_t size = out.size();
    BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, text().size(),
                          reinterpret_cast<const std::uint8_t*>(text().data()), &size,
                          reinterpret_cast<std::uint8_t*>(out.data()));
    out.resize(size);
    return out;
  }();
  decode(state, "br", body);
}
BENCHMARK(BM_decode_br);
#endif

#if defined(H2COAL_HAS_ZSTD)
static void BM_decode_zstd(benchmark::State& state) {
  static const std::string body = [] {
    std::string out(ZSTD_compressBound(text().size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), text().data(), text().size(), 3));
    return out;
  }();
  decode(state, "zstd", body);
}
BENCHMARK(BM_decode_zstd);
#endif
