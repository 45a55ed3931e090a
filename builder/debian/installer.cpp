#include "builder/debian/installer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <deque>
#include <set>

#include "oci/layer_applier.hpp"
#include "oci/safe_path.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/hash.hpp"

namespace strata::builder::debian {

namespace {

namespace fs = std::filesystem;
using util::ErrorKind;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// MD5 hex of the file open as `fd` (dpkg records conffile hashes as MD5).
std::string md5_fd(int fd, const std::string& display) {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1) {
    util::fail(ErrorKind::Internal, "cannot initialise MD5");
  }
  std::array<char, 65536> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      util::fail_errno("cannot read " + display);
    }
    if (n == 0) {
      break;
    }
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md.data(), &len);
  return util::to_hex(md.data(), len);
}

// Conffile paths of a package's "conffiles" member: one absolute path per line, optionally
// preceded by flags ("remove-on-upgrade /etc/foo"); the path is the last word.
std::vector<std::string> parse_conffiles(const DebControl& control, const std::string& where) {
  std::vector<std::string> out;
  const auto it = control.files.find("conffiles");
  if (it == control.files.end()) {
    return out;
  }
  for (const std::string& line : value_lines(it->second.content)) {
    const std::vector<std::string> words = value_words(line);
    if (words.empty()) {
      continue;
    }
    const std::string& path = words.back();
    if (!path.starts_with('/')) {
      util::fail(ErrorKind::InvalidInput,
                 where + ": conffiles: " + oci::quote_path(path) + " is not an absolute path");
    }
    if (words.size() == 1) {
      out.push_back(path);
    }
  }
  return out;
}

bool is_merged_link(const fs::path& root, const std::string& dir) {
  std::error_code ec;
  if (!fs::is_symlink(root / dir, ec)) {
    return false;
  }
  const fs::path target = fs::read_symlink(root / dir, ec);
  return !ec && (target == "usr/" + dir || target == "/usr/" + dir);
}

std::string join_all(const std::vector<std::string>& parts) {
  return oci::join_path(parts, parts.size());
}

}  // namespace

const std::vector<std::string>& merged_usr_dirs() {
  static const std::vector<std::string> dirs = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
  return dirs;
}

struct Installer::State {
  std::deque<InstalledPackage> installed;  // deque: references handed out stay valid
  std::string native_arch;
};

Installer::Installer(fs::path root, InstallOptions options)
    : m_root(std::move(root)), m_options(std::move(options)) {
  std::error_code ec;
  if (!fs::is_directory(m_root, ec)) {
    util::fail(ErrorKind::NotFound, "install root " + m_root.string() + " is not a directory");
  }
  if (m_options.merged_usr == MergedUsr::Yes) {
    for (const std::string& dir : merged_usr_dirs()) {
      const fs::path link = m_root / dir;
      if (fs::symlink_status(link, ec).type() != fs::file_type::not_found) {
        continue;  // existing link or directory: left as it is
      }
      fs::create_directories(m_root / "usr" / dir, ec);
      if (ec) {
        util::fail(ErrorKind::IO, "cannot create " + (m_root / "usr" / dir).string() + ": " +
                                      ec.message());
      }
      if (::symlink(("usr/" + dir).c_str(), link.c_str()) != 0) {
        util::fail_errno("cannot create merged-/usr link " + link.string());
      }
    }
  }
  m_state = std::make_unique<State>();
  m_state->native_arch = m_options.native_arch;
  DpkgDatabase check(m_root);  // fail early on a malformed existing status file
  (void)check;
}

Installer::~Installer() = default;

const InstalledPackage& Installer::install(const fs::path& deb) {
  return install(DebReader(deb, m_options.limits));
}

const InstalledPackage& Installer::install(DebReader reader) {
  const std::string where = reader.path().string();
  const DebControl& control = reader.control();
  const std::vector<std::string> conffile_list = parse_conffiles(control, where);
  const std::set<std::string> conffiles(conffile_list.begin(), conffile_list.end());
  const bool unpacked = m_options.state == PackageState::Unpacked;

  std::set<std::string> redirect;
  if (m_options.merged_usr != MergedUsr::No) {
    for (const std::string& dir : merged_usr_dirs()) {
      if (is_merged_link(m_root, dir)) {
        redirect.insert(dir);
      }
    }
  }
  const auto redirected = [&](std::vector<std::string> parts, bool is_dir) {
    if (!parts.empty() && redirect.contains(parts.front()) && (parts.size() > 1 || is_dir)) {
      parts.insert(parts.begin(), "usr");
    }
    return parts;
  };

  oci::UnpackOptions unpack;
  unpack.preserve_owners = m_options.preserve_owners;
  unpack.use_openat2 = m_options.use_openat2;
  unpack.max_path_length = m_options.limits.max_path_length;
  oci::LayerApplier applier(m_root, unpack);

  InstalledPackage pkg;
  pkg.control = control.control;
  pkg.state = m_options.state;
  std::set<std::string> symlinks;  // on-disk paths of symlinks this package created
  std::map<std::string, std::string> conffile_disk;  // dpkg path -> on-disk path

  reader.for_each_data_entry([&](archive* a, archive_entry* e) {
    const std::vector<std::string> parts =
        oci::split_archive_path(archive_entry_pathname(e), m_options.limits.max_path_length);
    for (const std::string& p : parts) {
      if (p.starts_with(".wh.")) {
        util::fail(ErrorKind::InvalidInput,
                   "reserved name " + oci::quote_path(p) + " (.wh.* marks OCI whiteouts)");
      }
    }
    const mode_t type = archive_entry_filetype(e);
    const bool is_hardlink = archive_entry_hardlink(e) != nullptr;
    const std::string dpkg_path = parts.empty() ? "/." : "/" + join_all(parts);
    std::vector<std::string> disk = redirected(parts, type == AE_IFDIR && !is_hardlink);
    for (std::size_t n = 1; n < disk.size(); ++n) {
      const std::string prefix = oci::join_path(disk, n);
      if (symlinks.contains(prefix)) {
        util::fail(ErrorKind::InvalidInput,
                   "path goes through the symlink " + oci::quote_path(prefix) +
                       " shipped by the same package; refusing to follow it");
      }
    }
    const bool conffile = type == AE_IFREG && conffiles.contains(dpkg_path);
    if (conffile && unpacked) {
      disk.back() += ".dpkg-new";
    }
    if (!disk.empty()) {
      archive_entry_copy_pathname(e, join_all(disk).c_str());
    }
    if (is_hardlink) {
      const std::vector<std::string> target = redirected(
          oci::split_archive_path(archive_entry_hardlink(e), m_options.limits.max_path_length,
                                  "hardlink target"),
          false);
      archive_entry_copy_hardlink(e, join_all(target).c_str());
    }
    applier.apply(a, e);
    if (type == AE_IFLNK && !is_hardlink) {
      symlinks.insert(join_all(disk));
    }
    if (conffile) {
      conffile_disk[dpkg_path] = join_all(disk);
    }
    pkg.files.push_back(dpkg_path);
  });
  applier.finish();

  oci::RootResolver resolver(m_root.string(), m_options.use_openat2
                                                  ? oci::RootResolver::Method::Auto
                                                  : oci::RootResolver::Method::WalkOnly);
  for (const std::string& path : conffile_list) {
    const auto it = conffile_disk.find(path);
    if (it == conffile_disk.end()) {
      util::fail(ErrorKind::InvalidInput,
                 where + ": conffile " + oci::quote_path(path) + " is not a file in data.tar");
    }
    if (unpacked) {
      pkg.conffiles.emplace_back(path, "newconffile");
      continue;
    }
    const std::vector<std::string> parts = oci::split_archive_path(it->second, 4096);
    util::Fd dir = resolver.open_dir(parts, parts.size() - 1,
                                     oci::RootResolver::Symlinks::FollowInRoot,
                                     oci::RootResolver::Missing::Fail);
    util::Fd fd(::openat(dir.get(), parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      util::fail_errno(where + ": cannot open conffile " + it->second);
    }
    pkg.conffiles.emplace_back(path, md5_fd(fd.get(), it->second));
  }
  for (const auto& [name, file] : control.files) {
    if (name != "control") {
      pkg.info_files.emplace(name, file);
    }
  }
  if (m_state->native_arch.empty() && pkg.architecture() != "all") {
    m_state->native_arch = pkg.architecture();
  }
  m_state->installed.push_back(std::move(pkg));
  return m_state->installed.back();
}

void Installer::finish() {
  DpkgDatabase db(m_root, m_state->native_arch);
  for (const InstalledPackage& pkg : m_state->installed) {
    db.add(pkg);
  }
  db.write();
}

void install_debs(const fs::path& root, const std::vector<fs::path>& debs,
                  const InstallOptions& options) {
  Installer installer(root, options);
  for (const fs::path& deb : debs) {
    installer.install(deb);
  }
  installer.finish();
}

}  // namespace strata::builder::debian
