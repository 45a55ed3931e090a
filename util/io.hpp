// Byte streams: the small interfaces that connect producers (layer writer, HTTP bodies)
// to consumers (blob store, files, hashes) without buffering whole blobs in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/fd.hpp"

namespace strata::util {

/// Receives bytes in order. Implementations throw Error on failure. Not thread-safe.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const void* data, std::size_t size) = 0;
  void write(std::string_view s) { write(s.data(), s.size()); }
};

/// Produces bytes in order. read() returns 0 at end of stream. Not thread-safe.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::size_t read(void* data, std::size_t size) = 0;
};

/// Appends to a std::string (for small blobs and tests).
class StringSink final : public Sink {
 public:
  using Sink::write;
  void write(const void* data, std::size_t size) override {
    m_data.append(static_cast<const char*>(data), size);
  }
  [[nodiscard]] const std::string& str() const noexcept { return m_data; }
  std::string take() noexcept { return std::move(m_data); }

 private:
  std::string m_data;
};

/// Reads from a string_view that must outlive the source.
class StringSource final : public Source {
 public:
  explicit StringSource(std::string_view data) : m_data(data) {}
  std::size_t read(void* data, std::size_t size) override;

 private:
  std::string_view m_data;
  std::size_t m_pos = 0;
};

/// Reads a file through an owned descriptor.
class FileSource final : public Source {
 public:
  /// Opens `path` for reading; throws NotFound/IO naming the path.
  explicit FileSource(const std::filesystem::path& path);
  explicit FileSource(Fd fd, std::string name) : m_fd(std::move(fd)), m_name(std::move(name)) {}
  std::size_t read(void* data, std::size_t size) override;

 private:
  Fd m_fd;
  std::string m_name;
};

/// Writes to a descriptor it does not own (e.g. stdout), retrying short writes.
class FdSink final : public Sink {
 public:
  FdSink(int fd, std::string name) : m_fd(fd), m_name(std::move(name)) {}
  using Sink::write;
  void write(const void* data, std::size_t size) override;

 private:
  int m_fd;
  std::string m_name;
};

/// Counts bytes and forwards them to another sink.
class CountingSink final : public Sink {
 public:
  explicit CountingSink(Sink& next) : m_next(next) {}
  using Sink::write;
  void write(const void* data, std::size_t size) override {
    m_next.write(data, size);
    m_count += size;
  }
  [[nodiscard]] std::uint64_t count() const noexcept { return m_count; }

 private:
  Sink& m_next;
  std::uint64_t m_count = 0;
};

/// Writes all of `size` bytes to `fd`, retrying on EINTR and short writes.
void write_all(int fd, const void* data, std::size_t size, const std::string& name);

/// Copies a whole source into a sink; returns the number of bytes copied.
std::uint64_t copy_stream(Source& from, Sink& to);

}  // namespace strata::util
