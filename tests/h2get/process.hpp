// SPDX-License-Identifier: BSL-1.0
// tests/h2get/process.hpp: runs a program to completion and captures what it printed.
//
// posix_spawn with three pipes; stdout and stderr are drained together with poll() until both close, so
// no sleep and no deadlock whatever the child writes. A child still running after the limit is killed
// and reported, so a hang fails the test instead of stalling the suite.
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <string_view>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace h2get_test {

struct run_result {
  int exit_code = -1;  // the exit status, or 128 + signal
  std::string out;
  std::string err;
  bool timed_out = false;
  long max_rss_kib = 0;  // the child's peak resident set (getrusage's ru_maxrss)
};

inline run_result run_process(const std::vector<std::string>& argv, const std::string& input = {},
                              const std::vector<std::string>& extra_env = {},
                              std::chrono::seconds limit = std::chrono::seconds(60),
                              const std::function<void(std::string_view)>& on_stdout = {}) {
  int in[2], out[2], err[2];
  if (pipe(in) || pipe(out) || pipe(err)) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) posix_spawn_file_actions_addclose(&fa, fd);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const auto& e : extra_env) {  // one given here replaces the inherited one of that name
    const auto name = e.substr(0, e.find('=') + 1);
    std::erase_if(env_strings, [&name](const std::string& old) { return old.rfind(name, 0) == 0; });
    env_strings.push_back(e);
  }
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argp[0], &fa, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    throw std::runtime_error("cannot start " + argv[0]);
  }
  // Small inputs only: the pipe buffer holds them, so writing before reading cannot deadlock.
  std::size_t off = 0;
  while (off < input.size()) {
    auto n = write(in[1], input.data() + off, input.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  close(in[1]);

  run_result r;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      auto got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        // A consumer takes stdout as it comes (a large body, or a reader that is slow on purpose).
        if (i == 0 && on_stdout) on_stdout(std::string_view(buf, static_cast<std::size_t>(got)));
        else sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  r.max_rss_kib = usage.ru_maxrss;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace h2get_test
