// Garbage collection of a registry root: a mark-and-sweep that runs beside a live server
// without a stop-the-world lock.
//
// Mark, one repository at a time: the roots are the tagged manifests, untagged manifests
// created within the untagged retention, and manifests whose link was touched within the
// grace period (just pushed or re-pushed). A live manifest's references are live: config
// and layers, an index's children (descended into), and, iterated to a fixed point, every
// manifest whose subject is live (referrers: signatures, SBOMs follow their image). A
// manifest GC cannot read or parse makes it skip the whole repository's sweep with a
// warning: without its references it cannot know what is garbage (run fsck).
//
// Sweep, in three steps, each removal in a short transaction that re-checks its
// condition against the current rows, so a push racing with GC always wins:
//  1. untagged manifests that are not live: removed only if still untagged, created before
//     the retention cutoff and their link untouched within the grace period;
//  2. repo_blobs links that are not live: removed in batches, each only if its touched time
//     is still before the grace cutoff and it is not a manifest of the repository;
//  3. store blobs that no repository links any more (see "Store sweep").
//
// Why the grace period makes this safe while pushes run: the mark reads a snapshot that a
// push may overtake. Every step of a push refreshes a link's `touched` time (metadata.hpp):
// upload completion and mount (re-)link the blob; a HEAD or GET of a blob, and every
// manifest PUT's check of its references, touch the link; a manifest PUT touches its own
// link. A push that completes within the grace period of its first step therefore only
// relies on links GC will not remove; a manifest PUT that comes after GC removed a link
// fails cleanly with MANIFEST_BLOB_UNKNOWN instead of producing a manifest with a missing
// blob, and that needs a client that paused longer than the grace period between HEAD and
// PUT. With --grace 0 these guarantees are gone (in-flight pushes may lose blobs).
//
// Store sweep: a blob file is deleted only when no repository links it, its store row was
// last used (written) before the grace cutoff and its file is older than that. The check
// and the deletion run while GC holds the write locks of registry.db (no link can be made)
// and of the store's strata.db (no upload can publish or find the file: publishers take
// that lock before they look for an existing copy). The file is first moved into the
// store's tmp/ and its row deleted; after COMMIT and a short settle time GC checks once more
// that nobody linked the digest (a manifest PUT that saw the file just before GC moved it)
// and puts such files back; only then are the others unlinked. Rows go before files, so a
// reader never sees a row whose file is gone without that being a GC in progress.
#include "registry/server/gc.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "cache/store.hpp"
#include "oci/digest.hpp"
#include "registry/server/errors.hpp"
#include "registry/server/manifest_check.hpp"
#include "registry/server/metadata.hpp"
#include "cache/database.hpp"
#include "util/error.hpp"

namespace strata::registry {

namespace {

namespace fs = std::filesystem;

std::int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Cutoffs {
  std::int64_t now = 0;
  std::int64_t grace = 0;      // touched/used before this: outside the grace period
  std::int64_t retention = 0;  // untagged manifests created before this may go
};

/// The live set of one repository.
struct RepoMark {
  std::set<std::string> live;
  std::vector<std::string> problems;  // unreadable live manifests: sweep nothing here
};

RepoMark mark_repository(const cache::Store& store, const std::string& repo,
                         const std::map<std::string, StoredManifest>& manifests,
                         const std::map<std::string, LinkRecord>& links,
                         const std::vector<TagEntry>& tags,
                         const std::vector<ReferrerLink>& referrers, const Cutoffs& cut) {
  RepoMark mark;
  std::vector<std::string> pending;
  const auto add = [&](const std::string& digest) {
    if (mark.live.insert(digest).second && manifests.count(digest) != 0) {
      pending.push_back(digest);
    }
  };
  for (const auto& tag : tags) {
    add(tag.digest);
  }
  for (const auto& [digest, m] : manifests) {
    const auto link = links.find(digest);
    const bool touched = link != links.end() && link->second.touched >= cut.grace;
    if (m.created >= cut.retention || touched) {
      add(digest);
    }
  }
  bool changed = true;
  while (changed) {
    while (!pending.empty()) {
      const std::string digest = pending.back();
      pending.pop_back();
      const StoredManifest& m = manifests.at(digest);
      try {
        const auto parsed = oci::Digest::try_parse(digest);
        if (!parsed) {
          util::fail(util::ErrorKind::Corruption, "the digest is malformed");
        }
        const ManifestInfo info = inspect_manifest(store.read_blob(*parsed), m.media_type);
        for (const auto& ref : info.references) {
          add(ref);
        }
      } catch (const std::exception& e) {
        mark.problems.push_back("manifest " + repo + "@" + digest + " cannot be read (" +
                                e.what() + ")");
      }
    }
    changed = false;
    for (const auto& r : referrers) {
      if (mark.live.count(r.subject) != 0 && mark.live.count(r.digest) == 0 &&
          manifests.count(r.digest) != 0) {
        add(r.digest);
        changed = true;
      }
    }
  }
  return mark;
}

template <typename T>
std::vector<std::vector<T>> batches(const std::vector<T>& items, std::size_t size) {
  std::vector<std::vector<T>> out;
  size = std::max<std::size_t>(size, 1);
  for (std::size_t i = 0; i < items.size(); i += size) {
    out.emplace_back(items.begin() + static_cast<std::ptrdiff_t>(i),
                     items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + size)));
  }
  return out;
}

/// Collects one repository: mark, then steps 1 and 2 of the sweep.
void collect_repository(Metadata& meta, const cache::Store& store, const std::string& repo,
                        const GcOptions& opts, const Cutoffs& cut, GcReport& report) {
  std::map<std::string, StoredManifest> manifests;
  for (auto& m : meta.list_manifests(repo)) {
    manifests.emplace(m.digest, m);
  }
  std::map<std::string, LinkRecord> links;
  for (auto& l : meta.list_links(repo)) {
    links.emplace(l.digest, l);
  }
  const auto tags = meta.list_tag_targets(repo);
  const auto referrers = meta.list_referrer_links(repo);
  const RepoMark mark = mark_repository(store, repo, manifests, links, tags, referrers, cut);
  if (opts.after_mark) {
    opts.after_mark(repo);
  }
  if (!mark.problems.empty()) {
    report.warnings.push_back("repository " + repo + ": nothing collected because " +
                              mark.problems.front() +
                              (mark.problems.size() > 1
                                   ? " (and " + std::to_string(mark.problems.size() - 1) +
                                         " more)"
                                   : std::string()) +
                              "; run `strata registry fsck`");
    report.live_manifests += manifests.size();
    return;
  }

  std::set<std::string> removed_manifests;
  for (const auto& [digest, m] : manifests) {
    if (mark.live.count(digest) != 0) {
      ++report.live_manifests;
      continue;
    }
    if (opts.dry_run || meta.collect_manifest(repo, digest, cut.retention, cut.grace)) {
      report.manifests.push_back({repo, digest, m.size});
      removed_manifests.insert(digest);
    } else {
      ++report.live_manifests;
    }
  }

  std::vector<std::string> candidates;
  for (const auto& [digest, link] : links) {
    if (mark.live.count(digest) == 0 && manifests.count(digest) == 0 &&
        link.touched < cut.grace) {
      candidates.push_back(digest);
    }
  }
  if (opts.dry_run) {
    for (const auto& digest : candidates) {
      report.links.push_back({repo, digest, 0});
    }
    return;
  }
  for (const auto& batch : batches(candidates, opts.batch)) {
    for (auto& digest : meta.collect_links(repo, batch, cut.grace)) {
      report.links.push_back({repo, std::move(digest), 0});
    }
  }
  if (meta.collect_repository_if_empty(repo)) {
    report.repositories_removed.push_back(repo);
  }
}

/// A store blob that may be deleted.
struct StoreCandidate {
  oci::Digest digest;
  std::uint64_t size = 0;
};

/// Every blob in the store (rows and files without rows) that no repository links and
/// that was neither used nor written within the grace period.
std::vector<StoreCandidate> store_candidates(const cache::Store& store,
                                             const std::set<std::string>& linked,
                                             const Cutoffs& cut) {
  std::map<std::string, StoreCandidate> found;
  std::set<std::string> recent;
  for (const auto& info : store.list_blobs()) {
    if (info.last_used >= cut.grace) {
      recent.insert(info.digest.str());
    }
    found[info.digest.str()] = {info.digest, info.size};
  }
  for (const char* alg : {"sha256", "sha512"}) {
    std::error_code ec;
    for (fs::directory_iterator it(store.root() / "blobs" / alg, ec), end; !ec && it != end;
         it.increment(ec)) {
      const auto digest =
          oci::Digest::try_parse(std::string(alg) + ":" + it->path().filename().string());
      struct stat st {};
      if (!digest || ::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        continue;
      }
      if (st.st_mtime >= cut.grace) {
        recent.insert(digest->str());
      }
      found[digest->str()] = {*digest, static_cast<std::uint64_t>(st.st_size)};
    }
  }
  std::vector<StoreCandidate> out;
  for (auto& [text, candidate] : found) {
    if (linked.count(text) == 0 && recent.count(text) == 0) {
      out.push_back(std::move(candidate));
    }
  }
  return out;
}

/// A blob file moved aside by the store sweep, with its row for putting it back.
struct Trashed {
  StoreCandidate blob;
  fs::path path;
  fs::path trash;
  bool had_row = false;
  std::string media_type;
  std::int64_t created = 0;
};

/// Step 3 of the sweep (see "Store sweep" above).
void sweep_store(Metadata& meta, const cache::Store& store, const GcOptions& opts,
                 const Cutoffs& cut, const std::set<std::string>& linked, GcReport& report) {
  const auto candidates = store_candidates(store, linked, cut);
  if (opts.dry_run) {
    for (const auto& c : candidates) {
      report.blobs.push_back({"", c.digest.str(), c.size});
      report.bytes += c.size;
    }
    return;
  }
  std::map<std::string, StoreCandidate> by_text;
  for (const auto& c : candidates) {
    by_text.emplace(c.digest.str(), c);
  }
  cache::Database store_db(store.root() / "strata.db");
  std::vector<Trashed> trashed;
  const std::string tag = "gc-" + std::to_string(::getpid()) + "-";
  for (const auto& batch : batches(candidates, opts.batch)) {
    std::vector<std::string> texts;
    for (const auto& c : batch) {
      texts.push_back(c.digest.str());
    }
    meta.with_unlinked_frozen(texts, [&](const std::vector<std::string>& unlinked) {
      const std::size_t first = trashed.size();
      try {
        cache::Transaction txn(store_db);
        for (const auto& text : unlinked) {
          Trashed t;
          t.blob = by_text.at(text);
          {
            auto st = store_db.query("SELECT media_type, created, last_used FROM blobs WHERE digest = ?");
            st.bind(1, text);
            if (st.step()) {
              if (st.integer(2) >= cut.grace) {
                continue;  // published or used since the candidates were listed
              }
              t.had_row = true;
              t.media_type = st.text(0);
              t.created = st.integer(1);
            }
          }
          t.path = store.blob_path(t.blob.digest);
          struct stat st {};
          if (::lstat(t.path.c_str(), &st) != 0) {
            t.path.clear();  // only the row is left: drop it
          } else if (st.st_mtime >= cut.grace) {
            continue;
          } else {
            t.trash = store.root() / "tmp" / (tag + t.blob.digest.hex());
            if (::rename(t.path.c_str(), t.trash.c_str()) != 0) {
              util::fail_errno("cannot move " + t.path.string() + " aside for removal");
            }
          }
          store_db.query("DELETE FROM layers WHERE blob = ?").bind(1, text).run();
          store_db.query("DELETE FROM blobs WHERE digest = ?").bind(1, text).run();
          trashed.push_back(std::move(t));
        }
        txn.commit();
      } catch (...) {
        for (std::size_t i = first; i < trashed.size(); ++i) {
          if (!trashed[i].trash.empty()) {
            ::rename(trashed[i].trash.c_str(), trashed[i].path.c_str());
          }
        }
        trashed.resize(first);
        throw;
      }
    });
  }
  if (trashed.empty()) {
    return;
  }
  std::this_thread::sleep_for(opts.settle);
  for (const auto& t : trashed) {
    if (t.trash.empty()) {
      continue;  // a row without a file: nothing to unlink, not counted as a blob
    }
    if (meta.blob_linked_anywhere(t.blob.digest.str())) {
      // A push linked the digest after seeing the file; give it back with a fresh row.
      std::error_code ec;
      if (!fs::exists(t.path, ec) && ::rename(t.trash.c_str(), t.path.c_str()) != 0) {
        util::fail_errno("cannot put back " + t.path.string() + " (from " + t.trash.string() +
                         "); move it back by hand");
      }
      fs::remove(t.trash, ec);
      store_db.query("INSERT OR IGNORE INTO blobs(digest, size, media_type, created, last_used) "
                     "VALUES (?, ?, ?, ?, ?)")
          .bind(1, t.blob.digest.str())
          .bind(2, static_cast<std::int64_t>(t.blob.size))
          .bind(3, t.media_type)
          .bind(4, t.had_row ? t.created : cut.now)
          .bind(5, cut.now)
          .run();
      ++report.restored;
      continue;
    }
    if (::unlink(t.trash.c_str()) != 0 && errno != ENOENT) {
      util::fail_errno("cannot remove " + t.trash.string());
    }
    report.blobs.push_back({"", t.blob.digest.str(), t.blob.size});
    report.bytes += t.blob.size;
  }
}

}  // namespace

GcReport collect_garbage(const GcOptions& opts) {
  const fs::path db_path = opts.root / "registry.db";
  std::error_code ec;
  if (!fs::exists(db_path, ec)) {
    util::fail(util::ErrorKind::NotFound,
               "no registry at " + opts.root.string() +
                   " (registry.db is missing); pass the --root the server uses");
  }
  Cutoffs cut;
  cut.now = opts.now.value_or(system_now());
  cut.grace = cut.now - opts.grace.count();
  cut.retention = cut.now - opts.untagged_retention.count();

  Metadata meta(db_path, [now = cut.now] { return now; });
  const cache::Store store(opts.root);
  GcReport report;

  std::vector<std::string> repos;
  for (std::string after;;) {
    auto page = meta.list_repositories(after, 1000);
    if (page.empty()) {
      break;
    }
    after = page.back();
    repos.insert(repos.end(), page.begin(), page.end());
  }
  for (const auto& repo : repos) {
    ++report.repositories;
    collect_repository(meta, store, repo, opts, cut, report);
  }

  // What is still linked now (with dry_run: what would be after the steps above).
  std::set<std::string> linked;
  std::set<std::pair<std::string, std::string>> dropped;
  for (const auto& item : report.links) {
    dropped.emplace(item.repo, item.digest);
  }
  for (const auto& item : report.manifests) {
    dropped.emplace(item.repo, item.digest);
  }
  for (const auto& repo : meta.list_repositories("", static_cast<std::size_t>(-1) >> 1)) {
    for (const auto& link : meta.list_links(repo)) {
      if (!opts.dry_run || dropped.count({repo, link.digest}) == 0) {
        linked.insert(link.digest);
      }
    }
  }
  sweep_store(meta, store, opts, cut, linked, report);
  return report;
}

}  // namespace strata::registry
