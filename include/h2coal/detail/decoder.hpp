// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/decoder.hpp: streaming Content-Encoding decoders (gzip, deflate, br, zstd).
//
// A light header: the codecs (zlib, libbrotli, libzstd) are seen only by impl/decoder.ipp, inline in
// header-only mode and compiled once through <h2coal/src.hpp> with H2COAL_SEPARATE_COMPILATION. Each
// codec is optional (CMake options H2COAL_WITH_ZLIB, H2COAL_WITH_BROTLI, H2COAL_WITH_ZSTD define
// H2COAL_HAS_ZLIB, H2COAL_HAS_BROTLI, H2COAL_HAS_ZSTD).
#pragma once

#include <h2coal/config.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace h2coal::detail {

/// Where decoded bytes go: called with pieces of at most content_decoder::piece_size bytes. Returning
/// false stops the decoder (the sink paused, or will take no more); it keeps what it did not give.
class decoded_sink {
 public:
  // Constrained, or it would be preferred over the copy constructor for a non-const decoded_sink.
  template <class F>
    requires(!std::is_same_v<std::remove_cv_t<F>, decoded_sink>)
  decoded_sink(F& f) noexcept  // NOLINT: a view of a callable that outlives the call it is passed to
      : obj_(&f), call_([](void* o, std::string_view piece) { return (*static_cast<F*>(o))(piece); }) {}
  bool operator()(std::string_view piece) const { return call_(obj_, piece); }

 private:
  void* obj_;
  bool (*call_)(void*, std::string_view);
};

/// Decodes a response body encoded with the codings of its Content-Encoding field, as it arrives.
///
/// Codings are listed in the order they were applied (RFC 9110 section 8.4), so they are undone from the
/// last. `identity` is skipped. Decoding stops at the first coding (from the end) this build cannot undo:
/// the body is then passed on still encoded with the codings before it and those are named by
/// `undecoded()`. `deflate` accepts both the zlib format (RFC 1950, as the RFC says) and raw deflate
/// (RFC 1951, as some servers send), told apart by the first two bytes. gzip accepts several members one
/// after another (RFC 1952 section 2.2). Memory stays bounded whatever the ratio: output is given in
/// pieces as it is made, never accumulated.
class content_decoder {
 public:
  /// Output pieces are at most this large.
  static constexpr std::size_t piece_size = 16 * 1024;

  /// A decoder for a Content-Encoding field value (a comma-separated list, any case, with spaces).
  /// Null when there is nothing this build can decode (absent, `identity` only, or the last coding is
  /// unknown): the body passes through as received. `undecoded` receives the codings left in the body
  /// (lowercase, ", "-separated, in the order applied; empty when everything is decoded).
  H2COAL_DECL static std::unique_ptr<content_decoder> make(std::string_view content_encoding,
                                                           std::string& undecoded);

  /// The Accept-Encoding value for what this build decodes: "gzip, deflate, br, zstd" when all are built
  /// in; empty when none is.
  H2COAL_DECL static std::string_view accept_encoding() noexcept;

  /// Whether this build decodes `coding` (a lowercase token: gzip, x-gzip, deflate, br, zstd, identity).
  H2COAL_DECL static bool supports(std::string_view coding) noexcept;

  H2COAL_DECL ~content_decoder();
  content_decoder(const content_decoder&) = delete;
  content_decoder& operator=(const content_decoder&) = delete;

  /// Decodes `in`, giving the output to `out`. When `out` returns false, the decoder keeps (copies) the
  /// input it has not used yet and the output it has not given, and returns: stopped() is then true and
  /// resume() goes on. Must not be called while stopped(). Returns error::decoding_failed for data that
  /// is not valid in the coding (and for bytes after the end of a complete stream, other than further
  /// gzip members); after an error, every call fails.
  H2COAL_DECL std::error_code write(std::string_view in, decoded_sink out);

  /// Goes on after `out` returned false: gives what was kept, as far as `out` takes it.
  H2COAL_DECL std::error_code resume(decoded_sink out);

  /// The last call stopped because `out` returned false, with input or output still kept.
  H2COAL_DECL bool stopped() const noexcept;

  /// The encoded body ended: gives any output still held back and checks that every coding's stream was
  /// complete (error::decoding_failed for a truncated body). May stop like write(); call it again (after
  /// resume()) until it returns with stopped() false.
  H2COAL_DECL std::error_code finish(decoded_sink out);

  /// Decoded bytes given to `out` so far.
  H2COAL_DECL std::size_t decoded_bytes() const noexcept;

  struct impl;

 private:
  explicit content_decoder(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

}  // namespace h2coal::detail

#if defined(H2COAL_HEADER_ONLY)
#include <h2coal/impl/decoder.ipp>
#endif
