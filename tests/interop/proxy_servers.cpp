// SPDX-License-Identifier: BSL-1.0
// tests/interop/proxy_servers.cpp: configurations and start-up of squid, tinyproxy and danted.
#include "interop/proxy_servers.hpp"

#include "interop/interop.hpp"

#include <atomic>
#include <filesystem>
#include <sstream>

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

namespace h2coal::interop {

namespace {

// A fresh sub-folder of `dir` for one proxy: `name`, or `name-2`, `name-3` ... when one runs already.
std::string proxy_folder(server_dir& dir, const std::string& name) {
  std::string sub = name;
  for (int i = 2; std::filesystem::exists(dir.file(sub)); ++i) sub = name + "-" + std::to_string(i);
  return dir.make_dir(sub);
}

std::string write_file(const std::string& path, const std::string& contents, std::filesystem::perms mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out.flush()) throw std::runtime_error("interop: cannot write " + path);
  out.close();
  std::filesystem::permissions(path, mode);
  return path;
}

constexpr auto mode_644 = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                          std::filesystem::perms::group_read | std::filesystem::perms::others_read;
constexpr auto mode_600 = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

std::string require_program(const char* name) {
  auto p = find_program(name);
  if (!p) throw std::runtime_error(std::string("interop: ") + name + " is needed to start the proxy and is not installed");
  return *p;
}

// `openssl passwd -<algorithm> -salt <salt> <password>`: a crypt(3)-style hash ("apr1": what htpasswd
// writes and basic_ncsa_auth checks; "6": SHA-512 crypt for a shadow file).
std::string password_hash(const std::string& folder, const std::string& algorithm, const std::string& salt,
                          const std::string& password) {
  const std::string out = folder + "/openssl-passwd.out";
  std::filesystem::remove(out);
  auto r = run_program({require_program("openssl"), "passwd", "-" + algorithm, "-salt", salt, password}, out,
                       std::chrono::seconds(10));
  std::string hash = r.output.substr(0, r.output.find_first_of("\r\n"));
  if (r.exit_code != 0 || hash.empty() || hash[0] != '$')
    throw std::runtime_error("interop: openssl passwd failed: " + r.output);
  return hash;
}

std::string hosts_file(const proxy_hosts& hosts) {
  std::string s = "127.0.0.1 localhost\n";
  for (const auto& [name, address] : hosts) s += address + " " + name + "\n";
  return s;
}

// argv that runs `argv` in a private mount namespace in which each (file, target) of `binds` is
// bind-mounted over target: the generated files replace /etc's for that process tree only. Not root:
// in a user namespace of its own too, mapping the caller to root there (the mount needs it).
std::vector<std::string> in_private_mounts(const std::vector<std::pair<std::string, std::string>>& binds,
                                           const std::vector<std::string>& argv) {
  std::vector<std::string> out{require_program("unshare")};
  if (::geteuid() != 0) {
    out.emplace_back("--user");
    out.emplace_back("--map-root-user");
  }
  out.insert(out.end(), {"--mount", "--propagation", "private", "/bin/sh", "-c"});
  const std::string mount = require_program("mount");
  std::string script;
  for (std::size_t i = 0; i < binds.size(); ++i)
    script += mount + " --bind \"$" + std::to_string(2 * i + 1) + "\" \"$" + std::to_string(2 * i + 2) + "\" && ";
  script += "shift " + std::to_string(2 * binds.size()) + " && exec \"$@\"";
  out.push_back(script);
  out.emplace_back("sh");  // $0
  for (const auto& [file, target] : binds) {
    out.push_back(file);
    out.push_back(target);
  }
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::vector<std::string> lines_with(const std::string& path, const std::string& needle) {
  std::vector<std::string> out;
  for (auto& l : read_lines(path))
    if (l.find(needle) != std::string::npos) out.push_back(std::move(l));
  return out;
}

void pause_ms(int ms) { ::poll(nullptr, 0, ms); }

}  // namespace

// ---- proxy_instance ----

proxy_instance::~proxy_instance() { proxy_instance::stop(); }

void proxy_instance::stop() {
  if (proc_) proc_->stop();
}

std::string proxy_instance::log() const { return read_file(log_path_); }

std::vector<std::string> proxy_instance::log_lines_with(const std::string& needle) const {
  return lines_with(log_path_, needle);
}

std::vector<std::string> proxy_instance::wait_for_log(const std::string& needle, std::size_t n,
                                                      std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto have = log_lines_with(needle);
  while (have.size() < n && std::chrono::steady_clock::now() < deadline) {
    pause_ms(20);
    have = log_lines_with(needle);
  }
  return have;
}

// ---- squid ----

namespace {

// Squid as root drops to cache_effective_user, by default the Debian package's `proxy`, which must
// write its logs: the folder is handed to it. Squid refuses to keep running as root. As another user it
// stays that user and needs nothing.
//
// shutdown_lifetime 0 and the access log written line by line (buffered_logs off): a test reads the log
// while squid runs. Squid names its shared-memory segments after its service name (-n), one per instance,
// so two squids (ctest -j) do not collide; the segments are removed when it stops.
constexpr const char* squid_conf = R"(# generated by tests/interop/proxy_servers.cpp
http_port {{addr}}:{{port}}
visible_hostname h2coal-squid
{{user}}pid_filename {{dir}}/squid.pid
cache_log stdio:{{dir}}/cache.log
logformat interop %ts.%03tu %>a %rm %ru %>Hs %Ss %un
# Not the readiness probe's connection, which closes before sending anything.
acl has_request has request
access_log stdio:{{dir}}/access.log interop has_request
buffered_logs off
cache_store_log none
coredump_dir {{dir}}
netdb_filename none
pinger_enable off
logfile_rotate 0
shutdown_lifetime 0 seconds
max_filedescriptors 1024

# No cache at all: every request goes to the origin.
cache deny all
cache_mem 0 MB
memory_cache_shared off

# Names from the generated hosts file only; IP literals need no resolving. DNS (never needed) would go
# to 127.0.0.1, from the proxy's own address.
hosts_file {{dir}}/hosts
dns_nameservers 127.0.0.1
udp_incoming_address {{addr}}
udp_outgoing_address {{addr}}
{{auth_param}}
acl CONNECT method CONNECT
acl from_loopback src 127.0.0.0/8
acl to_loopback dst 127.0.0.0/8
{{acls}}
# Loopback clients to loopback origins on any port: CONNECT to every port (no SSL_ports rule), plain
# absolute-form requests forwarded.
http_access deny !from_loopback
http_access deny !to_loopback
{{access}}http_access allow all
)";

}  // namespace

squid_proxy::~squid_proxy() { squid_proxy::stop(); }

void squid_proxy::stop() {
  if (!proc_) return;
  // All of its group at once (squid and its basic_ncsa_auth helper): a squid that loses its helper first
  // would end "abnormally"; a graceful squid shutdown takes 3 s by design. Nothing is lost: the access log
  // is unbuffered. What squid would have removed on a clean exit is removed here.
  proc_->signal(SIGKILL);
  proc_->stop();
  proc_.reset();
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/dev/shm", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(service_ + "-", 0) == 0) std::filesystem::remove(it->path(), ec);
}

std::vector<squid_request> squid_proxy::requests() const {
  std::vector<squid_request> out;
  for (const auto& line : read_lines(log_path_)) {
    std::istringstream in(line);
    std::string time;
    squid_request r;
    in >> time >> r.client >> r.method >> r.url >> r.status >> r.result >> r.user;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<squid_request> squid_proxy::wait_for_requests(std::size_t n, std::chrono::milliseconds limit) const {
  wait_for_lines(log_path_, n, limit);
  return requests();
}

squid_proxy start_squid(server_dir& dir, const std::string& squid_bin, const squid_options& opts) {
  static std::atomic<unsigned> serial{0};
  const std::string folder = proxy_folder(dir, "squid");
  // As root: squid runs as `proxy` and must write into its folder.
  std::string user_line;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("proxy");
    if (!pw) throw std::runtime_error("interop: squid runs as user 'proxy' when started as root; there is none");
    if (::chown(folder.c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("interop: cannot hand " + folder + " to user proxy");
    user_line = "cache_effective_user proxy\n";
  }
  write_file(folder + "/hosts", hosts_file(opts.hosts), mode_644);
  std::string auth_param, acls, access;
  if (opts.auth) {
    write_file(folder + "/passwd", opts.auth->user + ":" + password_hash(folder, "apr1", "h2coalsq", opts.auth->password) + "\n",
               mode_644);
    auth_param = "auth_param basic program /usr/lib/squid/basic_ncsa_auth " + folder +
                 "/passwd\nauth_param basic realm h2coal\nauth_param basic children 1 startup=1\n";
    acls += "acl authenticated proxy_auth REQUIRED\n";
  }
  if (opts.deny_connect_port) {
    acls += "acl denied_port port " + std::to_string(*opts.deny_connect_port) + "\n";
    access += "http_access deny CONNECT denied_port\n";
  }
  if (opts.auth) access += "http_access deny !authenticated\n";

  return start_with_retry([&] {
    squid_proxy p;
    p.address_ = opts.address;
    p.port_ = free_port({opts.address});
    p.folder_ = folder;
    p.log_path_ = folder + "/access.log";
    p.cache_log_ = folder + "/cache.log";
    p.service_ = "h2coal" + std::to_string(::getpid()) + "x" + std::to_string(serial++);
    auto conf = write_file(folder + "/squid.conf",
                           fill(squid_conf, {{"dir", folder},
                                             {"addr", opts.address},
                                             {"port", std::to_string(p.port_)},
                                             {"user", user_line},
                                             {"auth_param", auth_param},
                                             {"acls", acls},
                                             {"access", access}}),
                           mode_644);
    process_options po;
    // -N: foreground, no kid processes; -d 1: start-up messages to the .out file as well.
    po.argv = {squid_bin, "-N", "-d", "1", "-n", p.service_, "-f", conf};
    po.log_file = folder + "/squid.out";
    po.ready_timeout = std::chrono::seconds(20);
    p.proc_ = std::make_unique<server_process>("squid", po);
    p.proc_->wait_ready({{p.address_, p.port_}});
    return p;
  });
}

// ---- tinyproxy ----

namespace {

// Runs as the user that starts it (no User/Group lines). The filter lets only loopback literals and the
// given names through (FilterDefaultDeny): tinyproxy forwards nowhere else.
constexpr const char* tinyproxy_conf = R"(# generated by tests/interop/proxy_servers.cpp
Port {{port}}
Listen {{addr}}
Timeout 60
LogFile "{{dir}}/tinyproxy.log"
LogLevel Connect
PidFile "{{dir}}/tinyproxy.pid"
MaxClients 64
Allow 127.0.0.0/8
DisableViaHeader Yes
Filter "{{dir}}/filter"
FilterType ere
FilterDefaultDeny Yes
{{extra}})";

std::string ere_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view(".[]()*+?{}|^$\\").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::vector<std::string> tinyproxy_proxy::requests() const {
  // "CONNECT   Dec 02 05:48:05.892 [6027]: Request (file descriptor 5): CONNECT 127.0.70.2:18443 HTTP/1.1"
  std::vector<std::string> out;
  const std::string marker = "): ";
  for (const auto& l : log_lines_with("]: Request (file descriptor ")) {
    auto at = l.find(marker, l.find("]: Request (file descriptor "));
    if (at == std::string::npos) continue;
    std::string req = l.substr(at + marker.size());
    if (auto sp = req.rfind(" HTTP/"); sp != std::string::npos) req.resize(sp);
    out.push_back(req);
  }
  return out;
}

tinyproxy_proxy start_tinyproxy(server_dir& dir, const std::string& tinyproxy_bin, const tinyproxy_options& opts) {
  const std::string folder = proxy_folder(dir, "tinyproxy");
  std::string filter = "^127\\.[0-9]+\\.[0-9]+\\.[0-9]+$\n";
  for (const auto& [name, address] : opts.hosts) filter += "^" + ere_escape(name) + "$\n";
  write_file(folder + "/filter", filter, mode_644);
  std::string extra;
  for (auto port : opts.connect_ports) extra += "ConnectPort " + std::to_string(port) + "\n";
  if (opts.auth) extra += "BasicAuth " + opts.auth->user + " " + opts.auth->password + "\n";
  std::vector<std::pair<std::string, std::string>> binds;
  if (!opts.hosts.empty()) binds.emplace_back(write_file(folder + "/hosts", hosts_file(opts.hosts), mode_644), "/etc/hosts");

  return start_with_retry([&] {
    tinyproxy_proxy p;
    p.address_ = opts.address;
    p.port_ = free_port({opts.address});
    p.folder_ = folder;
    p.log_path_ = folder + "/tinyproxy.log";
    auto conf = write_file(folder + "/tinyproxy.conf",
                           fill(tinyproxy_conf, {{"dir", folder},
                                                 {"addr", opts.address},
                                                 {"port", std::to_string(p.port_)},
                                                 {"extra", extra}}),
                           mode_644);
    process_options po;
    po.argv = {tinyproxy_bin, "-d", "-c", conf};  // -d: foreground
    if (!binds.empty()) po.argv = in_private_mounts(binds, po.argv);
    po.log_file = folder + "/tinyproxy.out";
    p.proc_ = std::make_unique<server_process>("tinyproxy", po);
    p.proc_->wait_ready({{p.address_, p.port_}});
    return p;
  });
}

// ---- danted ----

namespace {

// Dante warns that the 127.0.7x.1 address is on no interface (lo carries 127.0.0.1/8) and listens on it
// all the same. Outgoing connections leave from the same address. Rules are checked in order: the
// blocked port first, then loopback targets pass, everything else is blocked.
constexpr const char* dante_conf = R"(# generated by tests/interop/proxy_servers.cpp
logoutput: {{dir}}/danted.log
internal: {{addr}} port = {{port}}
external: {{addr}}
clientmethod: none
socksmethod: {{method}}
user.privileged: root
user.unprivileged: {{unprivileged}}
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  log: error
}
{{block}}socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect
  log: connect disconnect error
}
socks block {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  log: connect error
}
)";

}  // namespace

std::vector<std::string> dante_proxy::lines_with_both(const std::string& a, const std::string& b) const {
  std::vector<std::string> out;
  for (auto& l : log_lines_with(a))
    if (l.find(b) != std::string::npos) out.push_back(std::move(l));
  return out;
}

dante_proxy start_dante(server_dir& dir, const std::string& danted_bin, const dante_options& opts) {
  const std::string folder = proxy_folder(dir, "danted");
  std::vector<std::pair<std::string, std::string>> binds;
  if (opts.auth) {
    // socksmethod username checks getpwnam/getspnam: a password database with root, nobody and the test
    // user, seen only inside the proxy's mount namespace.
    const auto& u = opts.auth->user;
    binds.emplace_back(write_file(folder + "/passwd",
                                  "root:x:0:0:root:/root:/bin/sh\n"
                                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
                                      u + ":x:60001:60001::/nonexistent:/usr/sbin/nologin\n",
                                  mode_644),
                       "/etc/passwd");
    binds.emplace_back(write_file(folder + "/shadow",
                                  "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n" + u + ":" +
                                      password_hash(folder, "6", "h2coaldante", opts.auth->password) +
                                      ":19000:0:99999:7:::\n",
                                  mode_600),
                       "/etc/shadow");
    binds.emplace_back(write_file(folder + "/group", "root:x:0:\nnogroup:x:65534:\n" + u + ":x:60001:\n", mode_644),
                       "/etc/group");
  }
  if (!opts.hosts.empty()) binds.emplace_back(write_file(folder + "/hosts", hosts_file(opts.hosts), mode_644), "/etc/hosts");
  std::string block;
  if (opts.block_port)
    block = "socks block {\n  from: 0.0.0.0/0 to: 0.0.0.0/0 port = " + std::to_string(*opts.block_port) +
            "\n  log: connect error\n}\n";
  // In a user namespace of its own (not root) only root is mapped: dante cannot switch to nobody there.
  const bool userns = !binds.empty() && ::geteuid() != 0;

  return start_with_retry([&] {
    dante_proxy p;
    p.scheme_ = "socks5";
    p.address_ = opts.address;
    p.port_ = free_port({opts.address});
    p.folder_ = folder;
    p.log_path_ = folder + "/danted.log";
    auto conf = write_file(folder + "/danted.conf",
                           fill(dante_conf, {{"dir", folder},
                                             {"addr", opts.address},
                                             {"port", std::to_string(p.port_)},
                                             {"method", opts.auth ? "username" : "none"},
                                             {"unprivileged", userns ? "root" : "nobody"},
                                             {"block", block}}),
                           mode_644);
    process_options po;
    po.argv = {danted_bin, "-f", conf, "-p", folder + "/danted.pid"};  // foreground unless -D
    if (!binds.empty()) po.argv = in_private_mounts(binds, po.argv);
    po.log_file = folder + "/danted.out";
    p.proc_ = std::make_unique<server_process>("danted", po);
    p.proc_->wait_ready({{p.address_, p.port_}});
    return p;
  });
}

}  // namespace h2coal::interop
