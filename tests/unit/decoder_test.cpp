// SPDX-License-Identifier: BSL-1.0
// tests/unit/decoder_test.cpp: the streaming Content-Encoding decoder (gzip, deflate, br, zstd).
//
// The compressed inputs are made with the same libraries' encoders (tests/codecs).
#include "catch.hpp"
#include "codecs/encode.hpp"

#include <h2coal/detail/decoder.hpp>
#include <h2coal/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#if defined(H2COAL_HAS_ZSTD)
#include <zstd.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

using h2coal::error;
using h2coal::detail::content_decoder;

namespace {

// About 3 KB of text that compresses like a typical JSON body.
std::string sample_text(std::size_t lines = 40) {
  std::string s;
  for (std::size_t i = 0; i < lines; ++i)
    s += "{\"id\":" + std::to_string(i * 7919 % 1000) + ",\"name\":\"item-" + std::to_string(i) +
         "\",\"tags\":[\"a\",\"b\"],\"ok\":" + (i % 3 ? "true" : "false") + "}\n";
  return s;
}

// The encoders of tests/codecs (zlib, libbrotlienc, libzstd), under the names this file uses.
std::string gzip(std::string_view in) { return h2coal::test::gzip_encode(in); }
std::string zlib_deflate(std::string_view in) { return h2coal::test::zlib_encode(in); }
std::string raw_deflate(std::string_view in) { return h2coal::test::raw_deflate_encode(in); }
std::string brotli(std::string_view in) { return h2coal::test::brotli_encode(in); }
std::string zstd(std::string_view in) { return h2coal::test::zstd_encode(in); }

std::unique_ptr<content_decoder> make(std::string_view field) {
  std::string undecoded;
  auto d = content_decoder::make(field, undecoded);
  INFO(field);
  REQUIRE(d);
  CHECK(undecoded.empty());
  return d;
}

// Feeds `pieces` one write each, then finishes; every sink call must be within piece_size.
struct result {
  std::string out;
  std::error_code ec;
};

result decode(content_decoder& d, const std::vector<std::string_view>& pieces) {
  result r;
  auto sink = [&](std::string_view p) {
    CHECK(p.size() <= content_decoder::piece_size);
    r.out.append(p);
    return true;
  };
  for (auto p : pieces) {
    r.ec = d.write(p, sink);
    if (r.ec) return r;
    CHECK(!d.stopped());
  }
  r.ec = d.finish(sink);
  CHECK(!d.stopped());
  return r;
}

result decode(std::string_view field, std::string_view body) { return decode(*make(field), {body}); }

// The same, with a sink that stops after every piece: each call is resumed until nothing is kept.
result decode_stopping(std::string_view field, std::string_view body, std::size_t chunk) {
  auto d = make(field);
  result r;
  std::size_t calls = 0;
  auto sink = [&](std::string_view p) {
    ++calls;
    CHECK(p.size() <= content_decoder::piece_size);
    r.out.append(p);
    return false;
  };
  auto drain = [&] {
    for (int guard = 0; d->stopped() && !r.ec && guard < 1000000; ++guard) r.ec = d->resume(sink);
  };
  for (std::size_t at = 0; at < body.size() && !r.ec; at += chunk) {
    // The caller's buffer is transient: overwrite it once the decoder returns.
    std::string piece(body.substr(at, chunk));
    r.ec = d->write(piece, sink);
    piece.assign(piece.size(), '\xAA');
    drain();
  }
  while (!r.ec) {
    r.ec = d->finish(sink);
    if (!d->stopped()) break;
  }
  CHECK(d->decoded_bytes() == r.out.size());
  return r;
}

struct named_case {
  std::string field;
  std::string body;
};

std::vector<named_case> all_cases([[maybe_unused]] const std::string& text) {
  std::vector<named_case> v;
#if defined(H2COAL_HAS_ZLIB)
  v.push_back({"gzip", gzip(text)});
  v.push_back({"deflate", zlib_deflate(text)});
  v.push_back({"deflate", raw_deflate(text)});
#endif
#if defined(H2COAL_HAS_BROTLI)
  v.push_back({"br", brotli(text)});
#endif
#if defined(H2COAL_HAS_ZSTD)
  v.push_back({"zstd", zstd(text)});
#endif
#if defined(H2COAL_HAS_ZLIB) && defined(H2COAL_HAS_BROTLI)
  v.push_back({"gzip, br", brotli(gzip(text))});
#endif
#if defined(H2COAL_HAS_ZLIB) && defined(H2COAL_HAS_ZSTD)
  v.push_back({"deflate, zstd", zstd(raw_deflate(text))});
#endif
  return v;
}

}  // namespace

TEST_CASE("decoder: every codec round trips", "[decoder]") {
  const auto text = sample_text(400);  // ~30 KB: more than one output piece
  for (const auto& c : all_cases(text)) {
    INFO(c.field);
    auto r = decode(c.field, c.body);
    CHECK(!r.ec);
    CHECK(r.out == text);
  }
}

TEST_CASE("decoder: output of exactly a whole number of pieces", "[decoder]") {
  // The last piece fills the buffer: no codec may take the end for more to come.
  std::string text = sample_text(2000).substr(0, 4 * content_decoder::piece_size);
  REQUIRE(text.size() == 4 * content_decoder::piece_size);
  for (const auto& c : all_cases(text)) {
    INFO(c.field);
    auto r = decode(c.field, c.body);
    CHECK(!r.ec);
    CHECK(r.out == text);
    CHECK(decode_stopping(c.field, c.body, 100).out == text);
  }
}

TEST_CASE("decoder: deflate both zlib-wrapped (RFC 1950) and raw (RFC 1951)", "[decoder]") {
#if defined(H2COAL_HAS_ZLIB)
  const auto text = sample_text();
  const auto wrapped = zlib_deflate(text);
  const auto raw = raw_deflate(text);
  REQUIRE((static_cast<unsigned char>(wrapped[0]) * 256 + static_cast<unsigned char>(wrapped[1])) % 31 == 0);
  CHECK(decode("deflate", wrapped).out == text);
  CHECK(decode("deflate", raw).out == text);
  SECTION("one byte at a time, so the format is told from two writes") {
    for (const auto* body : {&wrapped, &raw}) {
      auto d = make("deflate");
      std::vector<std::string_view> pieces;
      for (std::size_t i = 0; i < body->size(); ++i) pieces.push_back(std::string_view(*body).substr(i, 1));
      auto r = decode(*d, pieces);
      CHECK(!r.ec);
      CHECK(r.out == text);
    }
  }
  SECTION("an empty stream in either form") {
    CHECK(decode("deflate", zlib_deflate("")).out.empty());
    CHECK(!decode("deflate", raw_deflate("")).ec);
  }
#endif
}

TEST_CASE("decoder: gzip with two members, x-gzip the same", "[decoder]") {
#if defined(H2COAL_HAS_ZLIB)
  const auto a = sample_text(10);
  const std::string b = "and a second member\n";
  const auto body = gzip(a) + gzip(b);
  auto r = decode("gzip", body);
  CHECK(!r.ec);
  CHECK(r.out == a + b);
  CHECK(decode("x-gzip", body).out == a + b);
  SECTION("the second member arriving in a later write") {
    auto d = make("gzip");
    const auto first = gzip(a);
    auto r2 = decode(*d, {first, gzip(b)});
    CHECK(!r2.ec);
    CHECK(r2.out == a + b);
  }
#endif
}

TEST_CASE("decoder: zstd with several frames", "[decoder]") {
#if defined(H2COAL_HAS_ZSTD)
  auto r = decode("zstd", zstd("one ") + zstd("two ") + zstd("three"));
  CHECK(!r.ec);
  CHECK(r.out == "one two three");
#endif
}

TEST_CASE("decoder: a chain of codings is undone from the last applied", "[decoder]") {
#if defined(H2COAL_HAS_ZLIB) && defined(H2COAL_HAS_BROTLI) && defined(H2COAL_HAS_ZSTD)
  const auto text = sample_text(200);
  CHECK(decode("gzip, br", brotli(gzip(text))).out == text);
  CHECK(decode("deflate, zstd", zstd(zlib_deflate(text))).out == text);
  CHECK(decode("br, zstd, gzip", gzip(zstd(brotli(text)))).out == text);
  SECTION("the wrong order is corrupt data") {
    CHECK(decode("br, gzip", brotli(gzip(text))).ec == error::decoding_failed);
  }
#endif
}

TEST_CASE("decoder: every input split at every byte boundary, and one byte at a time", "[decoder]") {
  const auto text = sample_text();  // ~3 KB
  for (const auto& c : all_cases(text)) {
    INFO(c.field << ", " << c.body.size() << " bytes");
    const std::string_view body = c.body;
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
      INFO("cut at " << cut);
      auto r = decode(*make(c.field), {body.substr(0, cut), body.substr(cut)});
      REQUIRE(!r.ec);
      REQUIRE(r.out == text);
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < body.size(); ++i) bytes.push_back(body.substr(i, 1));
    auto r = decode(*make(c.field), bytes);
    CHECK(!r.ec);
    CHECK(r.out == text);
  }
}

TEST_CASE("decoder: a sink that stops after every piece gets the same output through resume", "[decoder]") {
  const auto text = sample_text(2000);  // ~150 KB: many pieces
  for (const auto& c : all_cases(text)) {
    for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{1000}, std::size_t{7}}) {
      INFO(c.field << " in writes of " << chunk);
      auto r = decode_stopping(c.field, c.body, chunk);
      CHECK(!r.ec);
      CHECK(r.out == text);
    }
  }
}

TEST_CASE("decoder: a decompression bomb streams out in bounded pieces with flat memory", "[decoder]") {
#if defined(H2COAL_HAS_ZLIB)
  SECTION("gzip: 64 MiB of zeros from about 64 KB, decoded completely") {
    const std::string body = h2coal::test::gzip_zeros(std::size_t(64) << 20);
    CHECK(body.size() < 100 * 1024);
    auto d = make("gzip");
    std::size_t total = 0, largest = 0;
    bool all_zero = true;
    auto sink = [&](std::string_view p) {
      total += p.size();
      largest = std::max(largest, p.size());
      all_zero = all_zero && p.find_first_not_of('\0') == std::string_view::npos;
      return true;
    };
    CHECK(!d->write(body, sink));
    CHECK(!d->finish(sink));
    CHECK(total == std::size_t{64} << 20);
    CHECK(largest == content_decoder::piece_size);
    CHECK(all_zero);
  }
#endif
#if defined(H2COAL_HAS_ZSTD)
  SECTION("zstd: 1 GiB of zeros from a few KB, stopped after 64 MiB, memory flat") {
    ZSTD_CCtx* cc = ZSTD_createCCtx();
    REQUIRE(cc);
    std::string zeros(1 << 20, '\0');
    std::string body;
    std::string buf(ZSTD_CStreamOutSize(), '\0');
    for (int i = 0; i < 1024; ++i) {
      ZSTD_inBuffer ib{zeros.data(), zeros.size(), 0};
      const auto mode = i == 1023 ? ZSTD_e_end : ZSTD_e_continue;
      std::size_t left;
      do {
        ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
        left = ZSTD_compressStream2(cc, &ob, &ib, mode);
        REQUIRE(!ZSTD_isError(left));
        body.append(buf.data(), ob.pos);
      } while (ib.pos < ib.size || (mode == ZSTD_e_end && left != 0));
    }
    ZSTD_freeCCtx(cc);
    INFO("the bomb is " << body.size() << " bytes");
    CHECK(body.size() < 64 * 1024);

    auto d = make("zstd");
    std::size_t total = 0, largest = 0;
    const std::size_t stop_at = std::size_t{64} << 20;
#if defined(__GLIBC__)
    std::size_t heap_at_first_piece = 0, heap_max = 0;
#endif
    auto sink = [&](std::string_view p) {
      total += p.size();
      largest = std::max(largest, p.size());
#if defined(__GLIBC__)
      const auto heap = mallinfo2().uordblks;
      if (!heap_at_first_piece) heap_at_first_piece = heap;
      heap_max = std::max(heap_max, heap);
#endif
      return total < stop_at;
    };
    // Fed in 1 KiB writes, as a socket would; the sink stops the decoder after 64 MiB.
    const std::string_view whole = body;
    std::size_t at = 0;
    for (; at < whole.size() && total < stop_at; at += 1024) REQUIRE(!d->write(whole.substr(at, 1024), sink));
    CHECK(d->stopped());
    CHECK(total == stop_at);
    CHECK(d->decoded_bytes() == stop_at);
    CHECK(largest == content_decoder::piece_size);
#if defined(__GLIBC__)
    // Nothing accumulates: the heap in use while 64 MiB went through grew by less than 1 MiB.
    CHECK(heap_max - heap_at_first_piece < (std::size_t{1} << 20));
#endif
    // Resumed and fed to the end: 1 GiB in all, still in pieces of at most piece_size.
    auto count = [&](std::string_view p) {
      total += p.size();
      largest = std::max(largest, p.size());
      return true;
    };
    REQUIRE(!d->resume(count));
    CHECK(!d->stopped());
    for (; at < whole.size(); at += 1024) REQUIRE(!d->write(whole.substr(at, 1024), count));
    REQUIRE(!d->finish(count));
    CHECK(total == std::size_t{1} << 30);
    CHECK(largest == content_decoder::piece_size);
  }
#endif
}

TEST_CASE("decoder: a truncated stream fails at finish", "[decoder]") {
  const auto text = sample_text();
  for (const auto& c : all_cases(text)) {
    for (std::size_t keep : {std::size_t{1}, c.body.size() / 2, c.body.size() - 1}) {
      INFO(c.field << " cut to " << keep << " of " << c.body.size());
      auto d = make(c.field);
      auto sink = [](std::string_view) { return true; };
      CHECK(!d->write(std::string_view(c.body).substr(0, keep), sink));
      CHECK(d->finish(sink) == error::decoding_failed);
      // After an error, every call fails the same way.
      CHECK(d->write("x", sink) == error::decoding_failed);
      CHECK(d->resume(sink) == error::decoding_failed);
      CHECK(d->finish(sink) == error::decoding_failed);
    }
  }
}

TEST_CASE("decoder: an empty body is an empty result", "[decoder]") {
  // Servers send an empty body with Content-Encoding (HEAD-like answers, empty 200s): nothing to undo.
  for (const auto& c : all_cases("x")) {
    INFO(c.field);
    auto r = decode(*make(c.field), {});
    CHECK(!r.ec);
    CHECK(r.out.empty());
  }
}

TEST_CASE("decoder: corrupt bytes fail", "[decoder]") {
  const auto text = sample_text(100);
  for (const auto& c : all_cases(text)) {
    INFO(c.field);
    std::string bad = c.body;
    // Flip bits through the middle of the stream (and in the header).
    for (std::size_t i = 0; i < 16; ++i) bad[i * bad.size() / 16] = static_cast<char>(bad[i * bad.size() / 16] ^ 0x5a);
    CHECK(decode(c.field, bad).ec == error::decoding_failed);
  }
  for (const auto& c : all_cases(text)) {
    INFO(c.field);
    CHECK(decode(c.field, "this is not compressed at all").ec == error::decoding_failed);
  }
}

TEST_CASE("decoder: bytes after a complete stream fail", "[decoder]") {
  const auto text = sample_text(10);
  for (const auto& c : all_cases(text)) {
    for (std::string_view garbage : {std::string_view("\0", 1), std::string_view("garbage after the end")}) {
      INFO(c.field << " + " << garbage.size() << " bytes");
      CHECK(decode(c.field, c.body + std::string(garbage)).ec == error::decoding_failed);
      // The same in a later write.
      auto r = decode(*make(c.field), {c.body, garbage});
      CHECK(r.ec == error::decoding_failed);
    }
  }
}

TEST_CASE("decoder: make() names the codings it leaves in the body", "[decoder]") {
  std::string undecoded = "stale";
  CHECK(!content_decoder::make("", undecoded));
  CHECK(undecoded.empty());
  CHECK(!content_decoder::make("identity", undecoded));
  CHECK(undecoded.empty());
  CHECK(!content_decoder::make("foo", undecoded));
  CHECK(undecoded == "foo");
  CHECK(!content_decoder::make("Gzip, FOO", undecoded));
  CHECK(undecoded == "gzip, foo");
  CHECK(content_decoder::supports("identity"));
  CHECK(!content_decoder::supports("compress"));
#if defined(H2COAL_HAS_ZLIB)
  SECTION("the codings before an unknown one stay, those after it are decoded") {
    auto d = content_decoder::make("foo, gzip", undecoded);
    REQUIRE(d);
    CHECK(undecoded == "foo");
    CHECK(decode(*d, {gzip("bar")}).out == "bar");
  }
  SECTION("identity is skipped, case and spaces are tolerated") {
    auto d = content_decoder::make("  IDENTITY ,\tGZip , identity,,", undecoded);
    REQUIRE(d);
    CHECK(undecoded.empty());
    CHECK(decode(*d, {gzip("bar")}).out == "bar");
    CHECK(content_decoder::supports("gzip"));
    CHECK(content_decoder::supports("x-gzip"));
    CHECK(content_decoder::supports("deflate"));
  }
#endif
}

TEST_CASE("decoder: accept_encoding() lists what is built in", "[decoder]") {
  std::string want;
  auto add = [&](const char* c) { want += want.empty() ? c : std::string(", ") + c; };
#if defined(H2COAL_HAS_ZLIB)
  add("gzip");
  add("deflate");
#endif
#if defined(H2COAL_HAS_BROTLI)
  add("br");
#endif
#if defined(H2COAL_HAS_ZSTD)
  add("zstd");
#endif
  (void)add;
  CHECK(content_decoder::accept_encoding() == want);
#if defined(H2COAL_HAS_ZLIB) && defined(H2COAL_HAS_BROTLI) && defined(H2COAL_HAS_ZSTD)
  CHECK(content_decoder::accept_encoding() == "gzip, deflate, br, zstd");
#endif
}
