// Sandbox steps: debian installs and run commands on one overlay upper dir.
#include "builder/system_layer.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "builder/debian/archive.hpp"
#include "builder/debian/installer.hpp"
#include "builder/debian/relations.hpp"
#include "builder/debian/sources.hpp"
#include "builder/sandbox/sandbox.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::builder {
namespace fs = std::filesystem;

namespace {

// The first lower dir (topmost first) that has `rel`, with its lstat; nullopt when none.
std::optional<std::pair<fs::path, struct stat>> find_lower(const std::vector<fs::path>& lowers,
                                                           const std::string& rel) {
  for (const fs::path& lower : lowers) {
    struct stat st {};
    const fs::path p = lower / rel;
    if (::lstat(p.c_str(), &st) == 0) {
      // An overlay whiteout hides the path from the layers below.
      if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {
        return std::nullopt;
      }
      return std::make_pair(p, st);
    }
  }
  return std::nullopt;
}

std::string read_link(const fs::path& p) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(p, ec);
  return ec ? std::string() : target.string();
}

// What the installer must see of the layers below: merged-/usr links and the dpkg status
// file. Returns the links created, to drop again when they are unchanged.
std::vector<std::pair<std::string, std::string>> seed_upper(const std::vector<fs::path>& lowers,
                                                            const fs::path& upper) {
  std::vector<std::pair<std::string, std::string>> links;
  for (const std::string& dir : debian::merged_usr_dirs()) {
    const auto found = find_lower(lowers, dir);
    struct stat st {};
    if (found && S_ISLNK(found->second.st_mode) && ::lstat((upper / dir).c_str(), &st) != 0) {
      const std::string target = read_link(found->first);
      fs::create_symlink(target, upper / dir);
      links.emplace_back(dir, target);
    }
  }
  for (const char* rel : {"var/lib/dpkg/status", "var/lib/dpkg/arch", "var/lib/apt/extended_states"}) {
    const auto found = find_lower(lowers, rel);
    struct stat st {};
    if (found && S_ISREG(found->second.st_mode) && ::lstat((upper / rel).c_str(), &st) != 0) {
      fs::create_directories((upper / rel).parent_path());
      fs::copy_file(found->first, upper / rel);
      ::chmod((upper / rel).c_str(), found->second.st_mode & 07777);
    }
  }
  return links;
}

void drop_unchanged_links(const std::vector<std::pair<std::string, std::string>>& links,
                          const fs::path& upper) {
  for (const auto& [rel, target] : links) {
    struct stat st {};
    if (::lstat((upper / rel).c_str(), &st) == 0 && S_ISLNK(st.st_mode) &&
        read_link(upper / rel) == target) {
      ::unlink((upper / rel).c_str());
    }
  }
}

debian::Package package_of(const LockedPackage& p) {
  debian::Package pkg;
  pkg.name = p.name;
  pkg.version = p.version;
  pkg.architecture = p.architecture;
  pkg.filename = p.path;
  pkg.size = p.size;
  pkg.sha256 = p.sha256.hex();
  pkg.archive = p.archive;
  return pkg;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::vector<std::string> sandbox_env(const SystemLayerContext& ctx) {
  return {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "DEBIAN_FRONTEND=noninteractive",
          "DEBCONF_NONINTERACTIVE_SEEN=true",
          "DEBCONF_NOWARNINGS=yes",
          "LC_ALL=C.UTF-8",
          "LANG=C.UTF-8",
          "HOME=/root",
          "SOURCE_DATE_EPOCH=" + std::to_string(ctx.source_date_epoch)};
}

// The script run in the sandbox after unpacking: preinst of each new package (what dpkg
// --unpack would have run before unpacking), then dpkg --configure -a.
std::string configure_script(const LockedLayer& locked, const std::string& native_arch) {
  std::string script =
      "set -e\n"
      "printf '#!/bin/sh\\n# strata: no service starts while building an image\\nexit 101\\n' "
      "> /usr/sbin/policy-rc.d\n"
      "chmod 0755 /usr/sbin/policy-rc.d\n"
      "run_preinst() {\n"
      "  f=/var/lib/dpkg/info/$1.preinst\n"
      "  [ -e \"$f\" ] || f=/var/lib/dpkg/info/$1:$2.preinst\n"
      "  if [ -x \"$f\" ]; then\n"
      "    DPKG_MAINTSCRIPT_PACKAGE=$1 DPKG_MAINTSCRIPT_ARCH=$2 DPKG_MAINTSCRIPT_NAME=preinst "
      "DPKG_RUNNING_VERSION=$(dpkg-query --showformat='${Version}' --show dpkg 2>/dev/null || "
      "true) \"$f\" install || { echo \"strata: preinst of $1 failed\" >&2; exit 1; }\n"
      "  fi\n"
      "}\n";
  for (const LockedPackage& p : locked.packages) {
    const std::string arch = p.architecture == "all" ? native_arch : p.architecture;
    script += "run_preinst " + shell_quote(p.name) + " " + shell_quote(arch) + "\n";
  }
  script +=
      "dpkg --configure -a\n"
      "rm -f /usr/sbin/policy-rc.d\n";
  return script;
}

void remove_if_exists(const fs::path& p) {
  std::error_code ec;
  const auto st = fs::symlink_status(p, ec);
  if (ec || st.type() == fs::file_type::not_found) {
    return;
  }
  if (st.type() == fs::file_type::directory) {
    util::remove_tree(p);
  } else {
    fs::remove(p, ec);
  }
}

// Every entry of `dir` (not recursive), or nothing when it does not exist.
std::vector<fs::path> children(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path());
  }
  return out;
}

// /etc/shadow's third field is the day of the last password change: days since the epoch,
// i.e. build time. It becomes SOURCE_DATE_EPOCH's day.
void normalise_shadow(const fs::path& file, std::int64_t sde) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return;
  }
  struct stat st {};
  ::lstat(file.c_str(), &st);
  const std::string text = util::read_file(file);
  const std::string day = std::to_string(sde / 86400);
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::vector<std::string> fields;
    std::size_t f = 0;
    for (;;) {
      const std::size_t colon = line.find(':', f);
      fields.push_back(line.substr(f, colon == std::string::npos ? std::string::npos : colon - f));
      if (colon == std::string::npos) {
        break;
      }
      f = colon + 1;
    }
    if (fields.size() >= 3 && !fields[2].empty()) {
      fields[2] = day;
      line.clear();
      for (std::size_t i = 0; i < fields.size(); ++i) {
        line += (i ? ":" : "") + fields[i];
      }
    }
    out += line;
    if (end == std::string::npos) {
      break;
    }
    out += '\n';
    start = end + 1;
  }
  if (out != text) {
    util::write_file_atomic(file, out, st.st_mode & 07777);
    static_cast<void>(::chown(file.c_str(), st.st_uid, st.st_gid));
  }
}

// apt's record of which packages were installed only as dependencies ("Auto-Installed: 1"),
// so that `apt-mark showauto` and `apt autoremove` inside the image work as after apt
// installed them: what the step names, and the priority set it asks for, are manual.
void write_extended_states(const fs::path& upper, const DebianStep& step,
                           const std::vector<debian::InstalledPackage>& installed,
                           const std::string& native_arch) {
  std::set<std::string> manual;
  for (const std::string& request : step.packages) {
    manual.insert(request.substr(0, request.find_first_of(":=( ")));
  }
  // With a priority set, the Essential packages and everything they depend on are what a
  // bootstrap installs first with dpkg (never marked automatic), as mmdebstrap does.
  if (step.priority != "none") {
    std::map<std::string, const debian::InstalledPackage*> by_name;
    std::map<std::string, std::string> provider;
    for (const auto& pkg : installed) {
      by_name[pkg.name()] = &pkg;
      for (const auto& group : debian::parse_provides(pkg.control.get("Provides"))) {
        for (const auto& rel : group) {
          provider.emplace(rel.name, pkg.name());
        }
      }
    }
    std::vector<std::string> todo;
    for (const auto& pkg : installed) {
      if (pkg.control.get("Essential") == "yes") {
        todo.push_back(pkg.name());
      }
    }
    while (!todo.empty()) {
      const std::string name = todo.back();
      todo.pop_back();
      if (!manual.insert(name).second || !by_name.contains(name)) {
        continue;
      }
      const auto& control = by_name[name]->control;
      for (const char* field : {"Pre-Depends", "Depends"}) {
        for (const auto& group : debian::parse_relations(control.get(field))) {
          for (const auto& alt : group) {
            if (by_name.contains(alt.name)) {
              todo.push_back(alt.name);
              break;
            }
            if (const auto it = provider.find(alt.name); it != provider.end()) {
              todo.push_back(it->second);
              break;
            }
          }
        }
      }
    }
  }
  const fs::path file = upper / "var/lib/apt/extended_states";
  std::map<std::pair<std::string, std::string>, std::string> entries;  // (name, arch) -> stanza
  std::error_code ec;
  if (fs::exists(file, ec)) {
    const std::string text = util::read_file(file);
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find("\n\n", start);
      const std::string stanza = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      start = end == std::string::npos ? text.size() : end + 2;
      auto field = [&](const std::string& name) {
        const auto at = stanza.find(name + ": ");
        if (at == std::string::npos || (at != 0 && stanza[at - 1] != '\n')) {
          return std::string();
        }
        const auto value = at + name.size() + 2;
        return stanza.substr(value, stanza.find('\n', value) - value);
      };
      if (!field("Package").empty()) {
        entries[{field("Package"), field("Architecture")}] = stanza + "\n";
      }
    }
  }
  bool added = false;
  for (const auto& pkg : installed) {
    const std::string& name = pkg.name();
    const bool essential = pkg.control.get("Essential") == "yes";
    const std::string priority = pkg.control.get("Priority");
    const bool in_priority_set =
        (step.priority == "minbase" && (essential || priority == "required")) ||
        (step.priority == "important" &&
         (essential || priority == "required" || priority == "important"));
    if (manual.contains(name) || in_priority_set) {
      continue;
    }
    const std::string arch = pkg.architecture() == "all" ? native_arch : pkg.architecture();
    entries[{name, arch}] = "Package: " + name + "\nArchitecture: " + arch + "\nAuto-Installed: 1\n";
    added = true;
  }
  if (!added) {
    return;
  }
  std::string out;
  for (const auto& [key, stanza] : entries) {
    out += stanza + "\n";
  }
  fs::create_directories(file.parent_path());
  util::write_file_atomic(file, out, 0644);
}

}  // namespace

void apply_debian_step(const SystemLayerContext& ctx, const DebianStep& step,
                       const LockedLayer& locked, const fs::path& upper) {
  cache::Store& store = *ctx.store;
  // 1. The .debs, by sha256: from the store, else from the mirror (verified while stored).
  std::vector<debian::Package> packages;
  bool missing = false;
  for (const LockedPackage& p : locked.packages) {
    packages.push_back(package_of(p));
    missing = missing || !store.has_blob(p.sha256);
  }
  if (missing) {
    const std::string mirror =
        ctx.mirror.empty() ? debian::find_debian_mirror().uri : ctx.mirror;
    debian::fetch_debs(store, mirror, packages, ctx.fetch);
  }

  // 2. Unpack into the upper dir, as dpkg --unpack would.
  const auto seeded = seed_upper(ctx.lower_dirs, upper);
  std::string native_arch;
  for (const LockedPackage& p : locked.packages) {
    if (p.architecture != "all") {
      native_arch = p.architecture;
      break;
    }
  }
  {
    debian::InstallOptions options;
    const bool lower_has_usr_links = !ctx.lower_dirs.empty();
    options.merged_usr = lower_has_usr_links ? debian::MergedUsr::Auto : debian::MergedUsr::Yes;
    options.state = debian::PackageState::Unpacked;
    options.preserve_owners = true;
    debian::Installer installer(upper, options);
    std::vector<debian::InstalledPackage> installed;
    for (const LockedPackage& p : locked.packages) {
      installed.push_back(installer.install(store.blob_path(p.sha256)));
    }
    installer.finish();
    write_extended_states(upper, step, installed, native_arch);
  }

  // 3. Configure with the image's own dpkg, in the sandbox.
  sandbox::RunOptions run;
  run.argv = {"/bin/sh", "-c", configure_script(locked, native_arch)};
  run.env = sandbox_env(ctx);
  run.lower_dirs = ctx.lower_dirs;
  run.upper_exists = true;
  run.on_output = ctx.on_output;
  run.tail_lines = 60;
  try {
    sandbox::run(run, upper);
  } catch (const util::Error& e) {
    // The sandbox quotes the whole generated script; the user needs its status and output.
    std::string message = e.what();
    for (const char* marker : {"] exited", "] was killed", "] timed out", "] ended"}) {
      const auto at = message.find(marker);
      if (at != std::string::npos) {
        message = "preinst scripts and dpkg --configure -a" + message.substr(at + 1);
        break;
      }
    }
    util::fail(e.kind(), "configuring the packages of layer " + locked.recipe + "/" +
                             locked.layer + " failed: " + message);
  }
  drop_unchanged_links(seeded, upper);
  normalise_system_tree(upper, ctx.source_date_epoch);
}

void apply_run_step(const SystemLayerContext& ctx, const RunStep& step, const fs::path& upper) {
  sandbox::RunOptions run;
  run.argv = step.argv;
  run.env = ctx.base_env;
  for (const auto& [k, v] : step.env) {
    const std::string prefix = k + "=";
    run.env.erase(std::remove_if(run.env.begin(), run.env.end(),
                                 [&](const std::string& e) { return e.starts_with(prefix); }),
                  run.env.end());
    run.env.push_back(prefix + v);
  }
  run.env.push_back("SOURCE_DATE_EPOCH=" + std::to_string(ctx.source_date_epoch));
  run.workdir = step.workdir;
  run.uid = step.user.uid;
  run.gid = step.user.gid;
  run.network = step.network;
  run.lower_dirs = ctx.lower_dirs;
  run.upper_exists = true;
  run.on_output = ctx.on_output;
  try {
    sandbox::run(run, upper);
  } catch (const util::Error& e) {
    util::fail(e.kind(), step.location.str() + ": run step failed: " + e.what());
  }
  normalise_system_tree(upper, ctx.source_date_epoch);
}

void normalise_system_tree(const fs::path& upper, std::int64_t sde) {
  for (const char* rel :
       {"var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log",
        "var/cache/ldconfig/aux-cache", "var/lib/dbus/machine-id", "var/lib/dpkg/status-old",
        "var/lib/dpkg/available-old", "var/lib/dpkg/diversions-old",
        "var/lib/dpkg/statoverride-old", "var/lib/dpkg/lock", "var/lib/dpkg/lock-frontend",
        "var/lib/dpkg/triggers/Lock", "var/lib/dpkg/triggers/Unincorp", "etc/passwd-",
        "etc/group-", "etc/shadow-", "etc/gshadow-", "etc/subuid-", "etc/subgid-",
        "var/cache/debconf/config.dat-old", "var/cache/debconf/templates.dat-old",
        "var/cache/debconf/passwords.dat-old", "var/lib/systemd/catalog/database",
        "usr/sbin/policy-rc.d", "etc/ld.so.cache~"}) {
    remove_if_exists(upper / rel);
  }
  for (const char* dir : {"var/log/apt", "var/cache/apt", "var/lib/apt/lists", "run", "tmp",
                          "var/tmp", "var/cache/fontconfig", "root/.cache"}) {
    for (const fs::path& p : children(upper / dir)) {
      const std::string name = p.filename().string();
      // Keep apt's directory skeleton (lists/partial, archives/partial) and whiteouts.
      struct stat st {};
      if (::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0) {
        continue;
      }
      if (std::string(dir) == "var/lib/apt/lists" && name == "partial") {
        continue;
      }
      if (std::string(dir) == "var/cache/apt" && name == "archives") {
        for (const fs::path& q : children(p)) {
          if (q.filename() != "partial" && q.filename() != "lock") {
            remove_if_exists(q);
          }
        }
        continue;
      }
      remove_if_exists(p);
    }
  }
  // machine-id: empty, so that the runtime (systemd, dbus) makes one on first boot.
  std::error_code ec;
  if (fs::is_regular_file(upper / "etc/machine-id", ec) && fs::file_size(upper / "etc/machine-id", ec) != 0) {
    util::write_file_atomic(upper / "etc/machine-id", "", 0444);
  }
  normalise_shadow(upper / "etc/shadow", sde);
}

}  // namespace strata::builder
