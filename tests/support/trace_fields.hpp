// SPDX-License-Identifier: BSL-1.0
// tests/support/trace_fields.hpp: reading a recorded trace event's fields in tests.
#pragma once

#include <h2coal/trace.hpp>

#include <cstdint>
#include <string>
#include <vector>
#include <variant>

namespace h2coal::test {

/// The field's text, or "" when it is absent or not text.
inline std::string str(const trace::event& e, const char* field) {
  auto* v = e.find(field);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : std::string();
}

/// The field's integer, or -1 when it is absent or not an integer.
inline std::int64_t num(const trace::event& e, const char* field) {
  auto* v = e.find(field);
  return v && std::holds_alternative<std::int64_t>(*v) ? std::get<std::int64_t>(*v) : -1;
}

/// The candidates of a pool.decision, one line each: "conn origin verdict reason", or without the
/// origin when `with_origin` is false.
inline std::vector<std::string> candidates(const trace::event& e, bool with_origin = true) {
  std::vector<std::string> out;
  auto* v = e.find("candidates");
  if (!v) return out;
  for (const auto& rec : std::get<std::vector<trace::record>>(*v)) {
    std::string line;
    for (const auto& [k, val] : rec) {
      if (!with_origin && k == "origin") continue;
      if (!line.empty()) line += " ";
      if (std::holds_alternative<std::int64_t>(val)) line += std::to_string(std::get<std::int64_t>(val));
      else if (std::holds_alternative<std::string>(val)) line += std::get<std::string>(val);
    }
    out.push_back(line);
  }
  return out;
}

}  // namespace h2coal::test
