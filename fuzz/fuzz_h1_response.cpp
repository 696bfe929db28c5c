// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_h1_response.cpp: the HTTP/1.1 response path (detail::h1_engine over llhttp) on arbitrary bytes.
//
// The first input byte picks the mode (HEAD or not) and how the rest is cut into pieces, as reads from a
// socket would cut it; the engine then sees a sequence of responses (keep-alive), each started with
// begin_response as the connection does, and finally the end of the stream. It must not crash, must keep
// to the header and body limits the listener enforces, and must never report a response complete twice.
#include <h2coal/detail/h1_engine.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

constexpr std::size_t max_header_bytes = 8 * 1024;
constexpr std::size_t max_body = 64 * 1024;

struct listener final : h2coal::detail::h1_listener {
  std::size_t header_bytes = 0;
  std::size_t body = 0;
  int status = 0;
  int completes = 0;
  bool on_h1_header(std::string_view name, std::string_view value) override {
    header_bytes += name.size() + value.size() + 32;
    return header_bytes <= max_header_bytes;
  }
  void on_h1_headers_end(int s) override {
    if (s < 100 || s > 999) std::abort();
    status = s;
  }
  h1_listener::data_result on_h1_data(const char*, std::size_t len) override {
    body += len;
    if (body > max_body) return data_result::abort;
    // The input's mode asks for a pause after some pieces: the parser must stop right after them and go
    // on where it stopped.
    return pause_every && ++pieces % pause_every == 0 ? data_result::pause : data_result::more;
  }
  unsigned pause_every = 0;
  unsigned pieces = 0;
  void on_h1_complete() override { ++completes; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const char* p = reinterpret_cast<const char*>(data + 1);
  std::size_t left = size - 1;
  const std::size_t piece = 1 + (mode >> 1) % 64;  // 1..64 bytes per read

  listener l;
  const unsigned pause_every = (mode >> 7) ? 1 + (mode >> 1) % 3 : 0;
  l.pause_every = pause_every;
  h2coal::detail::h1_engine engine(l, max_header_bytes);
  engine.begin_response((mode & 1) != 0);
  int responses = 0;
  while (left > 0) {
    std::size_t n = std::min(piece, left);
    std::size_t used = 0;
    auto ec = engine.feed(p, n, used);
    if (used > n) std::abort();
    if (ec) return 0;  // the connection would close here
    if (l.header_bytes > max_header_bytes + 64 * 1024 || l.body > max_body + 64) std::abort();
    p += used;
    left -= used;
    if (engine.complete()) {
      if (l.completes != 1) std::abort();
      if (++responses > 1000 || !engine.keep_alive()) return 0;
      l = listener{};
      l.pause_every = pause_every;
      engine.begin_response(false);
    } else if (used < n && !engine.paused()) {
      std::abort();  // the parser stops early only at the end of a response, or where the body paused
    }
  }
  auto ec = engine.finish();
  if (!ec && !engine.complete()) std::abort();
  if (l.completes > 1) std::abort();
  return 0;
}
