// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_decoder.cpp: detail::content_decoder on arbitrary bodies, fed in pieces, with pauses.
//
// The first byte picks the Content-Encoding chain, the second the write size and how often the sink
// pauses; the rest is the body. No crash, every output piece within piece_size, decoded_bytes() equal to
// what the sink saw, and an error stays. The sink stops taking after 16 MiB (bombs: the point is that
// they arrive in bounded pieces, not how long they take).
#include <h2coal/detail/decoder.hpp>
#include <h2coal/error.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view chains[] = {
    "gzip", "deflate", "br", "zstd", "x-gzip", "gzip, br", "deflate, zstd", "br, gzip",
    "zstd, deflate, gzip", "identity, br", "BR , zstd", "gzip, gzip",
};
constexpr std::size_t output_cap = std::size_t{16} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto chain = chains[data[0] % std::size(chains)];
  const std::size_t write_size = 1 + (data[1] & 0x3f) * (data[1] & 0x40 ? 97 : 1);
  const unsigned pause_every = data[1] >> 7 ? 1 : 0;  // 1: the sink pauses after every piece
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  std::string undecoded;
  auto d = h2coal::detail::content_decoder::make(chain, undecoded);
  if (!d) return 0;  // a build without that codec

  std::size_t seen = 0;
  bool full = false;
  auto sink = [&](std::string_view piece) {
    if (piece.size() > h2coal::detail::content_decoder::piece_size || piece.empty()) std::abort();
    seen += piece.size();
    if (seen >= output_cap) full = true;
    return !full && !pause_every;
  };
  auto drain = [&]() -> std::error_code {
    std::error_code ec;
    while (!ec && d->stopped() && !full) ec = d->resume(sink);
    return ec;
  };

  std::error_code ec;
  for (std::size_t at = 0; at < body.size() && !ec && !full; at += write_size) {
    // A copy the decoder must not keep pointing into.
    std::string piece(body.substr(at, write_size));
    ec = d->write(piece, sink);
    piece.assign(piece.size(), '\x5a');
    if (!ec) ec = drain();
  }
  while (!ec && !full) {
    ec = d->finish(sink);
    if (!d->stopped()) break;
  }
  if (d->decoded_bytes() != seen) std::abort();
  if (ec) {
    if (ec != h2coal::error::decoding_failed) std::abort();
    if (d->write("x", sink) != ec || d->resume(sink) != ec || d->finish(sink) != ec) std::abort();
  }
  return 0;
}
