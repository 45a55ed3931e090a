// Test helper: crafts tar archives byte by byte, including invalid and hostile ones.
//
// Unlike a real tar writer this builder never refuses anything: names may be absolute,
// contain "..", NUL bytes or be longer than any limit; PAX records may hold any key and
// value of any size; a header may carry any type flag (devices, unknown types). Long names
// are stored through a PAX "path"/"linkpath" record so that tests can go past 100 bytes.
// gzip() and zstd() wrap a finished archive the way layer blobs are compressed.
#pragma once

#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::test {

/// One raw ustar header. Every field is written as given (truncated to its width).
struct RawHeader {
  std::string name;
  char type = '0';
  unsigned mode = 0644;
  unsigned uid = 0;
  unsigned gid = 0;
  std::uint64_t size = 0;  // declared size; the data written may differ on purpose
  std::int64_t mtime = 1'700'000'000;
  std::string linkname;
  unsigned devmajor = 0;
  unsigned devminor = 0;
  std::string prefix;
};

/// Options of a convenience entry (file, dir, symlink, ...).
struct EntryOptions {
  unsigned mode = 0;  // 0: a default per type (0644 files, 0755 dirs, 0777 symlinks)
  unsigned uid = 0;
  unsigned gid = 0;
  std::int64_t mtime = 1'700'000'000;
  long mtime_nsec = -1;  // >= 0: written as a PAX "mtime" record with nanoseconds
  std::map<std::string, std::string> xattrs{};  // written as SCHILY.xattr.* PAX records
};

/// Builds a tar stream in memory. Not thread-safe; value type.
class TarBuilder {
 public:
  /// Appends a raw header (checksum computed) followed by `data` padded to 512 bytes.
  TarBuilder& raw(const RawHeader& h, std::string_view data = {}) {
    char block[512];
    std::memset(block, 0, sizeof block);
    put_str(block + 0, 100, h.name);
    put_oct(block + 100, 8, h.mode);
    put_oct(block + 108, 8, h.uid);
    put_oct(block + 116, 8, h.gid);
    put_oct(block + 124, 12, h.size);
    put_oct(block + 136, 12, static_cast<std::uint64_t>(h.mtime));
    block[156] = h.type;
    put_str(block + 157, 100, h.linkname);
    std::memcpy(block + 257,
                "ustar\0"
                "00",
                8);
    put_oct(block + 329, 8, h.devmajor);
    put_oct(block + 337, 8, h.devminor);
    put_str(block + 345, 155, h.prefix);
    std::memset(block + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : std::string_view(block, sizeof block)) {
      sum += c;
    }
    std::snprintf(block + 148, 8, "%06o", sum);
    block[155] = ' ';
    m_data.append(block, sizeof block);
    m_data.append(data);
    m_data.append((512 - data.size() % 512) % 512, '\0');
    return *this;
  }

  /// Appends a PAX extended header ('x') holding `records` verbatim (key, value may be
  /// anything). It applies to the next header.
  TarBuilder& pax(const std::vector<std::pair<std::string, std::string>>& records) {
    std::string body;
    for (const auto& [key, value] : records) {
      body += pax_record(key, value);
    }
    RawHeader h;
    h.name = "PaxHeaders/x";
    h.type = 'x';
    h.size = body.size();
    return raw(h, body);
  }

  /// Appends a raw PAX body of exactly `body` (for malformed or oversized headers).
  TarBuilder& pax_body(std::string_view body) {
    RawHeader h;
    h.name = "PaxHeaders/x";
    h.type = 'x';
    h.size = body.size();
    return raw(h, body);
  }

  TarBuilder& file(const std::string& path, std::string_view content, const EntryOptions& o = {}) {
    return entry(path, '0', o.mode ? o.mode : 0644, o, content, "");
  }
  TarBuilder& dir(const std::string& path, const EntryOptions& o = {}) {
    return entry(path, '5', o.mode ? o.mode : 0755, o, "", "");
  }
  TarBuilder& symlink(const std::string& path, const std::string& target,
                      const EntryOptions& o = {}) {
    return entry(path, '2', o.mode ? o.mode : 0777, o, "", target);
  }
  TarBuilder& hardlink(const std::string& path, const std::string& target,
                       const EntryOptions& o = {}) {
    return entry(path, '1', o.mode ? o.mode : 0644, o, "", target);
  }
  TarBuilder& fifo(const std::string& path, const EntryOptions& o = {}) {
    return entry(path, '6', o.mode ? o.mode : 0644, o, "", "");
  }
  TarBuilder& chardev(const std::string& path, unsigned major, unsigned minor) {
    RawHeader h;
    h.name = path;
    h.type = '3';
    h.devmajor = major;
    h.devminor = minor;
    return raw(h);
  }
  TarBuilder& blockdev(const std::string& path, unsigned major, unsigned minor) {
    RawHeader h;
    h.name = path;
    h.type = '4';
    h.devmajor = major;
    h.devminor = minor;
    return raw(h);
  }

  /// The archive with its two zero end blocks.
  [[nodiscard]] std::string finish() const { return m_data + std::string(1024, '\0'); }
  /// The archive so far without end blocks (to build truncated archives).
  [[nodiscard]] const std::string& unfinished() const { return m_data; }

  /// One PAX record "<len> <key>=<value>\n" where <len> counts the whole record.
  static std::string pax_record(const std::string& key, const std::string& value) {
    const std::size_t rest = key.size() + value.size() + 3;  // ' ', '=', '\n'
    std::size_t len = rest + 1;
    while (std::to_string(len).size() + rest != len) {
      len = std::to_string(len).size() + rest;
    }
    return std::to_string(len) + " " + key + "=" + value + "\n";
  }

 private:
  TarBuilder& entry(const std::string& path, char type, unsigned mode, const EntryOptions& o,
                    std::string_view content, const std::string& link) {
    std::vector<std::pair<std::string, std::string>> records;
    if (path.size() > 99 || path.find('\0') != std::string::npos) {
      records.emplace_back("path", path);
    }
    if (link.size() > 99 || link.find('\0') != std::string::npos) {
      records.emplace_back("linkpath", link);
    }
    if (o.mtime_nsec >= 0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%lld.%09ld", static_cast<long long>(o.mtime), o.mtime_nsec);
      records.emplace_back("mtime", buf);
    }
    for (const auto& [k, v] : o.xattrs) {
      records.emplace_back("SCHILY.xattr." + k, v);
    }
    if (!records.empty()) {
      pax(records);
    }
    RawHeader h;
    h.name = path.substr(0, std::min<std::size_t>(path.size(), 99));
    h.type = type;
    h.mode = mode;
    h.uid = o.uid;
    h.gid = o.gid;
    h.size = content.size();
    h.mtime = o.mtime;
    h.linkname = link.substr(0, std::min<std::size_t>(link.size(), 99));
    return raw(h, content);
  }

  static void put_str(char* field, std::size_t width, const std::string& s) {
    std::memcpy(field, s.data(), std::min(width, s.size()));
  }
  static void put_oct(char* field, std::size_t width, std::uint64_t v) {
    std::string digits(width - 1, '0');
    for (std::size_t i = width - 1; i-- > 0 && v > 0; v >>= 3) {
      digits[i] = static_cast<char>('0' + (v & 7));
    }
    std::memcpy(field, digits.data(), width - 1);
    field[width - 1] = '\0';
  }

  std::string m_data;
};

/// gzip-compresses `data` (a gzip member without name or time, as layers are written).
inline std::string gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
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
    throw std::runtime_error("deflate failed");
  }
  return out;
}

/// zstd-compresses `data` (level 3).
inline std::string zstd(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  if (ZSTD_isError(n)) {
    throw std::runtime_error(ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

}  // namespace strata::test
