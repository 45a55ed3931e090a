#include "registry/client/credentials.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "oci/base64.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/io.hpp"

extern char** environ;

namespace strata::registry::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_docker_hub(std::string_view registry) {
  return registry == "docker.io" || registry == "index.docker.io" ||
         registry == "registry-1.docker.io" || registry == "https://index.docker.io/v1/";
}

json read_config(const fs::path& config) {
  std::error_code ec;
  if (!fs::exists(config, ec)) {
    return json::object();
  }
  try {
    json j = json::parse(util::read_file(config));
    if (!j.is_object()) {
      util::fail(util::ErrorKind::InvalidInput, "not a JSON object");
    }
    return j;
  } catch (const json::exception& e) {
    util::fail(util::ErrorKind::InvalidInput,
               config.string() + ": malformed Docker config: " + e.what() + " (fix or remove it)");
  } catch (const util::Error& e) {
    if (e.kind() == util::ErrorKind::InvalidInput) {
      util::fail(util::ErrorKind::InvalidInput,
                 config.string() + ": malformed Docker config: " + e.what());
    }
    throw;
  }
}

std::optional<Credential> from_auth_entry(const json& entry, const fs::path& config,
                                          const std::string& key) {
  Credential c;
  if (entry.contains("identitytoken") && entry["identitytoken"].is_string()) {
    c.identity_token = entry["identitytoken"].get<std::string>();
  }
  if (entry.contains("auth") && entry["auth"].is_string() &&
      !entry["auth"].get<std::string>().empty()) {
    const auto decoded = oci::base64_decode(entry["auth"].get<std::string>());
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (!decoded || colon == std::string::npos) {
      util::fail(util::ErrorKind::InvalidInput,
                 config.string() + ": auths[\"" + key +
                     "\"].auth is not base64 of \"user:password\" (run `strata login` again)");
    }
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  } else {
    if (entry.contains("username") && entry["username"].is_string()) {
      c.username = entry["username"].get<std::string>();
    }
    if (entry.contains("password") && entry["password"].is_string()) {
      c.password = entry["password"].get<std::string>();
    }
  }
  if (c.empty()) {
    return std::nullopt;
  }
  return c;
}

/// Keys under which an "auths" entry may name the registry.
std::vector<std::string> auth_keys(std::string_view registry) {
  const std::string key = credential_key(registry);
  if (is_docker_hub(registry)) {
    return {key, "index.docker.io", "docker.io", "https://index.docker.io/v1"};
  }
  return {key, "https://" + key, "http://" + key, "https://" + key + "/", "http://" + key + "/"};
}

}  // namespace

std::string credential_key(std::string_view registry) {
  if (is_docker_hub(registry)) {
    return "https://index.docker.io/v1/";
  }
  return std::string(registry);
}

std::string registry_host(std::string_view registry) {
  if (is_docker_hub(registry)) {
    return "registry-1.docker.io";
  }
  return std::string(registry);
}

fs::path docker_config_path() {
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && *dir != '\0') {
    return fs::path(dir) / "config.json";
  }
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr ? home : "/") / ".docker" / "config.json";
}

std::optional<Credential> lookup_credential(std::string_view registry, const fs::path& config) {
  const json j = read_config(config);
  const std::string key = credential_key(registry);
  if (j.contains("credHelpers") && j["credHelpers"].is_object()) {
    const auto& helpers = j["credHelpers"];
    for (const auto& k : auth_keys(registry)) {
      if (helpers.contains(k) && helpers[k].is_string()) {
        return run_credential_helper(helpers[k].get<std::string>(), key);
      }
    }
  }
  if (j.contains("auths") && j["auths"].is_object()) {
    const auto& auths = j["auths"];
    for (const auto& k : auth_keys(registry)) {
      if (auths.contains(k) && auths[k].is_object()) {
        if (auto c = from_auth_entry(auths[k], config, k)) {
          return c;
        }
      }
    }
  }
  if (j.contains("credsStore") && j["credsStore"].is_string() &&
      !j["credsStore"].get<std::string>().empty()) {
    return run_credential_helper(j["credsStore"].get<std::string>(), key);
  }
  return std::nullopt;
}

void store_credential(std::string_view registry, const Credential& credential,
                      const fs::path& config) {
  json j = read_config(config);
  json entry = json::object();
  if (!credential.identity_token.empty()) {
    entry["identitytoken"] = credential.identity_token;
  }
  if (!credential.username.empty() || !credential.password.empty()) {
    entry["auth"] = oci::base64_encode(credential.username + ":" + credential.password);
  }
  if (!j.contains("auths") || !j["auths"].is_object()) {
    j["auths"] = json::object();
  }
  j["auths"][credential_key(registry)] = entry;
  std::error_code ec;
  fs::create_directories(config.parent_path(), ec);
  if (ec) {
    util::fail(util::ErrorKind::IO,
               "cannot create " + config.parent_path().string() + ": " + ec.message());
  }
  util::write_file_atomic(config, j.dump(1, '\t') + "\n", 0600);
}

bool erase_credential(std::string_view registry, const fs::path& config) {
  json j = read_config(config);
  bool found = false;
  if (j.contains("auths") && j["auths"].is_object()) {
    for (const auto& k : auth_keys(registry)) {
      found = j["auths"].erase(k) > 0 || found;
    }
  }
  if (found) {
    util::write_file_atomic(config, j.dump(1, '\t') + "\n", 0600);
  }
  return found;
}

std::optional<Credential> run_credential_helper(const std::string& helper,
                                                const std::string& server_url) {
  const std::string program = "docker-credential-" + helper;
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    util::fail_errno("pipe for " + program);
  }
  util::Fd in_read(in_pipe[0]);
  util::Fd in_write(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    util::fail_errno("pipe for " + program);
  }
  util::Fd out_read(out_pipe[0]);
  util::Fd out_write(out_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
  std::string arg0 = program;
  std::string arg1 = "get";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    util::fail(util::ErrorKind::Unauthorized,
               "cannot run credential helper " + program + " (from the Docker config): " +
                   std::strerror(rc) + "; install it or remove it from the config");
  }
  in_read.reset();
  out_write.reset();
  std::string output;
  try {
    {
      // A helper may exit without reading stdin: block SIGPIPE for this thread while
      // writing, treat EPIPE as "done", and drop a SIGPIPE left pending by the write.
      sigset_t pipe_set;
      sigset_t old_set;
      sigemptyset(&pipe_set);
      sigaddset(&pipe_set, SIGPIPE);
      ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
      try {
        util::write_all(in_write.get(), server_url.data(), server_url.size(), program + " stdin");
      } catch (const util::Error&) {
      }
      const timespec zero{};
      while (::sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
      }
      ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
    }
    in_write.reset();
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(out_read.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;
      }
      output.append(buf, static_cast<std::size_t>(n));
    }
  } catch (...) {
    in_write.reset();
    out_read.reset();
    int ignored = 0;
    ::waitpid(pid, &ignored, 0);
    throw;
  }
  out_read.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (output.find("credentials not found") != std::string::npos) {
      return std::nullopt;
    }
    util::fail(util::ErrorKind::Unauthorized,
               program + " get failed for " + server_url + ": " +
                   (output.empty() ? std::string("no output") : output.substr(0, 200)));
  }
  try {
    const json j = json::parse(output);
    Credential c;
    const std::string user = j.value("Username", "");
    const std::string secret = j.value("Secret", "");
    if (user == "<token>") {
      c.identity_token = secret;
    } else {
      c.username = user;
      c.password = secret;
    }
    if (c.empty()) {
      return std::nullopt;
    }
    return c;
  } catch (const json::exception& e) {
    util::fail(util::ErrorKind::Unauthorized,
               program + " get printed invalid JSON for " + server_url + ": " + e.what());
  }
}

}  // namespace strata::registry::client
