// SPDX-License-Identifier: BSL-1.0
// tests/interop/server_process.hpp: starting and stopping a real third-party server for one test.
//
// A server_dir is the per-run folder its generated configuration, certificates and logs go into. A
// server_process runs the server's binary in a process group of its own, waits until its TCP ports accept
// connections, and on destruction (also when the test failed) ends the whole group by its id.
#pragma once

#include "support/temp_dir.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace h2coal::interop {

/// Whether the suite runs under CI (`CI=true`): there a missing server binary fails the test.
bool running_under_ci();

/// The absolute path of `name`, searched in PATH and then in the sbin folders Debian puts daemons in.
std::optional<std::string> find_program(std::string_view name);

/// A TCP port that was free on every one of `addresses` a moment ago: bound to port 0 on the first,
/// checked on the rest, closed again; never one this process handed out before (bind(0) may repeat a
/// port, and two listeners of one server given the same port merge). Another process may take it
/// before the server does (a small race that start_server's retry absorbs).
std::uint16_t free_port(const std::vector<std::string>& addresses);

struct listen_address {
  std::string address;  ///< "127.0.0.x"
  std::uint16_t port = 0;
};

/// The server did not come up: it exited, or its ports never accepted in time. Carries its log.
class start_failure : public std::runtime_error {
 public:
  start_failure(const std::string& what, bool exited) : std::runtime_error(what), exited_(exited) {}
  /// The process had already exited (a port taken in the meantime, a configuration error).
  bool exited() const noexcept { return exited_; }

 private:
  bool exited_;
};

/// The folder a server's files are generated into. Traversable and readable by others, because some
/// servers (apache2, h2o) read their files after dropping root privileges; it holds only throwaway keys.
class server_dir {
 public:
  server_dir();
  const std::string& path() const { return dir_.path(); }
  /// Writes `contents` to `name` inside the folder (mode 0644) and returns its absolute path.
  std::string write(const std::string& name, const std::string& contents);
  /// The absolute path `name` would have inside the folder.
  std::string file(const std::string& name) const { return path() + "/" + name; }
  /// Makes a sub-folder (mode 0755) and returns its path.
  std::string make_dir(const std::string& name);

 private:
  test::temp_dir dir_;
};

struct process_options {
  std::vector<std::string> argv;  ///< argv[0] is the absolute path of the binary
  std::string log_file;           ///< stdout and stderr go here
  std::string cwd;                ///< working folder; unchanged when empty
  std::vector<std::pair<std::string, std::string>> env;  ///< set or replaced in the inherited environment
  std::chrono::milliseconds ready_timeout = std::chrono::seconds(10);
};

class server_process {
 public:
  /// Starts the process; returns at once (see wait_ready).
  server_process(std::string name, process_options opts);
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  /// Polls until every address accepts a TCP connection, for at most opts.ready_timeout; throws
  /// start_failure (with the server's log) when the process exits first or time runs out.
  void wait_ready(const std::vector<listen_address>& addresses);

  /// Whether the process is still running (reaps it when it has exited).
  bool alive();
  /// Sends `sig` to the whole process group.
  void signal(int sig);
  /// SIGTERM to the process group; SIGKILL to what is left after a short grace period; reaps the leader.
  void stop();

  /// The exit status once it exited normally (see alive()), or -1.
  int exit_code() const noexcept;
  pid_t pid() const noexcept { return pid_; }
  const std::string& name() const noexcept { return name_; }
  /// The last `max` bytes of the server's log, for failure messages.
  std::string log_tail(std::size_t max = 3000) const;

 private:
  std::string name_;
  process_options opts_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_status_ = 0;
};

struct program_result {
  int exit_code = -1;  ///< -1 when it did not exit normally (killed, timed out)
  std::string output;  ///< stdout and stderr, interleaved
};

/// Runs a client program (h2get) to completion, for at most `limit`; killed when it takes longer.
program_result run_program(const std::vector<std::string>& argv, const std::string& log_file,
                           std::chrono::milliseconds limit = std::chrono::seconds(30));

/// The h2get binary of this build tree (issue 5), or of $H2COAL_H2GET; nullopt while it is not built.
std::optional<std::string> find_h2get();
/// The h2audit binary of this build tree (issue 17), or of $H2COAL_H2AUDIT; nullopt while it is not built.
std::optional<std::string> find_h2audit();

}  // namespace h2coal::interop
