#include "builder/input_digests.hpp"

#include <ctime>

#include "util/hash.hpp"

namespace strata::builder {
namespace {

std::int64_t to_ns(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

InputDigests::~InputDigests() {
  try {
    flush();
  } catch (...) {  // NOLINT(bugprone-empty-catch): losing cache records is harmless
  }
}

void InputDigests::preload(const std::filesystem::path& dir) {
  const std::string prefix = dir.string() + "/";
  if (m_loaded.emplace(prefix, true).second) {
    for (auto& record : m_store.load_file_digests(prefix)) {
      std::string path = record.path;
      m_known.emplace(std::move(path), std::move(record));
    }
  }
}

std::string InputDigests::digest(const std::filesystem::path& real, const struct stat& st) {
  const std::string path = real.string();
  cache::Store::FileDigest now{path,
                               static_cast<std::uint64_t>(st.st_dev),
                               static_cast<std::uint64_t>(st.st_ino),
                               static_cast<std::uint64_t>(st.st_size),
                               to_ns(st.st_mtim),
                               to_ns(st.st_ctim),
                               {}};
  if (auto it = m_known.find(path); it != m_known.end()) {
    const auto& k = it->second;
    if (k.dev == now.dev && k.ino == now.ino && k.size == now.size &&
        k.mtime_ns == now.mtime_ns && k.ctime_ns == now.ctime_ns) {
      return k.sha256;
    }
  }
  now.sha256 = util::hash_file_hex(path);
  const std::int64_t newest = std::max(st.st_mtim.tv_sec, st.st_ctim.tv_sec);
  if (newest + k_stable_seconds < static_cast<std::int64_t>(std::time(nullptr))) {
    m_pending.push_back(now);
  }
  m_known[path] = now;
  return now.sha256;
}

void InputDigests::flush() {
  if (!m_pending.empty()) {
    m_store.put_file_digests(m_pending);
    m_pending.clear();
  }
}

}  // namespace strata::builder
