// The distribution-spec client for one registry: blobs (HEAD, GET with Range, monolithic
// and chunked uploads, cross-repository mounts), manifests (GET/HEAD/PUT with exact bytes
// and media type) and tag lists (following Link paging). Every request goes through
// send(): it adds the Authorization header for the client's scope set, answers one 401 by
// authenticating (Authenticator) and retrying once. Retryable failures (network errors,
// 5xx, 429: util::ErrorKind::Timeout) are retried by the whole-operation helpers with
// exponential backoff.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "oci/digest.hpp"
#include "registry/client/auth.hpp"
#include "registry/client/credentials.hpp"
#include "registry/client/http.hpp"
#include "util/io.hpp"

namespace strata::registry::client {

/// How to reach a registry. Plain value.
struct ClientOptions {
  HttpOptions http;            // TLS verification on unless http.insecure_tls
  bool plain_http = false;     // use http:// for this registry (else only loopback hosts and
                               // hosts listed in $STRATA_INSECURE_REGISTRIES do)
  int retries = 4;             // extra attempts after a retryable failure
  std::chrono::milliseconds backoff{250};  // first retry delay, doubled each time
  std::uint64_t monolithic_max = 32ull << 20;  // bigger blobs upload in PATCH chunks
  std::uint64_t chunk_size = 32ull << 20;      // PATCH chunk (raised to OCI-Chunk-Min-Length)
  /// Credentials for a registry; empty = the Docker config (docker_config_path()).
  std::function<std::optional<Credential>(const std::string& registry)> credentials;
};

/// True for hosts that get plain http by default: localhost, 127.0.0.0/8, ::1 (with or
/// without a port), and the hosts in $STRATA_INSECURE_REGISTRIES (comma-separated).
bool use_plain_http(const std::string& registry);

/// A manifest or index as the registry holds it.
struct ManifestBytes {
  std::string bytes;       // exact bytes (digest of these is `digest`)
  std::string media_type;  // Content-Type, else detected from the document
  oci::Digest digest;
};

/// Counters of what a client did, for reports and tests.
struct ClientStats {
  std::uint64_t requests = 0;
  std::uint64_t blobs_uploaded = 0;
  std::uint64_t blobs_mounted = 0;
  std::uint64_t bytes_uploaded = 0;
  std::uint64_t bytes_downloaded = 0;
};

/// Opens a fresh stream over a blob (uploads are restarted from scratch on retry).
using SourceFactory = std::function<std::unique_ptr<util::Source>()>;

/// A client for one registry. Thread-safe: requests from several threads use separate
/// HTTP handles from an internal pool; tokens are shared.
class RegistryClient {
 public:
  /// `registry` is a host[:port] as in oci::Reference::registry (docker.io is mapped).
  explicit RegistryClient(std::string registry, ClientOptions options = {});
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  [[nodiscard]] const std::string& registry() const noexcept { return m_registry; }
  /// "https://host[:port]" or "http://..." (see use_plain_http).
  [[nodiscard]] const std::string& base_url() const noexcept { return m_base; }

  /// Adds "repository:<repo>:<actions>" to the scopes requested with every token, so that
  /// one token covers the whole operation (e.g. push to A with a mount from B).
  void add_scope(const std::string& repo, const std::string& actions);

  /// GET /v2/ (authenticating if asked). Throws Unauthorized/Timeout/InvalidInput.
  void ping();

  /// HEAD the blob: its size, or nullopt when the repository does not hold it.
  std::optional<std::uint64_t> blob_size(const std::string& repo, const oci::Digest& digest);

  /// Streams the blob's bytes from `offset` on into `sink` (Range request; a server that
  /// ignores the range is handled by skipping). Returns the bytes written. Does not retry
  /// and does not verify: the caller resumes and verifies (see pull).
  std::uint64_t fetch_blob(const std::string& repo, const oci::Digest& digest, util::Sink& sink,
                           std::uint64_t offset = 0);

  /// Reads a small blob (a config) whole and verifies its digest. Retries.
  std::string read_blob(const std::string& repo, const oci::Digest& digest);

  /// Tries a cross-repository mount of `digest` from `from` into `repo`; true when the
  /// registry mounted it (201), false when it started an upload instead (the upload is
  /// cancelled).
  bool mount_blob(const std::string& repo, const oci::Digest& digest, const std::string& from);

  /// Uploads a blob of `size` bytes: POST+PUT when size <= monolithic_max, else chunked
  /// PATCHes honouring OCI-Chunk-Min-Length. Retries the whole upload on retryable errors.
  void upload_blob(const std::string& repo, const oci::Digest& digest, std::uint64_t size,
                   const SourceFactory& open);

  /// GETs a manifest or index by tag or digest with Accept for OCI and Docker types.
  /// Verifies the digest when `reference` is a digest. nullopt on 404. Retries.
  std::optional<ManifestBytes> get_manifest(const std::string& repo, const std::string& reference);

  /// HEADs a manifest: its digest (Docker-Content-Digest), or nullopt on 404.
  std::optional<oci::Digest> head_manifest(const std::string& repo, const std::string& reference);

  /// PUTs a manifest's exact bytes under `reference` (tag or digest) with its media type;
  /// returns the digest the registry reports (checked against the bytes). Retries.
  oci::Digest put_manifest(const std::string& repo, const std::string& reference,
                           const std::string& bytes, const std::string& media_type);

  /// Every tag of the repository, following Link headers; `page` is the n= page size
  /// (0: let the registry choose). Retries each page.
  std::vector<std::string> list_tags(const std::string& repo, std::size_t page = 0);

  /// Counters so far. Thread-safe.
  [[nodiscard]] ClientStats stats() const;
  [[nodiscard]] Authenticator& authenticator() noexcept { return m_auth; }

  /// Runs `fn` and retries it on Timeout errors with exponential backoff (options.retries).
  void with_retries(const std::string& what, const std::function<void()>& fn);

 private:
  class Lease;
  HttpResponse send(HttpRequest request);
  std::vector<std::string> scopes() const;
  [[noreturn]] void fail_status(const HttpResponse& res, const std::string& what) const;

  std::string m_registry;
  std::string m_base;
  ClientOptions m_options;
  Authenticator m_auth;
  mutable std::mutex m_mutex;
  std::vector<std::string> m_scopes;
  std::vector<std::unique_ptr<HttpClient>> m_pool;
  ClientStats m_stats;
};

}  // namespace strata::registry::client
