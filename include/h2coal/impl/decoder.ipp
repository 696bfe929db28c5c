// SPDX-License-Identifier: BSL-1.0
// h2coal/impl/decoder.ipp: the Content-Encoding decoders over zlib, libbrotli and libzstd.
//
// A decoder is a chain of stages, one per coding, in the order they are undone (the last coding applied
// first). Each stage owns one output buffer of piece_size bytes: it runs only when the next stage (or the
// sink) has taken everything in it, so the chain holds at most one piece per stage plus the codecs' own
// windows, whatever the compression ratio.
#pragma once

#include <h2coal/detail/decoder.hpp>
#include <h2coal/error.hpp>

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#if defined(H2COAL_HAS_ZLIB)
#include <zlib.h>
#endif
#if defined(H2COAL_HAS_BROTLI)
#include <brotli/decode.h>
#endif
#if defined(H2COAL_HAS_ZSTD)
#include <zstd.h>
#endif

namespace h2coal::detail {

namespace decoding {

// One codec's streaming state. run() decodes from [in, in + in_len) into out[produced, cap), advancing
// `in`, `in_len` and `produced`; it returns false for data not valid in the coding.
class codec {
 public:
  virtual ~codec() = default;
  virtual bool run(const std::uint8_t*& in, std::size_t& in_len, std::uint8_t* out, std::size_t cap,
                   std::size_t& produced) = 0;
  // The codec may have output left without more input (its last run filled the output buffer).
  virtual bool pending() const noexcept = 0;
  // At the end of the body: the stream ended properly, or no byte of it ever came (an empty body).
  virtual bool complete() const noexcept = 0;
};

#if defined(H2COAL_HAS_ZLIB)
// gzip (RFC 1952, several members), deflate as zlib (RFC 1950) or raw (RFC 1951).
class zlib_codec final : public codec {
 public:
  enum class format { gzip, deflate };

  explicit zlib_codec(format f) : gzip_(f == format::gzip) {
    // gzip is known now; deflate's wrapping is decided by its first two bytes.
    if (gzip_ && !init(15 + 16)) throw std::bad_alloc();
  }
  ~zlib_codec() override {
    if (inited_) inflateEnd(&strm_);
  }
  zlib_codec(const zlib_codec&) = delete;
  zlib_codec& operator=(const zlib_codec&) = delete;

  bool run(const std::uint8_t*& in, std::size_t& in_len, std::uint8_t* out, std::size_t cap,
           std::size_t& produced) override {
    if (in_len) started_ = true;
    if (!inited_) {
      // RFC 1950 section 2.2: CMF (method 8 in its low nibble) and FLG make a multiple of 31. Raw deflate
      // almost never looks like that (it would be a non-final stored block with non-zero padding bits).
      while (head_len_ < 2 && in_len) {
        head_[head_len_++] = *in++;
        --in_len;
      }
      if (head_len_ < 2) return true;
      const bool wrapped = (head_[0] * 256 + head_[1]) % 31 == 0 && (head_[0] & 0x0f) == 8;
      if (!init(wrapped ? 15 : -15)) throw std::bad_alloc();
      const std::uint8_t* h = head_;
      std::size_t h_len = 2;
      if (!inflate_some(h, h_len, out, cap, produced)) return false;
      if (h_len) return false;  // two bytes always fit: nothing is output before them
    }
    return inflate_some(in, in_len, out, cap, produced);
  }

  bool pending() const noexcept override { return pending_; }
  bool complete() const noexcept override { return ended_ || !started_; }

 private:
  bool init(int window_bits) {
    strm_ = z_stream{};
    if (inflateInit2(&strm_, window_bits) != Z_OK) return false;
    inited_ = true;
    return true;
  }

  bool inflate_some(const std::uint8_t*& in, std::size_t& in_len, std::uint8_t* out, std::size_t cap,
                    std::size_t& produced) {
    for (;;) {
      if (ended_) {
        if (!in_len) return true;
        if (!gzip_) return false;  // bytes after the end of a deflate stream
        // RFC 1952 section 2.2: members follow one another; each is a complete gzip stream.
        if (inflateReset(&strm_) != Z_OK) return false;
        ended_ = false;
      }
      if (produced == cap || (!in_len && !pending_)) return true;
      // zlib counts in uInt; a piece and any write we are given stay far below its range in practice,
      // but a huge input is fed in slices all the same.
      const uInt avail_in = static_cast<uInt>(std::min<std::size_t>(in_len, 1u << 30));
      strm_.next_in = const_cast<Bytef*>(in);
      strm_.avail_in = avail_in;
      strm_.next_out = out + produced;
      strm_.avail_out = static_cast<uInt>(cap - produced);
      const int rc = inflate(&strm_, Z_NO_FLUSH);
      const std::size_t used = avail_in - strm_.avail_in;
      in += used;
      in_len -= used;
      produced = cap - strm_.avail_out;
      pending_ = strm_.avail_out == 0;
      if (rc == Z_STREAM_END) {
        ended_ = true;
        pending_ = false;
      } else if (rc == Z_BUF_ERROR) {
        return true;  // no progress possible: needs input (or room)
      } else if (rc != Z_OK) {
        return false;  // Z_DATA_ERROR, Z_NEED_DICT (no preset dictionary in HTTP), Z_MEM_ERROR
      }
    }
  }

  z_stream strm_{};
  bool gzip_;
  bool inited_ = false;
  bool started_ = false;
  bool ended_ = false;
  bool pending_ = false;
  std::uint8_t head_[2]{};
  std::size_t head_len_ = 0;
};
#endif

#if defined(H2COAL_HAS_BROTLI)
// br (RFC 7932). One stream; nothing may follow it.
class brotli_codec final : public codec {
 public:
  brotli_codec() : state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (!state_) throw std::bad_alloc();
  }
  ~brotli_codec() override { BrotliDecoderDestroyInstance(state_); }
  brotli_codec(const brotli_codec&) = delete;
  brotli_codec& operator=(const brotli_codec&) = delete;

  bool run(const std::uint8_t*& in, std::size_t& in_len, std::uint8_t* out, std::size_t cap,
           std::size_t& produced) override {
    if (in_len) started_ = true;
    if (ended_) return in_len == 0;
    if (produced == cap || (!in_len && !pending_)) return true;
    std::size_t avail_out = cap - produced;
    std::uint8_t* next_out = out + produced;
    const auto r = BrotliDecoderDecompressStream(state_, &in_len, &in, &avail_out, &next_out, nullptr);
    produced = cap - avail_out;
    pending_ = r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
    if (r == BROTLI_DECODER_RESULT_ERROR) return false;
    if (r == BROTLI_DECODER_RESULT_SUCCESS) {
      ended_ = true;
      return in_len == 0;  // bytes after the end of the stream
    }
    return true;
  }

  bool pending() const noexcept override { return pending_; }
  bool complete() const noexcept override { return ended_ || !started_; }

 private:
  BrotliDecoderState* state_;
  bool started_ = false;
  bool ended_ = false;
  bool pending_ = false;
};
#endif

#if defined(H2COAL_HAS_ZSTD)
// zstd (RFC 8878): one or more frames (skippable ones included), one after another.
class zstd_codec final : public codec {
 public:
  zstd_codec() : ds_(ZSTD_createDStream()) {
    if (!ds_) throw std::bad_alloc();
    // RFC 9659: the zstd content coding's window is at most 8 MiB, which bounds the decoder's memory.
    ZSTD_DCtx_setParameter(ds_, ZSTD_d_windowLogMax, 23);
  }
  ~zstd_codec() override { ZSTD_freeDStream(ds_); }
  zstd_codec(const zstd_codec&) = delete;
  zstd_codec& operator=(const zstd_codec&) = delete;

  bool run(const std::uint8_t*& in, std::size_t& in_len, std::uint8_t* out, std::size_t cap,
           std::size_t& produced) override {
    if (in_len) started_ = true;
    // Called only with input or with output pending: libzstd fails a stream called again and again
    // without progress.
    while (produced < cap && (in_len || pending_)) {
      ZSTD_inBuffer ib{in, in_len, 0};
      ZSTD_outBuffer ob{out + produced, cap - produced, 0};
      const std::size_t r = ZSTD_decompressStream(ds_, &ob, &ib);
      if (ZSTD_isError(r)) return false;
      in += ib.pos;
      in_len -= ib.pos;
      produced += ob.pos;
      // 0: the frame is complete and flushed. Output filling the buffer exactly may leave more.
      frame_done_ = r == 0;
      pending_ = !frame_done_ && ob.pos == ob.size;
      if (!ib.pos && !ob.pos) break;
    }
    return true;
  }

  bool pending() const noexcept override { return pending_; }
  bool complete() const noexcept override { return frame_done_ || !started_; }

 private:
  ZSTD_DStream* ds_;
  bool started_ = false;
  bool frame_done_ = false;
  bool pending_ = false;
};
#endif

inline std::unique_ptr<codec> make_codec(std::string_view coding) {
#if defined(H2COAL_HAS_ZLIB)
  if (coding == "gzip" || coding == "x-gzip") return std::make_unique<zlib_codec>(zlib_codec::format::gzip);
  if (coding == "deflate") return std::make_unique<zlib_codec>(zlib_codec::format::deflate);
#endif
#if defined(H2COAL_HAS_BROTLI)
  if (coding == "br") return std::make_unique<brotli_codec>();
#endif
#if defined(H2COAL_HAS_ZSTD)
  if (coding == "zstd") return std::make_unique<zstd_codec>();
#endif
  (void)coding;
  return nullptr;
}

// The Accept-Encoding value, assembled at compile time from what is built in.
struct accept_text {
  char text[32]{};
  std::size_t size = 0;

  constexpr void add(std::string_view coding) {
    if (size) {
      text[size++] = ',';
      text[size++] = ' ';
    }
    for (char c : coding) text[size++] = c;
  }
};

constexpr accept_text make_accept_text() {
  accept_text t;
#if defined(H2COAL_HAS_ZLIB)
  t.add("gzip");
  t.add("deflate");
#endif
#if defined(H2COAL_HAS_BROTLI)
  t.add("br");
#endif
#if defined(H2COAL_HAS_ZSTD)
  t.add("zstd");
#endif
  return t;
}

inline constexpr accept_text accept_encoding_value = make_accept_text();

// RFC 9110 section 5.6.1: a list of tokens with optional whitespace; empty elements are allowed.
inline std::vector<std::string> parse_codings(std::string_view field) {
  std::vector<std::string> out;
  while (!field.empty()) {
    const auto comma = field.find(',');
    std::string_view item = field.substr(0, comma);
    field = comma == std::string_view::npos ? std::string_view{} : field.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty()) continue;
    std::string token(item);
    for (char& c : token)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (token != "identity") out.push_back(std::move(token));
  }
  return out;
}

}  // namespace decoding

struct content_decoder::impl {
  struct stage {
    std::unique_ptr<decoding::codec> codec;
    std::unique_ptr<std::uint8_t[]> out = std::make_unique<std::uint8_t[]>(piece_size);
    std::size_t out_pos = 0;  // out[out_pos, out_len) waits for the next stage or the sink
    std::size_t out_len = 0;

    bool holding() const noexcept { return out_pos != out_len; }
  };

  std::vector<stage> stages;  // in decoding order: stages[0] undoes the last coding applied
  std::string kept;           // the input not used yet when the sink stopped (the caller's is transient)
  std::string_view in;        // the input not used yet: the caller's, or a view of `kept`
  bool in_kept = false;       // `in` is a view of `kept`
  std::error_code failed;
  bool stopped = false;
  std::size_t decoded = 0;

  bool holds_anything() const noexcept {
    if (!in.empty()) return true;
    for (const auto& s : stages)
      if (s.holding() || s.codec->pending()) return true;
    return false;
  }

  std::error_code fail() {
    failed = make_error_code(error::decoding_failed);
    stopped = false;
    in = {};
    in_kept = false;
    std::string().swap(kept);
    return failed;
  }

  // Runs the chain until it can go no further or the sink stops it.
  std::error_code pump(const decoded_sink& sink) {
    stopped = false;
    for (;;) {
      bool moved = false;
      for (std::size_t i = 0; i < stages.size(); ++i) {
        auto& s = stages[i];
        if (s.holding()) continue;  // the next stage has not taken all of it yet
        s.out_pos = s.out_len = 0;
        const std::uint8_t* p;
        std::size_t n;
        if (i == 0) {
          p = reinterpret_cast<const std::uint8_t*>(in.data());
          n = in.size();
        } else {
          auto& prev = stages[i - 1];
          p = prev.out.get() + prev.out_pos;
          n = prev.out_len - prev.out_pos;
        }
        if (!n && !s.codec->pending()) continue;
        const std::size_t before = n;
        std::size_t produced = 0;
        if (!s.codec->run(p, n, s.out.get(), piece_size, produced)) return fail();
        const std::size_t used = before - n;
        if (i == 0)
          in.remove_prefix(used);
        else
          stages[i - 1].out_pos += used;
        s.out_len = produced;
        if (used || produced) moved = true;
      }
      auto& last = stages.back();
      if (last.holding()) {
        const std::string_view piece(reinterpret_cast<const char*>(last.out.get() + last.out_pos),
                                     last.out_len - last.out_pos);
        last.out_pos = last.out_len = 0;
        decoded += piece.size();
        if (!sink(piece)) {
          stopped = holds_anything();
          return {};
        }
        moved = true;
      }
      if (!moved) return {};
    }
  }

  // After a pump: what is left of the caller's input is copied, since the caller's buffer goes away.
  void keep_input() {
    if (in.empty()) {
      kept.clear();
      in = {};
      in_kept = false;
    } else if (!in_kept) {
      kept.assign(in);
      in = kept;
      in_kept = true;
    }
  }
};

H2COAL_DECL content_decoder::content_decoder(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}

H2COAL_DECL content_decoder::~content_decoder() = default;

H2COAL_DECL std::unique_ptr<content_decoder> content_decoder::make(std::string_view content_encoding,
                                                                   std::string& undecoded) {
  undecoded.clear();
  const auto codings = decoding::parse_codings(content_encoding);
  auto p = std::make_unique<impl>();
  // RFC 9110 section 8.4: listed in the order applied, so undone from the last.
  std::size_t left = codings.size();
  while (left) {
    auto c = decoding::make_codec(codings[left - 1]);
    if (!c) break;
    p->stages.push_back(impl::stage{std::move(c)});
    --left;
  }
  for (std::size_t i = 0; i < left; ++i) {
    if (i) undecoded += ", ";
    undecoded += codings[i];
  }
  if (p->stages.empty()) return nullptr;
  return std::unique_ptr<content_decoder>(new content_decoder(std::move(p)));
}

H2COAL_DECL std::string_view content_decoder::accept_encoding() noexcept {
  return {decoding::accept_encoding_value.text, decoding::accept_encoding_value.size};
}

H2COAL_DECL bool content_decoder::supports(std::string_view coding) noexcept {
  if (coding == "identity") return true;
#if defined(H2COAL_HAS_ZLIB)
  if (coding == "gzip" || coding == "x-gzip" || coding == "deflate") return true;
#endif
#if defined(H2COAL_HAS_BROTLI)
  if (coding == "br") return true;
#endif
#if defined(H2COAL_HAS_ZSTD)
  if (coding == "zstd") return true;
#endif
  return false;
}

H2COAL_DECL std::error_code content_decoder::write(std::string_view in, decoded_sink out) {
  auto& d = *impl_;
  if (d.failed) return d.failed;
  if (!d.in.empty()) {
    // Called while stopped (against the contract): keep both, in order, rather than lose either.
    std::string both(d.in);
    both.append(in);
    d.kept = std::move(both);
    d.in = d.kept;
    d.in_kept = true;
  } else {
    d.in = in;
    d.in_kept = false;
  }
  if (auto ec = d.pump(out)) return ec;
  d.keep_input();
  return {};
}

H2COAL_DECL std::error_code content_decoder::resume(decoded_sink out) {
  auto& d = *impl_;
  if (d.failed) return d.failed;
  if (auto ec = d.pump(out)) return ec;
  d.keep_input();
  return {};
}

H2COAL_DECL bool content_decoder::stopped() const noexcept { return impl_->stopped; }

H2COAL_DECL std::error_code content_decoder::finish(decoded_sink out) {
  auto& d = *impl_;
  if (d.failed) return d.failed;
  if (auto ec = d.pump(out)) return ec;
  d.keep_input();
  if (d.stopped) return {};
  for (const auto& s : d.stages)
    if (!s.codec->complete()) return d.fail();  // a truncated body
  return {};
}

H2COAL_DECL std::size_t content_decoder::decoded_bytes() const noexcept { return impl_->decoded; }

}  // namespace h2coal::detail
