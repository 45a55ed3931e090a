// The registry's metadata database (<root>/registry.db): which repositories exist, which
// blobs each repository may read (pushed or mounted), manifests, tags, referrers and the
// state of in-progress uploads. Blob and manifest bytes live in the store (cache::Store);
// this database only says who may see them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/server/sqlite.hpp"

namespace strata::registry {

/// An upload session. `path` is relative to the registry root ("uploads/<uuid>").
struct UploadRecord {
  std::string uuid;
  std::string repo;
  std::uint64_t offset = 0;  // bytes accepted so far
  std::string path;
  std::string algorithm;  // digest-algorithm hint ("sha256", "sha512")
  std::int64_t started = 0;  // Unix seconds
  std::int64_t updated = 0;
};

/// A manifest stored in a repository.
struct ManifestRecord {
  std::string digest;
  std::string media_type;
  std::uint64_t size = 0;
};

/// One entry of a referrers response: a manifest in the repository whose subject is the
/// queried digest.
struct ReferrerRecord {
  std::string digest;
  std::string media_type;
  std::uint64_t size = 0;
  std::string artifact_type;     // empty: omitted from the descriptor
  std::string annotations_json;  // JSON object text, empty when none
};

/// Everything a manifest PUT records, written in one transaction.
struct ManifestPut {
  std::string repo;
  std::string digest;
  std::string media_type;
  std::uint64_t size = 0;
  std::vector<std::string> tags;
  std::optional<std::string> subject;  // digest of the subject, when the manifest has one
  std::string artifact_type;           // for the referrers entry
  std::string annotations_json;
  std::int64_t now = 0;
};

/// Thread-safe access to registry.db: every method takes an internal mutex and runs its
/// statements (in one transaction where it writes several rows). Throws util::Error (IO or
/// Timeout) when SQLite fails.
class Metadata {
 public:
  /// Opens or creates the database and its schema.
  explicit Metadata(const std::filesystem::path& path);

  // Repositories.
  bool repository_exists(std::string_view repo);
  /// Repository names sorted bytewise, strictly after `after` (empty: from the start).
  std::vector<std::string> list_repositories(std::string_view after, std::size_t limit);

  // Blob visibility.
  /// Lets `repo` read `digest`, creating the repository if needed.
  void link_blob(std::string_view repo, std::string_view digest, std::int64_t now);
  bool blob_linked(std::string_view repo, std::string_view digest);
  /// Removes the link; false when there was none.
  bool unlink_blob(std::string_view repo, std::string_view digest);
  /// True when any repository may read the blob.
  bool blob_linked_anywhere(std::string_view digest);

  // Manifests and tags.
  void put_manifest(const ManifestPut& put);
  std::optional<ManifestRecord> find_manifest(std::string_view repo, std::string_view digest);
  /// The manifest digest a tag points at.
  std::optional<std::string> resolve_tag(std::string_view repo, std::string_view tag);
  /// Removes a tag; false when it did not exist.
  bool delete_tag(std::string_view repo, std::string_view tag);
  /// Removes a manifest, the tags pointing at it, its referrers entry and its blob link;
  /// false when it did not exist.
  bool delete_manifest(std::string_view repo, std::string_view digest);
  /// Tags sorted bytewise, strictly after `after`.
  std::vector<std::string> list_tags(std::string_view repo, std::string_view after,
                                     std::size_t limit);
  /// Manifests of `repo` whose subject is `subject`, by digest; filtered by artifact type
  /// when `artifact_type` is set.
  std::vector<ReferrerRecord> list_referrers(std::string_view repo, std::string_view subject,
                                             const std::optional<std::string>& artifact_type);

  // Upload sessions.
  void create_upload(const UploadRecord& upload);
  std::optional<UploadRecord> find_upload(std::string_view uuid);
  void set_upload_offset(std::string_view uuid, std::uint64_t offset, std::int64_t now);
  bool delete_upload(std::string_view uuid);
  std::size_t count_uploads();
  /// Sessions last updated before `before` (Unix seconds).
  std::vector<UploadRecord> uploads_updated_before(std::int64_t before);
  /// True when a session with this id exists (for sweeping orphan files).
  bool upload_exists(std::string_view uuid);

 private:
  void ensure_repository(std::string_view repo, std::int64_t now);
  std::mutex m_mutex;
  sql::Connection m_db;
};

}  // namespace strata::registry
