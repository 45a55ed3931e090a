#include "util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <random>
#include <vector>

#include "util/error.hpp"

namespace strata::util {
namespace fs = std::filesystem;

namespace {

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char k_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(12, 'x');
  for (auto& c : s) {
    c = k_chars[rng() % (sizeof(k_chars) - 1)];
  }
  return s;
}

constexpr std::size_t k_buffer_size = 256 * 1024;

}  // namespace

AtomicFile::AtomicFile(fs::path target, unsigned mode) : m_target(std::move(target)) {
  const fs::path dir = m_target.has_parent_path() ? m_target.parent_path() : fs::path(".");
  for (int attempt = 0; attempt < 16 && !m_fd; ++attempt) {
    m_temp = dir / (".tmp-" + m_target.filename().string() + "." + random_suffix());
    m_fd.reset(::open(m_temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                      static_cast<mode_t>(mode)));
    if (!m_fd && errno != EEXIST) {
      fail_errno("cannot create temporary file in " + dir.string());
    }
  }
  if (!m_fd) {
    fail(ErrorKind::IO, "cannot create a unique temporary file in " + dir.string());
  }
  m_buffer.reserve(k_buffer_size);
}

AtomicFile::~AtomicFile() { abort(); }

void AtomicFile::write(const void* data, std::size_t size) {
  if (m_done) {
    fail(ErrorKind::Internal, "write after commit on " + m_target.string());
  }
  if (m_buffer.size() + size > k_buffer_size) {
    flush();
    if (size >= k_buffer_size) {
      write_all(m_fd.get(), data, size, m_temp.string());
      return;
    }
  }
  m_buffer.append(static_cast<const char*>(data), size);
}

void AtomicFile::flush() {
  if (!m_buffer.empty()) {
    write_all(m_fd.get(), m_buffer.data(), m_buffer.size(), m_temp.string());
    m_buffer.clear();
  }
}

void AtomicFile::commit() {
  try {
    flush();
    if (::fsync(m_fd.get()) != 0) {
      fail_errno("cannot fsync " + m_temp.string());
    }
    m_fd.reset();
    if (::rename(m_temp.c_str(), m_target.c_str()) != 0) {
      fail_errno("cannot rename " + m_temp.string() + " to " + m_target.string());
    }
    m_done = true;
    fsync_dir(m_target.has_parent_path() ? m_target.parent_path() : fs::path("."));
  } catch (...) {
    abort();
    throw;
  }
}

void AtomicFile::abort() noexcept {
  if (!m_done) {
    m_fd.reset();
    ::unlink(m_temp.c_str());
    m_done = true;
  }
}

void write_file_atomic(const fs::path& path, std::string_view data, unsigned mode) {
  AtomicFile f(path, mode);
  f.write(data);
  f.commit();
}

std::string read_file(const fs::path& path) {
  FileSource src(path);
  StringSink out;
  copy_stream(src, out);
  return out.take();
}

void fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    fail_errno("cannot open directory " + dir.string());
  }
  if (::fsync(fd.get()) != 0 && errno != EINVAL) {
    fail_errno("cannot fsync directory " + dir.string());
  }
}

TempDir::TempDir(const std::string& prefix, const fs::path& parent) {
  fs::path base = parent;
  if (base.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    base = tmp != nullptr && *tmp != '\0' ? fs::path(tmp) : fs::path("/tmp");
  }
  std::string templ = (base / (prefix + ".XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    fail_errno("cannot create a temporary directory in " + base.string());
  }
  m_path = buf.data();
}

TempDir::~TempDir() { remove_tree(m_path); }

void remove_tree(const fs::path& path) noexcept {
  std::error_code ec;
  if (path.empty() || !fs::exists(fs::symlink_status(path, ec))) {
    return;
  }
  // Make directories writable and searchable so that removal of read-only trees works.
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      ::chmod(it->path().c_str(), 0700);
    }
  }
  if (fs::is_directory(fs::symlink_status(path, ec))) {
    ::chmod(path.c_str(), 0700);
  }
  fs::remove_all(path, ec);
}

}  // namespace strata::util
