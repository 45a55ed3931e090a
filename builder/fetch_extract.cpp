#include "builder/fetch_extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>

#include "oci/safe_path.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/io.hpp"

namespace strata::builder {
namespace fs = std::filesystem;

namespace {

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;
using Type = oci::LayerEntry::Type;

std::string archive_message(archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? text : "unknown libarchive error";
}

/// The entries extracted so far, keyed by their path below the extraction directory.
class Extraction {
 public:
  explicit Extraction(const ExtractRequest& request) : m_request(request) {}

  /// Reads every entry of the open archive `a`.
  void read_all(archive* a) {
    archive_entry* entry = nullptr;
    for (;;) {
      const int rc = archive_read_next_header(a, &entry);
      if (rc == ARCHIVE_EOF) {
        break;
      }
      if (rc < ARCHIVE_WARN) {
        fail_archive(a, m_count == 0 ? "is not a readable " + m_request.format + " archive"
                                     : "is damaged after " + std::to_string(m_count) + " entries");
      }
      if (++m_count > m_request.max_entries) {
        fail("has more than " + std::to_string(m_request.max_entries) +
             " entries; this is more than strata extracts from one archive");
      }
      add(a, entry);
    }
    // A hardlink names a file; a later entry may have replaced that file since.
    for (const auto& [path, e] : m_entries) {
      if (e.type == Type::Hardlink) {
        const auto it = m_entries.find(e.link_target);
        if (it == m_entries.end() || it->second.type != Type::File) {
          fail_entry(path, "is a hardlink to '" + e.link_target +
                               "', which a later entry replaced by something that is not a "
                               "regular file");
        }
      }
    }
  }

  /// The entries below the request's dest, sorted by path.
  std::vector<oci::LayerEntry> take() {
    std::vector<oci::LayerEntry> out;
    out.reserve(m_entries.size() + 1);
    if (m_dest_entry) {
      out.push_back(std::move(*m_dest_entry));
    }
    for (auto& [path, e] : m_entries) {
      e.path = in_image(path);
      if (e.type == Type::Hardlink) {
        e.link_target = in_image(e.link_target);
      }
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    util::fail(util::ErrorKind::InvalidInput, m_request.what + ": the archive " + reason);
  }
  [[noreturn]] void fail_archive(archive* a, const std::string& reason) const {
    fail(reason + " (" + archive_message(a) + "); check that 'extract' matches the file");
  }
  [[noreturn]] void fail_entry(const std::string& path, const std::string& reason) const {
    util::fail(util::ErrorKind::InvalidInput,
               m_request.what + ": entry " + oci::quote_path(path) + " " + reason +
                   "; strata refuses archives that could write outside their directory");
  }

  std::string in_image(const std::string& path) const {
    return m_request.dest.empty() ? path : m_request.dest + "/" + path;
  }

  /// Splits and strips an archive path; nullopt when nothing is left after stripping.
  std::optional<std::vector<std::string>> stripped(const char* raw, std::string_view what,
                                                   const char* entry) const {
    if (raw == nullptr) {
      fail("has an entry whose " + std::string(what) +
           " cannot be decoded (not valid in the current locale)");
    }
    std::vector<std::string> parts;
    try {
      parts = oci::split_archive_path(raw, m_request.max_path_length, what);
    } catch (const util::Error& e) {
      fail_entry(entry, std::string("is refused: ") + e.what());
    }
    if (m_request.strip_components > 0 && parts.size() <= m_request.strip_components) {
      return std::nullopt;
    }
    parts.erase(parts.begin(), parts.begin() + m_request.strip_components);
    return parts;
  }

  oci::LayerEntry base(archive_entry* e, Type type) const {
    oci::LayerEntry out;
    out.type = type;
    out.mode = static_cast<std::uint32_t>(archive_entry_mode(e)) & 07777;
    if (m_request.owner) {
      out.uid = m_request.owner->uid;
      out.gid = m_request.owner->gid;
    }
    const std::int64_t sde = m_request.source_date_epoch;
    out.mtime = archive_entry_mtime_is_set(e) != 0
                    ? std::clamp<std::int64_t>(archive_entry_mtime(e), 0, sde)
                    : sde;
    return out;
  }

  void add(archive* a, archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    const auto parts = stripped(raw, "path", raw);
    if (!parts) {
      return;
    }
    const std::string path = oci::join_path(*parts, parts->size());
    const char* hardlink = archive_entry_hardlink(e);
    const auto filetype = archive_entry_filetype(e);
    if (parts->empty()) {
      // "./": the extraction directory itself; only its mode is taken.
      if (filetype != AE_IFDIR || hardlink != nullptr) {
        fail_entry(raw, "names the extraction directory but is not a directory");
      }
      if (!m_request.dest.empty()) {
        m_dest_entry = base(e, Type::Directory);
        m_dest_entry->path = m_request.dest;
      }
      return;
    }
    if (parts->back().starts_with(".wh.")) {
      fail_entry(raw,
                 "has a name starting with \".wh.\", which OCI layers reserve for "
                 "whiteouts");
    }
    check_parents(*parts, raw);
    oci::LayerEntry out;
    if (hardlink != nullptr) {
      const auto target = stripped(hardlink, "hardlink target", raw);
      if (!target) {
        return;  // its target was stripped away (GNU tar skips it too)
      }
      const std::string target_path = oci::join_path(*target, target->size());
      const auto it = m_entries.find(target_path);
      if (it == m_entries.end() ||
          (it->second.type != Type::File && it->second.type != Type::Hardlink)) {
        fail_entry(raw, "is a hardlink to " + oci::quote_path(hardlink) +
                            ", which is not a regular file earlier in the archive");
      }
      out = base(e, Type::Hardlink);
      out.link_target = it->second.type == Type::Hardlink ? it->second.link_target : target_path;
      if (target_path == path) {
        return;  // a link to itself changes nothing
      }
    } else if (filetype == AE_IFREG) {
      out = base(e, Type::File);
      out.source = write_content(a, e, raw);
    } else if (filetype == AE_IFDIR) {
      out = base(e, Type::Directory);
    } else if (filetype == AE_IFLNK) {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr || *target == '\0') {
        fail_entry(raw, "is a symlink without a target");
      }
      out = base(e, Type::Symlink);
      out.mode = 0777;
      out.link_target = target;
    } else {
      const char* kind = filetype == AE_IFCHR    ? "a character device"
                         : filetype == AE_IFBLK  ? "a block device"
                         : filetype == AE_IFIFO  ? "a FIFO"
                         : filetype == AE_IFSOCK ? "a socket"
                                                 : "of an unknown type";
      fail_entry(raw, std::string("is ") + kind +
                          "; a fetch step extracts only files, directories, symlinks and "
                          "hardlinks");
    }
    replace(path, std::move(out), raw);
  }

  /// Every ancestor already extracted must be a real directory.
  void check_parents(const std::vector<std::string>& parts, const char* raw) const {
    for (std::size_t n = 1; n < parts.size(); ++n) {
      const auto it = m_entries.find(oci::join_path(parts, n));
      if (it == m_entries.end()) {
        continue;
      }
      if (it->second.type == Type::Symlink) {
        fail_entry(raw, "would be written through the symlink " + oci::quote_path(it->first) +
                            " -> " + oci::quote_path(it->second.link_target));
      }
      if (it->second.type != Type::Directory) {
        fail_entry(raw, "needs " + oci::quote_path(it->first) +
                            " to be a directory, but an earlier entry made it a file");
      }
    }
  }

  void replace(const std::string& path, oci::LayerEntry entry, const char* raw) {
    const auto it = m_entries.find(path);
    if (it != m_entries.end() && it->second.type == Type::Directory &&
        entry.type != Type::Directory) {
      const auto child = m_entries.lower_bound(path + "/");
      if (child != m_entries.end() && child->first.starts_with(path + "/")) {
        fail_entry(raw, "would replace the directory " + oci::quote_path(path) +
                            ", which already holds " + oci::quote_path(child->first));
      }
    }
    m_entries.insert_or_assign(path, std::move(entry));
  }

  /// Streams the entry's data to a new scratch file (holes of sparse files kept).
  fs::path write_content(archive* a, archive_entry* e, const char* raw) {
    const fs::path file = m_request.scratch / std::to_string(m_files++);
    util::Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
      util::fail_errno("cannot create the scratch file " + file.string());
    }
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      const int rc = archive_read_data_block(a, &block, &size, &offset);
      if (rc == ARCHIVE_EOF) {
        break;
      }
      if (rc < ARCHIVE_WARN) {
        fail_entry(raw, "cannot be read (" + archive_message(a) + "); the archive is damaged");
      }
      if (::lseek(fd.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
        util::fail_errno("cannot seek in the scratch file " + file.string());
      }
      util::write_all(fd.get(), block, size, file.string());
    }
    if (archive_entry_size_is_set(e) != 0 &&
        ::ftruncate(fd.get(), static_cast<off_t>(archive_entry_size(e))) != 0) {
      util::fail_errno("cannot size the scratch file " + file.string());
    }
    return file;
  }

  const ExtractRequest& m_request;
  std::map<std::string, oci::LayerEntry> m_entries;
  std::optional<oci::LayerEntry> m_dest_entry;
  std::uint64_t m_count = 0;
  std::uint64_t m_files = 0;
};

ArchivePtr open_archive(const ExtractRequest& request) {
  ArchivePtr a(archive_read_new(), &archive_read_free);
  if (!a) {
    util::fail(util::ErrorKind::IO, request.what + ": libarchive is out of memory");
  }
  if (request.format == "zip") {
    // The seekable reader trusts the central directory, as unzip does, instead of
    // local headers that a streaming reader would take at face value.
    archive_read_support_format_zip_seekable(a.get());
  } else if (request.format == "tar") {
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_bzip2(a.get());
    archive_read_support_filter_xz(a.get());
    archive_read_support_filter_lzma(a.get());
    archive_read_support_filter_zstd(a.get());
    archive_read_support_filter_lz4(a.get());
  } else {
    util::fail(util::ErrorKind::InvalidInput, request.what + ": unknown archive format '" +
                                                  request.format +
                                                  "' (expected \"tar\" or \"zip\")");
  }
  if (archive_read_open_filename(a.get(), request.archive.c_str(), 1 << 16) != ARCHIVE_OK) {
    util::fail(util::ErrorKind::InvalidInput,
               request.what + ": the file is not a readable " + request.format + " archive (" +
                   archive_message(a.get()) + "); check that 'extract' matches the file");
  }
  return a;
}

}  // namespace

std::vector<oci::LayerEntry> extract_archive_entries(const ExtractRequest& request) {
  ArchivePtr a = open_archive(request);
  Extraction extraction(request);
  extraction.read_all(a.get());
  return extraction.take();
}

}  // namespace strata::builder
