// Garbage collection of the blob store: a mark-and-sweep over one SQLite write
// transaction.
//
// Mark: the roots are the tags. Each tagged manifest and everything it references
// (an index's child manifests, recursively; a manifest's config and layers) is live.
// Layer cache entries are not roots: a cache entry dies with its blob. A blob written or
// used (find_layer, put_blob of existing content, touch_blob) within the grace period is
// also live, which is what makes GC safe against a build running at the same time: the
// build's fresh layers, configs and cache hits all carry a recent last_used until the
// build tags its image.
//
// Sweep: of the other blobs, those last used before now - max_age go, then, oldest
// last_used first, more until the store's total size fits max_bytes; with neither limit
// all of them go.
//
// Order of removal: the whole pass runs inside BEGIN IMMEDIATE, so no other process can
// publish a blob, touch one or set a tag while GC decides. For each victim GC deletes the
// layer rows and the blob row, then moves the file from blobs/ into tmp/ (BlobTrash); only
// after COMMIT succeeds are the moved files unlinked. If the commit fails the files are
// moved back, so rows and files stay consistent. Publishers take the same write lock
// before they look for an existing file, so none can see a victim's file, skip its own
// copy, and end up with a row whose file GC deleted.
//
// Before marking, GC reconciles rows and files: a file with no row (a crash between the
// rename and the commit) is registered with its mtime as last use, and a row whose file
// is gone is dropped, with its layer rows.
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "cache/store_impl.hpp"
#include "oci/image.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"

namespace strata::cache {

namespace fs = std::filesystem;
using util::ErrorKind;

std::vector<Store::Impl::BlobFile> Store::Impl::scan_blob_files(
    std::vector<fs::path>* stray) const {
  std::vector<BlobFile> out;
  for (const char* alg : {"sha256", "sha512"}) {
    const fs::path dir = root / "blobs" / alg;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      BlobFile file;
      file.path = it->path();
      if (::lstat(file.path.c_str(), &file.st) != 0) {
        continue;  // removed meanwhile
      }
      auto digest = oci::Digest::try_parse(std::string(alg) + ":" + file.path.filename().string());
      if (!digest || !S_ISREG(file.st.st_mode)) {
        if (stray != nullptr) {
          stray->push_back(file.path);
        }
        continue;
      }
      file.digest = std::move(*digest);
      out.push_back(std::move(file));
    }
    if (ec && ec != std::errc::no_such_file_or_directory) {
      util::fail(ErrorKind::IO, "cannot list " + dir.string() + ": " + ec.message());
    }
  }
  return out;
}

std::vector<oci::Digest> Store::referenced_blobs(const oci::Digest& manifest) const {
  std::vector<oci::Digest> out;
  std::set<oci::Digest> seen{manifest};
  std::vector<oci::Digest> pending{manifest};
  const auto add = [&](const oci::Digest& digest, bool descend) {
    if (seen.insert(digest).second) {
      out.push_back(digest);
      if (descend) {
        pending.push_back(digest);
      }
    }
  };
  while (!pending.empty()) {
    const oci::Digest current = pending.back();
    pending.pop_back();
    if (current != manifest && !has_blob(current)) {
      continue;  // a child the store does not hold (e.g. another platform, not pulled)
    }
    const std::string json = read_blob(current);
    const std::string what = "manifest " + current.str();
    const std::string type = oci::detect_media_type(json, what);
    if (oci::media::is_index(type)) {
      for (const auto& child : oci::parse_index(json, what).manifests) {
        add(child.digest, true);
      }
    } else if (oci::media::is_manifest(type)) {
      const oci::Manifest m = oci::parse_manifest(json, what);
      add(m.config.digest, false);
      for (const auto& layer : m.layers) {
        add(layer.digest, false);
      }
    }
  }
  return out;
}

Store::GcResult Store::gc(const GcOptions& options) {
  const std::int64_t now = options.now.value_or(m_impl->now());
  if (options.grace < 0 || (options.max_age && *options.max_age < 0)) {
    util::fail(ErrorKind::InvalidInput, "gc: grace period and maximum age must not be negative");
  }
  GcResult result;
  std::lock_guard lock(m_impl->mutex);
  Database& db = *m_impl->db;
  Transaction txn(db);

  // Reconcile rows and files.
  std::map<oci::Digest, BlobInfo> rows;
  {
    auto q = db.query("SELECT digest, size, media_type, last_used FROM blobs");
    while (q.step()) {
      if (auto digest = oci::Digest::try_parse(q.text(0))) {
        rows[*digest] =
            BlobInfo{*digest, static_cast<std::uint64_t>(q.integer(1)), q.text(2), q.integer(3)};
      }
    }
  }
  std::set<oci::Digest> on_disk;
  for (const auto& file : m_impl->scan_blob_files(nullptr)) {
    on_disk.insert(file.digest);
    if (!rows.contains(file.digest)) {
      const auto size = static_cast<std::uint64_t>(file.st.st_size);
      const auto mtime = static_cast<std::int64_t>(file.st.st_mtime);
      db.query(
            "INSERT INTO blobs(digest, size, media_type, created, last_used) "
            "VALUES(?1, ?2, '', ?3, ?3)")
          .bind(1, file.digest.str())
          .bind(2, size)
          .bind(3, mtime)
          .run();
      rows[file.digest] = BlobInfo{file.digest, size, "", mtime};
      ++result.registered;
    }
  }
  for (auto it = rows.begin(); it != rows.end();) {
    if (!on_disk.contains(it->first)) {
      m_impl->delete_blob_rows(it->first);
      it = rows.erase(it);
    } else {
      ++it;
    }
  }

  // Mark.
  std::vector<TagRecord> tags;
  {
    auto q = db.query("SELECT name, manifest FROM tags");
    while (q.step()) {
      auto digest = oci::Digest::try_parse(q.text(1));
      if (!digest) {
        util::fail(ErrorKind::Corruption, "gc: tag " + q.text(0) +
                                              " points at the invalid digest '" + q.text(1) +
                                              "'; nothing was removed");
      }
      tags.push_back(TagRecord{q.text(0), *digest, "", 0});
    }
  }
  std::set<oci::Digest> live;
  for (const auto& tag : tags) {
    if (!on_disk.contains(tag.manifest)) {
      continue;  // a dangling tag keeps nothing alive
    }
    live.insert(tag.manifest);
    try {
      for (auto& digest : referenced_blobs(tag.manifest)) {
        live.insert(std::move(digest));
      }
    } catch (const util::Error& e) {
      util::fail(ErrorKind::Corruption,
                 "gc: cannot follow tag " + tag.name + " (" + tag.manifest.str() +
                     "): " + e.what() +
                     "; nothing was removed. Remove or re-create the tag, or run `strata cache "
                     "verify`");
    }
  }

  // Sweep.
  std::uint64_t total = 0;
  std::vector<const BlobInfo*> candidates;
  for (const auto& [digest, info] : rows) {
    total += info.size;
    if (!live.contains(digest) && info.last_used <= now - options.grace) {
      candidates.push_back(&info);
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const BlobInfo* a, const BlobInfo* b) {
    return a->last_used != b->last_used ? a->last_used < b->last_used : a->digest < b->digest;
  });
  std::uint64_t remaining = total;
  for (const BlobInfo* info : candidates) {
    bool remove = false;
    if (!options.max_age && !options.max_bytes) {
      remove = true;
    } else if (options.max_age && info->last_used <= now - *options.max_age) {
      remove = true;
    } else if (options.max_bytes && remaining > *options.max_bytes) {
      remove = true;
    }
    if (remove) {
      result.removed.push_back(*info);
      remaining -= info->size;
    }
  }
  // Candidates are sorted by age, so an age victim never follows a size-only keep; the
  // single pass above is exact for both limits.
  result.removed_blobs = result.removed.size();
  result.removed_bytes = total - remaining;
  result.kept_blobs = rows.size() - result.removed.size();
  result.kept_bytes = remaining;
  if (options.dry_run) {
    return result;  // the transaction rolls back, registrations included
  }

  BlobTrash trash(m_impl->tmp);
  for (const auto& info : result.removed) {
    m_impl->delete_blob_rows(info.digest);
    trash.move(m_impl->blob_path(info.digest));
  }
  txn.commit();  // on failure the trash restores the files on unwinding
  trash.purge();
  return result;
}

}  // namespace strata::cache
