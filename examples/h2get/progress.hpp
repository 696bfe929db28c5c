// SPDX-License-Identifier: BSL-1.0
// examples/h2get/progress.hpp: the one-line progress meter on stderr (only when stderr is a terminal).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace h2get {

class progress_meter {
 public:
  progress_meter(bool enabled, std::size_t transfers)
      : enabled_(enabled), total_(transfers), start_(std::chrono::steady_clock::now()) {}

  bool enabled() const noexcept { return enabled_; }

  void received(std::size_t n) {
    bytes_ += n;
    draw(false);
  }
  /// Bytes of an attempt that was retried (421): they are not part of the result.
  void discarded(std::size_t n) { bytes_ -= n < bytes_ ? n : bytes_; }
  void transfer_done() {
    ++done_;
    draw(true);
  }
  /// Ends the meter's line so that a message can follow on a line of its own.
  void interrupt() {
    if (enabled_ && pending_line_) std::fputc('\n', stderr);
    pending_line_ = false;
  }
  void finish() {
    if (enabled_ && drawn_) {
      draw(true);
      interrupt();
    }
  }

 private:
  static std::string size_text(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
      b /= 1024;
      ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
    return buf;
  }

  void draw(bool force) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && drawn_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    drawn_ = pending_line_ = true;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const auto whole = static_cast<long>(secs);
    std::fprintf(stderr, "\r  %zu/%zu transfers  %10s  %10s/s  %ld:%02ld:%02ld ", done_, total_,
                 size_text(static_cast<double>(bytes_)).c_str(),
                 size_text(secs > 0 ? static_cast<double>(bytes_) / secs : 0).c_str(), whole / 3600, whole / 60 % 60,
                 whole % 60);
    std::fflush(stderr);
  }

  bool enabled_;
  std::size_t total_;
  std::size_t done_ = 0;
  std::uint64_t bytes_ = 0;
  bool drawn_ = false;
  bool pending_line_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace h2get
