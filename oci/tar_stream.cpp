#include "oci/tar_stream.hpp"

#include <array>
#include <cstring>
#include <string>

#include "util/error.hpp"

namespace strata::oci {
namespace {

constexpr std::size_t k_block = 512;
constexpr std::uint64_t k_max_octal_size = 077777777777ULL;  // 11 octal digits

void put_octal(char* field, std::size_t width, std::uint64_t value) {
  // width-1 digits, zero padded, then NUL.
  std::string digits(width - 1, '0');
  for (std::size_t i = width - 1; i-- > 0 && value != 0;) {
    digits[i] = static_cast<char>('0' + (value & 7U));
    value >>= 3;
  }
  std::memcpy(field, digits.data(), width - 1);
  field[width - 1] = '\0';
}

std::string pax_record(std::string_view key, const std::string& value) {
  // "<len> <key>=<value>\n" where <len> counts the whole record including itself.
  const std::size_t body = 1 + key.size() + 1 + value.size() + 1;
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) {
    len = std::to_string(len).size() + body;
  }
  return std::to_string(len) + " " + std::string(key) + "=" + value + "\n";
}

}  // namespace

void TarStreamWriter::header(std::string_view path, char type, std::uint64_t size,
                             std::uint32_t mode, std::int64_t mtime) {
  if (m_in_file) {
    util::fail(util::ErrorKind::Internal, "tar: entry " + std::string(path) +
                                              " started before the previous file ended");
  }
  if (path.empty() || path.size() > 100) {
    util::fail(util::ErrorKind::Internal,
               "tar: entry name '" + std::string(path) + "' must be 1 to 100 bytes");
  }
  if (size > k_max_octal_size) {
    const std::string records = pax_record("size", std::to_string(size));
    header("PaxHeaders/" + std::string(path.substr(0, 80)), 'x', records.size(), 0644, mtime);
    write_content(records.data(), records.size());
    end_file();
  }
  std::array<char, k_block> h{};
  std::memcpy(h.data(), path.data(), path.size());
  put_octal(h.data() + 100, 8, mode);
  put_octal(h.data() + 108, 8, 0);  // uid
  put_octal(h.data() + 116, 8, 0);  // gid
  put_octal(h.data() + 124, 12, size > k_max_octal_size ? 0 : size);
  put_octal(h.data() + 136, 12, static_cast<std::uint64_t>(std::max<std::int64_t>(mtime, 0)));
  std::memset(h.data() + 148, ' ', 8);
  h[156] = type;
  std::memcpy(h.data() + 257, "ustar", 6);  // magic with NUL
  std::memcpy(h.data() + 263, "00", 2);     // version
  put_octal(h.data() + 329, 8, 0);          // devmajor
  put_octal(h.data() + 337, 8, 0);          // devminor
  unsigned sum = 0;
  for (char c : h) {
    sum += static_cast<unsigned char>(c);
  }
  put_octal(h.data() + 148, 7, sum);  // six digits, NUL, then the space already there
  m_out.write(h.data(), h.size());
  m_in_file = true;
  m_file_size = size;
  m_remaining = size;
}

void TarStreamWriter::add_directory(std::string_view path, std::int64_t mtime) {
  header(path, '5', 0, 0755, mtime);
  end_file();
}

void TarStreamWriter::add_file(std::string_view path, std::string_view content,
                               std::int64_t mtime) {
  begin_file(path, content.size(), mtime);
  write_content(content.data(), content.size());
  end_file();
}

void TarStreamWriter::begin_file(std::string_view path, std::uint64_t size, std::int64_t mtime) {
  header(path, '0', size, 0644, mtime);
}

void TarStreamWriter::write_content(const void* data, std::size_t size) {
  if (!m_in_file || size > m_remaining) {
    util::fail(util::ErrorKind::Internal, "tar: more content than the entry's announced size");
  }
  m_out.write(data, size);
  m_remaining -= size;
}

void TarStreamWriter::end_file() {
  if (!m_in_file || m_remaining != 0) {
    util::fail(util::ErrorKind::Internal, "tar: entry ended before its announced size");
  }
  static constexpr std::array<char, k_block> k_zeros{};
  const std::size_t pad = (k_block - m_file_size % k_block) % k_block;
  m_out.write(k_zeros.data(), pad);
  m_in_file = false;
}

void TarStreamWriter::finish() {
  static constexpr std::array<char, 2 * k_block> k_zeros{};
  if (m_in_file) {
    util::fail(util::ErrorKind::Internal, "tar: archive finished inside an entry");
  }
  m_out.write(k_zeros.data(), k_zeros.size());
}

}  // namespace strata::oci
