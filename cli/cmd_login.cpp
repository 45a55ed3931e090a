// `strata login REGISTRY [-u USER] [--password-stdin]` and `strata logout REGISTRY`: store
// or remove credentials in the Docker config ($DOCKER_CONFIG/config.json or
// ~/.docker/config.json, written atomically with mode 0600), where docker, podman and
// skopeo find them too. Login checks the credentials against the registry first.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "cli/image_location.hpp"
#include "registry/client/credentials.hpp"
#include "util/error.hpp"

namespace strata::cli {
namespace {

struct LoginArgs {
  std::string registry;
  std::string username;
  bool password_stdin = false;
  RemoteOptions remote;
};

std::string normalise_registry(std::string r) {
  for (const char* prefix : {"docker://", "https://", "http://"}) {
    if (r.starts_with(prefix)) {
      r = r.substr(std::string(prefix).size());
    }
  }
  while (!r.empty() && r.back() == '/') {
    r.pop_back();
  }
  if (r.empty() || r.find('/') != std::string::npos) {
    util::fail(util::ErrorKind::InvalidInput,
               "\"" + r + "\" is not a registry host[:port] (e.g. registry.example.org:5000)");
  }
  return r == "index.docker.io" ? "docker.io" : r;
}

std::string read_line(bool hide) {
  termios old {};
  const bool tty = hide && ::isatty(STDIN_FILENO) != 0 && ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << '\n';
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
    line.pop_back();
  }
  return line;
}

void run_login(const LoginArgs& args, const GlobalOptions& global) {
  const std::string registry = normalise_registry(args.registry);
  registry::client::Credential cred;
  cred.username = args.username;
  if (cred.username.empty()) {
    if (args.password_stdin) {
      util::fail(util::ErrorKind::InvalidInput, "--password-stdin needs -u USER");
    }
    std::cerr << "Username: " << std::flush;
    cred.username = read_line(false);
  }
  if (!args.password_stdin) {
    std::cerr << "Password: " << std::flush;
  }
  cred.password = read_line(!args.password_stdin);
  if (cred.username.empty() || cred.password.empty()) {
    util::fail(util::ErrorKind::InvalidInput, "a user name and a password are required");
  }
  registry::client::ClientOptions o;
  o.http.insecure_tls = args.remote.insecure;
  o.plain_http = args.remote.plain_http;
  o.credentials = [cred](const std::string&) { return std::optional(cred); };
  registry::client::RegistryClient client(registry, o);
  client.ping();
  const auto path = registry::client::docker_config_path();
  registry::client::store_credential(registry, cred, path);
  if (!global.quiet) {
    std::cerr << "Login succeeded; credentials stored in " << path.string() << '\n';
  }
}

}  // namespace

void register_login(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<LoginArgs>();
  CLI::App* login = app.add_subcommand("login", "Store credentials for a registry");
  login->add_option("REGISTRY", args->registry, "host[:port]")->required();
  login->add_option("-u,--username", args->username, "User name");
  login->add_flag("--password-stdin", args->password_stdin, "Read the password from stdin");
  login->add_flag("--insecure", args->remote.insecure, "Do not verify the TLS certificate");
  login->add_flag("--plain-http", args->remote.plain_http, "Use http:// for this registry");
  login->callback([args, &global] { run_login(*args, global); });

  auto logout_registry = std::make_shared<std::string>();
  CLI::App* logout = app.add_subcommand("logout", "Remove stored credentials for a registry");
  logout->add_option("REGISTRY", *logout_registry, "host[:port]")->required();
  logout->callback([logout_registry, &global] {
    const std::string registry = normalise_registry(*logout_registry);
    const auto path = registry::client::docker_config_path();
    if (!registry::client::erase_credential(registry, path)) {
      util::fail(util::ErrorKind::NotFound,
                 "no credentials for " + registry + " in " + path.string());
    }
    if (!global.quiet) {
      std::cerr << "Removed credentials for " << registry << " from " << path.string() << '\n';
    }
  });
}

}  // namespace strata::cli
