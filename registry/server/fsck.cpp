// Registry fsck: three passes over a registry root, reading only.
//
// 1. The store: every file under blobs/<alg>/ is re-hashed with its algorithm and compared
//    with its name. The set of intact digests is what the next passes call "present".
// 2. Each repository: links, manifests (read from the store and parsed with the same
//    validation as a manifest PUT, so "references" means exactly what a PUT required),
//    tags and referrers entries.
// 3. Upload sessions against the files in uploads/.
// A blob that vanishes while being hashed (a concurrent GC) is skipped, not reported.
#include "registry/server/fsck.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "cache/store.hpp"
#include "oci/digest.hpp"
#include "registry/server/manifest_check.hpp"
#include "registry/server/metadata.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

namespace strata::registry {

namespace {

namespace fs = std::filesystem;

void add(FsckReport& report, FsckSeverity severity, std::string kind, std::string repo,
         std::string digest, std::string message) {
  report.problems.push_back(
      {severity, std::move(kind), std::move(repo), std::move(digest), std::move(message)});
}

/// Pass 1: returns the digests whose file is intact.
std::set<std::string> check_store(const fs::path& root, FsckReport& report) {
  std::set<std::string> present;
  for (const auto& [alg_name, alg] : {std::pair{"sha256", util::HashAlgorithm::Sha256},
                                      std::pair{"sha512", util::HashAlgorithm::Sha512}}) {
    const fs::path dir = root / "blobs" / alg_name;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path path = it->path();
      const std::string text = std::string(alg_name) + ":" + path.filename().string();
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) {
        continue;  // removed meanwhile
      }
      const auto digest = oci::Digest::try_parse(text);
      if (!digest || !S_ISREG(st.st_mode)) {
        add(report, FsckSeverity::Notice, "stray-file", "", "",
            path.string() + " is not a blob file; strata ignores it (remove it by hand)");
        continue;
      }
      std::string actual;
      try {
        actual = util::hash_file_hex(path.string(), alg);
      } catch (const util::Error& e) {
        if (e.kind() == util::ErrorKind::NotFound) {
          continue;  // collected by a concurrent GC
        }
        throw;
      }
      ++report.blobs;
      report.bytes += static_cast<std::uint64_t>(st.st_size);
      if (actual != digest->hex()) {
        add(report, FsckSeverity::Error, "blob-corrupt", "", text,
            "blob file " + path.string() + " hashes to " + alg_name + ":" + actual +
                "; delete the file (`strata cache verify --store ROOT` does) and push the "
                "blob again");
        continue;
      }
      present.insert(text);
    }
    if (ec && ec != std::errc::no_such_file_or_directory) {
      util::fail(util::ErrorKind::IO, "cannot list " + dir.string() + ": " + ec.message());
    }
  }
  return present;
}

/// Pass 2 for one repository.
void check_repository(Metadata& meta, const cache::Store& store, const std::string& repo,
                      const std::set<std::string>& present, FsckReport& report) {
  std::set<std::string> linked;
  for (const auto& link : meta.list_links(repo)) {
    ++report.links;
    linked.insert(link.digest);
    if (present.count(link.digest) == 0) {
      add(report, FsckSeverity::Error, "blob-missing", repo, link.digest,
          "repository " + repo + " links blob " + link.digest +
              " but the store does not hold an intact copy; push it again");
    }
  }
  std::set<std::string> manifests;
  for (const auto& m : meta.list_manifests(repo)) {
    ++report.manifests;
    manifests.insert(m.digest);
    const std::string where = "manifest " + repo + "@" + m.digest;
    if (linked.count(m.digest) == 0) {
      add(report, FsckSeverity::Error, "manifest-unlinked", repo, m.digest,
          where + " has no blob link, so GET by digest may fail; push the manifest again");
    }
    if (present.count(m.digest) == 0) {
      add(report, FsckSeverity::Error, "manifest-missing", repo, m.digest,
          where + " is recorded but its bytes are not in the store; push it again");
      continue;
    }
    std::string body;
    try {
      body = store.read_blob(oci::Digest::parse(m.digest));
    } catch (const util::Error& e) {
      add(report, FsckSeverity::Error, "manifest-missing", repo, m.digest,
          where + " cannot be read: " + e.what());
      continue;
    }
    if (body.size() != m.size) {
      add(report, FsckSeverity::Error, "manifest-size", repo, m.digest,
          where + " has " + std::to_string(body.size()) + " bytes but " +
              std::to_string(m.size) + " are recorded; push it again");
    }
    ManifestInfo info;
    try {
      info = inspect_manifest(body, m.media_type);
    } catch (const std::exception& e) {
      add(report, FsckSeverity::Error, "manifest-invalid", repo, m.digest,
          where + " does not parse as " + m.media_type + ": " + e.what());
      continue;
    }
    for (const auto& ref : info.references) {
      if (present.count(ref) == 0) {
        add(report, FsckSeverity::Error, "reference-missing", repo, m.digest,
            where + " references " + ref + ", which is not in the store; push it again");
      } else if (linked.count(ref) == 0) {
        add(report, FsckSeverity::Error, "reference-unlinked", repo, m.digest,
            where + " references " + ref + ", which repository " + repo +
                " does not link; push or mount it into " + repo);
      }
    }
  }
  for (const auto& tag : meta.list_tag_targets(repo)) {
    ++report.tags;
    if (manifests.count(tag.digest) == 0) {
      add(report, FsckSeverity::Error, "tag-dangling", repo, tag.digest,
          "tag " + repo + ":" + tag.tag + " points at " + tag.digest +
              ", which is not a manifest of the repository; push the image again or delete "
              "the tag");
    }
  }
  for (const auto& ref : meta.list_referrer_links(repo)) {
    if (manifests.count(ref.digest) == 0) {
      add(report, FsckSeverity::Error, "referrer-dangling", repo, ref.digest,
          "referrers entry of " + repo + "@" + ref.subject + " names " + ref.digest +
              ", which is not a manifest of the repository");
    }
  }
}

/// Pass 3.
void check_uploads(Metadata& meta, const fs::path& root, FsckReport& report) {
  std::set<std::string> sessions;
  for (const auto& u : meta.list_uploads()) {
    ++report.uploads;
    sessions.insert(fs::path(u.path).filename().string());
    const fs::path path = root / u.path;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      add(report, FsckSeverity::Error, "upload-file-missing", u.repo, u.uuid,
          "upload " + u.uuid + " of " + u.repo + " has no file " + path.string() +
              "; the client must start the upload again");
    } else if (static_cast<std::uint64_t>(st.st_size) < u.offset) {
      add(report, FsckSeverity::Error, "upload-truncated", u.repo, u.uuid,
          "upload " + u.uuid + " of " + u.repo + " records " + std::to_string(u.offset) +
              " bytes but its file has " + std::to_string(st.st_size) +
              "; the client must start the upload again");
    }
  }
  std::error_code ec;
  for (fs::directory_iterator it(root / "uploads", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (sessions.count(name) == 0) {
      add(report, FsckSeverity::Notice, "upload-orphan", "", name,
          "upload file " + it->path().string() +
              " has no session (left by an interrupted request); the server removes it "
              "after --upload-expiry");
    }
  }
}

}  // namespace

std::size_t FsckReport::errors() const {
  return static_cast<std::size_t>(
      std::count_if(problems.begin(), problems.end(),
                    [](const FsckProblem& p) { return p.severity == FsckSeverity::Error; }));
}

FsckReport check_registry(const fs::path& root) {
  const fs::path db_path = root / "registry.db";
  std::error_code ec;
  if (!fs::exists(db_path, ec)) {
    util::fail(util::ErrorKind::NotFound,
               "no registry at " + root.string() +
                   " (registry.db is missing); pass the --root the server uses");
  }
  Metadata meta(db_path);
  const cache::Store store(root);
  FsckReport report;
  const auto present = check_store(root, report);
  for (std::string after;;) {
    const auto page = meta.list_repositories(after, 1000);
    if (page.empty()) {
      break;
    }
    for (const auto& repo : page) {
      ++report.repositories;
      check_repository(meta, store, repo, present, report);
    }
    after = page.back();
  }
  check_uploads(meta, root, report);
  return report;
}

}  // namespace strata::registry
