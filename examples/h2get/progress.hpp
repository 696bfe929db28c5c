// SPDX-License-Identifier: BSL-1.0
// examples/h2get/progress.hpp: curl's progress meters on stderr, only when stderr is a terminal (DESIGN
// section 7). The default is curl's columns, one meter per transfer:
//
//     % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current
//                                    Dload  Upload   Total   Spent    Left  Speed
//   100  195k  100  195k    0     0  9711k      0 --:--:-- --:--:-- --:--:-- 9.5M
//
// -# draws a bar of '#' with the percentage; -Z one line for all the transfers running at once
// (curl's parallel meter: DL%, bytes, transfers done, running, times, speed).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <sys/ioctl.h>
#include <unistd.h>

namespace h2get {

class progress_meter {
 public:
  enum class style { off, columns, bar, parallel };

  progress_meter(style s, std::size_t transfers) : style_(s), total_transfers_(transfers) {}
  progress_meter(bool enabled, std::size_t transfers) : progress_meter(enabled ? style::columns : style::off, transfers) {}

  bool enabled() const noexcept { return style_ != style::off; }

  /// A transfer's response started; `expected` is its body's length when the server said (0: unknown).
  void begin(std::uint64_t expected) {
    if (style_ == style::parallel) {
      expected_ += expected;
      ++running_;
      return;
    }
    start_ = last_ = std::chrono::steady_clock::now();
    expected_ = expected;
    bytes_ = 0;
    started_ = true;
    if (style_ == style::columns) {
      std::fputs("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
                 "                                 Dload  Upload   Total   Spent    Left  Speed\n",
                 stderr);
      pending_line_ = false;
    }
    draw(true);
  }

  void received(std::size_t n) {
    bytes_ += n;
    draw(false);
  }

  void transfer_done() {
    ++done_;
    if (style_ == style::parallel) {
      if (running_) --running_;
      draw(true);
      return;
    }
    if (started_) {
      draw(true);
      end_line();
    }
    started_ = false;
  }

  /// Ends the meter's line so that a message can follow on a line of its own.
  void interrupt() {
    if (enabled() && pending_line_) std::fputc('\n', stderr);
    pending_line_ = false;
  }
  void finish() {
    if (style_ == style::parallel && drawn_) {
      draw(true);
      interrupt();
    } else if (started_) {
      draw(true);
      end_line();
    }
  }

 private:
  // curl's five-character sizes: bytes, then k, M (with one decimal below 100M), G, T.
  static std::string size5(std::uint64_t b) {
    constexpr std::uint64_t k = 1024, m = k * k, g = m * k, t = g * k;
    char buf[32];
    if (b < 100000) std::snprintf(buf, sizeof buf, "%5llu", static_cast<unsigned long long>(b));
    else if (b < 10000 * k) std::snprintf(buf, sizeof buf, "%4lluk", static_cast<unsigned long long>(b / k));
    else if (b < 100 * m) std::snprintf(buf, sizeof buf, "%2llu.%lluM", static_cast<unsigned long long>(b / m), static_cast<unsigned long long>((b % m) / (m / 10)));
    else if (b < 10000 * m) std::snprintf(buf, sizeof buf, "%4lluM", static_cast<unsigned long long>(b / m));
    else if (b < 100 * g) std::snprintf(buf, sizeof buf, "%2llu.%lluG", static_cast<unsigned long long>(b / g), static_cast<unsigned long long>((b % g) / (g / 10)));
    else if (b < 10000 * g) std::snprintf(buf, sizeof buf, "%4lluG", static_cast<unsigned long long>(b / g));
    else std::snprintf(buf, sizeof buf, "%4lluT", static_cast<unsigned long long>(b / t));
    return buf;
  }
  // curl's eight-character times: H:MM:SS, or days and hours past 99 hours, or --:--:-- when unknown.
  static std::string time8(double secs, bool known) {
    char buf[32];
    if (!known || secs < 0) return "--:--:--";
    const auto s = static_cast<std::uint64_t>(secs);
    if (s / 3600 <= 99) std::snprintf(buf, sizeof buf, "%2llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                                      static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
    else if (s / 86400 <= 999) std::snprintf(buf, sizeof buf, "%3llud %02lluh", static_cast<unsigned long long>(s / 86400), static_cast<unsigned long long>(s / 3600 % 24));
    else std::snprintf(buf, sizeof buf, "%7llud", static_cast<unsigned long long>(s / 86400));
    return buf;
  }
  static int columns() {
    if (const char* c = std::getenv("COLUMNS")) {
      const int n = std::atoi(c);
      if (n > 20 && n < 10000) return n;
    }
    winsize ws{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
    return 80;
  }

  void draw(bool force) {
    if (!enabled()) return;
    const auto now = std::chrono::steady_clock::now();
    if (style_ == style::parallel && !drawn_) {
      start_ = now;
      std::fputs("DL% UL%  Dled  Uled  Xfers  Live Total     Current  Left    Speed\n", stderr);
    }
    if (!force && drawn_ && now - last_ < std::chrono::seconds(1)) return;  // curl redraws once a second
    const double secs = std::chrono::duration<double>(now - start_).count();
    last_ = now;
    drawn_ = pending_line_ = true;
    const std::uint64_t speed = secs > 0 ? static_cast<std::uint64_t>(static_cast<double>(bytes_) / secs) : 0;
    const bool known = expected_ > 0;
    const unsigned percent = known ? static_cast<unsigned>(bytes_ >= expected_ ? 100 : bytes_ * 100 / expected_) : 0;
    const double total_time = known && speed > 0 ? static_cast<double>(expected_) / static_cast<double>(speed) : -1;
    switch (style_) {
      case style::columns:
        std::fprintf(stderr, "\r%3u %s  %3u %s  %3u %s  %s  %s %s %s %s %s", known ? percent : 0,
                     size5(known ? expected_ : bytes_).c_str(), known ? percent : 0, size5(bytes_).c_str(), 0u,
                     size5(0).c_str(), size5(speed).c_str(), size5(0).c_str(), time8(total_time, known && speed > 0).c_str(),
                     time8(secs, true).c_str(), time8(total_time - secs, known && speed > 0).c_str(), size5(speed).c_str());
        break;
      case style::bar: {
        const int width = columns() - 8;
        const double fraction = known ? static_cast<double>(percent) / 100.0 : 0;
        std::string bar(static_cast<std::size_t>(width > 0 ? width : 1), ' ');
        for (std::size_t i = 0; i < bar.size() && static_cast<double>(i) < fraction * static_cast<double>(bar.size()); ++i) bar[i] = '#';
        if (known) std::fprintf(stderr, "\r%s %5.1f%%", bar.c_str(), fraction * 100.0);
        else std::fprintf(stderr, "\r%s", std::string(static_cast<std::size_t>(bytes_ / 16384 % 64), '#').c_str());
        break;
      }
      case style::parallel:
        std::fprintf(stderr, "\r%3s --  %s     0  %5zu %5zu %s %s %s %s", known ? std::to_string(percent).c_str() : "--",
                     size5(bytes_).c_str(), done_, running_, time8(total_time, known && speed > 0).c_str(),
                     time8(secs, true).c_str(), time8(total_time - secs, known && speed > 0).c_str(), size5(speed).c_str());
        break;
      case style::off: break;
    }
    std::fflush(stderr);
  }

  void end_line() {
    if (pending_line_) std::fputc('\n', stderr);
    pending_line_ = false;
    drawn_ = false;
  }

  style style_;
  std::size_t total_transfers_;
  std::size_t done_ = 0, running_ = 0;
  std::uint64_t bytes_ = 0, expected_ = 0;
  bool started_ = false, drawn_ = false, pending_line_ = false;
  std::chrono::steady_clock::time_point start_{}, last_{};
};

}  // namespace h2get
