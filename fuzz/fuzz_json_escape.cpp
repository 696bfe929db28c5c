// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_json_escape.cpp: trace::escape_json and the JSON and text sinks on arbitrary bytes.
//
// escape_json must always give one valid JSON string (RFC 8259) that is valid UTF-8, whatever the bytes;
// to_json of an event carrying those bytes everywhere must be one valid JSON object on one line, and
// to_text must put no control byte (ESC, C1, DEL) on a terminal.
#include <h2coal/trace.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// A small strict JSON validator: enough of RFC 8259 for what to_json writes, plus UTF-8 checking.
class validator {
 public:
  explicit validator(std::string_view s) : s_(s) {}

  bool document() {
    if (!value()) return false;
    return i_ == s_.size();
  }
  bool string_only() { return string() && i_ == s_.size(); }

 private:
  bool value() {
    if (i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '"': return string();
      case '{': return object();
      case '[': return array();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }
  bool literal(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool number() {
    std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') return false;
    if (s_[i_] == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9') return false;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool object() {
    ++i_;
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    for (;;) {
      if (!string()) return false;
      if (i_ >= s_.size() || s_[i_] != ':') return false;
      ++i_;
      if (!value()) return false;
      if (i_ >= s_.size()) return false;
      if (s_[i_] == '}') return ++i_, true;
      if (s_[i_] != ',') return false;
      ++i_;
    }
  }
  bool array() {
    ++i_;
    if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
    for (;;) {
      if (!value()) return false;
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ']') return ++i_, true;
      if (s_[i_] != ',') return false;
      ++i_;
    }
  }
  static bool hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
  bool string() {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size()) {
      const auto b = static_cast<unsigned char>(s_[i_]);
      if (b == '"') return ++i_, true;
      if (b < 0x20) return false;  // controls must be escaped
      if (b == '\\') {
        if (++i_ >= s_.size()) return false;
        const char e = s_[i_];
        if (e == 'u') {
          if (i_ + 4 >= s_.size()) return false;
          for (int k = 1; k <= 4; ++k)
            if (!hex(s_[i_ + k])) return false;
          i_ += 5;
        } else if (std::string_view("\"\\/bfnrt").find(e) != std::string_view::npos) {
          ++i_;
        } else {
          return false;
        }
        continue;
      }
      if (b < 0x80) {
        ++i_;
        continue;
      }
      if (!utf8()) return false;
    }
    return false;
  }
  // One well-formed UTF-8 sequence (Unicode Table 3-7) at i_.
  bool utf8() {
    const auto at = [this](std::size_t k) { return static_cast<unsigned char>(s_[k]); };
    const unsigned char b0 = at(i_);
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) len = 2;
    else if (b0 >= 0xe0 && b0 <= 0xef) len = 3, lo = b0 == 0xe0 ? 0xa0 : 0x80, hi = b0 == 0xed ? 0x9f : 0xbf;
    else if (b0 >= 0xf0 && b0 <= 0xf4) len = 4, lo = b0 == 0xf0 ? 0x90 : 0x80, hi = b0 == 0xf4 ? 0x8f : 0xbf;
    else return false;
    if (i_ + len > s_.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const unsigned char b = at(i_ + k);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return false;
    }
    i_ += len;
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const std::string quoted = h2coal::trace::escape_json(text);
  if (!validator(quoted).string_only()) std::abort();
  // Valid UTF-8 without controls passes through unchanged (between the quotes).
  if (quoted.find('\\') == std::string::npos && quoted.substr(1, quoted.size() - 2) != text) std::abort();

  namespace trace = h2coal::trace;
  trace::event e;
  e.t = static_cast<std::int64_t>(size) - 5;
  e.ev = std::string(text.substr(0, 16));
  e.add(std::string(text), std::string(text));
  e.add("list", std::vector<std::string>{std::string(text), "x"});
  trace::record r;
  r.emplace_back("conn", std::int64_t{1});
  r.emplace_back("verdict", std::string(text));
  r.emplace_back(std::string(text.substr(size / 2)), nullptr);
  e.add("candidates", std::vector<trace::record>{r, {}});
  e.add("flag", true);
  const std::string line = trace::to_json(e);
  if (line.find('\n') != std::string::npos || !validator(line).document()) std::abort();

  const std::string shown = trace::to_text(e);
  for (char c : shown) {
    const auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && c != '\n') || b >= 0x7f) std::abort();
  }
  return 0;
}
