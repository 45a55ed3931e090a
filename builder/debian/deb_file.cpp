// .deb reading: an outer libarchive handle walks the ar members; each tar member is read by
// a second libarchive handle whose read callback pulls bytes from the outer one, so
// neither member is ever copied to disk or held whole (control.tar's files are kept, up to
// DebLimits::max_control_size).
//
// data.tar goes through two handles: a "raw" one that only decompresses (any filter, the
// raw format: one entry, the decompressed stream) and a tar parser without filters that
// reads the raw handle's blocks. Between them sits an optional in-memory prefix filled by
// preload_data(), so the decompression of a package can run on another thread ahead of
// the parse; the parser reads that prefix first and then the raw handle where it stopped.
#include "builder/debian/deb_file.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>

#include <array>
#include <cctype>
#include <cstring>
#include <vector>

#include "oci/safe_path.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace strata::builder::debian {

namespace {

using util::ErrorKind;

struct ArchiveDeleter {
  void operator()(archive* a) const noexcept { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

constexpr std::string_view k_ar_magic = "!<arch>\n";
constexpr std::size_t k_block = 64 * 1024;

std::string archive_message(archive* a) {
  const char* msg = archive_error_string(a);
  return msg != nullptr ? msg : "unknown libarchive error";
}

// Whether a member name is `base` plus an accepted compression suffix.
bool accepted_member(std::string_view name, std::string_view base, bool allow_bz2) {
  if (!name.starts_with(base)) {
    return false;
  }
  const std::string_view suffix = name.substr(base.size());
  return suffix.empty() || suffix == ".gz" || suffix == ".xz" || suffix == ".zst" ||
         (allow_bz2 && suffix == ".bz2");
}

// Reader state for an inner tar read through the outer ar handle.
struct InnerSource {
  archive* outer = nullptr;
  std::array<char, k_block> buffer{};
};

la_ssize_t inner_read(archive* inner, void* client, const void** out) {
  auto* src = static_cast<InnerSource*>(client);
  const la_ssize_t n = archive_read_data(src->outer, src->buffer.data(), src->buffer.size());
  if (n < 0) {
    archive_set_error(inner, EIO, "%s", archive_message(src->outer).c_str());
    return -1;
  }
  *out = src->buffer.data();
  return n;
}

ArchivePtr open_inner(InnerSource& src) {
  ArchivePtr inner(archive_read_new());
  if (!inner) {
    util::fail(ErrorKind::Internal, "archive_read_new failed");
  }
  archive_read_support_filter_all(inner.get());
  archive_read_support_format_tar(inner.get());
  if (archive_read_open(inner.get(), &src, nullptr, inner_read, nullptr) != ARCHIVE_OK) {
    util::fail(ErrorKind::InvalidInput, archive_message(inner.get()));
  }
  return inner;
}

// Normalises a control.tar entry name ("./postinst" -> "postinst"); "" for "./".
std::string control_name(const char* raw) {
  std::string_view name = raw != nullptr ? raw : "";
  while (name.starts_with("./")) {
    name.remove_prefix(2);
  }
  while (name.ends_with('/')) {
    name.remove_suffix(1);
  }
  return std::string(name == "." ? "" : name);
}

bool valid_package_name(std::string_view name) {
  if (name.size() < 2 || !(std::isalnum(static_cast<unsigned char>(name[0])) != 0)) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
                    c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct DebReader::Impl {
  util::Fd fd;        // declared first: the archive handle reading it is freed before it
  ArchivePtr outer;
  InnerSource raw_source;  // reads data.tar's compressed bytes from `outer`
  ArchivePtr raw;          // decompresses data.tar (raw format); null until first needed
  std::vector<char> preloaded;  // decompressed prefix of data.tar (preload_data)
  std::size_t preloaded_pos = 0;
  std::string raw_error;   // a decompression error met while preloading, reported later
  std::string raw_open_error;  // the raw handle could not be opened while preloading
  bool raw_eof = false;
  bool data_read = false;
  bool preload_done = false;

  // Opens the raw handle on the data.tar member (the outer handle is positioned on it).
  // Throws InvalidInput with libarchive's message.
  void open_raw() {
    if (raw) {
      return;
    }
    raw_source.outer = outer.get();
    ArchivePtr a(archive_read_new());
    if (!a) {
      util::fail(ErrorKind::Internal, "archive_read_new failed");
    }
    archive_read_support_filter_all(a.get());
    archive_read_support_format_raw(a.get());
    if (archive_read_open(a.get(), &raw_source, nullptr, inner_read, nullptr) != ARCHIVE_OK) {
      util::fail(ErrorKind::InvalidInput, archive_message(a.get()));
    }
    archive_entry* e = nullptr;
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) {
      raw_eof = true;  // an empty member: the tar parser reports it
    } else if (r < ARCHIVE_WARN) {
      util::fail(ErrorKind::InvalidInput, archive_message(a.get()));
    }
    raw = std::move(a);
  }

  // The next block of decompressed data.tar: its size (0 at the end), -1 with `error` set.
  la_ssize_t pull(const void** out, std::string& error) {
    if (!raw_error.empty()) {
      error = raw_error;
      return -1;
    }
    if (raw_eof) {
      return 0;
    }
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    const int r = archive_read_data_block(raw.get(), &block, &size, &offset);
    if (r == ARCHIVE_EOF) {
      raw_eof = true;
      return 0;
    }
    if (r < ARCHIVE_WARN) {
      error = raw_error = archive_message(raw.get());
      return -1;
    }
    *out = block;
    return static_cast<la_ssize_t>(size);
  }
};


std::uint64_t DebReader::preload_data(std::uint64_t max_bytes) {
  const std::string ctx = m_path.string() + ": member " + oci::quote_path(m_control.data_member);
  if (m_impl->data_read || m_impl->preload_done) {
    util::fail(ErrorKind::Internal, ctx + ": data.tar can only be preloaded once, before it is read");
  }
  m_impl->preload_done = true;
  try {
    m_impl->open_raw();
  } catch (const util::Error& err) {
    // Reported by for_each_data_entry, in the same words as without preloading.
    m_impl->raw_open_error = err.what();
    return 0;
  }
  std::vector<char>& buf = m_impl->preloaded;
  while (buf.size() < max_bytes) {
    const void* block = nullptr;
    std::string error;
    const la_ssize_t n = m_impl->pull(&block, error);
    if (n <= 0) {
      break;  // the end, or an error kept for for_each_data_entry to report in context
    }
    const auto* bytes = static_cast<const char*>(block);
    buf.insert(buf.end(), bytes, bytes + n);
  }
  return buf.size();
}

void check_deb_control(const Stanza& control, const std::string& origin) {
  for (std::string_view field : {"Package", "Version", "Architecture"}) {
    if (!control.has(field)) {
      util::fail(ErrorKind::InvalidInput,
                 origin + ": control file has no " + std::string(field) + " field");
    }
  }
  if (!valid_package_name(control.require("Package"))) {
    util::fail(ErrorKind::InvalidInput, origin + ": invalid package name " +
                                            oci::quote_path(control.require("Package")));
  }
}

DebReader::DebReader(const std::filesystem::path& path, DebLimits limits)
    : m_path(path), m_limits(limits), m_impl(std::make_unique<Impl>()) {
  const std::string where = path.string();
  util::Fd fd(::open(where.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    util::fail_errno("cannot open .deb " + where);
  }
  std::array<char, 8> magic{};
  const ssize_t got = ::pread(fd.get(), magic.data(), magic.size(), 0);
  if (got < 0) {
    util::fail_errno("cannot read .deb " + where);
  }
  if (static_cast<std::size_t>(got) != magic.size() ||
      std::string_view(magic.data(), magic.size()) != k_ar_magic) {
    util::fail(ErrorKind::InvalidInput,
               where + ": not a Debian package (no ar archive magic \"!<arch>\"); is the "
                       "download complete?");
  }

  m_impl->fd = std::move(fd);
  m_impl->outer.reset(archive_read_new());
  archive* outer = m_impl->outer.get();
  archive_read_support_format_ar(outer);
  // libarchive does not close the descriptor; Impl::fd stays its owner.
  if (archive_read_open_fd(outer, m_impl->fd.get(), k_block) != ARCHIVE_OK) {
    util::fail(ErrorKind::InvalidInput, where + ": " + archive_message(outer));
  }

  enum class Want { Binary, Control, Data };
  Want want = Want::Binary;
  std::string member;
  for (;;) {
    archive_entry* e = nullptr;
    const int r = archive_read_next_header(outer, &e);
    if (r == ARCHIVE_EOF) {
      util::fail(ErrorKind::InvalidInput,
                 where + ": truncated package: " +
                     (want == Want::Binary    ? "no debian-binary member"
                      : want == Want::Control ? "no control.tar member"
                                              : "no data.tar member"));
    }
    if (r < ARCHIVE_WARN) {
      util::fail(ErrorKind::InvalidInput, where + ": bad ar archive: " + archive_message(outer));
    }
    member = control_name(archive_entry_pathname(e));
    const std::string ctx = where + ": member " + oci::quote_path(member);
    if (member.starts_with('_')) {
      continue;  // reserved for future use, ignored by dpkg too
    }
    if (want == Want::Binary) {
      if (member != "debian-binary") {
        util::fail(ErrorKind::InvalidInput,
                   ctx + ": expected \"debian-binary\" as the first member");
      }
      std::array<char, 64> buf{};
      const la_ssize_t n = archive_read_data(outer, buf.data(), buf.size());
      if (n < 0) {
        util::fail(ErrorKind::InvalidInput, ctx + ": " + archive_message(outer));
      }
      const std::string_view version(buf.data(), static_cast<std::size_t>(n));
      if (!version.starts_with("2.")) {
        util::fail(version.starts_with("0.") || version.starts_with("1.")
                       ? ErrorKind::Unsupported
                       : ErrorKind::InvalidInput,
                   ctx + ": format version " + oci::quote_path(version) +
                       " is not supported (expected 2.x)");
      }
      want = Want::Control;
      continue;
    }
    if (want == Want::Control) {
      if (!accepted_member(member, "control.tar", false)) {
        util::fail(ErrorKind::InvalidInput,
                   ctx + ": expected control.tar{,.gz,.xz,.zst} after debian-binary");
      }
      InnerSource src;
      src.outer = outer;
      ArchivePtr inner;
      try {
        inner = open_inner(src);
      } catch (const util::Error& err) {
        util::fail(ErrorKind::InvalidInput, ctx + ": " + err.what());
      }
      std::uint64_t total = 0;
      for (;;) {
        archive_entry* ce = nullptr;
        const int cr = archive_read_next_header(inner.get(), &ce);
        if (cr == ARCHIVE_EOF) {
          break;
        }
        if (cr < ARCHIVE_WARN) {
          util::fail(ErrorKind::InvalidInput, ctx + ": " + archive_message(inner.get()));
        }
        const std::string name = control_name(archive_entry_pathname(ce));
        const mode_t type = archive_entry_filetype(ce);
        if (name.empty() && type == AE_IFDIR) {
          continue;
        }
        if (type != AE_IFREG || name.empty() || name.find('/') != std::string::npos ||
            name == "..") {
          util::fail(ErrorKind::InvalidInput,
                     ctx + ": entry " + oci::quote_path(name) +
                         " is not a plain file at the top of control.tar");
        }
        const la_int64_t size = archive_entry_size(ce);
        total += static_cast<std::uint64_t>(size < 0 ? 0 : size);
        if (total > m_limits.max_control_size) {
          util::fail(ErrorKind::InvalidInput,
                     ctx + ": control files larger than " +
                         std::to_string(m_limits.max_control_size) + " bytes");
        }
        DebControlFile file;
        file.mode = static_cast<std::uint32_t>(archive_entry_perm(ce));
        file.content.resize(static_cast<std::size_t>(size < 0 ? 0 : size));
        std::size_t off = 0;
        while (off < file.content.size()) {
          const la_ssize_t n =
              archive_read_data(inner.get(), file.content.data() + off, file.content.size() - off);
          if (n < 0) {
            util::fail(ErrorKind::InvalidInput, ctx + ": entry " + oci::quote_path(name) + ": " +
                                                    archive_message(inner.get()));
          }
          if (n == 0) {
            util::fail(ErrorKind::InvalidInput,
                       ctx + ": entry " + oci::quote_path(name) + " is truncated");
          }
          off += static_cast<std::size_t>(n);
        }
        if (!m_control.files.emplace(name, std::move(file)).second) {
          util::fail(ErrorKind::InvalidInput,
                     ctx + ": entry " + oci::quote_path(name) + " appears twice");
        }
      }
      const auto it = m_control.files.find("control");
      if (it == m_control.files.end()) {
        util::fail(ErrorKind::InvalidInput, ctx + ": no \"control\" file in control.tar");
      }
      const std::string origin = where + ":control";
      std::vector<Stanza> stanzas = parse_control(it->second.content, origin);
      if (stanzas.size() != 1) {
        util::fail(ErrorKind::InvalidInput,
                   origin + ": expected exactly one stanza, found " +
                       std::to_string(stanzas.size()));
      }
      m_control.control = std::move(stanzas.front());
      check_deb_control(m_control.control, origin);
      want = Want::Data;
      continue;
    }
    if (!accepted_member(member, "data.tar", true)) {
      util::fail(member.starts_with("data.tar") ? ErrorKind::Unsupported
                                                : ErrorKind::InvalidInput,
                 ctx + ": expected data.tar{,.gz,.xz,.zst,.bz2} after control.tar");
    }
    m_control.data_member = member;
    break;
  }
}

DebReader::DebReader(DebReader&&) noexcept = default;
DebReader& DebReader::operator=(DebReader&&) noexcept = default;
DebReader::~DebReader() = default;

void DebReader::for_each_data_entry(const std::function<void(archive*, archive_entry*)>& fn) {
  const std::string ctx = m_path.string() + ": member " + oci::quote_path(m_control.data_member);
  if (m_impl->data_read) {
    util::fail(ErrorKind::Internal, ctx + ": data.tar can only be read once");
  }
  m_impl->data_read = true;
  // Read callback of the tar parser: the preloaded prefix, then the raw handle's blocks.
  const auto data_read_callback = [](archive* tar, void* client, const void** out) -> la_ssize_t {
    auto* impl = static_cast<Impl*>(client);
    if (impl->preloaded_pos < impl->preloaded.size()) {
      *out = impl->preloaded.data() + impl->preloaded_pos;
      const std::size_t n = impl->preloaded.size() - impl->preloaded_pos;
      impl->preloaded_pos = impl->preloaded.size();
      return static_cast<la_ssize_t>(n);
    }
    if (!impl->preloaded.empty()) {
      // libarchive is done with the prefix once it asks for more: give the memory back.
      std::vector<char>().swap(impl->preloaded);
      impl->preloaded_pos = 0;
    }
    std::string error;
    const la_ssize_t n = impl->pull(out, error);
    if (n < 0) {
      archive_set_error(tar, EIO, "%s", error.c_str());
    }
    return n;
  };
  ArchivePtr inner(archive_read_new());
  try {
    if (!m_impl->raw_open_error.empty()) {
      util::fail(ErrorKind::InvalidInput, m_impl->raw_open_error);
    }
    m_impl->open_raw();
    if (!inner) {
      util::fail(ErrorKind::Internal, "archive_read_new failed");
    }
    archive_read_support_format_tar(inner.get());
    if (archive_read_open(inner.get(), m_impl.get(), nullptr, data_read_callback, nullptr) !=
        ARCHIVE_OK) {
      util::fail(ErrorKind::InvalidInput, archive_message(inner.get()));
    }
  } catch (const util::Error& err) {
    util::fail(err.kind(), ctx + ": " + err.what());
  }
  for (;;) {
    archive_entry* e = nullptr;
    const int r = archive_read_next_header(inner.get(), &e);
    if (r == ARCHIVE_EOF) {
      break;
    }
    if (r < ARCHIVE_WARN) {
      util::fail(ErrorKind::InvalidInput, ctx + ": " + archive_message(inner.get()));
    }
    const char* raw = archive_entry_pathname(e);
    const std::string entry = oci::quote_path(raw != nullptr ? raw : "");
    if (raw != nullptr && std::strlen(raw) > m_limits.max_path_length) {
      util::fail(ErrorKind::InvalidInput, ctx + ": entry " + entry + ": path too long");
    }
    try {
      fn(inner.get(), e);
    } catch (const util::Error& err) {
      throw util::Error(err.kind(), ctx + ": entry " + entry + ": " + err.what());
    }
  }
}

}  // namespace strata::builder::debian
