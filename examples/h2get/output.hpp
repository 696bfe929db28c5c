// SPDX-License-Identifier: BSL-1.0
// examples/h2get/output.hpp: where one transfer's body goes (DESIGN section 7): stdout or a file, written
// as the bytes arrive, never kept. Only a transfer whose turn on stdout has not come yet (-Z: the output
// stays in URL order) holds its bytes until the transfers before it are written.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace h2get {

class body_output {
 public:
  /// `path` empty: stdout, which waits for its turn (go_direct); a file is written at once.
  body_output(std::string path, bool create_dirs)
      : path_(std::move(path)), create_dirs_(create_dirs), direct_(!path_.empty()) {}
  body_output(const body_output&) = delete;
  body_output& operator=(const body_output&) = delete;
  ~body_output() {
    if (file_) std::fclose(file_);
  }

  const std::string& path() const noexcept { return path_; }
  bool to_stdout() const noexcept { return path_.empty(); }
  /// The file exists because this transfer created it (curl creates it once the response starts).
  bool created() const noexcept { return created_; }
  /// What went wrong with the last failed call, for the message.
  const std::string& problem() const noexcept { return problem_; }
  /// "stdout" or the file's name, quoted, for messages.
  std::string display() const { return path_.empty() ? std::string("stdout") : "'" + path_ + "'"; }

  /// Another name, before the file is made (-J).
  void rename(std::string path) {
    if (!file_) path_ = std::move(path);
  }

  /// -C: the file is added to, not made anew.
  void append() noexcept { append_ = true; }

  /// Makes the file (and, with --create-dirs, the folders above it). Stdout: nothing to do.
  bool open() {
    if (path_.empty() || file_) return true;
    if (create_dirs_) {
      std::error_code ec;
      const auto parent = std::filesystem::path(path_).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
      if (ec) return fail("cannot create the folders of " + display() + ": " + ec.message());
    }
    file_ = std::fopen(path_.c_str(), append_ ? "ab" : "wb");
    if (!file_) return fail("cannot create " + display() + ": " + std::strerror(errno));
    created_ = true;
    return true;
  }

  /// Writes `bytes` now, or holds them until this transfer's turn on stdout (go_direct).
  bool write(std::string_view bytes) {
    if (bytes.empty()) return true;
    if (!direct_) {
      held_.append(bytes);
      return true;
    }
    return put(bytes);
  }

  /// Stdout's turn has come: what was held goes out, the rest as it arrives.
  bool go_direct() {
    if (direct_) return true;
    direct_ = true;
    std::string held;
    held.swap(held_);
    return put(held);
  }

  /// Flushes and closes (the file), or flushes stdout. False when the last bytes could not be written.
  bool finish() {
    if (!go_direct()) return false;
    if (path_.empty()) return std::fflush(stdout) == 0 || fail("cannot write to stdout: " + std::string(std::strerror(errno)));
    if (!file_) return true;
    const bool ok = std::fclose(file_) == 0;
    file_ = nullptr;
    return ok || fail("cannot write to " + display() + ": " + std::strerror(errno));
  }

  /// --remove-on-error: the file this transfer made goes.
  void remove() {
    if (file_) std::fclose(file_);
    file_ = nullptr;
    if (created_) std::remove(path_.c_str());
    created_ = false;
  }

 private:
  bool put(std::string_view bytes) {
    if (bytes.empty()) return true;
    std::FILE* f = path_.empty() ? stdout : file_;
    if (!f) return fail("nowhere to write");
    if (std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
      return fail("cannot write to " + display() + ": " + std::strerror(errno));
    return true;
  }
  bool fail(std::string why) {
    problem_ = std::move(why);
    return false;
  }

  std::string path_;
  bool create_dirs_ = false;
  bool direct_ = false;
  bool created_ = false;
  bool append_ = false;
  std::FILE* file_ = nullptr;
  std::string held_;
  std::string problem_;
};

}  // namespace h2get
