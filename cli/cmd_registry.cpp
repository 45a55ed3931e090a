// `strata registry serve`: runs the OCI Distribution registry in the foreground until
// SIGINT or SIGTERM.
//
// Signals are blocked in every thread before the server starts its threads and collected
// by one thread with sigwait(), which asks the server to stop; in-flight requests finish
// and the process exits 0.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>

#include "cache/store.hpp"
#include "cli/app.hpp"
#include "registry/server/server.hpp"
#include "util/error.hpp"

namespace strata::cli {

namespace {

struct ServeOptions {
  std::string root;
  std::string addr = "127.0.0.1:5000";
  std::string upload_expiry = "24h";
  std::size_t max_uploads = 1000;
  std::size_t threads = 16;
  std::string config;     // TOML file with [auth], [[acl]], [tls]
  std::string htpasswd;   // overrides [auth] htpasswd
  std::string tls_cert;   // overrides [tls] cert
  std::string tls_key;    // overrides [tls] key
  bool anonymous_pull = false;
};

/// Splits "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces).
std::pair<std::string, int> parse_addr(const std::string& addr) {
  std::string host;
  std::string port_text;
  if (!addr.empty() && addr.front() == '[') {
    const auto close = addr.find(']');
    if (close != std::string::npos && close + 1 < addr.size() && addr[close + 1] == ':') {
      host = addr.substr(1, close - 1);
      port_text = addr.substr(close + 2);
    }
  } else if (const auto colon = addr.rfind(':'); colon != std::string::npos) {
    host = addr.substr(0, colon);
    port_text = addr.substr(colon + 1);
    if (host.empty()) {
      host = "0.0.0.0";
    }
  }
  int port = -1;
  const auto res = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty() || port_text.empty() || res.ec != std::errc{} ||
      res.ptr != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    util::fail(util::ErrorKind::InvalidInput,
               "invalid --addr \"" + addr + "\": expected HOST:PORT, e.g. 127.0.0.1:5000");
  }
  return {host, port};
}

void serve(const ServeOptions& opts, const GlobalOptions& global) {
  registry::ServerOptions options;
  options.root = opts.root.empty() ? registry::default_registry_root() : std::filesystem::path(opts.root);
  std::tie(options.host, options.port) = parse_addr(opts.addr);
  options.upload_expiry = registry::parse_duration(opts.upload_expiry);
  options.max_uploads = opts.max_uploads;
  options.threads = opts.threads;
  options.access_log = !global.quiet;
  if (!opts.config.empty()) {
    const auto config = registry::load_registry_config(opts.config);
    options.auth = config.auth;
    options.tls = config.tls;
  }
  if (!opts.htpasswd.empty()) {
    options.auth.htpasswd = opts.htpasswd;
  }
  if (opts.anonymous_pull) {
    options.auth.anonymous_pull = true;
  }
  if (!opts.tls_cert.empty() || !opts.tls_key.empty()) {
    if (opts.tls_cert.empty() || opts.tls_key.empty()) {
      util::fail(util::ErrorKind::InvalidInput, "--tls-cert and --tls-key go together");
    }
    options.tls.cert = opts.tls_cert;
    options.tls.key = opts.tls_key;
  }
  if (options.auth.anonymous_pull && !options.auth.enabled()) {
    util::fail(util::ErrorKind::InvalidInput,
               "--anonymous-pull needs users (--htpasswd FILE or [auth] htpasswd): without "
               "auth every caller may already do everything");
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // internal: wakes the signal thread when run() fails
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &signals, &previous);
  struct RestoreMask {
    sigset_t mask;
    ~RestoreMask() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{previous};

  registry::Server server(options);
  const int port = server.bind();
  std::thread waiter([&server, &signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    server.stop();
  });
  const std::string host =
      options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  std::cout << "listening on " << (options.tls.enabled() ? "https" : "http") << "://" << host
            << ":" << port << (options.auth.enabled() ? " (auth on)" : "") << std::endl;
  try {
    server.run();
  } catch (...) {
    pthread_kill(waiter.native_handle(), SIGUSR1);
    waiter.join();
    throw;
  }
  pthread_kill(waiter.native_handle(), SIGUSR1);  // no-op if the waiter already returned
  waiter.join();
  if (!global.quiet) {
    std::cerr << "strata registry: stopped\n";
  }
}

}  // namespace

void register_registry(CLI::App& app, GlobalOptions& global) {
  auto* registry = app.add_subcommand("registry", "Run an OCI Distribution registry");
  add_registry_admin_commands(*registry, global);
  registry->require_subcommand(1);
  auto opts = std::make_shared<ServeOptions>();
  auto* cmd = registry->add_subcommand(
      "serve", "Serve an OCI Distribution v1.1 registry until SIGINT/SIGTERM");
  cmd->add_option("--root", opts->root,
                  "Registry directory (default: $STRATA_HOME/registry; as root "
                  "/var/lib/strata/registry; else the user cache dir)");
  cmd->add_option("--addr", opts->addr, "Listen address HOST:PORT")->capture_default_str();
  cmd->add_option("--upload-expiry", opts->upload_expiry,
                  "Drop upload sessions idle this long (e.g. 30m, 24h, 7d)")
      ->capture_default_str();
  cmd->add_option("--max-uploads", opts->max_uploads, "Upload sessions open at once")
      ->capture_default_str();
  cmd->add_option("--threads", opts->threads,
                  "Worker threads at start; the pool grows while all are busy (an idle "
                  "keep-alive connection holds one), up to 512")
      ->capture_default_str();
  cmd->add_option("--config", opts->config,
                  "TOML file with [auth], [[acl]] and [tls] (see docs/registry.md)");
  cmd->add_option("--htpasswd", opts->htpasswd,
                  "Require login: users from this htpasswd file (bcrypt, `htpasswd -B`)");
  cmd->add_flag("--anonymous-pull", opts->anonymous_pull,
                "With --htpasswd: callers without credentials may pull");
  cmd->add_option("--tls-cert", opts->tls_cert, "Serve HTTPS with this PEM certificate (chain)");
  cmd->add_option("--tls-key", opts->tls_key, "PEM private key of --tls-cert");
  cmd->callback([opts, &global] { serve(*opts, global); });
}

}  // namespace strata::cli
