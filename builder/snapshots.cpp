// Layer snapshots (see snapshots.hpp for the layout and the guarantees).
//
// Creation pipeline: store blob file -> DecompressingSource (the media type's compression)
// -> a hashing source (the diff_id's algorithm) -> oci::unpack_layer in overlay mode, which
// runs the chain on its decompression thread and drains it at the end, so the hash covers
// the whole uncompressed stream, trailing bytes included. Only a directory whose stream
// hashed to the diff_id is published, with renameat2(RENAME_NOREPLACE): the first process
// to rename wins and every later one discards its own copy, so concurrent builds that need
// the same layer each see one complete snapshot and never a half-written or replaced one.
// A temp dir carries a shared flock while it is being filled; the sweep removes only old
// temp dirs whose lock it can take exclusively, i.e. those of crashed processes.
#include "builder/snapshots.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "cache/store.hpp"
#include "oci/decompress.hpp"
#include "oci/media_types.hpp"
#include "oci/unpacker.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace strata::builder {

namespace fs = std::filesystem;
using util::ErrorKind;

namespace {

constexpr std::string_view k_temp_prefix = ".tmp-";

// Hashes every byte read through it.
class HashingSource final : public util::Source {
 public:
  HashingSource(util::Source& inner, util::HashAlgorithm algorithm)
      : m_inner(inner), m_hasher(algorithm) {}
  std::size_t read(void* data, std::size_t size) override {
    const std::size_t n = m_inner.read(data, size);
    m_hasher.update(data, n);
    return n;
  }
  std::string finish_hex() { return m_hasher.finish_hex(); }

 private:
  util::Source& m_inner;
  util::Hasher m_hasher;
};

// A temp dir being filled: holds a shared lock on it (so the sweep spares it) and removes
// it on destruction unless it was published.
class TempSnapshot {
 public:
  explicit TempSnapshot(const fs::path& parent) {
    std::string templ = (parent / (std::string(k_temp_prefix) + "XXXXXX")).string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      util::fail_errno("snapshot: cannot create a temporary directory in " + parent.string());
    }
    m_path = buf.data();
    m_fd.reset(::open(m_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!m_fd || ::flock(m_fd.get(), LOCK_SH) != 0 || ::fchmod(m_fd.get(), 0755) != 0) {
      const int err = errno;
      util::remove_tree(m_path);
      util::fail_errno("snapshot: cannot prepare " + m_path.string(), err);
    }
  }
  TempSnapshot(const TempSnapshot&) = delete;
  TempSnapshot& operator=(const TempSnapshot&) = delete;
  ~TempSnapshot() {
    if (!m_published) {
      util::remove_tree(m_path);
    }
  }
  [[nodiscard]] const fs::path& path() const noexcept { return m_path; }
  [[nodiscard]] int fd() const noexcept { return m_fd.get(); }
  void published() noexcept { m_published = true; }

 private:
  fs::path m_path;
  util::Fd m_fd;
  bool m_published = false;
};

bool is_directory_nofollow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

fs::path snapshot_path(const cache::Store& store, const oci::Digest& diff_id) {
  const fs::path root = fs::absolute(store.root()).lexically_normal();
  if (root.string().find_first_of(":,\\") != std::string::npos) {
    util::fail(ErrorKind::InvalidInput,
               "snapshot: the store path " + root.string() +
                   " contains ':', ',' or '\\', which overlayfs cannot take in a lower dir; use "
                   "a store path without them (--store or STRATA_HOME)");
  }
  if (diff_id.empty()) {
    util::fail(ErrorKind::InvalidInput, "snapshot: empty diff_id");
  }
  return root / "snapshots" / diff_id.hex();
}

std::size_t sweep_snapshot_temps(const cache::Store& store, std::int64_t older_than) noexcept {
  std::size_t removed = 0;
  std::error_code ec;
  const fs::path dir = store.root() / "snapshots";
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path path = it->path();
    if (!path.filename().string().starts_with(k_temp_prefix)) {
      continue;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        now - static_cast<std::int64_t>(st.st_mtim.tv_sec) < older_than) {
      continue;
    }
    util::Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      util::remove_tree(path);
      ++removed;
    }
  }
  return removed;
}

fs::path ensure_snapshot(cache::Store& store, const oci::Digest& diff_id, const oci::Digest& blob,
                         const std::string& media_type) {
  const fs::path target = snapshot_path(store, diff_id);
  if (is_directory_nofollow(target)) {
    return target;
  }
  const std::optional<util::HashAlgorithm> algorithm = diff_id.hash_algorithm();
  if (!algorithm) {
    util::fail(ErrorKind::Unsupported, "snapshot: cannot verify diff_id " + diff_id.str() +
                                           " (only sha256 and sha512 are supported)");
  }
  const oci::media::LayerCompression compression = oci::media::layer_compression(media_type);
  if (compression == oci::media::LayerCompression::Unknown) {
    util::fail(ErrorKind::Unsupported, "snapshot: layer " + blob.str() +
                                           " has the unsupported media type '" + media_type +
                                           "' (expected a tar, tar+gzip or tar+zstd layer)");
  }
  const fs::path dir = target.parent_path();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    util::fail_errno("snapshot: cannot create " + dir.string());
  }
  sweep_snapshot_temps(store);

  TempSnapshot temp(dir);
  {
    std::unique_ptr<util::Source> file = store.open_blob(blob);
    oci::DecompressingSource uncompressed(*file, compression, "layer " + blob.str());
    HashingSource hashed(uncompressed, *algorithm);
    oci::UnpackOptions options;
    options.preserve_owners = true;  // effective as root; otherwise files are the caller's
    options.overlay_whiteouts = true;
    options.overlay_userxattr = ::geteuid() != 0;  // as the sandbox mounts its overlay
    oci::unpack_layer(temp.path(), hashed, std::string(oci::media::k_oci_layer_tar), blob, options);
    char rest[4096];
    while (hashed.read(rest, sizeof rest) > 0) {
    }
    const oci::Digest actual = oci::Digest::from_hex(*algorithm, hashed.finish_hex());
    if (actual != diff_id) {
      util::fail(ErrorKind::Corruption,
                 "snapshot: layer blob " + blob.str() + " decompresses to " + actual.str() +
                     ", not to the diff_id " + diff_id.str() +
                     " the image config records; the blob or the config is corrupt (run "
                     "`strata cache verify`, then pull or build the image again)");
    }
  }
  // Make the content durable before the name appears: a snapshot is trusted without
  // re-hashing, so a power cut must not leave a published but truncated one.
  if (::syncfs(temp.fd()) != 0) {
    util::fail_errno("snapshot: cannot sync " + temp.path().string());
  }
  int rc = ::renameat2(AT_FDCWD, temp.path().c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {
    // Filesystems without RENAME_NOREPLACE: rename() still refuses a non-empty target, and
    // replacing an empty snapshot with an identical empty one is harmless.
    rc = ::rename(temp.path().c_str(), target.c_str());
  }
  if (rc != 0) {
    const int err = errno;
    if ((err == EEXIST || err == ENOTEMPTY) && is_directory_nofollow(target)) {
      return target;  // another process won the race; `temp` removes ours
    }
    util::fail_errno("snapshot: cannot rename " + temp.path().string() + " to " + target.string(),
                     err);
  }
  temp.published();
  util::fsync_dir(dir);
  return target;
}

}  // namespace strata::builder
