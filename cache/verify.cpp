// Store::verify: re-hash every blob file and reconcile files with rows.
//
// Hashing can take long (gigabytes of layers), so it runs without the store mutex or a
// database lock: first a snapshot of the rows and a listing of blobs/, then the hashing,
// then one short write transaction that applies the findings. A file judged bad is only
// removed if it is still the same file (inode, size, ctime) as the one hashed, so a blob
// that GC removed and a writer re-published meanwhile is left alone; a row judged missing
// is only dropped if its file is still missing.
#include <sys/stat.h>

#include <map>
#include <set>

#include "cache/store_impl.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

namespace strata::cache {

namespace fs = std::filesystem;

namespace {

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

}  // namespace

Store::VerifyResult Store::verify() {
  VerifyResult result;
  std::map<oci::Digest, std::uint64_t> rows;
  {
    std::lock_guard lock(m_impl->mutex);
    auto q = m_impl->db->query("SELECT digest, size FROM blobs");
    while (q.step()) {
      if (auto digest = oci::Digest::try_parse(q.text(0))) {
        rows[*digest] = static_cast<std::uint64_t>(q.integer(1));
      }
    }
  }

  struct Bad {
    Impl::BlobFile file;
    std::string reason;
  };
  std::vector<Bad> bad_files;
  std::vector<Impl::BlobFile> unregistered;
  std::set<oci::Digest> on_disk;
  for (auto& file : m_impl->scan_blob_files(&result.stray)) {
    on_disk.insert(file.digest);
    ++result.checked;
    result.checked_bytes += static_cast<std::uint64_t>(file.st.st_size);
    std::string actual_hex;
    try {
      actual_hex = util::hash_file_hex(file.path.string(), *file.digest.hash_algorithm());
    } catch (const util::Error& e) {
      if (e.kind() == util::ErrorKind::NotFound) {
        on_disk.erase(file.digest);  // removed meanwhile (GC): not ours to judge
        continue;
      }
      throw;
    }
    if (actual_hex != file.digest.hex()) {
      bad_files.push_back(
          Bad{file, "content hashes to " + file.digest.algorithm() + ":" + actual_hex});
    } else if (!rows.contains(file.digest)) {
      unregistered.push_back(std::move(file));
    }
  }

  std::lock_guard lock(m_impl->mutex);
  Transaction txn(*m_impl->db);
  BlobTrash trash(m_impl->tmp);
  for (const auto& bad : bad_files) {
    struct stat now {};
    if (::lstat(bad.file.path.c_str(), &now) != 0 || !same_file(now, bad.file.st)) {
      continue;  // replaced or removed since it was hashed
    }
    m_impl->delete_blob_rows(bad.file.digest);
    trash.move(bad.file.path);
    result.bad.push_back(bad.file.digest);
    result.issues.push_back(VerifyIssue{bad.file.digest, bad.reason});
  }
  for (const auto& [digest, size] : rows) {
    if (on_disk.contains(digest)) {
      continue;
    }
    struct stat st {};
    if (::stat(m_impl->blob_path(digest).c_str(), &st) == 0) {
      continue;  // published after the listing
    }
    m_impl->delete_blob_rows(digest);
    result.bad.push_back(digest);
    result.issues.push_back(VerifyIssue{digest, "file is missing"});
  }
  for (const auto& file : unregistered) {
    struct stat now {};
    if (::lstat(file.path.c_str(), &now) != 0 || !same_file(now, file.st)) {
      continue;
    }
    const auto mtime = static_cast<std::int64_t>(file.st.st_mtime);
    m_impl->db
        ->query(
            "INSERT INTO blobs(digest, size, media_type, created, last_used) "
            "VALUES(?1, ?2, '', ?3, ?3) ON CONFLICT(digest) DO NOTHING")
        .bind(1, file.digest.str())
        .bind(2, static_cast<std::uint64_t>(file.st.st_size))
        .bind(3, mtime)
        .run();
    if (m_impl->db->changes() > 0) {
      result.registered.push_back(file.digest);
    }
  }
  txn.commit();
  trash.purge();
  return result;
}

}  // namespace strata::cache
