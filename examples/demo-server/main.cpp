// SPDX-License-Identifier: BSL-1.0
// examples/demo-server/main.cpp: the demo's HTTP/2 server, two services behind one SNI router.
//
//   h2coal_demo_server --cert FILE --key FILE [--port N] [--address A]... [--mode MODE]
//
// auth.demo.test and api.demo.test share one address and one certificate (it names both), as behind an
// Envoy that routes by SNI. auth serves /login and /session, api serves /v1/...; a path a service does
// not serve is a 404. MODE says how the router treats a request whose :authority is not its SNI:
//   sni-routing   routes it by SNI anyway: a request for api coalesced onto auth's connection reaches
//                 auth and gets a 404 (the bug the demo reproduces)
//   misdirected   answers 421 Misdirected Request (RFC 9110 section 15.5.20), so clients retry elsewhere
//   origin-frame  routes by SNI, but sends an ORIGIN frame (RFC 8336) naming only the SNI's origin
//
// Prints the port it listens on as one line on stdout, then serves until SIGINT or SIGTERM, or until
// stdin reaches EOF when stdin is a pipe (so it dies with the script that started it). Built on the
// tests' programmable server (tests/support).
#include "support/test_server.hpp"

#include <CLI/CLI.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool stdin_is_pipe() {
  struct stat st {};
  return fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"h2coal demo server: auth.demo.test and api.demo.test behind one SNI router", "h2coal_demo_server"};
  std::string cert_file, key_file, mode = "sni-routing";
  std::vector<std::string> addresses;
  std::uint16_t port = 0;
  app.add_option("--cert", cert_file, "PEM certificate (chain) naming auth.demo.test and api.demo.test")->required();
  app.add_option("--key", key_file, "PEM private key of --cert")->required();
  app.add_option("--port", port, "port to listen on (0: the system picks one)");
  app.add_option("--address", addresses, "address to listen on (repeatable; default 127.0.0.1)")->allow_extra_args(false);
  app.add_option("--mode", mode, "sni-routing, misdirected or origin-frame")
      ->check(CLI::IsMember({"sni-routing", "misdirected", "origin-frame"}));
  CLI11_PARSE(app, argc, argv);

  // SIGINT and SIGTERM are taken by sigwait below, on this thread: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // the script may stop reading our stdout once it has the port

  h2coal::test::server_options so;
  if (!addresses.empty()) so.addresses = addresses;
  so.port = port;
  so.protocol = h2coal::test::server_protocol::auto_alpn;
  try {
    so.cert = {read_file(cert_file), read_file(key_file)};
  } catch (const std::exception& e) {
    std::cerr << "demo-server: " << e.what() << "\n";
    return 2;
  }
  so.routing = h2coal::test::route_by::sni;
  so.paths_by_host = {{"auth.demo.test", {"/login", "/session"}}, {"api.demo.test", {"/v1/"}}};
  auto bound_port = std::make_shared<std::atomic<std::uint16_t>>(port);
  if (mode == "misdirected") {
    so.misdirect_on_mismatch = true;
  } else if (mode == "origin-frame") {
    so.origin_frames_for_sni = [bound_port](const std::string& sni) -> std::vector<std::vector<std::string>> {
      if (sni.empty()) return {};
      const auto p = bound_port->load();
      return {{"https://" + sni + (p == 443 ? std::string() : ":" + std::to_string(p))}};
    };
  }

  std::unique_ptr<h2coal::test::test_server> server;
  try {
    server = std::make_unique<h2coal::test::test_server>(so);
  } catch (const std::exception& e) {
    std::cerr << "demo-server: cannot listen: " << e.what() << "\n";
    return 1;
  }
  bound_port->store(server->port());
  std::cout << server->port() << std::endl;
  std::cerr << "demo-server: " << mode << " on port " << server->port() << " for auth.demo.test and api.demo.test\n";

  if (stdin_is_pipe()) {
    // EOF on stdin stops the server like a signal does.
    std::thread([] {
      char buf[256];
      while (read(STDIN_FILENO, buf, sizeof buf) > 0) {
      }
      kill(getpid(), SIGTERM);
    }).detach();
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server.reset();
  std::cerr << "demo-server: stopped (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
  return 0;
}
