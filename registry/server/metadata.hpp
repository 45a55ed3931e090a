// The registry's metadata database (<root>/registry.db): which repositories exist, which
// blobs each repository may read (pushed or mounted), manifests, tags, referrers and the
// state of in-progress uploads. Blob and manifest bytes live in the store (cache::Store);
// this database only says who may see them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/database.hpp"

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

/// A repository's permission to read a blob (a row of repo_blobs).
struct LinkRecord {
  std::string digest;
  std::int64_t created = 0;  // Unix seconds of the first link
  std::int64_t touched = 0;  // last link, re-link or existence check (see blob_linked)
};

/// A manifest row with its creation time (for GC's untagged retention and fsck).
struct StoredManifest {
  std::string digest;
  std::string media_type;
  std::uint64_t size = 0;
  std::int64_t created = 0;
};

/// A tag and the manifest digest it points at.
struct TagEntry {
  std::string tag;
  std::string digest;
};

/// A referrers-index row: manifest `digest` names `subject` as its subject.
struct ReferrerLink {
  std::string subject;
  std::string digest;
};

/// Thread-safe access to registry.db: every method takes an internal mutex and runs its
/// statements (in one transaction where it writes several rows). Throws util::Error (IO or
/// Timeout) when SQLite fails.
class Metadata {
 public:
  /// Opens or creates the database and its schema (migrating an older one).
  explicit Metadata(const std::filesystem::path& path);
  /// As above, with the clock (Unix seconds) used for link touches; empty: system clock.
  Metadata(const std::filesystem::path& path, std::function<std::int64_t()> clock);

  /// The current time by this object's clock (Unix seconds).
  [[nodiscard]] std::int64_t now() const;

  // Repositories.
  bool repository_exists(std::string_view repo);
  /// Repository names sorted bytewise, strictly after `after` (empty: from the start).
  std::vector<std::string> list_repositories(std::string_view after, std::size_t limit);

  // Blob visibility.
  /// Lets `repo` read `digest`, creating the repository if needed. Re-linking an
  /// existing link refreshes its touched time (upload completion, mount).
  void link_blob(std::string_view repo, std::string_view digest, std::int64_t now);
  /// True when `repo` may read `digest`. A positive answer also refreshes the link's
  /// touched time (at most one write per link and second): every HEAD/GET of a blob and
  /// every manifest PUT that references it thereby keeps it from GC for the grace period.
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

  // Inventory for GC and fsck: whole-repository reads, one statement each (a consistent
  // snapshot per call, not across calls).
  std::vector<StoredManifest> list_manifests(std::string_view repo);
  std::vector<TagEntry> list_tag_targets(std::string_view repo);
  std::vector<LinkRecord> list_links(std::string_view repo);
  std::vector<ReferrerLink> list_referrer_links(std::string_view repo);
  /// Every upload session.
  std::vector<UploadRecord> list_uploads();

  // GC: conditional deletes, each in its own short transaction that re-checks the
  // condition, so that a push racing with GC always wins.
  /// Removes an untagged manifest (row, referrers entry, link) if it still has no tag,
  /// was created before `created_before` and its link was last touched before
  /// `touched_before`. True when removed.
  bool collect_manifest(std::string_view repo, std::string_view digest,
                        std::int64_t created_before, std::int64_t touched_before);
  /// Removes the links of `repo` to `digests` that are still untouched since before
  /// `touched_before` and are not manifests of the repository. Returns those removed.
  std::vector<std::string> collect_links(std::string_view repo, const std::vector<std::string>& digests,
                            std::int64_t touched_before);
  /// Removes a repository with no link, manifest, tag or upload session left.
  bool collect_repository_if_empty(std::string_view repo);
  /// Runs `fn` with those of `digests` that no repository links, inside a write
  /// transaction on registry.db: no link can be created (by this or another process)
  /// until `fn` returns, so `fn` may delete their bytes. Exceptions from `fn` propagate.
  void with_unlinked_frozen(const std::vector<std::string>& digests,
                            const std::function<void(const std::vector<std::string>&)>& fn);

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
  void migrate();
  std::function<std::int64_t()> m_clock;
  std::mutex m_mutex;
  cache::Database m_db;
};

}  // namespace strata::registry
