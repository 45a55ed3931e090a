#include "builder/debian/dpkg_db.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <set>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/io.hpp"

namespace strata::builder::debian {

namespace {

namespace fs = std::filesystem;
using util::ErrorKind;

// dpkg's own field order (lib/dpkg/parse.c, fieldinfos[]); Status, Conffiles and the
// trigger fields are the database's, the rest come from the control file.
constexpr std::array<std::string_view, 28> k_field_order = {
    "Package",       "Essential",   "Protected",   "Status",           "Priority",
    "Section",       "Installed-Size", "Origin",   "Maintainer",       "Bugs",
    "Architecture",  "Multi-Arch",  "Source",      "Version",          "Config-Version",
    "Replaces",      "Provides",    "Depends",     "Pre-Depends",      "Recommends",
    "Suggests",      "Breaks",      "Conflicts",   "Enhances",         "Conffiles",
    "Description",   "Triggers-Pending", "Triggers-Awaited",
};

// Fields of a .deb control file or an index that dpkg does not keep in the status file.
constexpr std::array<std::string_view, 5> k_dropped = {"Status", "Conffiles", "Filename", "Size",
                                                       "MD5sum"};

// Appends "Name: value" with continuation lines as deb822 wants them.
void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ':';
  std::size_t start = 0;
  bool first = true;
  for (;;) {
    const std::size_t nl = value.find('\n', start);
    const std::string_view line =
        value.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (first) {
      if (!line.empty()) {
        out += ' ';
        out += line;
      }
      first = false;
    } else {
      out += "\n ";
      out += line;
    }
    if (nl == std::string_view::npos) {
      break;
    }
    start = nl + 1;
  }
  out += '\n';
}

std::string format_stanza(const Stanza& stanza) {
  std::string out;
  for (const ControlField& f : stanza.fields()) {
    append_field(out, f.name, f.value);
  }
  return out;
}

bool is_dropped(std::string_view name) {
  return std::any_of(k_dropped.begin(), k_dropped.end(),
                     [&](std::string_view d) { return field_name_equal(d, name); });
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    util::fail(ErrorKind::IO, "cannot create directory " + dir.string() + ": " + ec.message());
  }
}

// Writes `content` to `path` through a temporary file renamed over it, without fsync: the
// database lives in an image tree being built (a scratch overlay upper dir or an unpack
// target) that is discarded whole if the build stops, and whose durable form is the layer
// blob the store fsyncs. A thousand fsyncs per layer (every info file) were measurable.
void replace_file(const fs::path& path, std::string_view content, unsigned mode) {
  const fs::path temp = path.parent_path() / (path.filename().string() + ".strata-new");
  {
    util::Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
      util::fail_errno("cannot create " + temp.string());
    }
    util::write_all(fd.get(), content.data(), content.size(), temp.string());
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
      const int err = errno;
      ::unlink(temp.c_str());
      errno = err;
      util::fail_errno("cannot set the mode of " + temp.string());
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    errno = err;
    util::fail_errno("cannot rename " + temp.string() + " to " + path.string());
  }
}

std::string read_if_exists(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return {};
  }
  return util::read_file(path);
}

void write_if_missing(const fs::path& path, std::string_view content) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    replace_file(path, content, 0644);
  }
}

// Lines of a file as a set-preserving list (insertion order kept).
std::vector<std::string> file_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      nl = text.size();
    }
    if (nl > start) {
      lines.emplace_back(text.substr(start, nl - start));
    }
    start = nl + 1;
  }
  return lines;
}

void add_line(std::vector<std::string>& lines, const std::string& line) {
  if (std::find(lines.begin(), lines.end(), line) == lines.end()) {
    lines.push_back(line);
  }
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) {
    out += l;
    out += '\n';
  }
  return out;
}

}  // namespace

std::string status_value(PackageState state) {
  return state == PackageState::Installed ? "install ok installed" : "install ok unpacked";
}

std::string InstalledPackage::info_name() const {
  if (control.get("Multi-Arch") == "same") {
    return name() + ":" + architecture();
  }
  return name();
}

std::string format_status_stanza(const InstalledPackage& package) {
  std::string conffiles;
  for (const auto& [path, md5] : package.conffiles) {
    conffiles += '\n';
    conffiles += path;
    conffiles += ' ';
    conffiles += md5;
  }
  std::string out;
  for (std::string_view name : k_field_order) {
    if (name == "Status") {
      append_field(out, name, status_value(package.state));
    } else if (name == "Conffiles") {
      if (!conffiles.empty()) {
        append_field(out, name, conffiles);
      }
    } else if (!is_dropped(name)) {
      const ControlField* f = package.control.field(name);
      // dpkg writes its boolean fields only when they are true.
      if (f != nullptr && (name == "Essential" || name == "Protected") && f->value != "yes") {
        continue;
      }
      if (f != nullptr) {
        append_field(out, f->name, f->value);
      }
    }
  }
  for (const ControlField& f : package.control.fields()) {
    const bool known = std::any_of(k_field_order.begin(), k_field_order.end(),
                                   [&](std::string_view k) { return field_name_equal(k, f.name); });
    if (!known && !is_dropped(f.name)) {
      append_field(out, f.name, f.value);
    }
  }
  return out;
}

DpkgDatabase::DpkgDatabase(fs::path root, std::string native_arch)
    : m_root(std::move(root)), m_native_arch(std::move(native_arch)) {
  const fs::path status = m_root / "var/lib/dpkg/status";
  const std::string text = read_if_exists(status);
  for (const Stanza& s : parse_control(text, status.string())) {
    m_existing[{s.require("Package"), s.get("Architecture")}] = format_stanza(s);
  }
}

void DpkgDatabase::add(InstalledPackage package) {
  std::pair<std::string, std::string> key{package.name(), package.architecture()};
  m_existing.erase(key);
  m_added.insert_or_assign(std::move(key), std::move(package));
}

std::vector<std::string> DpkgDatabase::package_names() const {
  std::set<std::string> names;
  for (const auto& [key, text] : m_existing) {
    names.insert(key.first);
  }
  for (const auto& [key, pkg] : m_added) {
    names.insert(pkg.info_name());
  }
  return {names.begin(), names.end()};
}

void DpkgDatabase::write() const {
  const fs::path admin = m_root / "var/lib/dpkg";
  for (const char* sub : {"info", "updates", "triggers", "alternatives"}) {
    make_dirs(admin / sub);
  }
  write_if_missing(admin / "available", "");
  write_if_missing(admin / "diversions", "");
  write_if_missing(admin / "statoverride", "");
  write_if_missing(admin / "info/format", "1\n");

  // Architectures: native first, then foreign ones the packages use.
  if (!m_native_arch.empty()) {
    std::vector<std::string> arches = file_lines(read_if_exists(admin / "arch"));
    arches.erase(std::remove(arches.begin(), arches.end(), m_native_arch), arches.end());
    arches.insert(arches.begin(), m_native_arch);
    for (const auto& [key, pkg] : m_added) {
      if (key.second != "all" && !key.second.empty()) {
        add_line(arches, key.second);
      }
    }
    replace_file(admin / "arch", join_lines(arches), 0644);
  }

  // status: every package, sorted by name then architecture, stanzas separated by a
  // blank line (dpkg ends the file with one too).
  std::map<std::pair<std::string, std::string>, std::string> all = m_existing;
  for (const auto& [key, pkg] : m_added) {
    all[key] = format_status_stanza(pkg);
  }
  {
    std::string status;
    for (const auto& [key, text] : all) {
      status += text;
      status += "\n";
    }
    replace_file(admin / "status", status, 0644);
  }

  // info/ files and trigger interests.
  std::vector<std::string> file_triggers = file_lines(read_if_exists(admin / "triggers/File"));
  std::map<std::string, std::vector<std::string>> explicit_triggers;
  for (const auto& [key, pkg] : m_added) {
    const std::string base = pkg.info_name();
    {
      std::string list;
      for (const std::string& path : pkg.files) {
        list += path;
        list += "\n";
      }
      replace_file(admin / "info" / (base + ".list"), list, 0644);
    }
    for (const auto& [name, file] : pkg.info_files) {
      replace_file(admin / "info" / (base + "." + name), file.content,
                              file.mode & 07777);
    }
    const auto trig = pkg.info_files.find("triggers");
    if (trig == pkg.info_files.end()) {
      continue;
    }
    for (const std::string& line : file_lines(trig->second.content)) {
      const std::vector<std::string> words = value_words(line);
      if (words.size() < 2 || words[0].starts_with('#') || !words[0].starts_with("interest")) {
        continue;
      }
      const bool noawait = words[0] == "interest-noawait";
      const std::string who = base + (noawait ? "/noawait" : "");
      if (words[1].starts_with('/')) {
        add_line(file_triggers, words[1] + " " + who);
      } else {
        add_line(explicit_triggers[words[1]], who);
      }
    }
  }
  if (!file_triggers.empty()) {
    replace_file(admin / "triggers/File", join_lines(file_triggers), 0644);
  }
  for (auto& [name, who] : explicit_triggers) {
    if (name.find('/') != std::string::npos || name.starts_with('.')) {
      util::fail(ErrorKind::InvalidInput, "invalid trigger name " + name + " in a triggers file");
    }
    std::vector<std::string> lines = file_lines(read_if_exists(admin / "triggers" / name));
    for (const std::string& w : who) {
      add_line(lines, w);
    }
    replace_file(admin / "triggers" / name, join_lines(lines), 0644);
  }
}

}  // namespace strata::builder::debian
