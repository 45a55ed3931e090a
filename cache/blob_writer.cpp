// Writing blobs. The bytes go to a private temp file in <root>/tmp (same filesystem as
// blobs/) and through a hash as they arrive; commit() compares the digest with what the
// caller expected, makes the file read-only, fsyncs it, and then, holding the database
// write lock, renames it to blobs/<alg>/<hex> (or drops it when an intact copy is already
// there), fsyncs the directory and records the row in the same transaction. The name is
// known only after hashing, which is why this is not util::AtomicFile.
//
// A writer holds a shared flock on its temp file for its whole life, so the sweep of stale
// temp files at Store open never removes the file of a slow but live writer.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "cache/store_impl.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace strata::cache {

namespace fs = std::filesystem;
using util::ErrorKind;

namespace {

constexpr std::size_t k_buffer_size = 256 * 1024;

std::string algorithm_name(util::HashAlgorithm algorithm) {
  return algorithm == util::HashAlgorithm::Sha512 ? "sha512" : "sha256";
}

}  // namespace

struct BlobWriter::Impl {
  Store::Impl* store = nullptr;
  std::string media_type;
  util::Hasher hasher;
  fs::path temp;
  util::Fd fd;
  std::string buffer;
  std::uint64_t size = 0;
  bool done = false;

  Impl(Store::Impl& owner, std::string type, util::HashAlgorithm algorithm)
      : store(&owner), media_type(std::move(type)), hasher(algorithm) {
    for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
      temp = store->tmp / ("blob-" + random_token());
      fd.reset(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!fd && errno != EEXIST) {
        util::fail_errno("cannot create a temporary blob file in " + store->tmp.string());
      }
    }
    if (!fd) {
      util::fail(ErrorKind::IO, "cannot create a unique temporary file in " + store->tmp.string());
    }
    if (::flock(fd.get(), LOCK_SH) != 0) {
      const int err = errno;
      discard();
      util::fail_errno("cannot lock " + temp.string(), err);
    }
    buffer.reserve(k_buffer_size);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { discard(); }

  // Publishes a complete, fsynced file as `digest`, or drops it when the blob is already
  // present with the right size. Records the row. Throws on failure; the caller removes
  // the temp file.
  static void publish(Store::Impl& store, const fs::path& temp, const oci::Digest& digest,
                      std::uint64_t size, const std::string& media_type) {
    const fs::path target = store.blob_path(digest);
    bool renamed = false;
    {
      std::lock_guard lock(store.mutex);
      Transaction txn(*store.db);
      struct stat st {};
      const bool present = ::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                           static_cast<std::uint64_t>(st.st_size) == size;
      if (!present) {
        // A present file of the wrong size is damaged; the rename replaces it atomically.
        if (::rename(temp.c_str(), target.c_str()) != 0) {
          util::fail_errno("cannot move " + temp.string() + " to " + target.string());
        }
        renamed = true;
      }
      store.upsert_blob(digest, size, media_type, store.now());
      txn.commit();
    }
    // Outside the lock, so that writers do not queue behind each other's directory fsync.
    // With synchronous=NORMAL the commit itself is durable only at the next checkpoint, so
    // this order loses nothing: after a power cut, a row without its file is treated as
    // absent and a file without its row is registered by gc/verify.
    if (renamed && store.fsync) {
      util::fsync_dir(target.parent_path());
    }
  }

  void flush() {
    if (!buffer.empty()) {
      util::write_all(fd.get(), buffer.data(), buffer.size(), temp.string());
      buffer.clear();
    }
  }

  void discard() noexcept {
    if (!done) {
      done = true;
      fd.reset();
      ::unlink(temp.c_str());
    }
  }
};

BlobWriter::BlobWriter(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter::~BlobWriter() = default;

void BlobWriter::write(const void* data, std::size_t size) {
  if (!m_impl || m_impl->done) {
    util::fail(ErrorKind::Internal, "write to a finished blob writer");
  }
  try {
    m_impl->hasher.update(data, size);
    m_impl->size += size;
    if (m_impl->buffer.size() + size > k_buffer_size) {
      m_impl->flush();
      if (size >= k_buffer_size) {
        util::write_all(m_impl->fd.get(), data, size, m_impl->temp.string());
        return;
      }
    }
    m_impl->buffer.append(static_cast<const char*>(data), size);
  } catch (...) {
    m_impl->discard();
    throw;
  }
}

std::uint64_t BlobWriter::size() const noexcept {
  return m_impl ? m_impl->size : 0;
}

oci::Digest BlobWriter::commit(const std::optional<oci::Digest>& expected) {
  if (!m_impl || m_impl->done) {
    util::fail(ErrorKind::Internal, "commit of a finished blob writer");
  }
  Impl& w = *m_impl;
  try {
    const util::HashAlgorithm algorithm = w.hasher.algorithm();
    const oci::Digest digest = oci::Digest::from_hex(algorithm, w.hasher.finish_hex());
    if (expected) {
      if (expected->algorithm() != digest.algorithm()) {
        util::fail(ErrorKind::InvalidInput,
                   "cannot verify blob against " + expected->str() + ": the writer hashes with " +
                       algorithm_name(algorithm) + "; open it with that algorithm");
      }
      if (*expected != digest) {
        util::fail(ErrorKind::Corruption, "blob digest mismatch: expected " + expected->str() +
                                              ", got " + digest.str() + " (" +
                                              std::to_string(w.size) + " bytes)");
      }
    }
    w.flush();
    if (::fchmod(w.fd.get(), 0444) != 0) {
      util::fail_errno("cannot make " + w.temp.string() + " read-only");
    }
    if (w.store->fsync && ::fsync(w.fd.get()) != 0) {
      util::fail_errno("cannot fsync " + w.temp.string());
    }
    Impl::publish(*w.store, w.temp, digest, w.size, w.media_type);
    w.discard();  // the temp name is gone after a rename; removes the dropped duplicate
    return digest;
  } catch (...) {
    w.discard();
    throw;
  }
}

BlobWriter Store::begin_blob(std::string media_type, util::HashAlgorithm algorithm) {
  return BlobWriter(std::make_unique<BlobWriter::Impl>(*m_impl, std::move(media_type), algorithm));
}

void Store::adopt_blob(const fs::path& file, const oci::Digest& digest,
                       const std::string& media_type) {
  const fs::path target = m_impl->blob_path(digest);  // validates the digest
  util::Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    util::fail_errno("cannot open " + file.string() + " to publish it as " + digest.str());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    util::fail_errno("cannot stat " + file.string());
  }
  if (::fchmod(fd.get(), 0444) != 0) {
    util::fail_errno("cannot make " + file.string() + " read-only");
  }
  if (m_impl->fsync && ::fsync(fd.get()) != 0) {
    util::fail_errno("cannot fsync " + file.string());
  }
  BlobWriter::Impl::publish(*m_impl, file, digest, static_cast<std::uint64_t>(st.st_size),
                            media_type);
  ::unlink(file.c_str());  // a duplicate that was not renamed; ENOENT after a rename
}

bool Store::same_filesystem(const fs::path& path) const {
  struct stat a {};
  struct stat b {};
  return ::stat(path.c_str(), &a) == 0 &&
         ::stat((m_impl->root / "blobs").c_str(), &b) == 0 && a.st_dev == b.st_dev;
}

oci::Digest Store::put_blob(std::string_view data, std::string media_type) {
  // Small blobs are in memory already: when an intact copy exists, only refresh its row
  // instead of writing and fsyncing a temp file.
  const oci::Digest digest = oci::Digest::of(data);
  const fs::path target = m_impl->blob_path(digest);
  {
    std::lock_guard lock(m_impl->mutex);
    Transaction txn(*m_impl->db);
    struct stat st {};
    if (::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_size) == data.size()) {
      m_impl->upsert_blob(digest, data.size(), media_type, m_impl->now());
      txn.commit();
      return digest;
    }
  }
  BlobWriter writer = begin_blob(std::move(media_type));
  writer.write(data);
  return writer.commit(digest);
}

}  // namespace strata::cache
