// SPDX-License-Identifier: BSL-1.0
// tests/package/package_runner.cpp: runs the package consumer (built against an installed h2coal)
// against the test server, and checks what both sides saw.
//
//   h2coal_package_runner CONSUMER
//
// Starts an HTTP/2 test server on 127.0.0.1 with a certificate for package.test from a fresh test CA,
// runs `CONSUMER https://package.test:PORT/bytes/1000 --cacert CA --resolve package.test:PORT:127.0.0.1`
// as a child process, reads its standard output to the end, and waits for it. Exit 0 when the consumer
// printed "200 HTTP/2 1000" and exited 0, and the server saw that one request over h2 with SNI
// package.test.
#include "support/test_ca.hpp"
#include "support/test_server.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct child_result {
  std::string out;
  int status = -1;  // waitpid status
};

// Runs `argv` with its stdout on a pipe (stderr shared with ours); blocks until it has exited.
bool run_child(const std::vector<std::string>& args, child_result& result) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    std::cerr << "package_runner: cannot start " << args[0] << ": " << std::strerror(rc) << "\n";
    return false;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) result.out.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  close(fds[0]);
  while (waitpid(pid, &result.status, 0) < 0)
    if (errno != EINTR) return false;
  return true;
}

int fail(const std::string& why) {
  std::cerr << "package_runner: FAILED: " << why << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: h2coal_package_runner CONSUMER\n";
    return 2;
  }
  using namespace h2coal::test;
  test_ca ca;
  server_options opts;
  opts.protocol = server_protocol::h2;
  opts.cert = ca.issue({"package.test"});
  test_server server(opts);
  const std::string port = std::to_string(server.port());

  child_result child;
  if (!run_child({argv[1], "https://package.test:" + port + "/bytes/1000", "--cacert", ca.ca_file(),
                  "--resolve", "package.test:" + port + ":127.0.0.1"},
                 child))
    return fail("could not run the consumer");
  std::cout << "consumer printed: " << child.out;
  if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0)
    return fail("the consumer did not exit 0 (wait status " + std::to_string(child.status) + ")");
  if (child.out != "200 HTTP/2 1000\n") return fail("expected \"200 HTTP/2 1000\"");

  auto requests = server.requests();
  if (requests.size() != 1) return fail(std::to_string(requests.size()) + " requests reached the server");
  if (requests[0].path != "/bytes/1000" || requests[0].authority != "package.test:" + port)
    return fail("the server saw " + requests[0].authority + requests[0].path);
  auto connections = server.connections();
  if (connections.size() != 1 || connections[0].alpn != "h2" || connections[0].sni != "package.test")
    return fail("the server did not see one h2 connection with SNI package.test");
  std::cout << "package_runner: OK\n";
  return 0;
}
