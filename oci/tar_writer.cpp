#include "oci/tar_writer.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "util/error.hpp"

namespace strata::oci {
namespace {

constexpr std::size_t k_block = 512;
constexpr std::size_t k_min_read = 64 * 1024;  // flush before reading into less room than this

// ustar field offsets and widths (POSIX.1-2001, "ustar Interchange Format").
constexpr std::size_t k_name = 0, k_name_len = 100;
constexpr std::size_t k_mode = 100, k_uid = 108, k_gid = 116, k_id_len = 8;
constexpr std::size_t k_size = 124, k_mtime = 136, k_num12_len = 12;
constexpr std::size_t k_chksum = 148;
constexpr std::size_t k_typeflag = 156;
constexpr std::size_t k_linkname = 157, k_linkname_len = 100;
constexpr std::size_t k_magic = 257;
constexpr std::size_t k_devmajor = 329, k_devminor = 337;
constexpr std::size_t k_prefix = 345, k_prefix_len = 155;

constexpr std::uint64_t k_max_octal7 = (std::uint64_t{1} << 21) - 1;   // 8^7 - 1
constexpr std::uint64_t k_max_octal11 = (std::uint64_t{1} << 33) - 1;  // 8^11 - 1

// Writes `value` as width-1 zero-padded octal digits and a NUL; the caller checked the range.
void put_octal(char* field, std::size_t width, std::uint64_t value) {
  field[width - 1] = '\0';
  for (std::size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7U));
    value >>= 3;
  }
}

void put_bytes(char* field, std::size_t width, std::string_view s) {
  if (!s.empty()) {
    std::memcpy(field, s.data(), std::min(width, s.size()));
  }
}

bool is_ascii(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Strict UTF-8 check (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0U) == 0xC0U) {
      n = 1, cp = c & 0x1FU, min = 0x80;
    } else if ((c & 0xF0U) == 0xE0U) {
      n = 2, cp = c & 0x0FU, min = 0x800;
    } else if ((c & 0xF8U) == 0xF0U) {
      n = 3, cp = c & 0x07U, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0U) != 0x80U) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::size_t decimal_digits(std::size_t v) noexcept {
  std::size_t d = 1;
  while (v >= 10) {
    v /= 10;
    ++d;
  }
  return d;
}

// Appends one PAX record "<len> key=value\n"; <len> includes its own digits.
void append_pax_record(std::string& out, std::string_view key, std::string_view value) {
  const std::size_t base = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t len = base + decimal_digits(base);
  while (base + decimal_digits(len) != len) {
    len = base + decimal_digits(len);
  }
  out += std::to_string(len);
  out += ' ';
  out += key;
  out += '=';
  out += value;
  out += '\n';
}

// Splits `path` into ustar prefix and name; false if no split fits.
bool split_ustar(std::string_view path, std::string_view& prefix, std::string_view& name) {
  if (path.size() <= k_name_len) {
    prefix = {};
    name = path;
    return true;
  }
  if (path.size() > k_prefix_len + 1 + k_name_len) {
    return false;
  }
  // The separator at i goes away: prefix = path[0, i), name = path[i+1, end) (non-empty).
  const std::size_t first = path.size() - k_name_len - 1;
  const std::size_t last = std::min(k_prefix_len, path.size() - 2);
  for (std::size_t i = std::max<std::size_t>(first, 1); i <= last; ++i) {
    if (path[i] == '/') {
      prefix = path.substr(0, i);
      name = path.substr(i + 1);
      return true;
    }
  }
  return false;
}

void set_checksum(char* block) {
  std::memset(block + k_chksum, ' ', 8);
  unsigned sum = 0;
  for (std::size_t i = 0; i < k_block; ++i) {
    sum += static_cast<unsigned char>(block[i]);
  }
  put_octal(block + k_chksum, 7, sum);  // six digits and NUL
  block[k_chksum + 7] = ' ';
}

// A zeroed header block with the fields every entry shares.
void init_block(char* block) {
  std::memset(block, 0, k_block);
  std::memcpy(block + k_magic, "ustar\0" "00", 8);
  put_octal(block + k_devmajor, k_id_len, 0);
  put_octal(block + k_devminor, k_id_len, 0);
}

std::string pax_header_name(std::string_view path) {
  const auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::string name = "PaxHeaders/";
  for (char c : base) {
    const auto u = static_cast<unsigned char>(c);
    name += (u < 0x20 || u >= 0x7F) ? '_' : c;
  }
  name.resize(std::min(name.size(), k_name_len));
  return name;
}

}  // namespace

bool tar_path_less(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned ca = a[i] == '/' ? 0U : static_cast<unsigned char>(a[i]);
    const unsigned cb = b[i] == '/' ? 0U : static_cast<unsigned char>(b[i]);
    if (ca != cb) {
      return ca < cb;
    }
  }
  return a.size() < b.size();
}

TarWriter::TarWriter(util::Sink& out, std::size_t buffer_size)
    : m_out(out), m_buffer(std::max(buffer_size, 2 * k_min_read)) {}

void TarWriter::flush() {
  if (m_fill > 0) {
    m_out.write(m_buffer.data(), m_fill);
    m_fill = 0;
  }
}

void TarWriter::append(const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  if (m_fill == 0 && size >= m_buffer.size()) {
    m_out.write(p, size);  // large content: no copy through the buffer
    m_total += size;
    return;
  }
  while (size > 0) {
    if (m_fill == m_buffer.size()) {
      flush();
    }
    const std::size_t n = std::min(size, m_buffer.size() - m_fill);
    std::memcpy(m_buffer.data() + m_fill, p, n);
    m_fill += n;
    m_total += n;
    p += n;
    size -= n;
  }
}

void TarWriter::end_content() {
  static const std::array<char, k_block> zeros{};
  const std::size_t pad = (k_block - m_entry_size % k_block) % k_block;
  append(zeros.data(), pad);
}

void TarWriter::write_header(const TarEntry& entry) {
  if (m_remaining != 0 || m_finished) {
    util::fail(util::ErrorKind::Internal,
               "tar writer: entry '" + m_current + "' is missing " + std::to_string(m_remaining) +
                   " content bytes before the next header");
  }
  if (entry.path.empty()) {
    util::fail(util::ErrorKind::InvalidInput, "tar writer: entry with an empty path");
  }
  if (entry.type != TarType::File && entry.size != 0) {
    util::fail(util::ErrorKind::InvalidInput,
               "tar writer: entry '" + entry.path + "' is not a regular file but has a size");
  }
  m_current = entry.path;

  std::string full = entry.path;
  if (entry.type == TarType::Directory) {
    full += '/';
  }

  std::vector<std::pair<std::string, std::string>> pax;
  bool binary = false;
  std::array<char, k_block> block{};
  init_block(block.data());

  std::string_view prefix;
  std::string_view name;
  if (is_ascii(full) && split_ustar(full, prefix, name)) {
    put_bytes(block.data() + k_name, k_name_len, name);
    put_bytes(block.data() + k_prefix, k_prefix_len, prefix);
  } else {
    put_bytes(block.data() + k_name, k_name_len, full);
    pax.emplace_back("path", full);
    binary = binary || !is_utf8(full);
  }
  if (!entry.link_target.empty()) {
    put_bytes(block.data() + k_linkname, k_linkname_len, entry.link_target);
    if (entry.link_target.size() > k_linkname_len || !is_ascii(entry.link_target)) {
      pax.emplace_back("linkpath", entry.link_target);
      binary = binary || !is_utf8(entry.link_target);
    }
  }
  if (binary) {
    pax.emplace_back("hdrcharset", "BINARY");
  }

  put_octal(block.data() + k_mode, k_id_len, entry.mode & 07777U);
  const auto put_id = [&](std::size_t offset, std::uint64_t id, const char* key) {
    if (id <= k_max_octal7) {
      put_octal(block.data() + offset, k_id_len, id);
    } else {
      put_octal(block.data() + offset, k_id_len, 0);
      pax.emplace_back(key, std::to_string(id));
    }
  };
  put_id(k_uid, entry.uid, "uid");
  put_id(k_gid, entry.gid, "gid");
  if (entry.size <= k_max_octal11) {
    put_octal(block.data() + k_size, k_num12_len, entry.size);
  } else {
    put_octal(block.data() + k_size, k_num12_len, 0);
    pax.emplace_back("size", std::to_string(entry.size));
  }
  const bool mtime_fits =
      entry.mtime >= 0 && static_cast<std::uint64_t>(entry.mtime) <= k_max_octal11;
  put_octal(block.data() + k_mtime, k_num12_len,
            mtime_fits ? static_cast<std::uint64_t>(entry.mtime) : 0);
  if (!mtime_fits) {
    pax.emplace_back("mtime", std::to_string(entry.mtime));
  }
  block[k_typeflag] = static_cast<char>(entry.type);

  for (const auto& [key, value] : entry.xattrs) {
    if (key.empty() || key.find('=') != std::string::npos ||
        key.find('\0') != std::string::npos) {
      util::fail(util::ErrorKind::InvalidInput,
                 "tar writer: entry '" + entry.path + "': extended attribute name '" + key +
                     "' cannot be stored in a PAX header (empty, or contains '=' or NUL)");
    }
    pax.emplace_back("SCHILY.xattr." + key, value);
  }

  if (!pax.empty()) {
    std::sort(pax.begin(), pax.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 1; i < pax.size(); ++i) {
      if (pax[i].first == pax[i - 1].first) {
        util::fail(util::ErrorKind::InvalidInput,
                   "tar writer: entry '" + entry.path + "': duplicate PAX key " + pax[i].first);
      }
    }
    std::string records;
    for (const auto& [key, value] : pax) {
      append_pax_record(records, key, value);
    }
    std::array<char, k_block> xblock{};
    init_block(xblock.data());
    put_bytes(xblock.data() + k_name, k_name_len, pax_header_name(entry.path));
    put_octal(xblock.data() + k_mode, k_id_len, 0644);
    put_octal(xblock.data() + k_uid, k_id_len, 0);
    put_octal(xblock.data() + k_gid, k_id_len, 0);
    put_octal(xblock.data() + k_size, k_num12_len, records.size());
    put_octal(xblock.data() + k_mtime, k_num12_len,
              mtime_fits ? static_cast<std::uint64_t>(entry.mtime) : 0);
    xblock[k_typeflag] = 'x';
    set_checksum(xblock.data());
    append(xblock.data(), k_block);
    append(records.data(), records.size());
    m_entry_size = records.size();
    end_content();
  }

  set_checksum(block.data());
  append(block.data(), k_block);
  m_entry_size = entry.size;
  m_remaining = entry.type == TarType::File ? entry.size : 0;
}

void TarWriter::write_content(const void* data, std::size_t size) {
  if (size > m_remaining) {
    util::fail(util::ErrorKind::Internal, "tar writer: more content than declared for '" +
                                              m_current + "'");
  }
  append(data, size);
  m_remaining -= size;
  if (m_remaining == 0 && size > 0) {
    end_content();
  }
}

void TarWriter::copy_content(util::Source& source, std::uint64_t size, std::string_view name) {
  if (size > m_remaining) {
    util::fail(util::ErrorKind::Internal, "tar writer: more content than declared for '" +
                                              m_current + "'");
  }
  std::uint64_t left = size;
  while (left > 0) {
    if (m_buffer.size() - m_fill < k_min_read) {
      flush();
    }
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(m_buffer.size() - m_fill, left));
    const std::size_t n = source.read(m_buffer.data() + m_fill, want);
    if (n == 0) {
      util::fail(util::ErrorKind::IO,
                 std::string(name) + ": file shrank while being read (expected " +
                     std::to_string(size) + " bytes, got " + std::to_string(size - left) +
                     "); make sure nothing writes to the tree while it is packed");
    }
    m_fill += n;
    m_total += n;
    left -= n;
  }
  m_remaining -= size;
  if (m_remaining == 0 && size > 0) {
    end_content();
  }
}

void TarWriter::finish() {
  if (m_finished) {
    return;
  }
  if (m_remaining != 0) {
    util::fail(util::ErrorKind::Internal,
               "tar writer: entry '" + m_current + "' is missing " + std::to_string(m_remaining) +
                   " content bytes at the end of the archive");
  }
  static const std::array<char, 2 * k_block> zeros{};
  append(zeros.data(), zeros.size());
  flush();
  m_finished = true;
}

}  // namespace strata::oci
