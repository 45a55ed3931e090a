// Internal to registry/server: the state shared by all request handlers, the per-request
// Call object and the handler entry points that routes.cpp dispatches to.
#pragma once

#include <httplib.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/store.hpp"
#include "oci/digest.hpp"
#include "registry/server/errors.hpp"
#include "registry/server/metadata.hpp"
#include "registry/server/server.hpp"
#include "util/hash.hpp"

namespace strata::registry {

/// The running digest of an upload session's first `offset` bytes, kept in memory between
/// the requests of the session so that completion does not read the file again. Move-only.
struct UploadHash {
  util::Hasher hasher;
  std::uint64_t offset = 0;
};

/// State shared by all handlers. Thread-safe: the store and metadata are, and upload
/// sessions are serialised by upload_lock().
struct Context {
  explicit Context(ServerOptions opts);

  ServerOptions options;
  cache::Store store;
  Metadata meta;

  [[nodiscard]] std::int64_t now() const;
  [[nodiscard]] std::filesystem::path uploads_dir() const { return options.root / "uploads"; }
  /// A mutex serialising requests on one upload session (striped by id).
  std::mutex& upload_lock(std::string_view uuid);

  /// Takes the running hash of session `uuid` out of the table; nullopt when there is none
  /// (after a restart or an error: the caller re-hashes the file). The caller holds
  /// upload_lock(uuid). Thread-safe.
  std::optional<UploadHash> take_upload_hash(const std::string& uuid);
  /// Keeps `hash` for the session's next request. Thread-safe.
  void keep_upload_hash(const std::string& uuid, UploadHash hash);
  /// Forgets the session's running hash (session finished, cancelled or expired).
  void drop_upload_hash(const std::string& uuid);

 private:
  std::array<std::mutex, 64> m_upload_locks;
  std::mutex m_hash_mutex;  // guards m_hashes
  std::unordered_map<std::string, UploadHash> m_hashes;
};

/// Query parameters decoded from the request target: %XX is decoded, '+' is kept as is
/// (media types such as "application/vnd.x+json" arrive unencoded from some clients).
class Query {
 public:
  explicit Query(std::string_view target);
  [[nodiscard]] std::optional<std::string> get(const std::string& key) const;
  [[nodiscard]] std::vector<std::string> all(const std::string& key) const;
  [[nodiscard]] bool has(const std::string& key) const { return m_params.count(key) > 0; }

 private:
  std::multimap<std::string, std::string> m_params;
};

/// One request in flight: the httplib request/response, the streamed body (for methods
/// that carry one) and the parsed query. Not thread-safe.
struct Call {
  const httplib::Request& req;
  httplib::Response& res;
  const httplib::ContentReader* reader;  // null when the request has no body handler
  Query query;
  bool body_consumed = false;

  /// Whether the request announces a body (Content-Length > 0 or chunked).
  [[nodiscard]] bool has_body() const;
  /// Streams the body to `sink`, which may throw. Returns the number of bytes. Throws
  /// ApiError 400 (with `code`) when the body is truncated or unreadable.
  std::uint64_t read_body(const std::function<void(const char*, std::size_t)>& sink,
                          ErrorCode code);
  /// Discards what is left of the body (up to 64 MiB); beyond that the response asks the
  /// client to close the connection, so that leftover bytes never parse as a request.
  void discard_body();
};

// Helpers shared by handlers (http_util.cpp).

/// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view text);
/// Parses a digest from a URL or query parameter; throws 400 DIGEST_INVALID. With
/// `computable`, also requires an algorithm strata can hash (sha256, sha512).
oci::Digest parse_digest_param(std::string_view text, bool computable);
/// Validates a repository name; throws 400 NAME_INVALID.
void check_repository(std::string_view name);
/// Parses the `n` paging parameter: nullopt when absent; throws 400 on a bad number.
std::optional<std::size_t> parse_page_size(const Query& query);
/// Responds with JSON text.
void send_json(httplib::Response& res, int status, const std::string& body,
               const std::string& content_type = "application/json");

// Handlers. Each validates its input, throws ApiError on failure and fills `call.res`.

void get_blob(Context& ctx, Call& call, const std::string& repo, const std::string& digest);
void delete_blob(Context& ctx, Call& call, const std::string& repo, const std::string& digest);

void start_upload(Context& ctx, Call& call, const std::string& repo);
void patch_upload(Context& ctx, Call& call, const std::string& repo, const std::string& uuid);
void put_upload(Context& ctx, Call& call, const std::string& repo, const std::string& uuid);
void get_upload(Context& ctx, Call& call, const std::string& repo, const std::string& uuid);
void delete_upload(Context& ctx, Call& call, const std::string& repo, const std::string& uuid);
/// Removes expired sessions and orphan files (see Server::expire_uploads).
void expire_uploads(Context& ctx);

void get_manifest(Context& ctx, Call& call, const std::string& repo, const std::string& ref);
void put_manifest(Context& ctx, Call& call, const std::string& repo, const std::string& ref);
void delete_manifest(Context& ctx, Call& call, const std::string& repo, const std::string& ref);

void list_tags(Context& ctx, Call& call, const std::string& repo);
void list_catalog(Context& ctx, Call& call);
void list_referrers(Context& ctx, Call& call, const std::string& repo, const std::string& digest);

}  // namespace strata::registry
