// The `fetch` recipe step: a file downloaded from a URL, pinned by its sha256 or sha512,
// written into a layer as one file or extracted (tar of any compression, zip).
//
// A fetch step is planned in two halves. Its cache-key input (FetchPlanner::input) needs
// no network: the URL and the pinned digest are part of the layer definition already, so a
// cached layer is reused without touching the network. Its entries (FetchPlanner::entries)
// need the content: the file is downloaded into the store by the verified downloader
// (builder/debian/fetch.hpp: streaming digest check, retries, Range resume, nothing stored
// on a mismatch), unless the store already holds the digest, in which case nothing is
// requested at all. A plain file becomes one entry that streams from the store's blob; an
// archive is read with libarchive (builder/fetch_extract.hpp), entry by entry, into
// in-memory layer entries whose file contents are spilled to the planner's scratch
// directory. No path taken from an archive ever touches the filesystem, so absolute paths,
// "..", writes through symlinks and device nodes are refused by checking the entry list,
// not by trusting a filesystem walk. See docs/recipes.md ("fetch").
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "builder/debian/fetch.hpp"
#include "builder/recipe.hpp"
#include "builder/steps.hpp"
#include "cache/store.hpp"
#include "oci/layer_writer.hpp"
#include "util/fs.hpp"

namespace strata::builder {

/// How a FetchPlanner downloads and extracts. Plain value.
struct FetchPlannerOptions {
  /// Downloader settings (parallelism, retries, backoff, timeouts, progress).
  debian::FetchOptions fetch;
  /// Where the scratch directory for extracted files is created; empty = $TMPDIR or /tmp.
  /// Extractions need as much free space there as the archives' uncompressed files.
  std::filesystem::path scratch_parent;
  /// An archive with more entries than this is refused (InvalidInput).
  std::uint64_t max_entries = 1'000'000;
  /// Longest entry path accepted in an archive, in bytes.
  std::size_t max_path_length = 4096;
};

/// Turns fetch steps into layer entries. Owns a scratch directory (created on the first
/// extraction, removed with everything in it by the destructor) that holds the extracted
/// files the returned entries stream from: the planner must outlive the writing of every
/// layer planned with it. Plain-file entries stream from the store's blob file, so the
/// store must outlive the entries too. Not thread-safe (one build thread uses one planner).
class FetchPlanner {
 public:
  /// `store` receives the downloads and must outlive the planner.
  explicit FetchPlanner(cache::Store& store, FetchPlannerOptions options = {});
  ~FetchPlanner();
  FetchPlanner(const FetchPlanner&) = delete;
  FetchPlanner& operator=(const FetchPlanner&) = delete;

  /// The step's input for the layer cache key: {"fetch:" + url, digest string, 0, "fetch"}.
  /// Needs no network and no store. Thread-safe.
  [[nodiscard]] static LayerInput input(const FetchStep& step);

  /// Makes sure the store holds the step's file and returns its blob path. Nothing is
  /// requested when the store already has the digest (its last use is refreshed). Throws,
  /// naming the step (file:line:col) and the URL: Corruption when the content does not
  /// hash to the pinned digest (expected and actual digest named; nothing stored),
  /// NotFound for HTTP 404/410 or a missing file:// path, Unauthorized for 401/403,
  /// Timeout when retries are exhausted, IO otherwise.
  std::filesystem::path download(const FetchStep& step);

  /// The step's layer entries (downloads first, as download()). A plain file gives one
  /// File entry at the step's dest, mode (default 0644), owner (default 0:0), mtime
  /// `source_date_epoch`. An extraction gives one entry per file, directory, symlink and
  /// hardlink of the archive after strip_components (see builder/fetch_extract.hpp), below
  /// the step's dest. Throws as download(), plus InvalidInput naming the URL and the entry
  /// for an unsafe or damaged archive.
  std::vector<oci::LayerEntry> entries(const FetchStep& step, std::int64_t source_date_epoch);

  /// Download counters since construction (requests, bytes, blobs reused).
  [[nodiscard]] const debian::FetchStats& stats() const noexcept;

 private:
  const std::filesystem::path& scratch();

  cache::Store& m_store;
  FetchPlannerOptions m_options;
  debian::Fetcher m_fetcher;
  std::optional<util::TempDir> m_scratch;
  std::uint64_t m_extractions = 0;
};

}  // namespace strata::builder
