// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_h2_response.cpp: the HTTP/2 response path, detail::h2_engine (nghttp2, client side) fed raw
// frames after a valid server preface.
//
// The engine opens three streams (GET, HEAD, and a POST whose body comes from the listener), then
// receives a server SETTINGS frame followed by the input, cut into pieces by its first byte. Whatever
// arrives, it must not crash, streams must close at most once and only streams it opened, and header
// and body limits hold.
#include <h2coal/detail/h2_engine.hpp>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

namespace {

constexpr std::size_t max_header_bytes = 16 * 1024;
constexpr std::size_t max_body = 256 * 1024;

struct stream_state {
  std::size_t header_bytes = 0;
  std::size_t body = 0;
  bool closed = false;
};

struct listener final : h2coal::detail::h2_listener {
  std::map<std::int32_t, stream_state> streams;
  std::size_t origins = 0;
  std::size_t body_sent = 0;

  stream_state& at(std::int32_t s) {
    auto it = streams.find(s);
    if (it == streams.end() || it->second.closed) std::abort();  // events only for open streams we made
    return it->second;
  }
  bool on_h2_header(std::int32_t s, std::string_view name, std::string_view value) override {
    auto& st = at(s);
    st.header_bytes += name.size() + value.size() + 32;
    return st.header_bytes <= max_header_bytes;
  }
  void on_h2_headers_end(std::int32_t s) override { (void)at(s); }
  data_result on_h2_data(std::int32_t s, const std::uint8_t*, std::size_t len) override {
    auto& st = at(s);
    st.body += len;
    return st.body <= max_body ? data_result::consumed : data_result::reset;
  }
  void on_h2_stream_close(std::int32_t s, std::uint32_t, bool) override { at(s).closed = true; }
  void on_h2_settings() override {}
  void on_h2_goaway(std::int32_t, std::uint32_t) override {}
  void on_h2_origin(std::int32_t, std::uint8_t, std::vector<std::string> entries) override { origins += entries.size(); }
  long on_h2_body_read(std::int32_t s, std::uint8_t* buf, std::size_t len, bool& eof) override {
    (void)at(s);
    std::size_t n = std::min<std::size_t>(len, 100);
    for (std::size_t i = 0; i < n; ++i) buf[i] = 'b';
    body_sent += n;
    eof = body_sent >= 300;
    return static_cast<long>(n);
  }
};

// An empty SETTINGS frame: the server connection preface (RFC 9113 section 3.4).
const std::uint8_t server_settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 128 * 8;  // 1..1017 bytes per read
  ++data;
  --size;

  listener l;
  h2coal::detail::h2_settings s;
  s.max_header_list_size = static_cast<std::uint32_t>(max_header_bytes);
  h2coal::detail::h2_engine engine(l, s);
  h2coal::fields headers{{"accept", "*/*"}};
  for (const char* method : {"GET", "HEAD", "POST"}) {
    const std::int32_t id = engine.submit(method, "https", "a.test", "/", headers, method[0] == 'P');
    if (id <= 0) std::abort();
    l.streams[id];
  }
  std::string out;
  if (engine.take_output(out)) std::abort();

  if (engine.feed(server_settings, sizeof server_settings)) std::abort();
  while (size > 0) {
    const std::size_t n = std::min(piece, size);
    auto ec = engine.feed(data, n);
    out.clear();
    if (engine.take_output(out)) return 0;
    if (ec) return 0;  // the connection would close here
    data += n;
    size -= n;
  }
  return 0;
}
