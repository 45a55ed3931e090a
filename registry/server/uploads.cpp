// Blob uploads: POST (start, monolithic, mount), PATCH (streamed or chunked), PUT
// (complete), GET (status), DELETE (cancel), and the expiry of idle sessions.
//
// A session is a row in registry.db (repository, bytes received, timestamps) plus the file
// <root>/uploads/<uuid> holding the bytes received so far. Each PATCH truncates the file
// to the recorded offset (dropping bytes a crash may have left past it), appends the body,
// fdatasyncs and records the new offset, so a session survives a restart of the server.
//
// The bytes are hashed as they are written: the running hash of each session is kept in
// memory (Context::take_upload_hash) together with the offset it covers. OpenSSL's hash
// state cannot be saved portably, so after a restart, an error half way through a request,
// or a completion with another algorithm than the session's, the file is re-hashed from
// disk up to the recorded offset (rare; the page cache usually still holds it). Completion
// compares the hash with the digest the client named and, on a match, publishes the upload
// file itself into the store (fsync + rename, Store::adopt_blob): no byte is copied. On a
// mismatch nothing is stored and the session is dropped. When uploads/ is not on the
// store's filesystem, the file is copied into the store instead. Requests on one session
// are serialised by a striped mutex.
//
// Bodies arrive from httplib in pieces of 4 KiB; they are gathered into 1 MiB writes.
//
// Mount without `from`: the blob is mounted when a repository holds it; with auth on, the
// gate (auth_gate.cpp) restricts the candidates to repositories the caller may read.
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include "registry/server/context.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/io.hpp"

namespace strata::registry {

namespace {

constexpr std::string_view k_octet = "application/octet-stream";

std::string new_uuid() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    util::fail(util::ErrorKind::Internal, "OpenSSL RAND_bytes failed to make an upload id");
  }
  return util::to_hex(bytes, sizeof bytes);
}

bool valid_uuid(std::string_view id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string location(const std::string& repo, const std::string& uuid) {
  return "/v2/" + repo + "/blobs/uploads/" + uuid;
}

std::string range_value(std::uint64_t offset) {
  // distribution's convention: "0-0" for an empty upload, else "0-<last byte>".
  return "0-" + std::to_string(offset == 0 ? 0 : offset - 1);
}

void progress_headers(httplib::Response& res, const std::string& repo, const std::string& uuid,
                      std::uint64_t offset) {
  res.set_header("Location", location(repo, uuid));
  res.set_header("Range", range_value(offset));
  res.set_header("Docker-Upload-UUID", uuid);
}

ApiError upload_unknown(const std::string& repo, const std::string& uuid) {
  return ApiError(404, ErrorCode::BlobUploadUnknown,
                  "upload " + uuid.substr(0, 64) + " is not in progress in repository " + repo +
                      " (finished, cancelled or expired); start a new upload",
                  {{"upload", uuid.substr(0, 64)}});
}

std::filesystem::path upload_path(const Context& ctx, const UploadRecord& rec) {
  return ctx.options.root / rec.path;
}

void remove_session(Context& ctx, const UploadRecord& rec) {
  ctx.drop_upload_hash(rec.uuid);
  ctx.meta.delete_upload(rec.uuid);
  std::error_code ec;
  std::filesystem::remove(upload_path(ctx, rec), ec);
}

/// Loads a live session of `repo`; expired sessions are removed and reported unknown.
UploadRecord load_session(Context& ctx, const std::string& repo, const std::string& uuid) {
  if (!valid_uuid(uuid)) {
    throw upload_unknown(repo, uuid);
  }
  auto rec = ctx.meta.find_upload(uuid);
  if (!rec || rec->repo != repo) {
    throw upload_unknown(repo, uuid);
  }
  if (rec->updated < ctx.now() - ctx.options.upload_expiry.count()) {
    remove_session(ctx, *rec);
    throw upload_unknown(repo, uuid);
  }
  return *rec;
}

/// Parses a Content-Range "<start>-<end>" (a "bytes " or "bytes=" prefix is tolerated).
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_content_range(std::string_view s) {
  for (std::string_view prefix : {"bytes=", "bytes "}) {
    if (s.substr(0, prefix.size()) == prefix) {
      s.remove_prefix(prefix.size());
    }
  }
  const auto dash = s.find('-');
  if (dash == std::string_view::npos) {
    return std::nullopt;
  }
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  const auto pa = s.substr(0, dash);
  const auto pb = s.substr(dash + 1);
  const auto ra = std::from_chars(pa.data(), pa.data() + pa.size(), a);
  const auto rb = std::from_chars(pb.data(), pb.data() + pb.size(), b);
  if (pa.empty() || pb.empty() || ra.ec != std::errc{} || ra.ptr != pa.data() + pa.size() ||
      rb.ec != std::errc{} || rb.ptr != pb.data() + pb.size() || b < a) {
    return std::nullopt;
  }
  return std::make_pair(a, b);
}

ApiError range_error(const std::string& repo, const UploadRecord& rec, const std::string& why) {
  ApiError err(416, ErrorCode::BlobUploadInvalid,
               "upload " + rec.uuid + ": " + why + "; the upload has " +
                   std::to_string(rec.offset) + " bytes, so the next chunk starts at byte " +
                   std::to_string(rec.offset),
               {{"offset", rec.offset}});
  err.with_header("Location", location(repo, rec.uuid))
      .with_header("Range", range_value(rec.offset))
      .with_header("Docker-Upload-UUID", rec.uuid);
  return err;
}

constexpr std::size_t k_write_buffer = 1024 * 1024;

util::HashAlgorithm algorithm_of(const std::string& name) {
  return name == "sha512" ? util::HashAlgorithm::Sha512 : util::HashAlgorithm::Sha256;
}

/// Writes a request body to an upload file through a 1 MiB buffer and feeds exactly the
/// bytes that reached the file to `hash` (when given). Not thread-safe.
class UploadWriter {
 public:
  /// `start`: the file offset of the first byte this writer writes.
  UploadWriter(int fd, const std::filesystem::path& path, UploadHash* hash,
               std::uint64_t start = 0)
      : m_fd(fd), m_path(path), m_hash(hash), m_start(start) {
    m_buffer.reserve(k_write_buffer);
  }
  void write(const char* data, std::size_t size) {
    if (m_buffer.size() + size > k_write_buffer) {
      flush();
    }
    if (size >= k_write_buffer) {
      emit(data, size);
      return;
    }
    m_buffer.append(data, size);
  }
  void flush() {
    if (!m_buffer.empty()) {
      emit(m_buffer.data(), m_buffer.size());
      m_buffer.clear();
    }
  }
  /// Bytes written to the file so far (not counting the buffer).
  [[nodiscard]] std::uint64_t written() const noexcept { return m_written; }

 private:
  void emit(const char* data, std::size_t size) {
    util::write_all(m_fd, data, size, m_path.string());
    if (m_hash != nullptr) {
      m_hash->hasher.update(data, size);
      m_hash->offset += size;
    }
    m_written += size;
    // Start writing back what arrived so far, without waiting for it: the fdatasync at the
    // end of the request (and the fsync on completion) then only waits for the tail
    // instead of the whole body, and the disk works while the network delivers.
    if (m_written - m_kicked >= k_writeback_step) {
      (void)::sync_file_range(m_fd, static_cast<off_t>(m_start + m_kicked),
                              static_cast<off_t>(m_written - m_kicked), SYNC_FILE_RANGE_WRITE);
      m_kicked = m_written;
    }
  }

  static constexpr std::uint64_t k_writeback_step = 8 * 1024 * 1024;

  int m_fd;
  const std::filesystem::path& m_path;
  UploadHash* m_hash;
  std::string m_buffer;
  std::uint64_t m_start;
  std::uint64_t m_written = 0;
  std::uint64_t m_kicked = 0;  // bytes whose writeback was started
};

/// The running hash of the session's first rec.offset bytes with `algorithm`: the one kept
/// in memory when it covers exactly those bytes, else computed from the upload file.
UploadHash session_hash(Context& ctx, const UploadRecord& rec, util::HashAlgorithm algorithm) {
  auto kept = ctx.take_upload_hash(rec.uuid);
  if (kept && kept->offset == rec.offset && kept->hasher.algorithm() == algorithm) {
    return std::move(*kept);
  }
  UploadHash hash{util::Hasher(algorithm), 0};
  const std::filesystem::path path = upload_path(ctx, rec);
  util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    util::fail_errno("cannot open upload file " + path.string() + " to hash it");
  }
  std::string buf(k_write_buffer, '\0');
  while (hash.offset < rec.offset) {
    const auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(buf.size(), rec.offset - hash.offset));
    const ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(hash.offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      util::fail_errno("cannot read upload file " + path.string());
    }
    if (n == 0) {
      util::fail(util::ErrorKind::Corruption,
                 "upload file " + path.string() + " holds " + std::to_string(hash.offset) +
                     " bytes but upload " + rec.uuid + " recorded " + std::to_string(rec.offset) +
                     "; cancel it and upload again");
    }
    hash.hasher.update(buf.data(), static_cast<std::size_t>(n));
    hash.offset += static_cast<std::uint64_t>(n);
  }
  return hash;
}

/// Appends the request body (if any) to the session file. Returns the new offset, which
/// is also recorded in the database (even when the body breaks off half way, so that the
/// client can resume from what arrived).
/// `hash` (covering the first rec.offset bytes) follows the bytes appended; after an
/// exception it is out of step with the file and must be dropped.
std::uint64_t append_body(Context& ctx, Call& call, const std::string& repo,
                          const UploadRecord& rec, UploadHash& hash) {
  std::optional<std::uint64_t> expected;
  const std::string content_range = call.req.get_header_value("Content-Range");
  if (!content_range.empty()) {
    const auto range = parse_content_range(content_range);
    if (!range) {
      throw range_error(repo, rec, "invalid Content-Range \"" + content_range.substr(0, 100) +
                                       "\" (expected <start>-<end>, inclusive)");
    }
    if (range->first != rec.offset) {
      throw range_error(repo, rec, "chunk " + content_range + " is out of order");
    }
    expected = range->second - range->first + 1;
    const std::string cl = call.req.get_header_value("Content-Length");
    if (!cl.empty() && cl != std::to_string(*expected)) {
      throw range_error(repo, rec, "Content-Length " + cl + " does not match Content-Range " +
                                       content_range);
    }
  }
  if (!call.has_body()) {
    call.body_consumed = true;
    if (expected) {
      throw range_error(repo, rec, "Content-Range " + content_range + " came without a body");
    }
    return rec.offset;
  }

  const std::filesystem::path path = upload_path(ctx, rec);
  util::Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    util::fail_errno("cannot open upload file " + path.string());
  }
  const auto start = static_cast<off_t>(rec.offset);
  if (::ftruncate(fd.get(), start) != 0 || ::lseek(fd.get(), start, SEEK_SET) != start) {
    util::fail_errno("cannot position upload file " + path.string());
  }
  UploadWriter writer(fd.get(), path, &hash, rec.offset);
  const auto record = [&](std::uint64_t offset) {
    if (::fdatasync(fd.get()) != 0) {
      util::fail_errno("cannot sync upload file " + path.string());
    }
    ctx.meta.set_upload_offset(rec.uuid, offset, ctx.now());
  };
  try {
    call.read_body([&](const char* data, std::size_t size) { writer.write(data, size); },
                   ErrorCode::BlobUploadInvalid);
    writer.flush();
  } catch (...) {
    try {
      writer.flush();
    } catch (...) {  // what reached the file is recorded below
    }
    try {
      record(rec.offset + writer.written());
    } catch (...) {  // the original error is the one to report
    }
    throw;
  }
  const std::uint64_t written = writer.written();
  if (expected && written != *expected) {
    if (::ftruncate(fd.get(), start) != 0) {
      util::fail_errno("cannot truncate upload file " + path.string());
    }
    throw range_error(repo, rec, "the body has " + std::to_string(written) +
                                     " bytes but Content-Range " + content_range + " announced " +
                                     std::to_string(*expected));
  }
  record(rec.offset + written);
  return rec.offset + written;
}

ApiError digest_mismatch(const oci::Digest& digest, const std::string& detail) {
  return ApiError(400, ErrorCode::DigestInvalid,
                  "the uploaded content does not match digest " + digest.str() + ": " + detail +
                      "; nothing was stored",
                  {{"digest", digest.str()}});
}

/// Streams `file` into the store, verifying it against `digest` (the fallback when the
/// upload file cannot be renamed into the store). Throws 400 DIGEST_INVALID on a mismatch
/// (nothing is stored).
void copy_into_store(Context& ctx, const std::filesystem::path& file, const oci::Digest& digest) {
  auto writer = ctx.store.begin_blob(std::string(k_octet), *digest.hash_algorithm());
  util::FileSource source(file);
  util::copy_stream(source, writer);
  try {
    writer.commit(digest);
  } catch (const util::Error& e) {
    if (e.kind() == util::ErrorKind::Corruption) {
      throw digest_mismatch(digest, e.what());
    }
    throw;
  }
}

/// Publishes a complete upload file whose content `hash` covers: checks the digest, then
/// renames the file into the store (or copies it across filesystems). Throws 400
/// DIGEST_INVALID on a mismatch (nothing is stored, the file is left for the caller).
void publish(Context& ctx, const std::filesystem::path& file, UploadHash& hash,
             const oci::Digest& digest) {
  const std::string size = std::to_string(hash.offset);
  const auto actual = oci::Digest::from_hex(hash.hasher.algorithm(), hash.hasher.finish_hex());
  if (actual != digest) {
    throw digest_mismatch(digest, "the " + size + " bytes received hash to " + actual.str());
  }
  if (ctx.store.same_filesystem(file)) {
    ctx.store.adopt_blob(file, digest, std::string(k_octet));
  } else {
    copy_into_store(ctx, file, digest);
  }
}

void blob_created(Context& ctx, Call& call, const std::string& repo, const oci::Digest& digest) {
  ctx.meta.link_blob(repo, digest.str(), ctx.now());
  call.res.status = 201;
  call.res.set_header("Location", "/v2/" + repo + "/blobs/" + digest.str());
  call.res.set_header("Docker-Content-Digest", digest.str());
}

/// Handles ?mount=; true when the blob was mounted (201 sent).
bool try_mount(Context& ctx, Call& call, const std::string& repo, const std::string& mount) {
  const oci::Digest digest = parse_digest_param(mount, false);
  const auto from = call.query.get("from");
  bool found = false;
  if (from) {
    check_repository(*from);
    found = ctx.meta.blob_linked(*from, digest.str());
  } else {
    found = ctx.meta.blob_linked_anywhere(digest.str());
  }
  if (!found || !ctx.store.has_blob(digest)) {
    return false;  // the spec's fallback: a normal upload session (202)
  }
  blob_created(ctx, call, repo, digest);
  return true;
}

/// A file under uploads/ removed on scope exit (for single-POST uploads).
class ScratchFile {
 public:
  explicit ScratchFile(std::filesystem::path path) : m_path(std::move(path)) {}
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove(m_path, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_path; }

 private:
  std::filesystem::path m_path;
};

void monolithic_post(Context& ctx, Call& call, const std::string& repo,
                     const std::string& digest_text) {
  const oci::Digest digest = parse_digest_param(digest_text, true);
  ScratchFile scratch(ctx.uploads_dir() / new_uuid());
  UploadHash hash{util::Hasher(*digest.hash_algorithm()), 0};
  {
    util::Fd fd(::open(scratch.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
      util::fail_errno("cannot create upload file " + scratch.path().string());
    }
    UploadWriter writer(fd.get(), scratch.path(), &hash);
    call.read_body([&](const char* data, std::size_t size) { writer.write(data, size); },
                   ErrorCode::BlobUploadInvalid);
    writer.flush();
  }
  publish(ctx, scratch.path(), hash, digest);
  blob_created(ctx, call, repo, digest);
}

}  // namespace

void start_upload(Context& ctx, Call& call, const std::string& repo) {
  check_repository(repo);
  if (const auto mount = call.query.get("mount")) {
    if (try_mount(ctx, call, repo, *mount)) {
      return;
    }
  } else if (const auto digest = call.query.get("digest")) {
    monolithic_post(ctx, call, repo, *digest);
    return;
  }
  std::string algorithm = "sha256";
  if (const auto alg = call.query.get("digest-algorithm")) {
    if (*alg != "sha256" && *alg != "sha512") {
      throw ApiError(400, ErrorCode::DigestInvalid,
                     "unsupported digest-algorithm \"" + alg->substr(0, 50) +
                         "\": this registry supports sha256 and sha512");
    }
    algorithm = *alg;
  }
  if (ctx.meta.count_uploads() >= ctx.options.max_uploads) {
    throw ApiError(429, ErrorCode::TooManyRequests,
                   "too many uploads in progress (" + std::to_string(ctx.options.max_uploads) +
                       "); finish or cancel some, or retry later")
        .with_header("Retry-After", "10");
  }
  UploadRecord rec;
  rec.uuid = new_uuid();
  rec.repo = repo;
  rec.path = "uploads/" + rec.uuid;
  rec.algorithm = algorithm;
  rec.started = rec.updated = ctx.now();
  {
    const auto path = upload_path(ctx, rec);
    util::Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
      util::fail_errno("cannot create upload file " + path.string());
    }
  }
  ctx.meta.create_upload(rec);
  call.res.status = 202;
  progress_headers(call.res, repo, rec.uuid, 0);
}

void patch_upload(Context& ctx, Call& call, const std::string& repo, const std::string& uuid) {
  check_repository(repo);
  std::lock_guard lock(ctx.upload_lock(uuid));
  const UploadRecord rec = load_session(ctx, repo, uuid);
  UploadHash hash = session_hash(ctx, rec, algorithm_of(rec.algorithm));
  const std::uint64_t offset = append_body(ctx, call, repo, rec, hash);
  ctx.keep_upload_hash(uuid, std::move(hash));
  call.res.status = 202;
  progress_headers(call.res, repo, uuid, offset);
}

void put_upload(Context& ctx, Call& call, const std::string& repo, const std::string& uuid) {
  check_repository(repo);
  const auto digest_text = call.query.get("digest");
  if (!digest_text) {
    throw ApiError(400, ErrorCode::DigestInvalid,
                   "completing upload " + uuid.substr(0, 64) +
                       " needs the blob's digest: PUT <location>?digest=<digest>");
  }
  const oci::Digest digest = parse_digest_param(*digest_text, true);
  std::lock_guard lock(ctx.upload_lock(uuid));
  const UploadRecord rec = load_session(ctx, repo, uuid);
  UploadHash hash = session_hash(ctx, rec, *digest.hash_algorithm());
  append_body(ctx, call, repo, rec, hash);
  try {
    publish(ctx, upload_path(ctx, rec), hash, digest);
  } catch (const ApiError&) {
    remove_session(ctx, rec);  // a wrong digest ends the session; the client starts over
    throw;
  }
  remove_session(ctx, rec);
  blob_created(ctx, call, repo, digest);
}

void get_upload(Context& ctx, Call& call, const std::string& repo, const std::string& uuid) {
  check_repository(repo);
  std::lock_guard lock(ctx.upload_lock(uuid));
  const UploadRecord rec = load_session(ctx, repo, uuid);
  call.res.status = 204;
  progress_headers(call.res, repo, uuid, rec.offset);
}

void delete_upload(Context& ctx, Call& call, const std::string& repo, const std::string& uuid) {
  check_repository(repo);
  std::lock_guard lock(ctx.upload_lock(uuid));
  const UploadRecord rec = load_session(ctx, repo, uuid);
  remove_session(ctx, rec);
  call.res.status = 204;
}

void expire_uploads(Context& ctx) {
  // Sessions whose file is gone: a crash between publishing a completed upload (its file
  // renamed into the blob store) and removing its row. Nothing can resume them; the blob,
  // if it was published, is found by the client's HEAD. A live PUT holds the session's
  // lock until its row is gone, so it is never mistaken for one of these.
  for (const auto& session : ctx.meta.list_uploads()) {
    std::lock_guard lock(ctx.upload_lock(session.uuid));
    const auto rec = ctx.meta.find_upload(session.uuid);
    std::error_code ec;
    if (rec && !std::filesystem::exists(upload_path(ctx, *rec), ec) && !ec) {
      remove_session(ctx, *rec);
    }
  }
  const std::int64_t cutoff = ctx.now() - ctx.options.upload_expiry.count();
  for (const auto& stale : ctx.meta.uploads_updated_before(cutoff)) {
    std::lock_guard lock(ctx.upload_lock(stale.uuid));
    const auto rec = ctx.meta.find_upload(stale.uuid);
    if (rec && rec->updated < cutoff) {  // not touched while we waited for the lock
      remove_session(ctx, *rec);
    }
  }
  // Files without a session: left by a crash during a single-POST upload or before the
  // session row was written. Only old ones, so uploads in flight are never touched.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(ctx.uploads_dir(), ec)) {
    const std::string name = entry.path().filename().string();
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || st.st_mtime >= cutoff) {
      continue;
    }
    if (!valid_uuid(name) || !ctx.meta.upload_exists(name)) {
      std::error_code rm;
      std::filesystem::remove(entry.path(), rm);
    }
  }
}

}  // namespace strata::registry
