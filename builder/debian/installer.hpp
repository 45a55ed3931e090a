// In-process installation of .deb files into an image tree (a layer's root directory),
// the "unpack" half of dpkg: data.tar goes onto the tree through oci's safe layer applier
// (paths resolved inside the root, no device nodes, owners, modes, times, hardlinks and
// symlinks kept), and the package is recorded in the tree's dpkg database (dpkg_db.hpp)
// so that the image's own dpkg can configure it later (`dpkg --configure -a`).
//
// Merged /usr: when the tree's /bin, /sbin, /lib, /lib32, /lib64 or /libx32 is a symlink to
// usr/<dir> (or MergedUsr::Yes creates those links first, as debootstrap does for bookworm
// and later), entries shipped below such a directory are written below usr/<dir> instead
// (what dpkg achieves by following the links), and an entry for the directory itself
// merges into usr/<dir> rather than replacing the link. info/<pkg>.list keeps the
// package's own paths (/bin/ls), exactly as dpkg records them.
//
// Hostile packages: besides the applier's rules (no absolute paths, no "..", no device
// nodes, no hardlink out of the tree, symlinks followed only inside the root), an entry
// whose path goes through a symlink shipped earlier by the same package, or that uses a
// reserved ".wh." name, is rejected; every error names the .deb, member and entry.
//
// Conffiles: in PackageState::Unpacked (the default) conffiles are written as
// "<path>.dpkg-new" and recorded with the hash "newconffile", exactly as `dpkg --unpack`
// leaves them, so that `dpkg --configure` installs them; PackageState::Installed writes
// them in place and records their md5.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "builder/debian/deb_file.hpp"
#include "builder/debian/dpkg_db.hpp"

namespace strata::builder::debian {

/// Whether /bin, /sbin, /lib* are redirected to /usr.
enum class MergedUsr {
  Auto,  // redirect the directories that are symlinks to usr/<dir> in the tree
  Yes,   // create the symlinks (and usr/<dir>) first where missing, then as Auto
  No,    // never redirect (a shipped /bin directory replaces a /bin symlink)
};

/// Options of an installation. Value type.
struct InstallOptions {
  MergedUsr merged_usr = MergedUsr::Auto;
  PackageState state = PackageState::Unpacked;
  /// Native architecture for /var/lib/dpkg/arch; empty: the first package's that is not "all".
  std::string native_arch;
  /// Keep the uid/gid of data.tar (effective as root or in a user namespace).
  bool preserve_owners = true;
  /// Resolve paths with openat2 where the kernel allows it (false: component walk).
  bool use_openat2 = true;
  DebLimits limits;
};

/// The directories merged-/usr links: bin, sbin, lib, lib32, lib64, libx32. Thread-safe.
const std::vector<std::string>& merged_usr_dirs();

/// Installs packages into one tree. Not thread-safe; one instance per tree at a time.
class Installer {
 public:
  /// `root` must exist. With MergedUsr::Yes the links are created here. Reads an existing
  /// dpkg database under root (see DpkgDatabase).
  Installer(std::filesystem::path root, InstallOptions options = {});
  ~Installer();
  Installer(const Installer&) = delete;
  Installer& operator=(const Installer&) = delete;

  /// Unpacks one .deb into the tree and records it (written by finish()). Returns what was
  /// recorded. Throws InvalidInput/Unsupported naming the .deb, member and entry for a bad
  /// package (the tree may then hold part of it, never anything outside root), IO when the
  /// system refuses.
  const InstalledPackage& install(const std::filesystem::path& deb);

  /// As install(path), for a package already opened (and possibly preloaded, see
  /// deb_prefetch.hpp) whose data.tar has not been read yet. The options' limits do not
  /// apply to `reader`: they are those it was opened with.
  const InstalledPackage& install(DebReader reader);

  /// Writes the dpkg database (status, info/, ...). Call once after the last install().
  void finish();

  /// The tree's root.
  [[nodiscard]] const std::filesystem::path& root() const noexcept { return m_root; }

 private:
  struct State;
  std::filesystem::path m_root;
  InstallOptions m_options;
  std::unique_ptr<State> m_state;
};

/// Convenience: installs `debs` in order into `root` and writes the database.
void install_debs(const std::filesystem::path& root, const std::vector<std::filesystem::path>& debs,
                  const InstallOptions& options = {});

}  // namespace strata::builder::debian
