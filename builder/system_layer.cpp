// Sandbox steps: debian installs and run commands on one overlay upper dir.
#include "builder/system_layer.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "builder/debian/archive.hpp"
#include "builder/debian/deb_file.hpp"
#include "builder/debian/deb_prefetch.hpp"
#include "builder/debian/installer.hpp"
#include "builder/debian/relations.hpp"
#include "builder/debian/sources.hpp"
#include "builder/host_arch.hpp"
#include "builder/install_order.hpp"
#include "builder/phase_timer.hpp"
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

// A package's name and the architecture its info files and maintainer scripts use.
struct ScriptPackage {
  std::string name;
  std::string arch;
};

// Where a preinst that runs before its package is unpacked is staged: as dpkg does, its
// whole control area (control, templates, config, preinst, ...) is moved to
// /var/lib/dpkg/tmp.ci for the run, so that debconf's frontend finds the package name
// (tmp.ci/control), loads its templates (tmp.ci/templates) and runs its config script
// before the preinst asks its questions.
constexpr const char* k_preinst_staging = "/.strata-preinst";

// A sandboxed script: each package's `preinst install` (with `staged`, from its control area
// staged under k_preinst_staging as NAME:ARCH/; else the installed NAME.preinst or
// NAME:ARCH.preinst in /var/lib/dpkg/info), then, with `configure`, `dpkg --configure -a`;
// service starts are forbidden by a policy-rc.d for the duration.
std::string maintainer_script(const std::vector<ScriptPackage>& preinst, bool staged,
                              bool configure) {
  const std::string run_env =
      "DPKG_MAINTSCRIPT_PACKAGE=$1 DPKG_MAINTSCRIPT_ARCH=$2 DPKG_MAINTSCRIPT_NAME=preinst "
      "DPKG_RUNNING_VERSION=$(dpkg-query --showformat='${Version}' --show dpkg 2>/dev/null || "
      "true) ";
  const std::string failed = " install || { echo \"strata: preinst of $1 failed\" >&2; exit 1; }\n";
  std::string script =
      "set -e\n"
      "printf '#!/bin/sh\\n# strata: no service starts while building an image\\nexit 101\\n' "
      "> /usr/sbin/policy-rc.d\n"
      "chmod 0755 /usr/sbin/policy-rc.d\n"
      "run_preinst() {\n";
  if (staged) {
    script += std::string("  ci=/var/lib/dpkg/tmp.ci\n"
                          "  rm -rf \"$ci\"\n"
                          "  mv \"") + k_preinst_staging + "/$1:$2\" \"$ci\"\n"
              "  " + run_env + "\"$ci/preinst\"" + failed +
              "  rm -rf \"$ci\"\n";
  } else {
    script += "  f=/var/lib/dpkg/info/$1.preinst\n"
              "  [ -e \"$f\" ] || f=/var/lib/dpkg/info/$1:$2.preinst\n"
              "  if [ -x \"$f\" ]; then\n"
              "    " + run_env + "\"$f\"" + failed +
              "  fi\n";
  }
  script += "}\n";
  for (const ScriptPackage& p : preinst) {
    script += "run_preinst " + shell_quote(p.name) + " " + shell_quote(p.arch) + "\n";
  }
  if (configure) {
    script += "dpkg --configure -a\n";
  }
  script += "rm -f /usr/sbin/policy-rc.d\n";
  return script;
}

// Every package of `controls` that an Essential package needs, directly or not (Depends and
// Pre-Depends, alternatives and Provides resolved among `controls`), Essential ones included.
std::set<std::string> essential_closure(const std::vector<const debian::Stanza*>& controls) {
  std::map<std::string, const debian::Stanza*> by_name;
  std::map<std::string, std::string> provider;
  for (const debian::Stanza* c : controls) {
    by_name[c->require("Package")] = c;
    for (const auto& group : debian::parse_provides(c->get("Provides"))) {
      for (const auto& rel : group) {
        provider.emplace(rel.name, c->require("Package"));
      }
    }
  }
  std::set<std::string> out;
  std::vector<std::string> todo;
  for (const debian::Stanza* c : controls) {
    if (c->get("Essential") == "yes") {
      todo.push_back(c->require("Package"));
    }
  }
  while (!todo.empty()) {
    const std::string name = todo.back();
    todo.pop_back();
    if (!by_name.contains(name) || !out.insert(name).second) {
      continue;
    }
    for (const char* field : {"Pre-Depends", "Depends"}) {
      for (const auto& group : debian::parse_relations(by_name[name]->get(field))) {
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
  return out;
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
    std::vector<const debian::Stanza*> controls;
    for (const auto& pkg : installed) {
      controls.push_back(&pkg.control);
    }
    const std::set<std::string> closure = essential_closure(controls);
    manual.insert(closure.begin(), closure.end());
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

namespace {

// Runs a maintainer-script phase in the sandbox on `upper`.
void run_scripts(const SystemLayerContext& ctx, const LockedLayer& locked, const fs::path& upper,
                 const std::string& script, const std::string& what) {
  sandbox::RunOptions run;
  run.argv = {"/bin/sh", "-c", script};
  run.env = sandbox_env(ctx);
  run.lower_dirs = ctx.lower_dirs;
  run.upper_exists = true;
  run.on_output = ctx.on_output;
  run.tail_lines = 60;
  run.ignore_sync = true;  // dpkg fsyncs its database after every package (seccomp.hpp)
  PhaseTimer timer("sandbox: " + what);
  try {
    sandbox::run(run, upper);
  } catch (const util::Error& e) {
    // The sandbox quotes the whole generated script; the user needs its status and output.
    std::string message = e.what();
    for (const char* marker : {"] exited", "] was killed", "] timed out", "] ended"}) {
      const auto at = message.find(marker);
      if (at != std::string::npos) {
        message = what + message.substr(at + 1);
        break;
      }
    }
    util::fail(e.kind(), "configuring the packages of layer " + locked.recipe + "/" +
                             locked.layer + " failed: " + message);
  }
}

}  // namespace

void apply_debian_step(const SystemLayerContext& ctx, const DebianStep& step,
                       const LockedLayer& locked, const fs::path& upper) {
  cache::Store& store = *ctx.store;
  // 1. The .debs, by sha256: from the store, else from the mirror (verified while stored).
  if (ctx.await_debs) {
    PhaseTimer wait("wait for this layer's .debs (downloading ahead)");
    ctx.await_debs(locked);
  }
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
  std::string native_arch;
  for (const LockedPackage& p : locked.packages) {
    if (p.architecture != "all") {
      native_arch = p.architecture;
      break;
    }
  }
  std::vector<debian::DebControl> controls;
  std::vector<const debian::Stanza*> stanzas;
  PhaseTimer read_controls("read the control members");
  for (const LockedPackage& p : locked.packages) {
    controls.push_back(debian::DebReader(store.blob_path(p.sha256)).control());
  }
  read_controls.stop();
  for (const auto& c : controls) {
    stanzas.push_back(&c.control);
  }
  auto script_package = [&](std::size_t i) {
    const LockedPackage& p = locked.packages[i];
    return ScriptPackage{p.name, p.architecture == "all" ? native_arch : p.architecture};
  };

  // Phases, as a bootstrap and then apt would run dpkg: on an empty system, the Essential
  // packages and what they need are unpacked first and configured (their preinst runs after
  // unpacking, as with `dpkg --install` during mmdebstrap's essential phase); every other
  // package gets its `preinst install` BEFORE its files exist (as `dpkg --unpack` does: some
  // preinsts remove leftovers of an earlier installation), then is unpacked and configured.
  // Those others are installed in groups (install_order.hpp) so that a preinst runs when
  // its Pre-Depends of the same layer are configured; within a group, a preinst that needs
  // a Pre-Depends of the group (a cycle) runs after unpacking.
  std::vector<std::size_t> bootstrap;
  std::vector<std::size_t> rest;
  const bool empty_system = ctx.lower_dirs.empty();
  const std::set<std::string> closure =
      empty_system ? essential_closure(stanzas) : std::set<std::string>{};
  for (std::size_t i = 0; i < locked.packages.size(); ++i) {
    (closure.contains(locked.packages[i].name) ? bootstrap : rest).push_back(i);
  }
  std::vector<std::vector<std::size_t>> groups;
  {
    std::vector<OrderPackage> order;
    for (std::size_t i : rest) {
      OrderPackage o;
      o.name = locked.packages[i].name;
      o.has_preinst = controls[i].files.contains("preinst");
      auto names = [](const std::string& field) {
        std::vector<std::vector<std::string>> out;
        for (const auto& group : debian::parse_relations(field)) {
          std::vector<std::string> alts;
          for (const auto& alt : group) {
            alts.push_back(alt.name);
          }
          out.push_back(std::move(alts));
        }
        return out;
      };
      o.pre_depends = names(controls[i].control.get("Pre-Depends"));
      o.depends = names(controls[i].control.get("Depends"));
      for (const auto& group : debian::parse_provides(controls[i].control.get("Provides"))) {
        for (const auto& p : group) {
          o.provides.push_back(p.name);
        }
      }
      order.push_back(std::move(o));
    }
    for (const auto& g : install_groups(order)) {
      std::vector<std::size_t> group;
      for (std::size_t k : g) {
        group.push_back(rest[k]);
      }
      groups.push_back(std::move(group));
    }
  }

  // Can this machine run the image's programs? If not, extract only (host_arch.hpp).
  const std::string image_arch = !ctx.architecture.empty() ? ctx.architecture
                                 : !native_arch.empty()    ? native_arch
                                                           : host_debian_arch();
  const ArchSupport exec = arch_support(image_arch, binfmt_misc_dir());
  const bool configure = exec.execution != ArchExecution::Impossible;

  const auto seeded = seed_upper(ctx.lower_dirs, upper);
  // Every .deb in the order the phases unpack them, opened and decompressed ahead on
  // helper threads, also while the sandbox configures the bootstrap set (deb_prefetch.hpp).
  std::vector<fs::path> deb_paths;
  for (std::size_t i : bootstrap) {
    deb_paths.push_back(store.blob_path(locked.packages[i].sha256));
  }
  for (const auto& group : groups) {
    for (std::size_t i : group) {
      deb_paths.push_back(store.blob_path(locked.packages[i].sha256));
    }
  }
  debian::DebPrefetchOptions prefetch_options;
  if (!bootstrap.empty()) {
    prefetch_options.horizon = bootstrap.size();  // the rest once the bootstrap is unpacked
  }
  debian::DebPrefetcher prefetch(std::move(deb_paths), prefetch_options);
  std::vector<debian::InstalledPackage> installed;
  auto unpack = [&](const std::vector<std::size_t>& which, debian::MergedUsr merged) {
    debian::InstallOptions options;
    options.merged_usr = merged;
    options.state = debian::PackageState::Unpacked;
    options.preserve_owners = true;
    PhaseTimer timer("unpack " + std::to_string(which.size()) + " packages");
    debian::Installer installer(upper, options);
    for (std::size_t i : which) {
      debian::DebReader reader = prefetch.next();  // deb_paths' order: bootstrap, then groups
      if (reader.path() != store.blob_path(locked.packages[i].sha256)) {
        util::fail(util::ErrorKind::Internal, "unpack: packages taken out of order at " +
                                                  locked.packages[i].name);
      }
      installed.push_back(installer.install(std::move(reader)));
    }
    installer.finish();
  };
  auto say = [&](const std::string& line) {
    if (ctx.on_output) {
      ctx.on_output("strata: " + locked.recipe + "/" + locked.layer + ": " + line + "\n");
    }
  };
  bool system_ready = !empty_system;
  if (!bootstrap.empty()) {
    unpack(bootstrap, debian::MergedUsr::Yes);
    prefetch.set_horizon(prefetch.size());  // decompressed while the sandbox configures
    if (configure) {
      std::vector<ScriptPackage> pre;
      for (std::size_t i : bootstrap) {
        pre.push_back(script_package(i));
      }
      run_scripts(ctx, locked, upper, maintainer_script(pre, false, true),
                  "the essential packages' preinst scripts and dpkg --configure -a");
    }
    system_ready = true;
  }
  if (groups.size() > 1) {
    say("installing in " + std::to_string(groups.size()) +
        " groups: a preinst needs a Pre-Depends of the same layer configured first");
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::vector<std::size_t>& group = groups[g];
    if (groups.size() > 1) {
      std::string names;
      for (std::size_t i : group) {
        names += (names.empty() ? "" : " ") + locked.packages[i].name;
      }
      say("group " + std::to_string(g + 1) + "/" + std::to_string(groups.size()) + ": " + names);
    }
    std::set<std::string> group_names;
    for (std::size_t i : group) {
      group_names.insert(locked.packages[i].name);
    }
    std::vector<ScriptPackage> early;
    std::vector<ScriptPackage> late;
    const fs::path staging = upper / fs::path(k_preinst_staging).relative_path();
    for (std::size_t i : group) {
      const auto it = controls[i].files.find("preinst");
      if (!configure || it == controls[i].files.end()) {
        continue;
      }
      bool needs_same_group = false;
      for (const auto& relation : debian::parse_relations(controls[i].control.get("Pre-Depends"))) {
        for (const auto& alt : relation) {
          needs_same_group = needs_same_group || group_names.contains(alt.name);
        }
      }
      if (!system_ready || needs_same_group) {
        late.push_back(script_package(i));
        continue;
      }
      const ScriptPackage sp = script_package(i);
      const fs::path area = staging / (sp.name + ":" + sp.arch);
      fs::create_directories(area);
      for (const auto& [member, file] : controls[i].files) {
        if (member.find('/') == std::string::npos && member != "." && member != "..") {
          const bool script = member == "preinst";  // run directly: executable, as before
          util::write_file_atomic(area / member, file.content, script ? 0755 : file.mode & 07777);
        }
      }
      early.push_back(sp);
    }
    if (!early.empty()) {
      run_scripts(ctx, locked, upper, maintainer_script(early, true, false),
                  "preinst scripts (before unpacking)");
    }
    util::remove_tree(staging);
    unpack(group, !system_ready && empty_system ? debian::MergedUsr::Yes : debian::MergedUsr::Auto);
    if (configure) {
      run_scripts(ctx, locked, upper, maintainer_script(late, false, true),
                  "preinst scripts and dpkg --configure -a");
    }
    system_ready = true;
  }
  if (!configure && ctx.on_warning) {
    ctx.on_warning("layer " + locked.recipe + "/" + locked.layer + ": configure skipped for " +
                   std::to_string(locked.packages.size()) + " " + image_arch +
                   " packages, built extract-only (they stay 'unpacked'; run `dpkg --configure "
                   "-a` on an " + image_arch + " machine): " + exec.detail);
  }
  PhaseTimer timer("normalise");
  write_extended_states(upper, step, installed, native_arch);
  drop_unchanged_links(seeded, upper);
  normalise_system_tree(upper, ctx.source_date_epoch);
}

void apply_run_step(const SystemLayerContext& ctx, const RunStep& step, const fs::path& upper) {
  if (!ctx.architecture.empty()) {
    const ArchSupport exec = arch_support(ctx.architecture, binfmt_misc_dir());
    if (exec.execution == ArchExecution::Impossible) {
      util::fail(util::ErrorKind::Unsupported,
                 step.location.str() + ": run step: the image is " + ctx.architecture +
                     " and this " + host_debian_arch() + " machine cannot run " +
                     ctx.architecture + " programs: " + exec.detail);
    }
  }
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
  run.ignore_sync = true;  // the upper dir becomes a blob that the store makes durable
  try {
    sandbox::run(run, upper);
  } catch (const util::Error& e) {
    util::fail(e.kind(), step.location.str() + ": run step failed: " + e.what());
  }
  normalise_system_tree(upper, ctx.source_date_epoch);
}

void normalise_system_tree(const fs::path& upper, std::int64_t sde) {
  // var/lib/dpkg/triggers/Unincorp stays (empty after a complete configure): without it
  // dpkg assumes a database from before triggers existed and activates every trigger of
  // every installed package on its next run (trig_transitional_activate), i.e. in each
  // layer above and in any `apt-get install` inside the image.
  for (const char* rel :
       {"var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log",
        "var/cache/ldconfig/aux-cache", "var/lib/dbus/machine-id", "var/lib/dpkg/status-old",
        "var/lib/dpkg/available-old", "var/lib/dpkg/diversions-old",
        "var/lib/dpkg/statoverride-old", "var/lib/dpkg/lock", "var/lib/dpkg/lock-frontend",
        "var/lib/dpkg/triggers/Lock", "etc/passwd-",
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
