// Blob GET/HEAD (with single byte ranges) and DELETE.
//
// Bytes are streamed from the store file through an httplib content provider with pread
// into one buffer per response, so a response never holds more than 256 KiB in memory. httplib's own Range
// handling is disabled by the router (it would also slice error bodies); ranges are parsed
// here: "bytes=a-b", "bytes=a-" and "bytes=-n" give 206 with Content-Range; anything else
// (several ranges, a start past the end, bad syntax) gives 416 with "Content-Range:
// bytes */<size>".
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <memory>
#include <vector>

#include "registry/server/context.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace strata::registry {

namespace {

constexpr std::size_t k_chunk = 256 * 1024;

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool parse_number(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) {
    return false;
  }
  const auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return res.ec == std::errc{} && res.ptr == s.data() + s.size();
}

[[noreturn]] void unsatisfiable(std::string_view header, std::uint64_t size,
                                const oci::Digest& digest) {
  throw ApiError(416, ErrorCode::SizeInvalid,
                 "range \"" + std::string(header.substr(0, 100)) + "\" is not satisfiable: blob " +
                     digest.str() + " has " + std::to_string(size) +
                     " bytes (use one range: bytes=a-b, bytes=a- or bytes=-n)")
      .with_header("Content-Range", "bytes */" + std::to_string(size));
}

/// Parses a Range header against a blob of `size` bytes.
ByteRange parse_range(std::string_view header, std::uint64_t size, const oci::Digest& digest) {
  std::string_view spec = trim(header);
  constexpr std::string_view k_unit = "bytes=";
  if (spec.size() < k_unit.size()) {
    unsatisfiable(header, size, digest);
  }
  for (std::size_t i = 0; i < k_unit.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(spec[i])) != k_unit[i]) {
      unsatisfiable(header, size, digest);
    }
  }
  spec = trim(spec.substr(k_unit.size()));
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos || spec.find(',') != std::string_view::npos) {
    unsatisfiable(header, size, digest);
  }
  const std::string_view a = trim(spec.substr(0, dash));
  const std::string_view b = trim(spec.substr(dash + 1));
  ByteRange r;
  if (a.empty()) {  // suffix: the last n bytes
    std::uint64_t n = 0;
    if (!parse_number(b, n) || n == 0 || size == 0) {
      unsatisfiable(header, size, digest);
    }
    r.first = n >= size ? 0 : size - n;
    r.last = size - 1;
    return r;
  }
  if (!parse_number(a, r.first) || r.first >= size) {
    unsatisfiable(header, size, digest);
  }
  if (b.empty()) {
    r.last = size - 1;
    return r;
  }
  if (!parse_number(b, r.last) || r.last < r.first) {
    unsatisfiable(header, size, digest);
  }
  if (r.last >= size) {
    r.last = size - 1;
  }
  return r;
}

}  // namespace

void get_blob(Context& ctx, Call& call, const std::string& repo, const std::string& digest_text) {
  check_repository(repo);
  const oci::Digest digest = parse_digest_param(digest_text, false);
  const auto unknown = [&] {
    return ApiError(404, ErrorCode::BlobUnknown,
                    "blob " + digest.str() + " is not in repository " + repo,
                    {{"digest", digest.str()}});
  };
  if (!ctx.meta.blob_linked(repo, digest.str())) {
    throw unknown();
  }
  const std::filesystem::path path = ctx.store.blob_path(digest);
  auto fd = std::make_shared<util::Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) {
    if (errno == ENOENT) {
      throw unknown();  // linked, but removed from the store (e.g. by cache gc)
    }
    util::fail_errno("cannot open blob " + path.string());
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    util::fail_errno("cannot stat blob " + path.string());
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);

  auto& res = call.res;
  res.set_header("Docker-Content-Digest", digest.str());
  res.set_header("Accept-Ranges", "bytes");
  res.set_header("ETag", "\"" + digest.str() + "\"");
  res.set_header("Cache-Control", "max-age=31536000");

  ByteRange range{0, size == 0 ? 0 : size - 1};
  res.status = 200;
  const std::string range_header = call.req.get_header_value("Range");
  if (!range_header.empty()) {
    range = parse_range(range_header, size, digest);
    res.status = 206;
    res.set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                        std::to_string(range.last) + "/" + std::to_string(size));
  }
  if (size == 0) {
    res.set_content(std::string{}, "application/octet-stream");
    return;
  }
  const std::uint64_t start = range.first;
  const std::uint64_t length = range.last - range.first + 1;
  res.set_content_provider(
      static_cast<std::size_t>(length), "application/octet-stream",
      [fd, start, buffer = std::make_shared<std::vector<char>>()](
          std::size_t offset, std::size_t want, httplib::DataSink& sink) {
        // One buffer per response, allocated on first use: a fresh 256 KiB allocation per
        // chunk is an mmap/munmap pair and 64 page faults each time.
        if (buffer->empty()) {
          buffer->resize(std::min(want, k_chunk));
        }
        auto& buf = *buffer;
        const ssize_t n = ::pread(fd->get(), buf.data(), std::min(buf.size(), want),
                                  static_cast<off_t>(start + offset));
        if (n <= 0) {
          return false;  // I/O error or the file shrank: abort the connection
        }
        return sink.write(buf.data(), static_cast<std::size_t>(n));
      });
}

void delete_blob(Context& ctx, Call& call, const std::string& repo,
                 const std::string& digest_text) {
  check_repository(repo);
  const oci::Digest digest = parse_digest_param(digest_text, false);
  if (!ctx.meta.unlink_blob(repo, digest.str())) {
    throw ApiError(404, ErrorCode::BlobUnknown,
                   "blob " + digest.str() + " is not in repository " + repo,
                   {{"digest", digest.str()}});
  }
  call.res.status = 202;
}

}  // namespace strata::registry
