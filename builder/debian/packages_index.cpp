// Packages index parsing: libarchive undoes the compression while the deb822 reader
// pulls lines, so memory stays at one chunk plus one stanza whatever the index size;
// each stanza becomes a validated Package.
#include "builder/debian/packages_index.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <exception>

#include "builder/debian/relations.hpp"
#include "builder/debian/version.hpp"
#include "util/error.hpp"

namespace strata::builder::debian {

struct DecompressingSource::Callbacks {
  util::Source* inner = nullptr;
  std::vector<char> buffer = std::vector<char>(64 * 1024);
  std::exception_ptr error;

  // libarchive's read callback; exceptions must not cross the C library, so they are
  // parked here and rethrown by the caller.
  static la_ssize_t read(struct archive* a, void* self, const void** out) {
    auto* cb = static_cast<Callbacks*>(self);
    try {
      const std::size_t n = cb->inner->read(cb->buffer.data(), cb->buffer.size());
      *out = cb->buffer.data();
      return static_cast<la_ssize_t>(n);
    } catch (...) {
      cb->error = std::current_exception();
      archive_set_error(a, EIO, "reading the compressed input failed");
      return -1;
    }
  }
};

void DecompressingSource::ArchiveDeleter::operator()(archive* a) const noexcept {
  archive_read_free(a);
}

DecompressingSource::DecompressingSource(util::Source& inner, std::string origin)
    : m_inner(inner), m_origin(std::move(origin)), m_callbacks(std::make_unique<Callbacks>()) {
  m_callbacks->inner = &m_inner;
}

DecompressingSource::~DecompressingSource() = default;

void DecompressingSource::fail_archive(const char* what) {
  if (m_callbacks->error) {
    std::rethrow_exception(m_callbacks->error);
  }
  const char* detail = m_archive ? archive_error_string(m_archive.get()) : nullptr;
  util::fail(util::ErrorKind::Corruption,
             "cannot " + std::string(what) + " " + m_origin + ": " +
                 (detail != nullptr ? detail : "unknown libarchive error") +
                 " (expected a plain, .xz, .gz or .zst file; download it again)");
}

void DecompressingSource::open() {
  m_opened = true;
  m_archive.reset(archive_read_new());
  if (!m_archive) {
    util::fail(util::ErrorKind::Internal, "archive_read_new failed (out of memory?)");
  }
  archive* a = m_archive.get();
  // Only in-process filters: a hostile index must not make libarchive run programs.
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_lzma(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_format_raw(a);
  archive_read_support_format_empty(a);
  if (archive_read_open(a, m_callbacks.get(), nullptr, &Callbacks::read, nullptr) != ARCHIVE_OK) {
    fail_archive("open");
  }
  archive_entry* entry = nullptr;
  const int r = archive_read_next_header(a, &entry);
  if (r == ARCHIVE_EOF) {
    m_eof = true;
  } else if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
    fail_archive("decompress");
  }
}

std::size_t DecompressingSource::read(void* data, std::size_t size) {
  if (!m_opened) {
    open();
  }
  if (m_eof || size == 0) {
    return 0;
  }
  const la_ssize_t n = archive_read_data(m_archive.get(), data, size);
  if (n < 0) {
    fail_archive("decompress");
  }
  if (n == 0) {
    m_eof = true;
  }
  return static_cast<std::size_t>(n);
}

namespace {

[[noreturn]] void bad_field(const Stanza& s, std::string_view field, const std::string& what) {
  util::fail(util::ErrorKind::InvalidInput, s.where(field) + ": " + std::string(field) + ": " +
                                                what);
}

bool valid_package_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '+' && c != '-' && c != '.'))) {
      return false;
    }
  }
  return true;
}

RelationList relations_of(const Stanza& s, std::string_view field, bool provides = false) {
  const std::string* value = s.find(field);
  if (value == nullptr) {
    return {};
  }
  RelationContext ctx;
  ctx.where = s.where(field) + ": " + std::string(field);
  return provides ? parse_provides(*value, ctx) : parse_relations(*value, ctx);
}

MultiArch multi_arch_of(const Stanza& s) {
  const std::string value = s.get("Multi-Arch", "no");
  if (value == "no") {
    return MultiArch::No;
  }
  if (value == "same") {
    return MultiArch::Same;
  }
  if (value == "foreign") {
    return MultiArch::Foreign;
  }
  if (value == "allowed") {
    return MultiArch::Allowed;
  }
  bad_field(s, "Multi-Arch", "unknown value '" + value + "' (expected no, same, foreign or allowed)");
}

std::uint64_t size_of(const Stanza& s) {
  const std::string& value = s.require("Size");
  if (value.empty() || value.size() > 19) {
    bad_field(s, "Size", "'" + value + "' is not a size in bytes");
  }
  std::uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') {
      bad_field(s, "Size", "'" + value + "' is not a size in bytes");
    }
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

std::string sha256_of(const Stanza& s) {
  std::string value = s.require("SHA256");
  bool ok = value.size() == 64;
  for (char& c : value) {
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
  if (!ok) {
    bad_field(s, "SHA256", "'" + value + "' is not 64 hex digits");
  }
  return value;
}

std::string filename_of(const Stanza& s) {
  const std::string& value = s.require("Filename");
  // The path is joined to the mirror URL and used in the store: no escapes.
  bool ok = !value.empty() && value.front() != '/' && value.find('\n') == std::string::npos;
  std::string_view rest = value;
  while (ok && !rest.empty()) {
    const auto slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    ok = !part.empty() && part != "." && part != "..";
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  }
  if (!ok) {
    bad_field(s, "Filename", "'" + value + "' is not a relative path inside the archive");
  }
  return value;
}

}  // namespace

Package package_from_stanza(const Stanza& s, const PackageOptions& options) {
  Package p;
  p.name = s.require("Package");
  if (!valid_package_name(p.name)) {
    bad_field(s, "Package", "invalid package name '" + p.name + "'");
  }
  p.version = s.require("Version");
  try {
    (void)Version::parse(p.version);
  } catch (const util::Error& e) {
    bad_field(s, "Version", e.what());
  }
  p.architecture = s.require("Architecture");
  p.multi_arch = multi_arch_of(s);
  const std::string essential = s.get("Essential", "no");
  if (essential != "yes" && essential != "no") {
    bad_field(s, "Essential", "'" + essential + "' is neither yes nor no");
  }
  p.essential = essential == "yes";
  p.priority = s.get("Priority");
  p.section = s.get("Section");
  const std::string source = s.get("Source", p.name);  // "name" or "name (version)"
  p.source = source.substr(0, source.find(' '));
  p.pre_depends = relations_of(s, "Pre-Depends");
  p.depends = relations_of(s, "Depends");
  p.recommends = relations_of(s, "Recommends");
  p.conflicts = relations_of(s, "Conflicts");
  p.breaks = relations_of(s, "Breaks");
  p.provides = relations_of(s, "Provides", true);
  p.archive = options.archive;
  if (options.require_download_fields) {
    p.filename = filename_of(s);
    p.size = size_of(s);
    p.sha256 = sha256_of(s);
  } else {
    if (s.has("Filename")) {
      p.filename = filename_of(s);
    }
    if (s.has("Size")) {
      p.size = size_of(s);
    }
    if (s.has("SHA256")) {
      p.sha256 = sha256_of(s);
    }
  }
  return p;
}

std::vector<Package> parse_packages(util::Source& source, const std::string& origin,
                                    const PackageOptions& options) {
  DecompressingSource plain(source, origin);
  ControlReader reader(plain, origin);
  std::vector<Package> out;
  while (auto stanza = reader.next()) {
    out.push_back(package_from_stanza(*stanza, options));
  }
  return out;
}

std::vector<Package> parse_packages_file(const std::filesystem::path& path,
                                         const PackageOptions& options) {
  util::FileSource file(path);
  return parse_packages(file, path.string(), options);
}

}  // namespace strata::builder::debian
