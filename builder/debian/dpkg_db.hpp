// The dpkg database of an image tree (/var/lib/dpkg), written exactly as dpkg writes it, so
// that dpkg, apt and scanners (Trivy, Grype, syft) inside the image see the packages.
//
// Layout written under <root>/var/lib/dpkg: status (stanzas sorted by package name, then
// architecture, fields in dpkg's order), available (empty), diversions, statoverride (empty
// unless present), arch (native then foreign architectures), info/format ("1"),
// info/<pkg>[:<arch>].{list,md5sums,conffiles,preinst,...} (":<arch>" only for Multi-Arch:
// same packages), triggers/File and triggers/<name> for trigger interests, alternatives/
// and updates/ directories. An existing status file is read first, so installing into a
// tree that already has packages adds to them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "builder/debian/control.hpp"
#include "builder/debian/deb_file.hpp"

namespace strata::builder::debian {

/// dpkg's "want ok state" for a package we put in the database.
enum class PackageState {
  Unpacked,   // "install ok unpacked": configure still to run; conffiles recorded as "newconffile"
  Installed,  // "install ok installed": configured (conffiles with their md5)
};

/// The "install ok ..." Status value of a state.
std::string status_value(PackageState state);

/// One package as the database records it. Value type.
struct InstalledPackage {
  Stanza control;                                  // the .deb's control stanza
  PackageState state = PackageState::Unpacked;
  /// Conffiles in the .deb's conffiles order: path and md5 hex (or "newconffile").
  std::vector<std::pair<std::string, std::string>> conffiles;
  /// The .list content: every path of data.tar as dpkg records it ("/.", "/etc", ...).
  std::vector<std::string> files;
  /// control.tar files copied to info/ (all but "control"): name -> content and mode.
  std::map<std::string, DebControlFile> info_files;

  [[nodiscard]] const std::string& name() const { return control.require("Package"); }
  [[nodiscard]] std::string architecture() const { return control.get("Architecture"); }
  /// "<pkg>:<arch>" for Multi-Arch: same packages, else "<pkg>" (info/ file names).
  [[nodiscard]] std::string info_name() const;
};

/// Formats one status stanza: Package, Essential, Protected, Status, Priority, Section,
/// Installed-Size, Origin, Maintainer, Bugs, Architecture, Multi-Arch, Source, Version,
/// Config-Version, Replaces, Provides, Depends, Pre-Depends, Recommends, Suggests, Breaks,
/// Conflicts, Enhances, Conffiles, Description, Triggers-Pending, Triggers-Awaited, then the
/// other fields in control-file order. Ends with "\n" (no blank line). Thread-safe.
std::string format_status_stanza(const InstalledPackage& package);

/// The database below one root. Not thread-safe.
class DpkgDatabase {
 public:
  /// Reads <root>/var/lib/dpkg/status if it exists (InvalidInput naming file:line if it is
  /// malformed). `native_arch` goes first in the arch file (empty: not written).
  DpkgDatabase(std::filesystem::path root, std::string native_arch = {});

  /// Adds or replaces (same name and architecture) a package.
  void add(InstalledPackage package);

  /// Names of the packages in the database (info_name() form), sorted.
  [[nodiscard]] std::vector<std::string> package_names() const;

  /// Writes the whole database atomically file by file (AtomicFile), creating the
  /// directories. Throws IO naming the file.
  void write() const;

 private:
  std::filesystem::path m_root;
  std::string m_native_arch;
  std::map<std::pair<std::string, std::string>, std::string> m_existing;  // (name, arch) -> stanza
  std::map<std::pair<std::string, std::string>, InstalledPackage> m_added;
};

}  // namespace strata::builder::debian
