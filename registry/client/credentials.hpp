// Registry credentials as Docker stores them: $DOCKER_CONFIG/config.json (default
// ~/.docker/config.json) with "auths" (base64 "user:pass" or an identity token),
// "credHelpers" (per registry) and "credsStore" (default helper). A helper is the program
// docker-credential-<name>, run as `docker-credential-<name> get` with the server URL on
// stdin and {"Username","Secret"} JSON on stdout.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace strata::registry::client {

/// A user name and password, or an identity (refresh) token for the Bearer flow.
struct Credential {
  std::string username;
  std::string password;
  std::string identity_token;
  [[nodiscard]] bool empty() const noexcept {
    return username.empty() && password.empty() && identity_token.empty();
  }
};

/// The key Docker uses for a registry in config.json and for helpers: docker.io (and its
/// aliases) is "https://index.docker.io/v1/", any other registry its host[:port].
std::string credential_key(std::string_view registry);

/// The host to contact for a registry: docker.io maps to registry-1.docker.io.
std::string registry_host(std::string_view registry);

/// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
std::filesystem::path docker_config_path();

/// Reads credentials for `registry` from the config at `config` (missing file: none):
/// credHelpers[registry] first, then auths (also matching "https://host" and "http://host"
/// keys), then credsStore. Throws InvalidInput for a malformed config (naming the file)
/// and Unauthorized when a helper fails for another reason than "not found".
/// Thread-safe (no shared state; helpers run as child processes).
std::optional<Credential> lookup_credential(std::string_view registry,
                                            const std::filesystem::path& config);

/// Writes credentials for `registry` into the config's "auths" (keeping everything else),
/// atomically, mode 0600, creating the directory if needed.
void store_credential(std::string_view registry, const Credential& credential,
                      const std::filesystem::path& config);

/// Removes the registry's "auths" entry; returns false when there was none.
bool erase_credential(std::string_view registry, const std::filesystem::path& config);

/// Runs `docker-credential-<helper> get` for `server_url` (found in $PATH). nullopt when
/// the helper reports that it holds no credentials. Throws Unauthorized on other failures.
std::optional<Credential> run_credential_helper(const std::string& helper,
                                                const std::string& server_url);

}  // namespace strata::registry::client
