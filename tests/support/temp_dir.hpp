// SPDX-License-Identifier: BSL-1.0
// tests/support/temp_dir.hpp: a private temporary directory, removed with everything in it on destruction.
#pragma once

#include <string>

namespace h2coal::test {

class temp_dir {
 public:
  temp_dir();  // mkdtemp under $TMPDIR (or /tmp), mode 0700
  ~temp_dir();
  temp_dir(temp_dir&& other) noexcept;
  temp_dir& operator=(temp_dir&& other) noexcept;
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }

  // Writes `contents` to a new file in the directory (name ends in `suffix`) and returns its path.
  std::string write_temp_file(const std::string& contents, const std::string& suffix);

 private:
  std::string path_;
  unsigned next_ = 0;
};

}  // namespace h2coal::test
