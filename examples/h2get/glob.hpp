// SPDX-License-Identifier: BSL-1.0
// examples/h2get/glob.hpp: curl's URL globbing (DESIGN section 7): "{a,b,c}" alternatives and "[1-10]",
// "[01-10]" (zero-padded to the first number's width), "[a-z]" ranges with an optional ":step"; several
// globs give every combination, the last one changing fastest. -o names take "#N", the N-th glob's value.
// A backslash before one of "{}[]" makes it literal; -g turns globbing off.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace h2get {

struct glob_result {
  std::string url;
  std::vector<std::string> values;  // of each glob, in order (for "#N")
};

/// Every URL `pattern` stands for, in curl's order; nullopt with `problem` set for a malformed pattern.
/// At most `limit` URLs (curl's own bound is 100,000,000; a pattern past the limit is refused).
inline std::optional<std::vector<glob_result>> expand_glob(const std::string& pattern, std::string& problem,
                                                          std::size_t limit = 100000) {
  // The pattern as literal pieces and glob sets, alternating.
  std::vector<std::string> literals(1);
  std::vector<std::vector<std::string>> sets;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size() && std::string_view("{}[]").find(pattern[i + 1]) != std::string_view::npos) {
      literals.back() += pattern[++i];
    } else if (c == '{') {
      std::vector<std::string> alternatives(1);
      std::size_t j = i + 1;
      for (; j < pattern.size() && pattern[j] != '}'; ++j) {
        if (pattern[j] == '{' || pattern[j] == '[') {
          problem = "nested brace in URL position " + std::to_string(j + 1);
          return std::nullopt;
        }
        if (pattern[j] == ',') alternatives.emplace_back();
        else if (pattern[j] == '\\' && j + 1 < pattern.size()) alternatives.back() += pattern[++j];
        else alternatives.back() += pattern[j];
      }
      if (j == pattern.size()) {
        problem = "unmatched brace in URL position " + std::to_string(i + 1);
        return std::nullopt;
      }
      sets.push_back(std::move(alternatives));
      literals.emplace_back();
      i = j;
    } else if (c == '[') {
      const auto close = pattern.find(']', i);
      if (close == std::string::npos) {
        problem = "unmatched close bracket in URL position " + std::to_string(i + 1);
        return std::nullopt;
      }
      const std::string body = pattern.substr(i + 1, close - i - 1);
      // An IPv6 literal ("[::1]") right after "//" is an address, not a range.
      if (body.find(':') != std::string::npos && body.find('-') == std::string::npos) {
        literals.back() += pattern.substr(i, close - i + 1);
        i = close;
        continue;
      }
      std::string range = body;
      std::uint64_t step = 1;
      if (auto colon = range.find(':'); colon != std::string::npos) {
        const std::string s = range.substr(colon + 1);
        if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos || s == "0") {
          problem = "bad range step in URL position " + std::to_string(i + 1);
          return std::nullopt;
        }
        step = std::stoull(s);
        range.resize(colon);
      }
      const auto dash = range.find('-');
      const std::string a = dash == std::string::npos ? "" : range.substr(0, dash);
      const std::string b = dash == std::string::npos ? "" : range.substr(dash + 1);
      std::vector<std::string> values;
      const bool letters = a.size() == 1 && b.size() == 1 && ((a[0] >= 'a' && b[0] <= 'z') || (a[0] >= 'A' && b[0] <= 'Z')) &&
                           !(a[0] >= '0' && a[0] <= '9');
      const bool numbers = !a.empty() && !b.empty() && a.size() <= 18 && b.size() <= 18 &&
                           a.find_first_not_of("0123456789") == std::string::npos &&
                           b.find_first_not_of("0123456789") == std::string::npos;
      if (letters && a[0] <= b[0]) {
        for (int ch = a[0]; ch <= b[0]; ch += static_cast<int>(step)) values.emplace_back(1, static_cast<char>(ch));
      } else if (numbers && std::stoull(a) <= std::stoull(b)) {
        const std::size_t width = a.size() > 1 && a[0] == '0' ? a.size() : 0;
        for (std::uint64_t n = std::stoull(a); n <= std::stoull(b); n += step) {
          std::string v = std::to_string(n);
          if (v.size() < width) v.insert(0, width - v.size(), '0');
          values.push_back(std::move(v));
          if (values.size() > limit) break;
        }
      } else {
        problem = "bad range in URL position " + std::to_string(i + 1);
        return std::nullopt;
      }
      sets.push_back(std::move(values));
      literals.emplace_back();
      i = close;
    } else if (c == '}' || c == ']') {
      problem = std::string("unmatched ") + (c == '}' ? "close brace" : "close bracket") + " in URL position " +
                std::to_string(i + 1);
      return std::nullopt;
    } else {
      literals.back() += c;
    }
  }
  std::size_t total = 1;
  for (const auto& s : sets) {
    if (s.empty() || total > limit / s.size()) {
      problem = "too many URLs in the pattern (more than " + std::to_string(limit) + ")";
      return std::nullopt;
    }
    total *= s.size();
  }
  std::vector<glob_result> out;
  out.reserve(total);
  std::vector<std::size_t> at(sets.size(), 0);
  for (std::size_t n = 0; n < total; ++n) {
    glob_result r;
    r.url = literals[0];
    for (std::size_t k = 0; k < sets.size(); ++k) {
      r.values.push_back(sets[k][at[k]]);
      r.url += sets[k][at[k]] + literals[k + 1];
    }
    out.push_back(std::move(r));
    for (std::size_t k = sets.size(); k-- > 0;) {  // the last glob changes fastest
      if (++at[k] < sets[k].size()) break;
      at[k] = 0;
    }
  }
  return out;
}

/// "#N" in an output name: the N-th glob's value (1-based); "#" before anything else stays.
inline std::string glob_output_name(const std::string& name, const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '#' && i + 1 < name.size() && name[i + 1] >= '1' && name[i + 1] <= '9') {
      std::size_t j = i + 1, n = 0;
      while (j < name.size() && name[j] >= '0' && name[j] <= '9' && n < 1000) n = n * 10 + static_cast<std::size_t>(name[j++] - '0');
      if (n >= 1 && n <= values.size()) {
        out += values[n - 1];
        i = j - 1;
        continue;
      }
    }
    out += name[i];
  }
  return out;
}

}  // namespace h2get
