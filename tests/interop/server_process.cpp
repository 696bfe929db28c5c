// SPDX-License-Identifier: BSL-1.0
// tests/interop/server_process.cpp: process start, readiness polling and stop for interop servers.
#include "interop/server_process.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <system_error>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace h2coal::interop {

namespace {

using clock = std::chrono::steady_clock;

// A file descriptor closed on scope exit.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

sockaddr_in loopback(const std::string& address, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1)
    throw std::invalid_argument("interop: not an IPv4 address: " + address);
  return sa;
}

// Binds address:port (port 0: any) and returns the bound port, or 0 when the bind fails.
std::uint16_t try_bind(const std::string& address, std::uint16_t port) {
  fd_guard s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) throw std::system_error(errno, std::generic_category(), "interop: socket");
  auto sa = loopback(address, port);
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return 0;
  socklen_t len = sizeof sa;
  if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return 0;
  return ntohs(sa.sin_port);
}

// One connect attempt with a short timeout: true when the port accepted.
bool accepts(const listen_address& a, std::chrono::milliseconds timeout) {
  fd_guard s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (s.fd < 0) return false;
  auto sa = loopback(a.address, a.port);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{s.fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

// Waits without busy-looping between two readiness probes (a refused connect returns at once).
void pause_briefly(std::chrono::milliseconds d) { ::poll(nullptr, 0, static_cast<int>(d.count())); }

}  // namespace

bool running_under_ci() {
  const char* ci = std::getenv("CI");
  return ci && (std::string_view(ci) == "true" || std::string_view(ci) == "1");
}

std::optional<std::string> find_program(std::string_view name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string d; std::getline(ss, d, ':');)
      if (!d.empty()) dirs.push_back(d);
  }
  for (const char* d : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"})
    dirs.emplace_back(d);
  for (const auto& d : dirs) {
    std::string candidate = d + "/" + std::string(name);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return std::nullopt;
}

std::uint16_t free_port(const std::vector<std::string>& addresses) {
  if (addresses.empty()) throw std::invalid_argument("interop: free_port needs an address");
  // bind(0) can hand out the port it handed out a moment ago: a server given four ports for four
  // listeners then got two equal ones, and nginx merged a TLS HTTP/1.1 listener into an h2 one. So a
  // port is never handed out twice by one test process.
  static std::mutex m;
  static std::set<std::uint16_t> handed_out;
  std::lock_guard lock(m);
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::uint16_t port = try_bind(addresses.front(), 0);
    if (port == 0 || handed_out.count(port)) continue;
    bool everywhere = true;
    for (std::size_t i = 1; i < addresses.size() && everywhere; ++i) everywhere = try_bind(addresses[i], port) == port;
    if (everywhere) {
      handed_out.insert(port);
      return port;
    }
  }
  throw std::runtime_error("interop: no port free on all of the requested loopback addresses");
}

// ---- server_dir ----

server_dir::server_dir() {
  // Servers that drop root privileges (apache2's children, h2o) must still reach their files.
  ::chmod(dir_.path().c_str(), 0755);
}

std::string server_dir::write(const std::string& name, const std::string& contents) {
  std::string f = file(name);
  std::ofstream out(f, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out.flush()) throw std::runtime_error("interop: cannot write " + f);
  out.close();
  ::chmod(f.c_str(), 0644);
  return f;
}

std::string server_dir::make_dir(const std::string& name) {
  std::string d = file(name);
  std::filesystem::create_directories(d);
  ::chmod(d.c_str(), 0755);
  return d;
}

// ---- server_process ----

server_process::server_process(std::string name, process_options opts) : name_(std::move(name)), opts_(std::move(opts)) {
  if (opts_.argv.empty()) throw std::invalid_argument("interop: empty argv");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (auto& a : opts_.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    bool replaced = false;
    for (const auto& [k, v] : opts_.env) replaced = replaced || (kv.size() > k.size() && kv.substr(0, k.size()) == k && kv[k.size()] == '=');
    if (!replaced) env_store.emplace_back(kv);
  }
  for (const auto& [k, v] : opts_.env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int log = ::open(opts_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) throw std::system_error(errno, std::generic_category(), "interop: open " + opts_.log_file);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const char* cwd = opts_.cwd.empty() ? nullptr : opts_.cwd.c_str();

  pid_ = ::fork();
  if (pid_ < 0) {
    int err = errno;
    ::close(log);
    if (devnull >= 0) ::close(devnull);
    throw std::system_error(err, std::generic_category(), "interop: fork");
  }
  if (pid_ == 0) {
    ::setpgid(0, 0);                         // its own group: stop() ends it and every child it forks
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);      // and it dies with the test process, should that crash
    if (::getppid() != parent) ::_exit(126); // the test process died before prctl took effect
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    if (cwd && ::chdir(cwd) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);  // also from the parent, so the group exists before any signal is sent
  ::close(log);
  if (devnull >= 0) ::close(devnull);
}

server_process::~server_process() { stop(); }

int server_process::exit_code() const noexcept {
  return reaped_ && WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
}

bool server_process::alive() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    exit_status_ = status;
    return false;
  }
  return r == 0;
}

void server_process::signal(int sig) {
  if (pid_ > 0) ::kill(-pid_, sig);
}

void server_process::wait_ready(const std::vector<listen_address>& addresses) {
  const auto deadline = clock::now() + opts_.ready_timeout;
  std::size_t next = 0;  // addresses before `next` accepted already
  while (next < addresses.size()) {
    if (!alive()) {
      std::string how = WIFEXITED(exit_status_) ? "exited with status " + std::to_string(WEXITSTATUS(exit_status_))
                                                : "was killed by signal " + std::to_string(WTERMSIG(exit_status_));
      throw start_failure(name_ + " " + how + " before it listened on " + addresses[next].address + ":" +
                              std::to_string(addresses[next].port) + "; its log:\n" + log_tail(),
                          true);
    }
    if (accepts(addresses[next], std::chrono::milliseconds(200))) {
      ++next;
      continue;
    }
    if (clock::now() > deadline)
      throw start_failure(name_ + " did not accept on " + addresses[next].address + ":" +
                              std::to_string(addresses[next].port) + " within " +
                              std::to_string(opts_.ready_timeout.count()) + " ms; its log:\n" + log_tail(),
                          false);
    pause_briefly(std::chrono::milliseconds(25));
  }
}

void server_process::stop() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  const auto grace = clock::now() + std::chrono::seconds(3);
  while (alive() && clock::now() < grace) pause_briefly(std::chrono::milliseconds(10));
  // Whatever is left of the group (the leader, or children it left behind) is killed outright.
  ::kill(-pid_, SIGKILL);
  if (!reaped_) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    exit_status_ = status;
  }
  pid_ = -1;
}

std::string server_process::log_tail(std::size_t max) const {
  std::ifstream in(opts_.log_file, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (s.size() > max) s = "..." + s.substr(s.size() - max);
  return s;
}

program_result run_program(const std::vector<std::string>& argv, const std::string& log_file,
                           std::chrono::milliseconds limit) {
  process_options po;
  po.argv = argv;
  po.log_file = log_file;
  server_process p(argv.empty() ? "program" : argv.front(), po);
  const auto deadline = clock::now() + limit;
  while (p.alive() && clock::now() < deadline) pause_briefly(std::chrono::milliseconds(10));
  program_result r;
  if (!p.alive()) r.exit_code = p.exit_code();
  p.stop();
  r.output = p.log_tail(1 << 20);
  return r;
}

namespace {

// A tool of the examples: $`env`, else the program `name` in this build tree.
std::optional<std::string> find_tool(const char* name, const char* env_name) {
  if (const char* env = std::getenv(env_name); env && *env) return std::string(env);
#ifdef H2COAL_BUILD_ROOT
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(H2COAL_BUILD_ROOT, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && it->path().filename() == "CMakeFiles") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->path().filename() == name && it->is_regular_file(ec) && ::access(it->path().c_str(), X_OK) == 0)
      return it->path().string();
  }
#endif
  return std::nullopt;
}

}  // namespace

std::optional<std::string> find_h2get() { return find_tool("h2get", "H2COAL_H2GET"); }
std::optional<std::string> find_h2audit() { return find_tool("h2audit", "H2COAL_H2AUDIT"); }

}  // namespace h2coal::interop
