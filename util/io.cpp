#include "util/io.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/error.hpp"

namespace strata::util {

std::size_t StringSource::read(void* data, std::size_t size) {
  const std::size_t n = std::min(size, m_data.size() - m_pos);
  std::memcpy(data, m_data.data() + m_pos, n);
  m_pos += n;
  return n;
}

FileSource::FileSource(const std::filesystem::path& path)
    : m_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), m_name(path.string()) {
  if (!m_fd) {
    fail_errno("cannot open " + m_name);
  }
}

std::size_t FileSource::read(void* data, std::size_t size) {
  for (;;) {
    const ssize_t n = ::read(m_fd.get(), data, size);
    if (n >= 0) {
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR) {
      fail_errno("cannot read " + m_name);
    }
  }
}

void write_all(int fd, const void* data, std::size_t size, const std::string& name) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail_errno("cannot write " + name);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void FdSink::write(const void* data, std::size_t size) { write_all(m_fd, data, size, m_name); }

std::uint64_t copy_stream(Source& from, Sink& to) {
  std::vector<char> buf(1 << 20);
  std::uint64_t total = 0;
  for (;;) {
    const std::size_t n = from.read(buf.data(), buf.size());
    if (n == 0) {
      return total;
    }
    to.write(buf.data(), n);
    total += n;
  }
}

}  // namespace strata::util
