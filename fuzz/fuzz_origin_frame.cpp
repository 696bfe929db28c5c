// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_origin_frame.cpp: ORIGIN frames (RFC 8336) from raw payload to the policy's use of the set.
//
// The input is cut into ORIGIN frames (a flags byte and a 2-byte length before each payload) and fed, after the server
// SETTINGS, to the HTTP/2 engine, which hands the parsed entries over. Each entry then goes through
// origin::parse as the pool does, into an origin set capped as the pool caps it (pool.hpp). Finally the
// origin policy decides for a few targets over connections carrying those sets, which runs the
// proper-subset rule: nothing may crash, parsed entries must serialise to origins that parse back to
// themselves, and a policy may only choose a connection it was shown.
#include <h2coal/detail/h2_engine.hpp>
#include <h2coal/policy.hpp>
#include <h2coal/url.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

constexpr std::size_t max_origin_set = 256;  // as pool.hpp

struct listener final : h2coal::detail::h2_listener {
  std::vector<std::vector<std::string>> frames;
  std::vector<std::uint8_t> flags_sent;  // the flags of every ORIGIN frame in the input
  bool on_h2_header(std::int32_t, std::string_view, std::string_view) override { return true; }
  void on_h2_headers_end(std::int32_t) override {}
  data_result on_h2_data(std::int32_t, const std::uint8_t*, std::size_t) override { return data_result::consumed; }
  void on_h2_stream_close(std::int32_t, std::uint32_t, bool) override {}
  void on_h2_settings() override {}
  void on_h2_goaway(std::int32_t, std::uint32_t) override {}
  void on_h2_origin(std::int32_t stream, std::uint8_t flags, std::vector<std::string> entries) override {
    // The engine reports the flags as they were on the wire (nghttp2 itself clears them).
    if (std::find(flags_sent.begin(), flags_sent.end(), flags) == flags_sent.end()) std::abort();
    if (stream == 0 && (flags & 0x0f) == 0) frames.push_back(std::move(entries));  // as the pool does
  }
  long on_h2_body_read(std::int32_t, std::uint8_t*, std::size_t, bool& eof) override {
    eof = true;
    return 0;
  }
};

void put_frame_header(std::string& out, std::size_t len, std::uint8_t type, std::uint8_t flags = 0) {
  out += static_cast<char>((len >> 16) & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>(type);
  out += static_cast<char>(flags);
  out.append(4, '\0');  // stream 0
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  listener l;
  std::string wire;
  put_frame_header(wire, 0, 0x4);  // server SETTINGS
  for (std::size_t i = 0; i + 3 <= size;) {
    const std::uint8_t flags = data[i];
    std::size_t len = (std::size_t{data[i + 1]} << 8 | data[i + 2]) % 16384;
    i += 3;
    len = std::min(len, size - i);
    put_frame_header(wire, len, 0xc, flags);
    l.flags_sent.push_back(flags);
    wire.append(reinterpret_cast<const char*>(data + i), len);
    i += len;
  }

  h2coal::detail::h2_engine engine(l, {});
  std::string out;
  engine.take_output(out);
  if (engine.feed(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size())) return 0;

  const h2coal::origin initial{"https", "a.test", 443};
  std::vector<h2coal::origin> set{initial};
  std::vector<h2coal::origin> parsed;
  for (const auto& entries : l.frames)
    for (const auto& text : entries) {
      auto o = h2coal::origin::parse(text);
      if (!o) continue;
      auto again = h2coal::origin::parse(o->serialize());
      if (!again || !(*again == *o)) std::abort();
      parsed.push_back(*o);
      if (std::find(set.begin(), set.end(), *o) != set.end()) continue;
      if (set.size() >= max_origin_set) break;
      set.push_back(*o);
    }
  if (set.size() > max_origin_set) std::abort();

  // Three connections: the whole set, its first half, and a set built from the entries in reverse.
  std::vector<h2coal::connection_view> conns(3);
  for (std::size_t k = 0; k < conns.size(); ++k) {
    auto& c = conns[k];
    c.id = k + 1;
    // Three different initial origins, so that coalescing (and the proper-subset rule) is in play.
    c.initial_origin = k == 0 ? initial : h2coal::origin{"https", "c" + std::to_string(k) + ".test", 443};
    c.remote_address = "127.0.0.1";
    c.remote_port = 443;
    c.cert_covers = true;
  }
  conns[0].origin_set = set;
  conns[1].origin_set = std::vector<h2coal::origin>(set.begin(), set.begin() + static_cast<std::ptrdiff_t>((set.size() + 1) / 2));
  conns[2].origin_set = std::vector<h2coal::origin>(set.rbegin(), set.rend());
  conns[2].at_capacity = parsed.size() % 2 == 1;
  std::vector<h2coal::origin> targets{initial, {"https", "b.test", 443}};
  if (!parsed.empty()) targets.push_back(parsed.front());
  if (parsed.size() > 1) targets.push_back(parsed.back());
  const auto policy = h2coal::policies::origin();
  for (const auto& t : targets) {
    h2coal::request_view r;
    r.target = t;
    r.addresses = std::vector<std::string>{"127.0.0.1"};
    auto d = policy.decide(r, conns);
    if (d.candidates.size() != conns.size()) std::abort();
    if (d.conn && (*d.conn < 1 || *d.conn > conns.size())) std::abort();
  }
  return 0;
}
