// SPDX-License-Identifier: BSL-1.0
// examples/h2get/write_out.hpp: -w/--write-out, curl's per-transfer report line, with h2coal's facts.
//
// curl's variables keep curl's names and formats (%{http_code} is three digits, 000 without a response);
// the ones curl has no word for say how the request travelled: %{connection}, %{coalesced},
// %{coalesce_basis}, %{connections}.
#pragma once

#include <h2coal/response.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace h2get {

/// What -w can print about one finished transfer.
struct transfer_facts {
  std::string url;
  int status = 0;
  std::string http_version;      ///< "2", "1.1", or "0" without a response
  std::uint64_t size = 0;        ///< body bytes received
  int exit_code = 0;
  std::string error;             ///< the error line's message, empty on success
  std::uint64_t connection = 0;  ///< the connection that carried the final attempt (0: none)
  bool coalesced = false;
  std::string basis;             ///< same-origin, dns-match, origin-frame
  unsigned retries = 0;          ///< attempts - 1 (421, GOAWAY, REFUSED_STREAM)
  std::size_t connections = 0;   ///< connections the client had opened when this transfer ended
  std::string url_effective;     ///< the last hop's URL (-L)
  unsigned redirects = 0;
  h2coal::timings timings;       ///< from the start of the transfer
  std::string remote_ip;
  std::uint16_t remote_port = 0;
  std::string local_ip;          ///< this side's address of the connection
  std::uint16_t local_port = 0;
  std::uint64_t size_upload = 0;
  std::uint64_t size_header = 0;
  std::string content_type;
  std::string scheme;
  const h2coal::fields* headers = nullptr;  ///< the final response's, for %header{name}
  std::string redirect_url;      ///< where a 3xx that was not followed points, resolved
  unsigned num_connects = 0;     ///< connections made for this transfer
};

inline const char* write_out_variables_help() {
  return "  -w variables (curl's): http_code response_code http_version url url_effective size_download\n"
         "                        size_upload size_header speed_download speed_upload content_type scheme\n"
         "                        time_namelookup time_connect time_appconnect time_pretransfer\n"
         "                        time_starttransfer time_total time_redirect num_redirects redirect_url\n"
         "                        num_connects remote_ip remote_port local_ip local_port exitcode errormsg\n"
         "                        num_retries;\n"
         "                        %{json} (all of them as one JSON object), %header{name}, %{onerror}\n"
         "                        (the rest only when the transfer failed); -w @FILE reads the format\n"
         "             (h2get's): connection coalesced coalesce_basis connections\n";
}

/// Expands %{name}, %% and the escapes \n \r \t \\ of `format`. Unknown variables expand to nothing and
/// are reported once each through `warn`.
inline std::string expand_write_out(std::string_view format, const transfer_facts& f,
                                    const std::function<void(const std::string&)>& warn = {}) {
  auto code3 = [](int s) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%03d", s < 0 || s > 999 ? 0 : s);
    return std::string(buf);
  };
  auto value = [&](std::string_view name, bool& known) -> std::string {
    known = true;
    if (name == "http_code" || name == "response_code") return code3(f.status);
    if (name == "http_version") return f.http_version.empty() ? "0" : f.http_version;
    if (name == "url") return f.url;
    if (name == "url_effective") return f.url_effective.empty() ? f.url : f.url_effective;
    // curl's time_* are seconds with six decimals, counted from the start of the transfer.
    auto seconds = [](std::chrono::microseconds us) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(us.count()) / 1e6);
      return std::string(buf);
    };
    if (name == "time_namelookup") return seconds(f.timings.namelookup);
    if (name == "time_connect") return seconds(f.timings.connect);
    if (name == "time_appconnect") return seconds(f.timings.appconnect);
    if (name == "time_pretransfer") return seconds(f.timings.pretransfer);
    if (name == "time_starttransfer") return seconds(f.timings.starttransfer);
    if (name == "time_total") return seconds(f.timings.total);
    if (name == "time_redirect") return seconds(f.timings.redirect);
    auto per_second = [&f](std::uint64_t bytes) {
      const auto us = f.timings.total.count();
      return std::to_string(us > 0 ? static_cast<std::uint64_t>(static_cast<double>(bytes) * 1e6 / static_cast<double>(us)) : 0);
    };
    if (name == "speed_download") return per_second(f.size);
    if (name == "speed_upload") return per_second(f.size_upload);
    if (name == "num_redirects") return std::to_string(f.redirects);
    if (name == "remote_ip") return f.remote_ip;
    if (name == "remote_port") return f.remote_port ? std::to_string(f.remote_port) : std::string();
    if (name == "local_ip") return f.local_ip;
    if (name == "local_port") return f.local_port ? std::to_string(f.local_port) : std::string();
    if (name == "size_upload") return std::to_string(f.size_upload);
    if (name == "size_header") return std::to_string(f.size_header);
    if (name == "content_type") return f.content_type;
    if (name == "scheme") {  // curl says it in capitals
      std::string upper = f.scheme;
      for (auto& ch : upper)
        if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
      return upper;
    }
    if (name == "size_download") return std::to_string(f.size);
    if (name == "exitcode") return std::to_string(f.exit_code);
    if (name == "errormsg") return f.error;
    if (name == "num_retries") return std::to_string(f.retries);
    if (name == "connection") return std::to_string(f.connection);
    if (name == "coalesced") return f.coalesced ? "1" : "0";
    if (name == "coalesce_basis") return f.basis;
    if (name == "connections") return std::to_string(f.connections);
    if (name == "redirect_url") return f.redirect_url;
    if (name == "num_connects") return std::to_string(f.num_connects);
    known = false;
    return {};
  };
  // %{json}: every variable, numbers as numbers (curl's shape), names in alphabetical order.
  auto json = [&] {
    static constexpr std::string_view numeric[] = {
        "http_code", "response_code", "size_download", "size_upload", "size_header", "speed_download", "speed_upload",
        "time_namelookup", "time_connect", "time_appconnect", "time_pretransfer", "time_starttransfer", "time_total",
        "time_redirect", "num_redirects", "num_connects", "exitcode", "num_retries", "remote_port", "local_port",
        "connection", "connections"};
    static constexpr std::string_view names[] = {
        "coalesce_basis", "coalesced", "connection", "connections", "content_type", "errormsg", "exitcode",
        "http_code", "http_version", "local_ip", "local_port", "num_connects", "num_redirects", "num_retries", "redirect_url", "remote_ip",
        "remote_port", "response_code", "scheme", "size_download", "size_header", "size_upload", "speed_download",
        "speed_upload", "time_appconnect", "time_connect", "time_namelookup", "time_pretransfer", "time_redirect",
        "time_starttransfer", "time_total", "url", "url_effective"};
    std::string out = "{";
    for (auto n : names) {
      bool known = false;
      std::string v = value(n, known);
      if (out.size() > 1) out += ',';
      out += '"' + std::string(n) + "\":";
      bool number = false;
      for (auto m : numeric) number = number || m == n;
      if (number && !v.empty()) {
        out += v;
        continue;
      }
      out += '"';
      for (unsigned char c : v) {
        if (c == '"' || c == '\\') {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
      }
      out += '"';
    }
    return out + "}";
  };
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '%' && i + 1 < format.size()) {
      if (format[i + 1] == '%') {
        out += '%';
        ++i;
        continue;
      }
      if (format.substr(i + 1, 7) == "header{") {
        // %header{name}: the final response's field, its values joined with ", " (curl 7.84's rule).
        const auto close = format.find('}', i + 8);
        if (close != std::string_view::npos) {
          const auto name = format.substr(i + 8, close - i - 8);
          std::string joined;
          if (f.headers)
            for (const auto& [n, v] : *f.headers)
              if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
                    return (a | 0x20) == (b | 0x20);
                  }))
                joined += (joined.empty() ? "" : ", ") + v;
          out += joined;
          i = close;
          continue;
        }
      }
      if (format[i + 1] == '{') {
        const auto close = format.find('}', i + 2);
        if (close != std::string_view::npos) {
          const auto name = format.substr(i + 2, close - i - 2);
          if (name == "onerror") {  // the rest of the format only for a transfer that failed
            if (f.exit_code == 0) return out;
            i = close;
            continue;
          }
          if (name == "json") {
            out += json();
            i = close;
            continue;
          }
          bool known = false;
          out += value(name, known);
          if (!known && warn) warn("unknown --write-out variable: '" + std::string(name) + "'");
          i = close;
          continue;
        }
      }
    } else if (c == '\\' && i + 1 < format.size()) {
      const char n = format[i + 1];
      if (n == 'n' || n == 'r' || n == 't' || n == '\\') {
        out += n == 'n' ? '\n' : n == 'r' ? '\r' : n == 't' ? '\t' : '\\';
        ++i;
        continue;
      }
    }
    out += c;
  }
  return out;
}

}  // namespace h2get
