// cache::Store: opening the store, blob lookups, the build cache and tags. Blob writing is
// in blob_writer.cpp, reachability and GC in gc.cpp, verification in verify.cpp.
//
// Invariants every method keeps, whatever other processes do at the same time:
//  - a file under blobs/ is complete and named by the hash of its content (it appears
//    only by rename(2) of a fsynced temp file, and is read-only);
//  - a file appears in, or disappears from, blobs/ only while its writer holds the
//    database's write lock (BEGIN IMMEDIATE), and in the same transaction as its row;
//  - a layer row never outlives its blob row.
// A crash can still leave a row without a file (the rename was durable, the commit was
// not, or the reverse), so readers check the file and treat a missing one as absent.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <random>

#include "cache/schema.hpp"
#include "cache/store_impl.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::cache {

namespace fs = std::filesystem;
using util::ErrorKind;

namespace {

constexpr std::int64_t k_stale_tmp_seconds = 3600;

bool file_exists(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void make_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    util::fail_errno("cannot create store directory " + dir.string());
  }
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

oci::Digest row_digest(const std::string& text, const Database& db) {
  auto digest = oci::Digest::try_parse(text);
  if (!digest) {
    util::fail(ErrorKind::Corruption, "database " + db.path().string() +
                                          " holds an invalid digest '" + text +
                                          "'; run `strata cache verify`");
  }
  return *digest;
}

}  // namespace

std::int64_t unix_now() noexcept {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::string random_token() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          static_cast<std::uint64_t>(::getpid())};
  static constexpr char k_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(16, 'x');
  for (auto& c : s) {
    c = k_chars[rng() % (sizeof(k_chars) - 1)];
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// BlobTrash

bool BlobTrash::move(const fs::path& blob) {
  fs::path to = m_tmp / ("gc-" + blob.filename().string().substr(0, 16) + "-" + random_token());
  if (::rename(blob.c_str(), to.c_str()) != 0) {
    if (errno == ENOENT) {
      return false;
    }
    util::fail_errno("cannot move " + blob.string() + " out of the store");
  }
  m_moved.emplace_back(blob, std::move(to));
  return true;
}

void BlobTrash::purge() noexcept {
  for (const auto& [from, to] : m_moved) {
    ::unlink(to.c_str());
  }
  m_moved.clear();
}

void BlobTrash::restore() noexcept {
  for (const auto& [from, to] : m_moved) {
    ::rename(to.c_str(), from.c_str());
  }
  m_moved.clear();
}

// ---------------------------------------------------------------------------------------
// Store::Impl

fs::path Store::Impl::blob_path(const oci::Digest& digest) const {
  if (digest.empty()) {
    util::fail(ErrorKind::InvalidInput, "empty digest has no blob path in store " + root.string());
  }
  return root / "blobs" / digest.algorithm() / digest.hex();
}

void Store::Impl::upsert_blob(const oci::Digest& digest, std::uint64_t size,
                              const std::string& media_type, std::int64_t now) {
  db->query(
        "INSERT INTO blobs(digest, size, media_type, created, last_used) VALUES(?1, ?2, ?3, ?4, "
        "?4) "
        "ON CONFLICT(digest) DO UPDATE SET size = excluded.size, last_used = "
        "max(last_used, excluded.last_used), media_type = CASE WHEN media_type = '' THEN "
        "excluded.media_type ELSE media_type END")
      .bind(1, digest.str())
      .bind(2, size)
      .bind(3, media_type)
      .bind(4, now)
      .run();
}

void Store::Impl::delete_blob_rows(const oci::Digest& digest) {
  db->query("DELETE FROM layers WHERE blob = ?1").bind(1, digest.str()).run();
  db->query("DELETE FROM blobs WHERE digest = ?1").bind(1, digest.str()).run();
}

std::size_t Store::Impl::sweep_tmp(std::int64_t older_than) noexcept {
  const std::int64_t now = unix_now();
  std::size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    const fs::path path = it->path();
    // ctime: a write or a rename (GC trash) refreshes it, mtime would not.
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        now - static_cast<std::int64_t>(st.st_ctime) < older_than) {
      continue;
    }
    // A live writer holds a lock on its temp file, however slow it is.
    util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0 && ::unlink(path.c_str()) == 0) {
      ++removed;
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------
// Store

Store::Store(fs::path root) : Store(std::move(root), Options{}) {}

Store::Store(fs::path root, Options options) : m_impl(std::make_unique<Impl>()) {
  m_impl->clock =
      options.clock ? std::move(options.clock) : std::function<std::int64_t()>(unix_now);
  m_impl->fsync = options.fsync;
  if (root.empty()) {
    util::fail(ErrorKind::InvalidInput, "store root is empty; pass a directory or set STRATA_HOME");
  }
  m_impl->root = std::move(root);
  m_impl->tmp = m_impl->root / "tmp";
  std::error_code ec;
  fs::create_directories(m_impl->root, ec);
  if (ec) {
    util::fail(ErrorKind::IO,
               "cannot create store directory " + m_impl->root.string() + ": " + ec.message());
  }
  make_dir(m_impl->root / "blobs");
  make_dir(m_impl->root / "blobs" / "sha256");
  make_dir(m_impl->root / "blobs" / "sha512");
  make_dir(m_impl->tmp);
  m_impl->db = std::make_unique<Database>(m_impl->root / "strata.db");
  migrate(*m_impl->db);
  m_impl->sweep_tmp(k_stale_tmp_seconds);
}

std::size_t Store::sweep_temp(std::int64_t older_than) {
  return m_impl->sweep_tmp(older_than);
}

Store::~Store() = default;

fs::path Store::default_root() {
  if (auto home = env("STRATA_HOME"); !home.empty()) {
    return home;
  }
  // The XDG spec says relative values are invalid and must be ignored.
  if (auto xdg = env("XDG_CACHE_HOME"); !xdg.empty() && fs::path(xdg).is_absolute()) {
    return fs::path(xdg) / "strata";
  }
  if (auto home = env("HOME"); !home.empty()) {
    return fs::path(home) / ".cache" / "strata";
  }
  if (::geteuid() == 0) {
    return "/var/lib/strata";
  }
  util::fail(ErrorKind::InvalidInput,
             "cannot choose a store directory: none of STRATA_HOME, XDG_CACHE_HOME, HOME is "
             "set; set STRATA_HOME or pass --store");
}

const fs::path& Store::root() const noexcept {
  return m_impl->root;
}

fs::path Store::blob_path(const oci::Digest& digest) const {
  return m_impl->blob_path(digest);
}

bool Store::has_blob(const oci::Digest& digest) const {
  return file_exists(m_impl->blob_path(digest));
}

std::string Store::read_blob(const oci::Digest& digest) const {
  const fs::path path = m_impl->blob_path(digest);
  std::string data;
  try {
    data = util::read_file(path);
  } catch (const util::Error& e) {
    if (e.kind() == ErrorKind::NotFound) {
      util::fail(ErrorKind::NotFound,
                 "blob " + digest.str() + " is not in the store " + m_impl->root.string());
    }
    throw;
  }
  if (auto alg = digest.hash_algorithm()) {
    const auto actual = oci::Digest::of(data, *alg);
    if (actual != digest) {
      util::fail(ErrorKind::Corruption, "blob " + digest.str() + " in store " +
                                            m_impl->root.string() +
                                            " is corrupt (content hashes to " + actual.str() +
                                            "); run `strata cache verify`");
    }
  }
  return data;
}

std::unique_ptr<util::Source> Store::open_blob(const oci::Digest& digest) const {
  const fs::path path = m_impl->blob_path(digest);
  util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) {
      util::fail(ErrorKind::NotFound,
                 "blob " + digest.str() + " is not in the store " + m_impl->root.string());
    }
    util::fail_errno("cannot open blob " + path.string());
  }
  return std::make_unique<util::FileSource>(std::move(fd), path.string());
}

std::optional<BlobInfo> Store::blob_info(const oci::Digest& digest) const {
  std::optional<BlobInfo> info;
  {
    std::lock_guard lock(m_impl->mutex);
    auto q = m_impl->db->query("SELECT size, media_type, last_used FROM blobs WHERE digest = ?1");
    q.bind(1, digest.str());
    if (q.step()) {
      info = BlobInfo{digest, static_cast<std::uint64_t>(q.integer(0)), q.text(1), q.integer(2)};
    }
  }
  if (info && !file_exists(m_impl->blob_path(digest))) {
    return std::nullopt;
  }
  return info;
}

std::vector<BlobInfo> Store::list_blobs() const {
  std::vector<BlobInfo> out;
  std::lock_guard lock(m_impl->mutex);
  auto q =
      m_impl->db->query("SELECT digest, size, media_type, last_used FROM blobs ORDER BY digest");
  while (q.step()) {
    out.push_back(BlobInfo{row_digest(q.text(0), *m_impl->db),
                           static_cast<std::uint64_t>(q.integer(1)), q.text(2), q.integer(3)});
  }
  return out;
}

void Store::touch_blob(const oci::Digest& digest) {
  const fs::path path = m_impl->blob_path(digest);
  std::lock_guard lock(m_impl->mutex);
  Transaction txn(*m_impl->db);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    m_impl->delete_blob_rows(digest);
    txn.commit();
    util::fail(ErrorKind::NotFound,
               "blob " + digest.str() + " is not in the store " + m_impl->root.string());
  }
  m_impl->upsert_blob(digest, static_cast<std::uint64_t>(st.st_size), "", m_impl->now());
  txn.commit();
}

std::optional<LayerRecord> Store::find_layer(const std::string& key) {
  std::lock_guard lock(m_impl->mutex);
  // One write transaction: the file check and the touch happen where GC cannot move the
  // blob in between, and the touch gives the caller the GC grace period to use it.
  Transaction txn(*m_impl->db);
  std::optional<LayerRecord> record;
  {
    auto q = m_impl->db->query(
        "SELECT diff_id, blob, size, media_type, created_by FROM layers WHERE key = ?1");
    q.bind(1, key);
    if (!q.step()) {
      return std::nullopt;
    }
    record = LayerRecord{key,
                         row_digest(q.text(0), *m_impl->db),
                         row_digest(q.text(1), *m_impl->db),
                         static_cast<std::uint64_t>(q.integer(2)),
                         q.text(3),
                         q.text(4)};
  }
  struct stat st {};
  if (::stat(m_impl->blob_path(record->blob).c_str(), &st) != 0) {
    m_impl->delete_blob_rows(record->blob);
    m_impl->db->query("DELETE FROM layers WHERE key = ?1").bind(1, key).run();
    txn.commit();
    return std::nullopt;
  }
  m_impl->upsert_blob(record->blob, static_cast<std::uint64_t>(st.st_size), record->media_type,
                      m_impl->now());
  txn.commit();
  return record;
}

void Store::put_layer(const LayerRecord& record) {
  if (record.key.empty()) {
    util::fail(ErrorKind::InvalidInput, "layer cache entry has an empty key");
  }
  const fs::path path = m_impl->blob_path(record.blob);
  std::lock_guard lock(m_impl->mutex);
  Transaction txn(*m_impl->db);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    util::fail(ErrorKind::NotFound, "cannot record layer cache entry " + record.key + ": blob " +
                                        record.blob.str() + " is not in the store " +
                                        m_impl->root.string() + "; store the blob first");
  }
  const std::int64_t now = m_impl->now();
  m_impl->upsert_blob(record.blob, static_cast<std::uint64_t>(st.st_size), record.media_type, now);
  m_impl->db
      ->query(
          "INSERT OR REPLACE INTO layers(key, diff_id, blob, size, media_type, created_by, "
          "created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)")
      .bind(1, record.key)
      .bind(2, record.diff_id.str())
      .bind(3, record.blob.str())
      .bind(4, record.size)
      .bind(5, record.media_type)
      .bind(6, record.created_by)
      .bind(7, now)
      .run();
  txn.commit();
}

std::vector<LayerRecord> Store::list_layers() const {
  std::vector<LayerRecord> out;
  std::lock_guard lock(m_impl->mutex);
  auto q = m_impl->db->query(
      "SELECT key, diff_id, blob, size, media_type, created_by FROM layers ORDER BY key");
  while (q.step()) {
    out.push_back(LayerRecord{q.text(0), row_digest(q.text(1), *m_impl->db),
                              row_digest(q.text(2), *m_impl->db),
                              static_cast<std::uint64_t>(q.integer(3)), q.text(4), q.text(5)});
  }
  return out;
}

void Store::set_tag(const TagRecord& tag) {
  if (tag.name.empty()) {
    util::fail(ErrorKind::InvalidInput, "tag name is empty");
  }
  const fs::path path = m_impl->blob_path(tag.manifest);
  std::lock_guard lock(m_impl->mutex);
  Transaction txn(*m_impl->db);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    util::fail(ErrorKind::NotFound, "cannot tag " + tag.name + ": manifest " + tag.manifest.str() +
                                        " is not in the store " + m_impl->root.string() +
                                        "; store the manifest first");
  }
  const std::int64_t now = m_impl->now();
  m_impl->upsert_blob(tag.manifest, static_cast<std::uint64_t>(st.st_size), tag.media_type, now);
  std::string media_type = tag.media_type;
  if (media_type.empty()) {
    auto q = m_impl->db->query("SELECT media_type FROM blobs WHERE digest = ?1");
    q.bind(1, tag.manifest.str());
    if (q.step()) {
      media_type = q.text(0);
    }
  }
  m_impl->db
      ->query(
          "INSERT OR REPLACE INTO tags(name, manifest, media_type, updated) "
          "VALUES(?1, ?2, ?3, ?4)")
      .bind(1, tag.name)
      .bind(2, tag.manifest.str())
      .bind(3, media_type)
      .bind(4, tag.updated != 0 ? tag.updated : now)
      .run();
  txn.commit();
}

std::optional<TagRecord> Store::find_tag(const std::string& name) const {
  std::lock_guard lock(m_impl->mutex);
  auto q = m_impl->db->query("SELECT manifest, media_type, updated FROM tags WHERE name = ?1");
  q.bind(1, name);
  if (!q.step()) {
    return std::nullopt;
  }
  return TagRecord{name, row_digest(q.text(0), *m_impl->db), q.text(1), q.integer(2)};
}

std::vector<TagRecord> Store::list_tags() const {
  std::vector<TagRecord> out;
  std::lock_guard lock(m_impl->mutex);
  auto q = m_impl->db->query("SELECT name, manifest, media_type, updated FROM tags ORDER BY name");
  while (q.step()) {
    out.push_back(
        TagRecord{q.text(0), row_digest(q.text(1), *m_impl->db), q.text(2), q.integer(3)});
  }
  return out;
}

void Store::remove_tag(const std::string& name) {
  std::lock_guard lock(m_impl->mutex);
  Transaction txn(*m_impl->db);
  if (m_impl->db->query("DELETE FROM tags WHERE name = ?1").bind(1, name).run() == 0) {
    util::fail(ErrorKind::NotFound, "tag " + name + " not found in store " + m_impl->root.string());
  }
  txn.commit();
}

}  // namespace strata::cache
