// Opening a Debian archive: InRelease -> verified Release -> Packages indexes -> packages.
//
// For each component/architecture the best listed index is chosen (.xz, then .gz, then
// uncompressed, as apt prefers), fetched by hash when the Release says Acquire-By-Hash
// (falling back to the plain path on 404, as apt does), and stored under its digest: a
// later open() with an InRelease that lists the same hash reads it from the store without
// any request. All indexes are fetched in one parallel batch; candidates that are missing
// on the mirror are replaced by the next one in further rounds.
#include "builder/debian/archive.hpp"

#include <algorithm>
#include <ctime>

#include "builder/debian/packages_index.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::builder::debian {

using util::ErrorKind;

namespace {

constexpr std::uint64_t k_max_inrelease = 64ULL << 20;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    out += (out.empty() ? "" : ", ") + s;
  }
  return out.empty() ? "(none)" : out;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

bool is_clearsigned(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == '\r' || text.front() == ' ')) {
    text.remove_prefix(1);
  }
  return text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----");
}

// One index to read and the places it may be fetched from, best first.
struct IndexJob {
  ArchiveIndex index;
  struct Candidate {
    const ReleaseFile* file;
    std::string url;
  };
  std::vector<Candidate> candidates;
  std::size_t next = 0;
  bool done = false;
};

}  // namespace

Archive Archive::open(cache::Store& store, const ArchiveOptions& options) {
  std::string mirror = options.mirror;
  while (!mirror.empty() && mirror.back() == '/') {
    mirror.pop_back();
  }
  if (mirror.empty() || options.suite.empty()) {
    util::fail(ErrorKind::InvalidInput,
               "a Debian archive needs a mirror URL and a suite (set STRATA_DEBIAN_MIRROR or the "
               "host's apt sources)");
  }
  if (options.architectures.empty() || options.components.empty()) {
    util::fail(ErrorKind::InvalidInput, mirror + " " + options.suite +
                                            ": name at least one component and one architecture");
  }
  Archive archive;
  archive.m_mirror = mirror;
  Fetcher fetcher(store, options.fetch);
  const std::string dists = mirror + "/dists/" + options.suite + "/";

  // 1. The InRelease (or, for an archive explicitly allowed to be unsigned, Release).
  std::string url = dists + "InRelease";
  std::string raw;
  if (options.pinned_inrelease && store.has_blob(*options.pinned_inrelease)) {
    raw = store.read_blob(*options.pinned_inrelease);
    store.touch_blob(*options.pinned_inrelease);
    archive.m_inrelease_from_store = true;
  } else {
    try {
      raw = fetcher.get(url, k_max_inrelease);
    } catch (const util::Error& e) {
      if (e.kind() != ErrorKind::NotFound) {
        throw;
      }
      // No InRelease: a missing suite (Release missing too: NotFound) or an unsigned one.
      raw = fetcher.get(dists + "Release", k_max_inrelease);
      if (!options.allow_unsigned) {
        util::fail(ErrorKind::Unauthorized,
                   url + ": the archive has no InRelease file, so its packages cannot be "
                         "verified (strata checks clearsigned InRelease files). Check the "
                         "mirror and suite; only if the archive is really unsigned and you "
                         "trust it, allow unsigned archives explicitly");
      }
      url = dists + "Release";
    }
    if (options.pinned_inrelease && oci::Digest::of(raw) != *options.pinned_inrelease) {
      util::fail(ErrorKind::Conflict,
                 url + ": the mirror serves " + oci::Digest::of(raw).str() + ", the lock records " +
                     options.pinned_inrelease->str() +
                     "; the archive has changed since the lock was written. Re-lock, or use a "
                     "snapshot mirror of that date");
    }
  }

  // 2. Its signature, content and freshness.
  std::string content;
  if (!is_clearsigned(raw)) {
    if (!options.allow_unsigned) {
      util::fail(ErrorKind::Unauthorized,
                 url + ": not signed; refusing an unsigned archive (allow unsigned archives "
                       "explicitly only if you trust it)");
    }
    content = raw;
  } else if (options.allow_unsigned) {
    content = clearsigned_content_unverified(raw, url);
  } else {
    util::TempDir tmp("strata-inrelease");
    const std::filesystem::path file = tmp.path() / "InRelease";
    util::write_file_atomic(file, raw);
    GpgvOptions gpgv;
    gpgv.keyrings = options.keyrings;
    gpgv.program = options.gpgv;
    content = verify_inrelease(file, gpgv, url);
    archive.m_verified = true;
  }
  archive.m_release = parse_release(content, url);
  const Release& release = archive.m_release;
  if (options.suite != release.suite && options.suite != release.codename) {
    util::fail(ErrorKind::InvalidInput,
               url + ": the Release file is for suite '" + release.suite + "' (codename '" +
                   release.codename + "'), not '" + options.suite +
                   "'; the mirror serves the wrong files");
  }
  check_valid_until(release, options.now ? *options.now : static_cast<std::int64_t>(std::time(nullptr)),
                    options.ignore_valid_until, url);
  archive.m_inrelease = store.put_blob(raw, k_media_type_inrelease);

  // 3. Which indexes, from where.
  const std::string name = release.codename.empty() ? options.suite : release.codename;
  std::vector<IndexJob> jobs;
  for (const std::string& component : options.components) {
    if (!release.components.empty() && !contains(release.components, component)) {
      util::fail(ErrorKind::NotFound, url + ": suite '" + options.suite + "' has no component '" +
                                          component + "'; it has " + join(release.components));
    }
    for (const std::string& arch : options.architectures) {
      if (!release.architectures.empty() && !contains(release.architectures, arch)) {
        util::fail(ErrorKind::NotFound, url + ": suite '" + options.suite +
                                            "' has no architecture '" + arch + "'; it has " +
                                            join(release.architectures));
      }
      IndexJob job;
      job.index.component = component;
      job.index.architecture = arch;
      const std::string base = component + "/binary-" + arch + "/Packages";
      for (const char* ext : {".xz", ".gz", ""}) {
        const ReleaseFile* file = release.find(base + ext);
        if (file == nullptr) {
          continue;
        }
        if (release.acquire_by_hash) {
          job.candidates.push_back({file, dists + release.fetch_path(*file)});
        }
        job.candidates.push_back({file, dists + file->path});
      }
      if (job.candidates.empty()) {
        util::fail(ErrorKind::NotFound, url + ": the Release SHA256 list has no " + base +
                                            "[.xz|.gz]; check the component and architecture");
      }
      jobs.push_back(std::move(job));
    }
  }

  // 4. Fetch them: rounds of one parallel batch, next candidate after a 404.
  for (;;) {
    std::vector<FetchItem> items;
    std::vector<IndexJob*> batch;
    for (IndexJob& job : jobs) {
      if (job.done) {
        continue;
      }
      const IndexJob::Candidate& c = job.candidates[job.next];
      FetchItem item;
      item.url = c.url;
      item.digest = oci::Digest::from_hex(util::HashAlgorithm::Sha256, c.file->sha256);
      item.size = c.file->size;
      item.media_type = k_media_type_packages;
      item.name = c.file->path;
      items.push_back(std::move(item));
      batch.push_back(&job);
    }
    if (items.empty()) {
      break;
    }
    const std::vector<FetchResult> results = fetcher.fetch_each(items);
    for (std::size_t i = 0; i < results.size(); ++i) {
      IndexJob& job = *batch[i];
      const FetchResult& r = results[i];
      if (r.error) {
        bool missing = false;
        try {
          std::rethrow_exception(r.error);
        } catch (const util::Error& e) {
          missing = e.kind() == ErrorKind::NotFound;
        } catch (...) {
        }
        if (missing && job.next + 1 < job.candidates.size()) {
          ++job.next;
          continue;
        }
        std::rethrow_exception(r.error);
      }
      const IndexJob::Candidate& c = job.candidates[job.next];
      job.index.path = c.file->path;
      job.index.url = c.url;
      job.index.digest = r.digest;
      job.index.size = r.size;
      job.index.downloaded = r.downloaded;
      job.done = true;
    }
  }
  archive.m_stats = fetcher.stats();

  // 5. Parse, in components x architectures order.
  for (IndexJob& job : jobs) {
    PackageOptions popts;
    popts.archive = name + "/" + job.index.component;
    const std::unique_ptr<util::Source> source = store.open_blob(job.index.digest);
    std::vector<Package> packages = parse_packages(*source, job.index.url, popts);
    job.index.packages = packages.size();
    for (Package& p : packages) {
      archive.m_packages.push_back(std::move(p));
    }
    archive.m_indexes.push_back(std::move(job.index));
  }
  return archive;
}

FetchItem deb_fetch_item(const std::string& mirror, const Package& package) {
  const std::string label = package.name + " " + package.version + " (" + package.architecture + ")";
  if (package.filename.empty() || package.sha256.empty()) {
    util::fail(ErrorKind::InvalidInput,
               label + " from " + (package.archive.empty() ? "?" : package.archive) +
                   " has no Filename or SHA256, so it cannot be downloaded and verified");
  }
  std::string base = mirror;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  FetchItem item;
  item.url = base + "/" + package.filename;
  item.digest = oci::Digest::from_hex(util::HashAlgorithm::Sha256, package.sha256);
  item.size = package.size;
  item.media_type = k_media_type_deb;
  item.name = label;
  return item;
}

std::vector<FetchResult> fetch_debs(cache::Store& store, const std::string& mirror,
                                    const std::vector<Package>& packages,
                                    const FetchOptions& options, FetchStats* stats) {
  std::vector<FetchItem> items;
  items.reserve(packages.size());
  for (const Package& p : packages) {
    items.push_back(deb_fetch_item(mirror, p));
  }
  Fetcher fetcher(store, options);
  std::vector<FetchResult> results = fetcher.fetch_each(items);
  if (stats != nullptr) {
    *stats = fetcher.stats();
  }
  for (const FetchResult& r : results) {
    if (r.error) {
      std::rethrow_exception(r.error);
    }
  }
  return results;
}

}  // namespace strata::builder::debian
