// tests/support/trace_fields.hpp: reading a recorded trace event's fields in tests.
#pragma once

#include <h2coal/trace.hpp>

#include <cstdint>
#include <string>
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

}  // namespace h2coal::test
