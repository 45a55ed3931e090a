// Test fixture: the hermetic signed Debian archive of tests/fixtures/debian/make_archive.sh,
// generated once per test binary into a TempDir, and an in-process HTTP server on
// 127.0.0.1 (free port) that serves it with injectable faults: answer the next N requests
// for a path with an error status, cut the next N responses short (the connection closes
// after some bytes), or serve tampered bytes. Every request is logged with its Range
// header and status so tests can count downloads and see resumes.
#pragma once

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/fs.hpp"

namespace strata::builder::debian::test {

namespace fs = std::filesystem;

/// The generated archive (see make_archive.sh for its layout).
struct GeneratedArchive {
  fs::path dir;           // OUTDIR
  fs::path root;          // OUTDIR/archive: the mirror root
  fs::path keyring;       // trusted test key
  fs::path evil_keyring;  // the other key
};

/// Runs make_archive.sh once per process; REQUIREs that it succeeds.
inline const GeneratedArchive& generated_archive() {
  static util::TempDir dir("strata-debian-archive");
  static const GeneratedArchive archive = [] {
    const fs::path script =
        fs::path(__FILE__).parent_path().parent_path() / "fixtures" / "debian" / "make_archive.sh";
    const std::string command =
        "bash '" + script.string() + "' '" + dir.path().string() + "' >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) {
      FAIL("cannot build the test archive: " << command);
    }
    return GeneratedArchive{dir.path(), dir.path() / "archive", dir.path() / "keyring.gpg",
                            dir.path() / "evil-keyring.gpg"};
  }();
  return archive;
}

/// One request the server saw.
struct LoggedRequest {
  std::string path;
  std::string range;  // the Range header, "" if none
  int status = 0;     // what the fixture decided (200 also for ranges httplib turns into 206)
};

/// An HTTP server over a directory, with faults. Thread-safe; stops on destruction.
class ArchiveServer {
 public:
  explicit ArchiveServer(fs::path root) : m_root(std::move(root)) {
    m_server.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res);
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it.
    while (!m_server.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~ArchiveServer() {
    m_server.stop();
    m_thread.join();
  }
  ArchiveServer(const ArchiveServer&) = delete;
  ArchiveServer& operator=(const ArchiveServer&) = delete;

  /// "http://127.0.0.1:PORT"
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

  /// The next `count` requests whose path contains `suffix` get `status` and no file.
  void fail_next(std::string suffix, int count, int status = 503) {
    std::lock_guard lock(m_mutex);
    m_faults.push_back({std::move(suffix), count, Fault::Status, status, 0});
  }
  /// The next `count` full (non-Range) responses for paths containing `suffix` close the connection after `bytes` bytes.
  void cut_next(std::string suffix, int count, std::size_t bytes) {
    std::lock_guard lock(m_mutex);
    m_faults.push_back({std::move(suffix), count, Fault::Cut, 0, bytes});
  }
  /// Every response for a path containing `suffix` has one byte flipped (in the middle of the file).
  void tamper(std::string suffix) {
    std::lock_guard lock(m_mutex);
    m_faults.push_back({std::move(suffix), 1 << 30, Fault::Tamper, 0, 0});
  }

  [[nodiscard]] std::vector<LoggedRequest> requests() const {
    std::lock_guard lock(m_mutex);
    return m_log;
  }
  /// Requests whose path contains `part`.
  [[nodiscard]] std::size_t count(std::string_view part) const {
    std::lock_guard lock(m_mutex);
    std::size_t n = 0;
    for (const LoggedRequest& r : m_log) {
      n += r.path.find(part) != std::string::npos ? 1 : 0;
    }
    return n;
  }
  void clear_log() {
    std::lock_guard lock(m_mutex);
    m_log.clear();
  }

 private:
  struct Fault {
    enum Kind { Status, Cut, Tamper };
    std::string suffix;
    int remaining = 0;
    Kind kind = Status;
    int status = 0;
    std::size_t bytes = 0;
  };

  void handle(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(m_mutex);
    LoggedRequest entry{req.path, req.get_header_value("Range"), 200};
    const fs::path file = m_root / req.path.substr(1);
    std::error_code ec;
    if (req.path.find("..") != std::string::npos || !fs::is_regular_file(file, ec)) {
      entry.status = 404;
      res.status = 404;
      m_log.push_back(entry);
      return;
    }
    std::string body = util::read_file(file);
    for (Fault& f : m_faults) {
      if (f.remaining <= 0 || req.path.find(f.suffix) == std::string::npos) {
        continue;
      }
      if (f.kind == Fault::Status) {
        --f.remaining;
        entry.status = f.status;
        res.status = f.status;
        m_log.push_back(entry);
        return;
      }
      if (f.kind == Fault::Tamper && !body.empty()) {
        body[body.size() / 2] = static_cast<char>(body[body.size() / 2] ^ 0x5a);
      }
      if (f.kind == Fault::Cut && entry.range.empty()) {
        --f.remaining;
        entry.status = -1;  // cut short
        m_log.push_back(entry);
        const std::size_t cut = std::min(f.bytes, body.size());
        auto shared = std::make_shared<std::string>(std::move(body));
        res.set_content_provider(
            shared->size(), "application/octet-stream",
            [shared, cut](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
              if (offset >= cut) {
                return false;  // abort: the client sees a short body
              }
              sink.write(shared->data() + offset, std::min(length, cut - offset));
              return true;
            });
        return;
      }
    }
    m_log.push_back(entry);
    res.set_content(body, "application/octet-stream");
  }

  fs::path m_root;
  httplib::Server m_server;
  std::thread m_thread;
  int m_port = 0;
  mutable std::mutex m_mutex;
  std::vector<Fault> m_faults;
  std::vector<LoggedRequest> m_log;
};

}  // namespace strata::builder::debian::test
