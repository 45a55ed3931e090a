// The input-digest cache of the store (table file_digests, schema version 2).
#include <string>
#include <vector>

#include "cache/store.hpp"
#include "cache/store_impl.hpp"

namespace strata::cache {

std::vector<Store::FileDigest> Store::load_file_digests(const std::string& prefix) const {
  std::vector<FileDigest> out;
  std::lock_guard lock(m_impl->mutex);
  // A range scan on the primary key: every path that starts with `prefix`.
  std::string upper = prefix;
  upper.push_back('\xff');
  auto q = m_impl->db->query(
      "SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM file_digests "
      "WHERE path >= ?1 AND path < ?2");
  q.bind(1, prefix).bind(2, upper);
  while (q.step()) {
    out.push_back(FileDigest{q.text(0), static_cast<std::uint64_t>(q.integer(1)),
                             static_cast<std::uint64_t>(q.integer(2)),
                             static_cast<std::uint64_t>(q.integer(3)), q.integer(4), q.integer(5),
                             q.text(6)});
  }
  return out;
}

void Store::put_file_digests(const std::vector<FileDigest>& digests) {
  if (digests.empty()) {
    return;
  }
  std::lock_guard lock(m_impl->mutex);
  Transaction txn(*m_impl->db);
  for (const auto& d : digests) {
    m_impl->db
        ->query(
            "INSERT OR REPLACE INTO file_digests (path, dev, ino, size, mtime_ns, ctime_ns, sha256) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(1, d.path)
        .bind(2, d.dev)
        .bind(3, d.ino)
        .bind(4, d.size)
        .bind(5, d.mtime_ns)
        .bind(6, d.ctime_ns)
        .bind(7, d.sha256)
        .run();
  }
  txn.commit();
}

}  // namespace strata::cache
