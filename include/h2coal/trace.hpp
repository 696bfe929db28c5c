// SPDX-License-Identifier: BSL-1.0
// h2coal/trace.hpp: trace events, the hook, and the JSON-lines and text sinks (DESIGN section 5).
//
// An event is a name, a monotonic timestamp and fields in schema order. The client calls one hook per
// event; with no hook set it builds no event at all. Both sinks write one whole line per event with a
// single write, so lines from several clients sharing a stream never interleave, and both escape what
// they print: JSON output is always valid UTF-8, and text output is safe for a terminal.
#pragma once

#include <h2coal/config.hpp>

#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace h2coal::trace {

using scalar = std::variant<std::nullptr_t, bool, std::int64_t, std::string>;
/// A small object, e.g. one decision candidate {conn, origin, verdict, reason}.
using record = std::vector<std::pair<std::string, scalar>>;
using value =
    std::variant<std::nullptr_t, bool, std::int64_t, std::string, std::vector<std::string>, std::vector<record>>;

/// One trace event: its time, its name (`ev`) and its fields, as listed in docs/trace.md.
struct event {
  std::int64_t t = 0;  ///< microseconds since the client started (monotonic)
  std::string ev;      ///< "pool.decision", ...
  std::vector<std::pair<std::string, value>> fields;  ///< in schema order

  /// The first field with this name, or nullptr.
  const value* find(std::string_view name) const noexcept {
    for (const auto& [n, v] : fields)
      if (n == name) return &v;
    return nullptr;
  }

  /// Appends a field; returns *this so calls chain.
  event& add(std::string name, value v) {
    fields.emplace_back(std::move(name), std::move(v));
    return *this;
  }
  // Overloads so ids, counts and text need no cast: any integer (unsigned values above INT64_MAX are
  // clamped), and strings in every usual form.
  /// Appends an integer field (unsigned values above INT64_MAX are clamped to it).
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  event& add(std::string name, I n) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
      return add(std::move(name), value{static_cast<std::int64_t>(n > max ? max : n)});
    } else {
      return add(std::move(name), value{static_cast<std::int64_t>(n)});
    }
  }
  /// Appends a text field.
  event& add(std::string name, std::string s) { return add(std::move(name), value{std::move(s)}); }
  /// Appends a text field (copied).
  event& add(std::string name, std::string_view s) { return add(std::move(name), value{std::string(s)}); }
  /// Appends a text field (copied; `s` must not be null).
  event& add(std::string name, const char* s) { return add(std::move(name), value{std::string(s)}); }
  /// Appends a null field (JSON null).
  event& add(std::string name, std::nullptr_t) { return add(std::move(name), value{nullptr}); }
};

/// Called once per event, on the client's executor.
using hook = std::function<void(const event&)>;

namespace detail {

// Length of the well-formed UTF-8 sequence at s[i] (Unicode Table 3-7), or 0 when it is ill-formed; then
// bad receives the length of its maximal subpart, which becomes one U+FFFD (Unicode 3.9, "substitution
// of maximal subparts", as WHATWG decoders do).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad) noexcept {
  auto at = [&s](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = at(i);
  bad = 1;
  if (b0 < 0x80) return 1;
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;        // no overlong forms
    else if (b0 == 0xed) hi = 0x9f;   // no surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;        // no overlong forms
    else if (b0 == 0xf4) hi = 0x8f;   // nothing above U+10FFFF
  } else {
    return 0;  // 0x80-0xc1, 0xf5-0xff never start a sequence
  }
  for (std::size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) return 0;
    const unsigned char b = at(i + k);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return 0;
    bad = k + 1;
  }
  return len;
}

inline void append_hex2(std::string& out, unsigned char b) {
  constexpr char digits[] = "0123456789abcdef";
  out += digits[b >> 4];
  out += digits[b & 0xf];
}

inline void append_int(std::string& out, std::int64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

// RFC 8259 section 7: quote, backslash and C0 controls escaped; the usual short forms where JSON has
// them. Ill-formed UTF-8 becomes \ufffd so the output is always valid UTF-8 (RFC 8259 section 8.1).
inline void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x80) {
      std::size_t bad = 1;
      if (std::size_t n = utf8_sequence(s, i, bad)) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        out += "\\ufffd";
        i += bad;
      }
      continue;
    }
    switch (b) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (b < 0x20) {
          out += "\\u00";
          append_hex2(out, b);
        } else {
          out += static_cast<char>(b);
        }
    }
    ++i;
  }
  out += '"';
}

inline void append_json_scalar(std::string& out, const scalar& v) {
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) out += "null";
        else if constexpr (std::is_same_v<T, bool>) out += x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::int64_t>) append_int(out, x);
        else append_json_string(out, x);
      },
      v);
}

inline void append_json_value(std::string& out, const value& v) {
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          out += "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          append_int(out, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          append_json_string(out, x);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          out += '[';
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i) out += ',';
            append_json_string(out, x[i]);
          }
          out += ']';
        } else {
          out += '[';
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i) out += ',';
            out += '{';
            for (std::size_t k = 0; k < x[i].size(); ++k) {
              if (k) out += ',';
              append_json_string(out, x[i][k].first);
              out += ':';
              append_json_scalar(out, x[i][k].second);
            }
            out += '}';
          }
          out += ']';
        }
      },
      v);
}

// For people at a terminal: printable ASCII as is; every other byte escaped (\n, \r, \t, \xNN), so no
// control sequence, C1 control or bidirectional override reaches the terminal. Text that is empty or has
// a space, quote, backslash or '=' is quoted, so "key=value" tokens stay unambiguous.
inline void append_text_string(std::string& out, std::string_view s) {
  bool quote = s.empty();
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7f || c == '"' || c == '\\' || c == '=') {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out.append(s);
    return;
  }
  out += '"';
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (b < 0x20 || b >= 0x7f) {
          out += "\\x";
          append_hex2(out, b);
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

inline void append_text_scalar(std::string& out, const scalar& v) {
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) out += "null";
        else if constexpr (std::is_same_v<T, bool>) out += x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::int64_t>) append_int(out, x);
        else append_text_string(out, x);
      },
      v);
}

inline const scalar* find_in(const record& r, std::string_view name) noexcept {
  for (const auto& [n, v] : r)
    if (n == name) return &v;
  return nullptr;
}

inline bool is_blank(const scalar& v) noexcept {
  return std::holds_alternative<std::nullptr_t>(v) ||
         (std::holds_alternative<std::string>(v) && std::get<std::string>(v).empty());
}

// A record on its own line. Decision candidates read as "conn 2 https://c.test rejected: cert-mismatch";
// other records, and any further fields of a candidate, as key=value.
inline void append_text_record(std::string& out, std::string_view field, const record& r) {
  out += "    ";
  if (field != "candidates") {
    append_text_string(out, field);
    out += ": ";
  }
  const scalar* conn = find_in(r, "conn");
  const scalar* verdict = find_in(r, "verdict");
  const bool candidate = conn && verdict;
  bool first = true;
  auto sep = [&] {
    if (!first) out += ' ';
    first = false;
  };
  if (candidate) {
    sep();
    out += "conn ";
    append_text_scalar(out, *conn);
    if (const scalar* o = find_in(r, "origin"); o && !is_blank(*o)) {
      sep();
      append_text_scalar(out, *o);
    }
    sep();
    append_text_scalar(out, *verdict);
    if (const scalar* why = find_in(r, "reason"); why && !is_blank(*why)) {
      out += ": ";
      append_text_scalar(out, *why);
    }
  }
  for (const auto& [n, v] : r) {
    if (candidate && (n == "conn" || n == "verdict" || n == "origin" || n == "reason")) continue;
    if (is_blank(v)) continue;
    sep();
    append_text_string(out, n);
    out += '=';
    append_text_scalar(out, v);
  }
  out += '\n';
}

// "[   12.345ms]": milliseconds with microsecond digits, right-aligned so lines line up.
inline void append_text_time(std::string& out, std::int64_t t) {
  const bool negative = t < 0;
  const std::uint64_t us = negative ? 0 - static_cast<std::uint64_t>(t) : static_cast<std::uint64_t>(t);
  std::string ms = std::to_string(us / 1000);
  if (negative) ms.insert(0, 1, '-');
  out += '[';
  if (ms.size() < 5) out.append(5 - ms.size(), ' ');
  out += ms;
  out += '.';
  const auto frac = static_cast<unsigned>(us % 1000);
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
  out += "ms]";
}

// One stream and the lock that keeps lines whole when several clients share it.
struct sink_state {
  explicit sink_state(std::ostream& s) : os(s) {}
  std::ostream& os;
  std::mutex mutex;
  void write(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex);
    os.write(line.data(), static_cast<std::streamsize>(line.size()));
  }
};

}  // namespace detail

/// The quoted JSON string for s (RFC 8259), always valid UTF-8: ill-formed bytes become \ufffd (one per
/// maximal ill-formed subsequence), C0 controls \b \f \n \r \t or \u00XX; DEL and valid UTF-8 pass as is.
inline std::string escape_json(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  detail::append_json_string(out, s);
  return out;
}

/// The event as one JSON object on one line: {"t":..,"ev":"..",<fields in order>}.
inline std::string to_json(const event& e) {
  std::string line;
  line.reserve(64 + 32 * e.fields.size());
  line += "{\"t\":";
  detail::append_int(line, e.t);
  line += ",\"ev\":";
  detail::append_json_string(line, e.ev);
  for (const auto& [name, v] : e.fields) {
    line += ',';
    detail::append_json_string(line, name);
    line += ':';
    detail::append_json_value(line, v);
  }
  line += '}';
  return line;
}

/// The event for people: "[   12.345ms] ev key=value ...", then each record of a list-of-records field
/// (a decision's candidates) on its own indented line. Null and empty fields are left out.
inline std::string to_text(const event& e) {
  std::string out;
  detail::append_text_time(out, e.t);
  out += ' ';
  detail::append_text_string(out, e.ev);
  for (const auto& [name, v] : e.fields) {
    std::visit(
        [&out, &n = name](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            return;
          } else if constexpr (std::is_same_v<T, std::vector<record>>) {
            return;  // below the line
          } else {
            if constexpr (std::is_same_v<T, std::string>)
              if (x.empty()) return;
            out += ' ';
            detail::append_text_string(out, n);
            out += '=';
            if constexpr (std::is_same_v<T, bool>) {
              out += x ? "true" : "false";
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
              detail::append_int(out, x);
            } else if constexpr (std::is_same_v<T, std::string>) {
              detail::append_text_string(out, x);
            } else {
              out += '[';
              for (std::size_t i = 0; i < x.size(); ++i) {
                if (i) out += ',';
                detail::append_text_string(out, x[i]);
              }
              out += ']';
            }
          }
        },
        v);
  }
  out += '\n';
  for (const auto& [name, v] : e.fields)
    if (const auto* records = std::get_if<std::vector<record>>(&v))
      for (const auto& r : *records) detail::append_text_record(out, name, r);
  return out;
}

/// Writes each event as one JSON line. The stream is not flushed per event (use std::unitbuf for that);
/// it must outlive every copy of the hook.
inline hook json_lines(std::ostream& os) {
  auto state = std::make_shared<detail::sink_state>(os);
  return [state](const event& e) {
    std::string line = to_json(e);
    line += '\n';
    state->write(line);
  };
}

/// Writes each event as readable text (to_text). Same stream rules as json_lines.
inline hook text(std::ostream& os) {
  auto state = std::make_shared<detail::sink_state>(os);
  return [state](const event& e) { state->write(to_text(e)); };
}

/// Calls each hook in order (an exception from one skips the rest). Empty hooks are dropped: with none
/// left the result is an empty hook, so a client given it traces nothing and pays nothing; with one left
/// it is that hook.
inline hook fan_out(std::vector<hook> hooks) {
  std::erase_if(hooks, [](const hook& h) { return !h; });
  if (hooks.empty()) return {};
  if (hooks.size() == 1) return std::move(hooks.front());
  return [hs = std::move(hooks)](const event& e) {
    for (const auto& h : hs) h(e);
  };
}

}  // namespace h2coal::trace
