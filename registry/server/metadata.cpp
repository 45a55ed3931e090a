#include "registry/server/metadata.hpp"

#include <chrono>

namespace strata::registry {

namespace {

constexpr std::string_view k_schema = R"sql(
CREATE TABLE IF NOT EXISTS repositories (
  name TEXT PRIMARY KEY,
  created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repo_blobs (
  repo TEXT NOT NULL,
  digest TEXT NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS repo_blobs_digest ON repo_blobs(digest);
CREATE TABLE IF NOT EXISTS manifests (
  repo TEXT NOT NULL,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (
  repo TEXT NOT NULL,
  tag TEXT NOT NULL,
  digest TEXT NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY (repo, tag)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS referrers (
  repo TEXT NOT NULL,
  subject TEXT NOT NULL,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  artifact_type TEXT NOT NULL,
  annotations TEXT NOT NULL,
  PRIMARY KEY (repo, subject, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS referrers_digest ON referrers(repo, digest);
CREATE TABLE IF NOT EXISTS uploads (
  uuid TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  received INTEGER NOT NULL,
  path TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  started INTEGER NOT NULL,
  updated INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 2: repo_blobs.touched, the last time the link was created, re-linked (upload
// completion, mount, manifest PUT) or checked (HEAD/GET, a manifest PUT referencing the
// blob). GC never removes a link touched within its grace period.
constexpr std::string_view k_migration_2 = R"sql(
ALTER TABLE repo_blobs ADD COLUMN touched INTEGER NOT NULL DEFAULT 0;
UPDATE repo_blobs SET touched = created;
CREATE INDEX IF NOT EXISTS repo_blobs_touched ON repo_blobs(touched);
PRAGMA user_version = 2;
)sql";

constexpr std::int64_t k_schema_version = 2;

std::int64_t as_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }

UploadRecord read_upload(const cache::Query& st) {
  UploadRecord u;
  u.uuid = st.text(0);
  u.repo = st.text(1);
  u.offset = static_cast<std::uint64_t>(st.integer(2));
  u.path = st.text(3);
  u.algorithm = st.text(4);
  u.started = st.integer(5);
  u.updated = st.integer(6);
  return u;
}

/// Creates a link or refreshes its touched time.
void upsert_link(cache::Database& db, std::string_view repo, std::string_view digest,
                 std::int64_t now) {
  db.query("INSERT INTO repo_blobs(repo, digest, created, touched) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT(repo, digest) DO UPDATE SET touched = MAX(touched, "
                 "excluded.touched)")
      .bind(1, repo)
      .bind(2, digest)
      .bind(3, now)
      .bind(4, now)
      .run();
}

constexpr std::string_view k_upload_columns =
    "SELECT uuid, repo, received, path, algorithm, started, updated FROM uploads ";

}  // namespace

Metadata::Metadata(const std::filesystem::path& path) : Metadata(path, {}) {}

Metadata::Metadata(const std::filesystem::path& path, std::function<std::int64_t()> clock)
    : m_clock(std::move(clock)),
      m_db(path, cache::Database::Options{std::chrono::milliseconds(5000)}) {
  std::lock_guard lock(m_mutex);
  m_db.exec(k_schema);
  migrate();
}

void Metadata::migrate() {
  const auto version = [this] {
    auto st = m_db.query("PRAGMA user_version");
    st.step();
    return st.integer(0);
  };
  if (version() >= k_schema_version) {
    return;
  }
  cache::Transaction txn(m_db);
  if (version() < 2) {  // re-read under the write lock: another process may have migrated
    m_db.exec(k_migration_2);
  }
  txn.commit();
}

std::int64_t Metadata::now() const {
  if (m_clock) {
    return m_clock();
  }
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Metadata::ensure_repository(std::string_view repo, std::int64_t now) {
  m_db.query("INSERT OR IGNORE INTO repositories(name, created) VALUES (?, ?)")
      .bind(1, repo)
      .bind(2, now)
      .run();
}

bool Metadata::repository_exists(std::string_view repo) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT 1 FROM repositories WHERE name = ?");
  st.bind(1, repo);
  return st.step();
}

std::vector<std::string> Metadata::list_repositories(std::string_view after, std::size_t limit) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?");
  st.bind(1, after).bind(2, as_int(limit));
  std::vector<std::string> out;
  while (st.step()) {
    out.push_back(st.text(0));
  }
  return out;
}

void Metadata::link_blob(std::string_view repo, std::string_view digest, std::int64_t now) {
  std::lock_guard lock(m_mutex);
  cache::Transaction txn(m_db);
  ensure_repository(repo, now);
  upsert_link(m_db, repo, digest, now);
  txn.commit();
}

bool Metadata::blob_linked(std::string_view repo, std::string_view digest) {
  std::lock_guard lock(m_mutex);
  std::int64_t touched = 0;
  {
    auto st = m_db.query("SELECT touched FROM repo_blobs WHERE repo = ? AND digest = ?");
    st.bind(1, repo).bind(2, digest);
    if (!st.step()) {
      return false;
    }
    touched = st.integer(0);
  }
  const std::int64_t t = now();
  if (touched < t) {
    m_db.query("UPDATE repo_blobs SET touched = ? WHERE repo = ? AND digest = ? AND "
                   "touched < ?")
        .bind(1, t)
        .bind(2, repo)
        .bind(3, digest)
        .bind(4, t)
        .run();
    if (m_db.changes() == 0) {  // another process removed (GC) or touched it meanwhile
      auto again = m_db.query("SELECT 1 FROM repo_blobs WHERE repo = ? AND digest = ?");
      again.bind(1, repo).bind(2, digest);
      return again.step();
    }
  }
  return true;
}

bool Metadata::unlink_blob(std::string_view repo, std::string_view digest) {
  std::lock_guard lock(m_mutex);
  m_db.query("DELETE FROM repo_blobs WHERE repo = ? AND digest = ?")
      .bind(1, repo)
      .bind(2, digest)
      .run();
  return m_db.changes() > 0;
}

bool Metadata::blob_linked_anywhere(std::string_view digest) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT 1 FROM repo_blobs WHERE digest = ? LIMIT 1");
  st.bind(1, digest);
  return st.step();
}

void Metadata::put_manifest(const ManifestPut& put) {
  std::lock_guard lock(m_mutex);
  cache::Transaction txn(m_db);
  ensure_repository(put.repo, put.now);
  m_db.query("INSERT INTO manifests(repo, digest, media_type, size, created) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT(repo, digest) DO UPDATE SET "
                 "media_type = excluded.media_type, size = excluded.size")
      .bind(1, put.repo)
      .bind(2, put.digest)
      .bind(3, put.media_type)
      .bind(4, as_int(put.size))
      .bind(5, put.now)
      .run();
  upsert_link(m_db, put.repo, put.digest, put.now);
  for (const auto& tag : put.tags) {
    m_db.query("INSERT INTO tags(repo, tag, digest, updated) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT(repo, tag) DO UPDATE SET digest = excluded.digest, "
                   "updated = excluded.updated")
        .bind(1, put.repo)
        .bind(2, tag)
        .bind(3, put.digest)
        .bind(4, put.now)
        .run();
  }
  if (put.subject) {
    m_db.query("INSERT OR REPLACE INTO referrers(repo, subject, digest, media_type, size, "
                   "artifact_type, annotations) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(1, put.repo)
        .bind(2, *put.subject)
        .bind(3, put.digest)
        .bind(4, put.media_type)
        .bind(5, as_int(put.size))
        .bind(6, put.artifact_type)
        .bind(7, put.annotations_json)
        .run();
  }
  txn.commit();
}

std::optional<ManifestRecord> Metadata::find_manifest(std::string_view repo,
                                                      std::string_view digest) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT media_type, size FROM manifests WHERE repo = ? AND digest = ?");
  st.bind(1, repo).bind(2, digest);
  if (!st.step()) {
    return std::nullopt;
  }
  return ManifestRecord{std::string(digest), st.text(0), static_cast<std::uint64_t>(st.integer(1))};
}

std::optional<std::string> Metadata::resolve_tag(std::string_view repo, std::string_view tag) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT digest FROM tags WHERE repo = ? AND tag = ?");
  st.bind(1, repo).bind(2, tag);
  if (!st.step()) {
    return std::nullopt;
  }
  return st.text(0);
}

bool Metadata::delete_tag(std::string_view repo, std::string_view tag) {
  std::lock_guard lock(m_mutex);
  m_db.query("DELETE FROM tags WHERE repo = ? AND tag = ?").bind(1, repo).bind(2, tag).run();
  return m_db.changes() > 0;
}

bool Metadata::delete_manifest(std::string_view repo, std::string_view digest) {
  std::lock_guard lock(m_mutex);
  cache::Transaction txn(m_db);
  m_db.query("DELETE FROM manifests WHERE repo = ? AND digest = ?")
      .bind(1, repo)
      .bind(2, digest)
      .run();
  if (m_db.changes() == 0) {
    return false;  // the transaction rolls back; nothing was changed
  }
  for (const char* sql_text : {"DELETE FROM tags WHERE repo = ? AND digest = ?",
                               "DELETE FROM referrers WHERE repo = ? AND digest = ?",
                               "DELETE FROM repo_blobs WHERE repo = ? AND digest = ?"}) {
    m_db.query(sql_text).bind(1, repo).bind(2, digest).run();
  }
  txn.commit();
  return true;
}

std::vector<std::string> Metadata::list_tags(std::string_view repo, std::string_view after,
                                             std::size_t limit) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?");
  st.bind(1, repo).bind(2, after).bind(3, as_int(limit));
  std::vector<std::string> out;
  while (st.step()) {
    out.push_back(st.text(0));
  }
  return out;
}

std::vector<ReferrerRecord> Metadata::list_referrers(
    std::string_view repo, std::string_view subject,
    const std::optional<std::string>& artifact_type) {
  std::lock_guard lock(m_mutex);
  std::string text =
      "SELECT digest, media_type, size, artifact_type, annotations FROM referrers "
      "WHERE repo = ? AND subject = ?";
  if (artifact_type) {
    text += " AND artifact_type = ?";
  }
  text += " ORDER BY digest";
  auto st = m_db.query(text);
  st.bind(1, repo).bind(2, subject);
  if (artifact_type) {
    st.bind(3, *artifact_type);
  }
  std::vector<ReferrerRecord> out;
  while (st.step()) {
    out.push_back({st.text(0), st.text(1), static_cast<std::uint64_t>(st.integer(2)), st.text(3),
                   st.text(4)});
  }
  return out;
}

void Metadata::create_upload(const UploadRecord& u) {
  std::lock_guard lock(m_mutex);
  m_db.query("INSERT INTO uploads(uuid, repo, received, path, algorithm, started, updated) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(1, u.uuid)
      .bind(2, u.repo)
      .bind(3, as_int(u.offset))
      .bind(4, u.path)
      .bind(5, u.algorithm)
      .bind(6, u.started)
      .bind(7, u.updated)
      .run();
}

std::optional<UploadRecord> Metadata::find_upload(std::string_view uuid) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query(std::string(k_upload_columns) + "WHERE uuid = ?");
  st.bind(1, uuid);
  if (!st.step()) {
    return std::nullopt;
  }
  return read_upload(st);
}

void Metadata::set_upload_offset(std::string_view uuid, std::uint64_t offset, std::int64_t now) {
  std::lock_guard lock(m_mutex);
  m_db.query("UPDATE uploads SET received = ?, updated = ? WHERE uuid = ?")
      .bind(1, as_int(offset))
      .bind(2, now)
      .bind(3, uuid)
      .run();
}

bool Metadata::delete_upload(std::string_view uuid) {
  std::lock_guard lock(m_mutex);
  m_db.query("DELETE FROM uploads WHERE uuid = ?").bind(1, uuid).run();
  return m_db.changes() > 0;
}

std::size_t Metadata::count_uploads() {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT COUNT(*) FROM uploads");
  st.step();
  return static_cast<std::size_t>(st.integer(0));
}

std::vector<UploadRecord> Metadata::uploads_updated_before(std::int64_t before) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query(std::string(k_upload_columns) + "WHERE updated < ?");
  st.bind(1, before);
  std::vector<UploadRecord> out;
  while (st.step()) {
    out.push_back(read_upload(st));
  }
  return out;
}

bool Metadata::upload_exists(std::string_view uuid) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT 1 FROM uploads WHERE uuid = ?");
  st.bind(1, uuid);
  return st.step();
}

std::vector<StoredManifest> Metadata::list_manifests(std::string_view repo) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT digest, media_type, size, created FROM manifests WHERE repo = ? "
                    "ORDER BY digest");
  st.bind(1, repo);
  std::vector<StoredManifest> out;
  while (st.step()) {
    out.push_back({st.text(0), st.text(1), static_cast<std::uint64_t>(st.integer(2)),
                   st.integer(3)});
  }
  return out;
}

std::vector<TagEntry> Metadata::list_tag_targets(std::string_view repo) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT tag, digest FROM tags WHERE repo = ? ORDER BY tag");
  st.bind(1, repo);
  std::vector<TagEntry> out;
  while (st.step()) {
    out.push_back({st.text(0), st.text(1)});
  }
  return out;
}

std::vector<LinkRecord> Metadata::list_links(std::string_view repo) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT digest, created, touched FROM repo_blobs WHERE repo = ? "
                    "ORDER BY digest");
  st.bind(1, repo);
  std::vector<LinkRecord> out;
  while (st.step()) {
    out.push_back({st.text(0), st.integer(1), st.integer(2)});
  }
  return out;
}

std::vector<ReferrerLink> Metadata::list_referrer_links(std::string_view repo) {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query("SELECT subject, digest FROM referrers WHERE repo = ? ORDER BY subject, "
                    "digest");
  st.bind(1, repo);
  std::vector<ReferrerLink> out;
  while (st.step()) {
    out.push_back({st.text(0), st.text(1)});
  }
  return out;
}

std::vector<UploadRecord> Metadata::list_uploads() {
  std::lock_guard lock(m_mutex);
  auto st = m_db.query(std::string(k_upload_columns) + "ORDER BY uuid");
  std::vector<UploadRecord> out;
  while (st.step()) {
    out.push_back(read_upload(st));
  }
  return out;
}

bool Metadata::collect_manifest(std::string_view repo, std::string_view digest,
                                std::int64_t created_before, std::int64_t touched_before) {
  std::lock_guard lock(m_mutex);
  cache::Transaction txn(m_db);
  {
    auto st = m_db.query("SELECT 1 FROM manifests m WHERE m.repo = ?1 AND m.digest = ?2 AND "
                      "m.created < ?3 "
                      "AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = ?1 AND t.digest = ?2) "
                      "AND NOT EXISTS (SELECT 1 FROM repo_blobs b WHERE b.repo = ?1 AND "
                      "b.digest = ?2 AND b.touched >= ?4)");
    st.bind(1, repo).bind(2, digest).bind(3, created_before).bind(4, touched_before);
    if (!st.step()) {
      return false;  // tagged, re-pushed or referenced meanwhile: keep it
    }
  }
  for (const char* sql_text : {"DELETE FROM manifests WHERE repo = ? AND digest = ?",
                               "DELETE FROM referrers WHERE repo = ? AND digest = ?",
                               "DELETE FROM repo_blobs WHERE repo = ? AND digest = ?"}) {
    m_db.query(sql_text).bind(1, repo).bind(2, digest).run();
  }
  txn.commit();
  return true;
}

std::vector<std::string> Metadata::collect_links(std::string_view repo,
                                                const std::vector<std::string>& digests,
                                                std::int64_t touched_before) {
  std::lock_guard lock(m_mutex);
  cache::Transaction txn(m_db);
  std::vector<std::string> removed;
  for (const auto& digest : digests) {
    m_db.query("DELETE FROM repo_blobs WHERE repo = ?1 AND digest = ?2 AND touched < ?3 "
                   "AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = ?1 AND "
                   "m.digest = ?2)")
        .bind(1, repo)
        .bind(2, digest)
        .bind(3, touched_before)
        .run();
    if (m_db.changes() > 0) {
      removed.push_back(digest);
    }
  }
  txn.commit();
  return removed;
}

bool Metadata::collect_repository_if_empty(std::string_view repo) {
  std::lock_guard lock(m_mutex);
  m_db.query("DELETE FROM repositories WHERE name = ?1 "
                 "AND NOT EXISTS (SELECT 1 FROM repo_blobs WHERE repo = ?1) "
                 "AND NOT EXISTS (SELECT 1 FROM manifests WHERE repo = ?1) "
                 "AND NOT EXISTS (SELECT 1 FROM tags WHERE repo = ?1) "
                 "AND NOT EXISTS (SELECT 1 FROM uploads WHERE repo = ?1)")
      .bind(1, repo)
      .run();
  return m_db.changes() > 0;
}

void Metadata::with_unlinked_frozen(
    const std::vector<std::string>& digests,
    const std::function<void(const std::vector<std::string>&)>& fn) {
  std::lock_guard lock(m_mutex);
  cache::Transaction txn(m_db);
  std::vector<std::string> unlinked;
  for (const auto& digest : digests) {
    auto st = m_db.query("SELECT 1 FROM repo_blobs WHERE digest = ? LIMIT 1");
    st.bind(1, digest);
    if (!st.step()) {
      unlinked.push_back(digest);
    }
  }
  fn(unlinked);
  txn.commit();
}

}  // namespace strata::registry
