// SPDX-License-Identifier: BSL-1.0
// tests/unit/trace_test.cpp: trace events and their sinks (DESIGN section 5).
#include "catch.hpp"

#include <h2coal/trace.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace h2coal;
using json = nlohmann::json;

namespace {

trace::record candidate(std::int64_t conn, std::string origin, std::string verdict, trace::scalar reason) {
  return {{"conn", conn}, {"origin", std::move(origin)}, {"verdict", std::move(verdict)}, {"reason", std::move(reason)}};
}

trace::event decision_event() {
  trace::event e{12345, "pool.decision", {}};
  e.add("req", 3)
      .add("origin", "https://b.test")
      .add("policy", "origin")
      .add("action", "coalesce")
      .add("conn", std::uint64_t{1})
      .add("basis", "dns-match")
      .add("matched_ip", "127.0.0.1")
      .add("candidates", std::vector<trace::record>{
                             candidate(1, "https://a.test", "chosen", nullptr),
                             candidate(2, "https://c.test", "rejected", std::string("cert-mismatch")),
                         });
  return e;
}

// Every event of the DESIGN table, with each field kind represented.
std::vector<trace::event> all_events() {
  std::vector<trace::event> v;
  v.push_back(trace::event{0, "request.start", {}}
                  .add("req", 1)
                  .add("method", "GET")
                  .add("url", "https://a.test/x?y=\"1\"")
                  .add("origin", "https://a.test"));
  v.push_back(trace::event{10, "dns.done", {}}
                  .add("host", "a.test")
                  .add("addrs", std::vector<std::string>{"127.0.0.2", "::1"})
                  .add("us", 812));
  v.push_back(trace::event{11, "dns.done", {}}
                  .add("host", "nx.test")
                  .add("addrs", std::vector<std::string>{})
                  .add("error", "the host name could not be resolved")
                  .add("us", 40));
  v.push_back(decision_event());
  v.push_back(trace::event{20, "pool.decision", {}}
                  .add("req", 2)
                  .add("origin", "https://b.test")
                  .add("policy", "strict")
                  .add("action", "connect")
                  .add("conn", nullptr)
                  .add("basis", "")
                  .add("matched_ip", "")
                  .add("candidates", std::vector<trace::record>{}));
  v.push_back(trace::event{30, "conn.connect", {}}
                  .add("conn", 1)
                  .add("origin", "https://a.test")
                  .add("remote", "[::1]:8443")
                  .add("sni", "a.test"));
  v.push_back(trace::event{40, "conn.ready", {}}
                  .add("conn", 1)
                  .add("alpn", "h2")
                  .add("tls_version", "TLSv1.3")
                  .add("peer_sans", std::vector<std::string>{"a.test", "*.b.test", "IP:127.0.0.1"})
                  .add("verified", true)
                  .add("max_concurrent_streams", std::uint32_t{100}));
  v.push_back(trace::event{50, "conn.failed", {}}.add("conn", 2).add("error", "connection refused"));
  v.push_back(trace::event{60, "conn.origin_frame", {}}
                  .add("conn", 1)
                  .add("origins", std::vector<std::string>{"https://b.test", "not an origin"})
                  .add("origin_set", std::vector<std::string>{"https://a.test", "https://b.test"}));
  v.push_back(trace::event{70, "conn.goaway", {}}.add("conn", 1).add("last_stream_id", 7).add("error_code", 0));
  v.push_back(trace::event{80, "conn.close", {}}.add("conn", 1).add("reason", "idle").add("requests", 12));
  v.push_back(trace::event{90, "request.sent", {}}.add("req", 1).add("conn", 1).add("stream", 1));
  v.push_back(
      trace::event{95, "request.misdirected", {}}.add("req", 1).add("conn", 1).add("origin", "https://b.test"));
  v.push_back(trace::event{96, "request.retry", {}}.add("req", 1).add("reason", "421").add("attempt", 2));
  v.push_back(trace::event{100, "request.done", {}}
                  .add("req", 1)
                  .add("conn", 1)
                  .add("status", 200)
                  .add("bytes", std::int64_t{1} << 40)
                  .add("error", nullptr));
  v.push_back(trace::event{std::numeric_limits<std::int64_t>::max(), "odd.values", {}}
                  .add("neg", std::numeric_limits<std::int64_t>::min())
                  .add("no", false)
                  .add("text", std::string("tab\there \x01 \x7f \"q\" back\\slash \xff bad"))
                  .add("records", std::vector<trace::record>{{{"k", true}, {"n", nullptr}}, {}}));
  return v;
}

// Parsing again proves the JSON is valid; dump() with the strict handler throws on invalid UTF-8.
json parse_line(const std::string& line) {
  json j = json::parse(line);
  CHECK_NOTHROW(j.dump());
  return j;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (b < 0x80) { n = 1; cp = b; }
    else if ((b & 0xe0) == 0xc0) { n = 2; cp = b & 0x1fu; }
    else if ((b & 0xf0) == 0xe0) { n = 3; cp = b & 0x0fu; }
    else if ((b & 0xf8) == 0xf0) { n = 4; cp = b & 0x07u; }
    else return false;
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3fu);
    }
    const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

}  // namespace

TEST_CASE("trace: event fields keep their order and can be found", "[trace]") {
  auto e = decision_event();
  REQUIRE(e.fields.size() == 8);
  CHECK(e.fields[0].first == "req");
  CHECK(e.fields[7].first == "candidates");
  REQUIRE(e.find("conn"));
  CHECK(std::get<std::int64_t>(*e.find("conn")) == 1);
  CHECK(std::get<std::string>(*e.find("basis")) == "dns-match");
  CHECK(e.find("nope") == nullptr);

  trace::event f;
  f.add("big", std::numeric_limits<std::uint64_t>::max())
      .add("small", std::int8_t{-3})
      .add("flag", true)
      .add("view", std::string_view("sv"))
      .add("null", nullptr);
  CHECK(std::get<std::int64_t>(f.fields[0].second) == std::numeric_limits<std::int64_t>::max());  // clamped
  CHECK(std::get<std::int64_t>(f.fields[1].second) == -3);
  CHECK(std::get<bool>(f.fields[2].second));
  CHECK(std::get<std::string>(f.fields[3].second) == "sv");
  CHECK(std::holds_alternative<std::nullptr_t>(f.fields[4].second));
}

TEST_CASE("trace: json_lines writes one object a line that parses back", "[trace][json]") {
  std::ostringstream out;
  auto sink = trace::json_lines(out);
  const auto events = all_events();
  for (const auto& e : events) sink(e);

  std::istringstream in(out.str());
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    REQUIRE(n < events.size());
    const auto& e = events[n++];
    INFO(line);
    json j = parse_line(line);
    REQUIRE(j.is_object());
    CHECK(j.at("t").get<std::int64_t>() == e.t);
    CHECK(j.at("ev").get<std::string>() == e.ev);
    CHECK(j.size() == e.fields.size() + 2);
    // Keys appear in schema order: "t", "ev", then the fields.
    std::size_t pos = line.find("\"ev\"");
    for (const auto& [name, v] : e.fields) {
      auto at = line.find("\"" + name + "\":", pos);
      CHECK(at != std::string::npos);
      pos = at;
      const json& got = j.at(name);
      std::visit(
          [&got](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
              CHECK(got.is_null());
            } else if constexpr (std::is_same_v<T, std::vector<trace::record>>) {
              REQUIRE(got.is_array());
              REQUIRE(got.size() == x.size());
              for (std::size_t i = 0; i < x.size(); ++i) {
                CHECK(got[i].is_object());
                CHECK(got[i].size() == x[i].size());
              }
            } else if constexpr (std::is_same_v<T, std::string>) {
              REQUIRE(got.is_string());
              if (x.find('\xff') == std::string::npos) CHECK(got.get<std::string>() == x);
            } else {
              CHECK(got.get<T>() == x);
            }
          },
          v);
    }
  }
  CHECK(n == events.size());

  SECTION("a decision's candidates read back as objects") {
    json j = parse_line(trace::to_json(decision_event()));
    CHECK(j.at("action") == "coalesce");
    CHECK(j.at("conn") == 1);
    const auto& c = j.at("candidates");
    CHECK(c[0].at("conn") == 1);
    CHECK(c[0].at("origin") == "https://a.test");
    CHECK(c[0].at("verdict") == "chosen");
    CHECK(c[0].at("reason").is_null());
    CHECK(c[1].at("reason") == "cert-mismatch");
  }
  SECTION("the exact bytes of a small event") {
    trace::event e{7, "conn.close", {}};
    e.add("conn", 2).add("reason", "idle").add("ok", true).add("addrs", std::vector<std::string>{"a", "b"});
    CHECK(trace::to_json(e) == R"({"t":7,"ev":"conn.close","conn":2,"reason":"idle","ok":true,"addrs":["a","b"]})");
  }
}

TEST_CASE("trace: escape_json follows RFC 8259 and always yields valid UTF-8", "[trace][json]") {
  CHECK(trace::escape_json("") == R"("")");
  CHECK(trace::escape_json("plain") == R"("plain")");
  CHECK(trace::escape_json("a\"b\\c/d") == R"("a\"b\\c/d")");
  CHECK(trace::escape_json("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(trace::escape_json(std::string_view("\0\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
  CHECK(trace::escape_json("\x7f") == "\"\x7f\"");  // DEL needs no escape in JSON
  CHECK(trace::escape_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");

  SECTION("ill-formed UTF-8: one U+FFFD per maximal ill-formed subsequence") {
    CHECK(trace::escape_json("\xff") == R"("\ufffd")");
    CHECK(trace::escape_json("a\x80z") == R"("a\ufffdz")");
    CHECK(trace::escape_json("\xc0\x80") == R"("\ufffd\ufffd")");           // overlong NUL
    CHECK(trace::escape_json("\xe2\x82") == R"("\ufffd")");                 // truncated
    CHECK(trace::escape_json("\xe2\x82z") == R"("\ufffdz")");
    CHECK(trace::escape_json("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");  // a surrogate
    CHECK(trace::escape_json("\xf4\x90\x80\x80") == R"("\ufffd\ufffd\ufffd\ufffd")");  // above U+10FFFF
    CHECK(trace::escape_json("\xf0\x9f\x98") == R"("\ufffd")");
    CHECK(trace::escape_json("\xe0\x9f\x80") == R"("\ufffd\ufffd\ufffd")");  // overlong 3-byte
    CHECK(trace::escape_json("\xc3") == R"("\ufffd")");
    CHECK(json::parse(trace::escape_json("x\xfey")).get<std::string>() == "x\xef\xbf\xbdy");
  }

  SECTION("10,000 random byte strings") {
    std::mt19937 rng(20240611);
    std::uniform_int_distribution<int> len(0, 48);
    std::uniform_int_distribution<int> kind(0, 9);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> ascii(0x20, 0x7e);
    std::uniform_int_distribution<int> cont(0x80, 0xbf);
    std::size_t mismatches = 0, valid_inputs = 0;
    for (int n = 0; n < 10000; ++n) {
      std::string s;
      const int l = len(rng);
      for (int i = 0; i < l; ++i) {
        const int k = kind(rng);
        // Mostly printable text, with raw bytes, continuation bytes and lead bytes mixed in, so that
        // valid multi-byte sequences, truncated ones and stray bytes all occur.
        if (k < 4) s += static_cast<char>(ascii(rng));
        else if (k < 6) s += static_cast<char>(byte(rng));
        else if (k < 8) s += static_cast<char>(cont(rng));
        else s += static_cast<char>(0xc2 + byte(rng) % 0x33);  // 0xc2-0xf4
      }
      const std::string quoted = trace::escape_json(s);
      if (!valid_utf8(quoted)) ++mismatches;
      json j;
      try {
        j = json::parse(quoted);
      } catch (const std::exception& ex) {
        FAIL("nlohmann rejected " << quoted << ": " << ex.what());
      }
      if (!j.is_string()) ++mismatches;
      // Valid input survives unchanged.
      if (valid_utf8(s)) {
        ++valid_inputs;
        if (j.get<std::string>() != s) ++mismatches;
      }
    }
    CHECK(mismatches == 0);
    CHECK(valid_inputs > 100);  // the generator does produce well-formed strings too
  }
}

TEST_CASE("trace: the text sink is for people", "[trace][text]") {
  std::ostringstream out;
  auto sink = trace::text(out);
  sink(decision_event());
  CHECK(out.str() ==
        "[   12.345ms] pool.decision req=3 origin=https://b.test policy=origin action=coalesce conn=1 "
        "basis=dns-match matched_ip=127.0.0.1\n"
        "    conn 1 https://a.test chosen\n"
        "    conn 2 https://c.test rejected: cert-mismatch\n");

  SECTION("null and empty fields are left out; lists are bracketed") {
    trace::event e{1, "dns.done", {}};
    e.add("host", "a.test").add("addrs", std::vector<std::string>{"127.0.0.2", "::1"}).add("error", nullptr);
    e.add("basis", "").add("ok", false);
    CHECK(trace::to_text(e) == "[    0.001ms] dns.done host=a.test addrs=[127.0.0.2,::1] ok=false\n");
  }
  SECTION("time is right-aligned milliseconds with microsecond digits") {
    CHECK(trace::to_text(trace::event{0, "x", {}}) == "[    0.000ms] x\n");
    CHECK(trace::to_text(trace::event{123456789, "x", {}}) == "[123456.789ms] x\n");
    CHECK(trace::to_text(trace::event{-1500, "x", {}}) == "[   -1.500ms] x\n");
  }
  SECTION("control and non-ASCII bytes cannot reach the terminal raw") {
    trace::event e{5, "conn.failed", {}};
    e.add("conn", 4).add("error", "bad\x1b[31mred\r\n \xc2\x9b \xe2\x80\xae x=y \"q\"");
    const std::string line = trace::to_text(e);
    CHECK(line ==
          "[    0.005ms] conn.failed conn=4 error=\"bad\\x1b[31mred\\r\\n \\xc2\\x9b \\xe2\\x80\\xae x=y \\\"q\\\"\"\n");
    for (std::size_t i = 0; i + 1 < line.size(); ++i) {
      const auto b = static_cast<unsigned char>(line[i]);
      CHECK((b >= 0x20 && b < 0x7f));
    }
  }
  SECTION("records that are not candidates print as key=value under their field name") {
    trace::event e{5, "x", {}};
    e.add("items", std::vector<trace::record>{{{"a", std::int64_t{1}}, {"b", std::string("two words")}}});
    CHECK(trace::to_text(e) == "[    0.005ms] x\n    items: a=1 b=\"two words\"\n");
  }
  SECTION("a candidate without reason or origin") {
    trace::event e{5, "pool.decision", {}};
    e.add("candidates", std::vector<trace::record>{
                            {{"conn", std::int64_t{9}}, {"verdict", std::string("rejected")}, {"reason", nullptr}}});
    CHECK(trace::to_text(e) == "[    0.005ms] pool.decision\n    conn 9 rejected\n");
  }
}

TEST_CASE("trace: fan_out calls every hook in order", "[trace]") {
  std::ostringstream a, b;
  std::vector<std::string> seen;
  auto hook = trace::fan_out({trace::json_lines(a), nullptr, trace::text(b),
                              [&seen](const trace::event& e) { seen.push_back(e.ev); }});
  REQUIRE(hook);
  for (const auto& e : all_events()) hook(e);
  CHECK(seen.size() == all_events().size());
  CHECK(seen.front() == "request.start");
  CHECK(a.str().find("\"ev\":\"pool.decision\"") != std::string::npos);
  CHECK(b.str().find("] pool.decision ") != std::string::npos);

  SECTION("no hooks: an empty hook, so the client traces nothing") {
    CHECK_FALSE(trace::fan_out({}));
    CHECK_FALSE(trace::fan_out({nullptr, trace::hook{}}));
  }
  SECTION("one hook is passed through") {
    int calls = 0;
    auto one = trace::fan_out({[&calls](const trace::event&) { ++calls; }});
    one(trace::event{});
    CHECK(calls == 1);
  }
}
