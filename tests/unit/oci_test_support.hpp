// Test helpers for the OCI model tests: gzip/zstd compression done directly with zlib and
// libzstd (independently of strata's own writers) and a reader of tar archives through
// libarchive, so tests check strata's output with another implementation.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace strata::test {

/// One gzip member of `data` (level 6).
inline std::string gzip_compress(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    throw std::runtime_error("deflate");
  }
  return out;
}

/// One zstd frame of `data` (level 3).
inline std::string zstd_compress(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  if (ZSTD_isError(n) != 0U) {
    throw std::runtime_error("ZSTD_compress");
  }
  out.resize(n);
  return out;
}

/// Deterministic pseudo-random bytes (poorly compressible).
inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761U + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

/// A small pax tar with the given files (path -> content), written by libarchive.
inline std::string make_tar(const std::map<std::string, std::string>& files) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  std::string buf(1 << 20, '\0');
  std::size_t used = 0;
  if (archive_write_open_memory(a.get(), buf.data(), buf.size(), &used) != ARCHIVE_OK) {
    throw std::runtime_error("archive_write_open_memory");
  }
  for (const auto& [path, content] : files) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    archive_write_header(a.get(), e.get());
    archive_write_data(a.get(), content.data(), content.size());
  }
  archive_write_close(a.get());
  buf.resize(used);
  return buf;
}

/// An entry read back from a tar archive.
struct ReadEntry {
  std::string content;
  int type = 0;  // AE_IFREG, AE_IFDIR, ...
  la_int64_t uid = -1;
  la_int64_t gid = -1;
  la_int64_t mtime = -1;
  unsigned mode = 0;
};

/// Reads every entry of an (uncompressed) tar in memory with libarchive, in archive order.
inline std::vector<std::pair<std::string, ReadEntry>> read_tar(const std::string& data) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK) {
    throw std::runtime_error(archive_error_string(a.get()));
  }
  std::vector<std::pair<std::string, ReadEntry>> out;
  archive_entry* e = nullptr;
  int rc = 0;
  while ((rc = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    ReadEntry r;
    r.type = static_cast<int>(archive_entry_filetype(e));
    r.uid = archive_entry_uid(e);
    r.gid = archive_entry_gid(e);
    r.mtime = archive_entry_mtime(e);
    r.mode = archive_entry_perm(e);
    char buf[65536];
    la_ssize_t n = 0;
    while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0) {
      r.content.append(buf, static_cast<std::size_t>(n));
    }
    if (n < 0) {
      throw std::runtime_error(archive_error_string(a.get()));
    }
    out.emplace_back(archive_entry_pathname(e), std::move(r));
  }
  if (rc != ARCHIVE_EOF) {
    throw std::runtime_error(archive_error_string(a.get()));
  }
  return out;
}

}  // namespace strata::test
