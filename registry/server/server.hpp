// strata's OCI Distribution v1.1 registry server (`strata registry serve`).
//
// The registry root holds a strata store (blobs/, strata.db) for blob and manifest bytes,
// the registry's own metadata database registry.db (repositories, per-repository blob
// visibility, manifests, tags, referrers, upload sessions) and uploads/<uuid> files for
// blob uploads in progress. Upload sessions survive a restart and expire after
// ServerOptions::upload_expiry without activity.
//
// HTTP is served by cpp-httplib with a fixed thread pool. Request bodies are streamed to
// disk and responses are streamed from disk, so memory stays flat whatever the blob size;
// manifests are the only bodies held in memory and are capped at 4 MiB.
//
// Optional auth (htpasswd users, ACLs, a token endpoint; see auth.hpp) and TLS (PEM
// certificate chain and key, TLS 1.2 or later).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "registry/server/auth.hpp"

namespace strata::registry {

/// Largest manifest the registry accepts (the spec asks registries to take at least 4 MiB).
inline constexpr std::size_t k_max_manifest_size = 4 * 1024 * 1024;

/// How to run a Server. Plain value.
struct ServerOptions {
  std::filesystem::path root;           // registry root (created if missing)
  std::string host = "127.0.0.1";       // listen address
  int port = 5000;                      // 0: any free port (see Server::port())
  std::chrono::seconds upload_expiry = std::chrono::hours(24);  // idle upload sessions
  std::size_t max_uploads = 1000;       // open upload sessions; more -> 429 TOOMANYREQUESTS
  /// Worker threads started with the server. httplib holds a thread per open connection
  /// (idle keep-alive included), so the pool grows when every thread is busy, up to
  /// max(threads, max_threads) (see worker_pool.hpp).
  std::size_t threads = 16;
  std::size_t max_threads = 512;        // cap on connections served at once
  std::chrono::seconds io_timeout = std::chrono::seconds(60);   // per read/write on a socket
  std::chrono::seconds keep_alive_timeout = std::chrono::seconds(10);  // idle connection
  bool access_log = false;              // one line per request on stderr
  /// Current time in Unix seconds; empty means the system clock. Tests inject a fake clock.
  std::function<std::int64_t()> clock;
  AuthConfig auth;                      // users, ACLs, tokens (off unless auth.htpasswd)
  TlsConfig tls;                        // HTTPS (off unless tls.cert)
};

/// One registry server. Construction opens the storage; bind() opens the socket; run()
/// serves until stop(). stop() and port() are thread-safe; other members are called from
/// one thread.
/// The registry root used when none is given: $STRATA_HOME/registry, else (as root)
/// /var/lib/strata/registry, else the user's store directory + "/registry".
std::filesystem::path default_registry_root();

class Server {
 public:
  /// Opens (creating if needed) the registry root, loads the htpasswd file and the token
  /// key (<root>/token.key) when auth is on and the TLS certificate and key when TLS is on.
  /// Throws util::Error (IO, NotFound, InvalidInput) naming the path and what to fix.
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds the listening socket; returns the port (the chosen one when options.port is 0).
  /// Throws IO when the address cannot be bound. Connections are queued from here on.
  int bind();
  /// Serves requests until stop() is called (binding first if bind() was not called).
  void run();
  /// Asks run() to return; in-flight requests finish first. Safe from any thread.
  void stop();
  /// The bound port, or 0 before bind().
  [[nodiscard]] int port() const noexcept;

  /// Removes upload sessions idle for longer than upload_expiry, and upload files that no
  /// session owns. run() does this periodically; exposed for tests and maintenance.
  void expire_uploads();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

/// Parses a duration such as "24h", "30m", "90s", "7d" or a plain number of seconds.
/// Throws InvalidInput naming the text.
std::chrono::seconds parse_duration(std::string_view text);

}  // namespace strata::registry
