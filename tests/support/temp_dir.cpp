// SPDX-License-Identifier: BSL-1.0
// tests/support/temp_dir.cpp: a private temporary directory.
#include "support/temp_dir.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

namespace h2coal::test {

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/h2coal-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  path_ = buf.data();
}

temp_dir::~temp_dir() {
  if (!path_.empty()) {
    std::error_code ignored;  // a destructor must not throw; a leftover directory in /tmp is harmless
    std::filesystem::remove_all(path_, ignored);
  }
}

temp_dir::temp_dir(temp_dir&& other) noexcept
    : path_(std::exchange(other.path_, {})), next_(other.next_) {}

temp_dir& temp_dir::operator=(temp_dir&& other) noexcept {
  if (this != &other) {
    temp_dir old(std::move(*this));
    path_ = std::exchange(other.path_, {});
    next_ = other.next_;
  }
  return *this;
}

std::string temp_dir::write_temp_file(const std::string& contents, const std::string& suffix) {
  if (path_.empty()) throw std::logic_error("temp_dir: moved-from");
  std::string file = path_ + "/file" + std::to_string(next_++) + suffix;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out.flush()) throw std::runtime_error("temp_dir: cannot write " + file);
  return file;
}

}  // namespace h2coal::test
