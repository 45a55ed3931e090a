#include "builder/fetch_step.hpp"

#include <regex>
#include <string>

#include "builder/fetch_extract.hpp"
#include "util/error.hpp"

namespace strata::builder {
namespace fs = std::filesystem;

namespace {

/// "FILE:L:C: fetch URL", the prefix of every message about a step.
std::string step_name(const FetchStep& step) {
  return step.location.str() + ": fetch " + step.url;
}

/// The digest in a downloader's mismatch message that is not the expected one.
std::string actual_digest(const std::string& message, const oci::Digest& expected) {
  static const std::regex k_digest("sha(256|512):[0-9a-f]{64,128}");
  for (auto it = std::sregex_iterator(message.begin(), message.end(), k_digest);
       it != std::sregex_iterator(); ++it) {
    if (it->str() != expected.str()) {
      return it->str();
    }
  }
  return "";
}

/// Rethrows a downloader error with the step's location, keeping its kind.
[[noreturn]] void rethrow_for_step(const FetchStep& step, const util::Error& e) {
  if (e.kind() != util::ErrorKind::Corruption) {
    util::fail(e.kind(), step.location.str() + ": fetch step: " + e.what());
  }
  const std::string actual = actual_digest(e.what(), step.digest);
  std::string message = step_name(step) + ": the downloaded file does not match the recipe's " +
                        step.digest.algorithm() + ": expected " + step.digest.str();
  message += actual.empty() ? " (" + std::string(e.what()) + ")" : ", got " + actual;
  message +=
      "; nothing was stored. The checksum must be the one the publisher gives for this file: "
      "if the URL or the file changed, check the publisher's checksum before updating the "
      "recipe";
  util::fail(util::ErrorKind::Corruption, message);
}

std::string layer_path(const std::string& image_path) {
  return image_path == "/" ? std::string() : image_path.substr(1);
}

}  // namespace

FetchPlanner::FetchPlanner(cache::Store& store, FetchPlannerOptions options)
    : m_store(store), m_options(std::move(options)), m_fetcher(store, m_options.fetch) {}

FetchPlanner::~FetchPlanner() = default;

LayerInput FetchPlanner::input(const FetchStep& step) {
  return LayerInput{"fetch:" + step.url, step.digest.str(), 0, "fetch", ""};
}

fs::path FetchPlanner::download(const FetchStep& step) {
  debian::FetchItem item;
  item.url = step.url;
  item.digest = step.digest;
  item.media_type = "application/octet-stream";
  try {
    (void)m_fetcher.fetch({item});
  } catch (const util::Error& e) {
    rethrow_for_step(step, e);
  }
  return m_store.blob_path(step.digest);
}

std::vector<oci::LayerEntry> FetchPlanner::entries(const FetchStep& step,
                                                   std::int64_t source_date_epoch) {
  const fs::path blob = download(step);
  if (step.extract.empty()) {
    oci::LayerEntry e;
    e.path = layer_path(step.dest);
    if (e.path.empty()) {
      util::fail(util::ErrorKind::InvalidInput,
                 step_name(step) + ": 'dest' must name a file, not the image's root directory");
    }
    e.type = oci::LayerEntry::Type::File;
    e.mode = step.mode.value_or(0644);
    if (step.owner) {
      e.uid = step.owner->uid;
      e.gid = step.owner->gid;
    }
    e.mtime = source_date_epoch;
    e.source = blob;
    return {std::move(e)};
  }
  ExtractRequest request;
  request.archive = blob;
  request.format = step.extract;
  request.dest = layer_path(step.dest);
  request.strip_components = step.strip_components;
  request.owner = step.owner;
  request.source_date_epoch = source_date_epoch;
  request.scratch = scratch() / std::to_string(m_extractions++);
  request.max_entries = m_options.max_entries;
  request.max_path_length = m_options.max_path_length;
  request.what = step_name(step);
  std::error_code ec;
  if (!fs::create_directory(request.scratch, ec) || ec) {
    util::fail(util::ErrorKind::IO, step_name(step) + ": cannot create the scratch directory " +
                                        request.scratch.string() + ": " + ec.message());
  }
  return extract_archive_entries(request);
}

const debian::FetchStats& FetchPlanner::stats() const noexcept {
  return m_fetcher.stats();
}

const fs::path& FetchPlanner::scratch() {
  if (!m_scratch) {
    m_scratch.emplace("strata-fetch", m_options.scratch_parent);
  }
  return m_scratch->path();
}

}  // namespace strata::builder
