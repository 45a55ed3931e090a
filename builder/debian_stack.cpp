// Resolving the debian layers of a recipe stack into a lock (see debian_stack.hpp).
#include "builder/debian_stack.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "builder/debian/archive.hpp"
#include "builder/debian/sources.hpp"
#include "util/error.hpp"

namespace strata::builder {
namespace {

using nlohmann::json;

void collect(const Recipe& recipe, std::vector<DebianLayerRef>& out) {
  if (recipe.parent) {
    collect(*recipe.parent, out);
  }
  for (std::size_t i = 0; i < recipe.layers.size(); ++i) {
    const Layer& layer = recipe.layers[i];
    for (const Step& step : layer.steps) {
      if (const auto* d = std::get_if<DebianStep>(&step)) {
        DebianLayerRef ref;
        ref.recipe = &recipe;
        ref.layer = &layer;
        ref.index_in_recipe = i;
        ref.step = d;
        ref.layer_id = layer.name.empty() ? "#" + std::to_string(i + 1) : layer.name;
        out.push_back(std::move(ref));
      }
    }
  }
}

std::vector<std::string> architectures_of(const DebianSpec& spec) {
  return spec.architectures.empty() ? std::vector<std::string>{host_debian_architecture()}
                                    : spec.architectures;
}

debian::PrioritySet priority_set(const std::string& name) {
  if (name == "minbase") {
    return debian::PrioritySet::Minbase;
  }
  if (name == "important") {
    return debian::PrioritySet::Important;
  }
  return debian::PrioritySet::None;
}

LockedPackage locked(const debian::ChosenPackage& c) {
  LockedPackage p;
  p.name = c.name;
  p.version = c.version;
  p.architecture = c.architecture;
  if (c.package.sha256.empty() || c.package.filename.empty()) {
    util::fail(util::ErrorKind::InvalidInput,
               "package " + c.name + " " + c.version + " (" + c.architecture + ") of " +
                   c.package.archive +
                   " has no SHA256 or Filename in its Packages index; it cannot be locked");
  }
  p.sha256 = oci::Digest::parse("sha256:" + c.package.sha256);
  p.size = c.package.size;
  p.path = c.package.filename;
  p.archive = c.package.archive;
  return p;
}

// A package of a kept lock layer, as the resolver needs it for the layers above: the
// archive's own stanza when it still lists that exact version, else a bare record (its
// relations are assumed satisfied; it satisfies relations by name and version).
debian::Package installed_package(const debian::Universe& universe, const LockedPackage& p) {
  for (debian::PackageId id : universe.versions_of(p.name)) {
    const debian::Package& candidate = universe.package(id);
    if (candidate.version == p.version && candidate.architecture == p.architecture) {
      return candidate;
    }
  }
  return package_of(p);
}

std::string pin_key(const LockedPackage& p) {
  return p.architecture == "all" ? p.name : p.name + ":" + p.architecture;
}

}  // namespace

std::optional<DebianSpec> effective_debian_spec(const Recipe& recipe) {
  std::optional<DebianSpec> out;
  std::set<std::string> components;
  for (const Recipe* r = &recipe; r != nullptr; r = r->parent.get()) {
    if (!r->debian) {
      continue;
    }
    const DebianSpec& d = *r->debian;
    if (!out) {
      out = d;
    } else {
      if (d.suite != out->suite) {
        util::fail(util::ErrorKind::InvalidInput,
                   d.location.str() + ": [debian] suite \"" + d.suite + "\" of recipe " + r->name +
                       " differs from \"" + out->suite + "\" (" + out->location.str() +
                       ") higher in the same stack; one stack resolves against one suite");
      }
      if (out->architectures.empty()) {
        out->architectures = d.architectures;
      }
      if (out->keyring.empty()) {
        out->keyring = d.keyring;
      }
    }
    components.insert(d.components.begin(), d.components.end());
  }
  if (out) {
    out->components.assign(components.begin(), components.end());
  }
  return out;
}

std::string host_debian_architecture() {
  struct utsname u {};
  ::uname(&u);
  const std::string m = u.machine;
  static const std::map<std::string, std::string> k_names{
      {"x86_64", "amd64"},   {"aarch64", "arm64"}, {"armv7l", "armhf"}, {"i686", "i386"},
      {"i386", "i386"},      {"ppc64le", "ppc64el"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
      {"mips64", "mips64el"}};
  const auto it = k_names.find(m);
  return it == k_names.end() ? m : it->second;
}

std::vector<DebianLayerRef> debian_layers(const Recipe& top) {
  std::vector<DebianLayerRef> out;
  collect(top, out);
  const std::optional<DebianSpec> spec = effective_debian_spec(top);
  std::string previous;
  for (DebianLayerRef& ref : out) {
    json j{{"previous", previous.empty() ? json(nullptr) : json(previous)},
           {"suite", spec ? spec->suite : ""},
           {"components", spec ? spec->components : std::vector<std::string>{}},
           {"architectures", spec ? architectures_of(*spec) : std::vector<std::string>{}},
           {"packages", ref.step->packages},
           {"priority", ref.step->priority},
           {"recommends", ref.step->recommends}};
    ref.request = oci::Digest::of(j.dump());
    previous = ref.request.str();
  }
  return out;
}

std::string lock_disagreement(const Recipe& top, const Lock& lock) {
  const auto layers = debian_layers(top);
  if (layers.size() != lock.layers.size()) {
    return "the recipe has " + std::to_string(layers.size()) + " debian layer(s), the lock " +
           std::to_string(lock.layers.size());
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& ref = layers[i];
    const auto& entry = lock.layers[i];
    if (entry.recipe != ref.recipe->name || entry.layer != ref.layer_id) {
      return "debian layer " + std::to_string(i + 1) + " is " + ref.recipe->name + "/" +
             ref.layer_id + " in the recipe but " + entry.recipe + "/" + entry.layer +
             " in the lock";
    }
    if (entry.request != ref.request) {
      return "layer " + ref.recipe->name + "/" + ref.layer_id + " (" + ref.step->location.str() +
             ") asks for something else than when the lock was made (its packages, priority, "
             "recommends, the [debian] archive or a debian layer below it changed)";
    }
  }
  return {};
}

StackResolution resolve_stack(const Recipe& top, cache::Store& store,
                              const ArchiveSettings& settings, const LockRequest& request) {
  StackResolution out;
  const std::vector<DebianLayerRef> layers = debian_layers(top);
  out.resolutions.resize(layers.size());
  if (layers.empty()) {
    out.changed = request.previous.has_value() && !request.previous->layers.empty();
    return out;
  }
  const DebianSpec spec = *effective_debian_spec(top);
  const std::vector<std::string> archs = architectures_of(spec);

  // How many layers from the bottom can be kept verbatim.
  std::size_t keep = 0;
  if (request.previous && !request.update && !request.reresolve_all && request.previous->archive) {
    const Lock& prev = *request.previous;
    while (keep < layers.size() && keep < prev.layers.size() &&
           prev.layers[keep].recipe == layers[keep].recipe->name &&
           prev.layers[keep].layer == layers[keep].layer_id &&
           prev.layers[keep].request == layers[keep].request) {
      ++keep;
    }
  }
  if (keep == layers.size()) {
    out.lock = *request.previous;
    out.changed = false;
    return out;
  }

  // Pins: every previously locked version, except what --update moves.
  std::map<std::string, std::string> pins;
  if (request.previous) {
    const std::set<std::string> moving(request.update_packages.begin(),
                                       request.update_packages.end());
    const bool move_all = request.update && request.update_packages.empty();
    for (const auto& l : request.previous->layers) {
      for (const auto& p : l.packages) {
        if (!move_all && !moving.contains(p.name)) {
          pins[pin_key(p)] = p.version;
        }
      }
    }
  }

  debian::ArchiveOptions options;
  options.mirror = settings.mirror.empty() ? debian::find_debian_mirror().uri : settings.mirror;
  options.suite = spec.suite;
  options.components = spec.components;
  options.architectures = archs;
  if (!spec.keyring.empty()) {
    options.keyrings = {spec.keyring};
  }
  options.gpgv = settings.gpgv;
  options.allow_unsigned = settings.allow_unsigned;
  options.ignore_valid_until = settings.ignore_valid_until;
  options.now = settings.now;
  options.fetch = settings.fetch;
  const debian::Archive archive = debian::Archive::open(store, options);
  const debian::Universe universe = archive.universe();

  LockedArchive locked_archive;
  locked_archive.suite = spec.suite;
  locked_archive.codename = archive.release().codename;
  locked_archive.components = spec.components;
  locked_archive.architectures = archs;
  locked_archive.inrelease = archive.inrelease_digest();
  locked_archive.date_epoch = archive.date();
  out.lock.archive = locked_archive;

  std::vector<debian::Package> installed;
  for (std::size_t i = 0; i < keep; ++i) {
    out.lock.layers.push_back(request.previous->layers[i]);
    for (const auto& p : request.previous->layers[i].packages) {
      installed.push_back(installed_package(universe, p));
    }
  }

  auto base_request = [&]() {
    debian::Request r;
    r.architecture = archs.front();
    r.foreign_architectures.assign(archs.begin() + 1, archs.end());
    r.installed = installed;
    r.pins = pins;
    return r;
  };
  auto layer_name = [&](std::size_t i) {
    return layers[i].recipe->name + "/" + layers[i].layer_id + " (" +
           layers[i].step->location.str() + ")";
  };

  // One consistent set for everything that is resolved now.
  if (layers.size() - keep > 1) {
    debian::Request all = base_request();
    for (std::size_t i = keep; i < layers.size(); ++i) {
      const DebianStep& step = *layers[i].step;
      all.packages.insert(all.packages.end(), step.packages.begin(), step.packages.end());
      all.priorities = std::max(all.priorities, priority_set(step.priority));
      all.with_recommends = all.with_recommends || step.recommends;
    }
    debian::Resolution whole;
    try {
      whole = debian::resolve(universe, all);
    } catch (const util::Error& e) {
      util::fail(e.kind(), "the debian layers of " + top.name +
                               " cannot be installed together: " + e.what());
    }
    for (const auto& c : whole.packages) {
      const std::string key = c.architecture == "all" ? c.name : c.name + ":" + c.architecture;
      pins.try_emplace(key, c.version);
    }
  }

  for (std::size_t i = keep; i < layers.size(); ++i) {
    const DebianStep& step = *layers[i].step;
    debian::Request r = base_request();
    r.packages = step.packages;
    r.priorities = priority_set(step.priority);
    r.with_recommends = step.recommends;
    debian::Resolution res;
    try {
      res = debian::resolve(universe, r);
    } catch (const util::Error& e) {
      util::fail(e.kind(), "debian layer " + layer_name(i) + ": " + e.what());
    }
    LockedLayer entry;
    entry.recipe = layers[i].recipe->name;
    entry.layer = layers[i].layer_id;
    entry.request = layers[i].request;
    for (const auto& c : res.packages) {
      entry.packages.push_back(locked(c));
      installed.push_back(c.package);
    }
    for (const auto& note : res.notes) {
      out.notes.push_back(layers[i].recipe->name + "/" + layers[i].layer_id + ": " + note);
    }
    out.lock.layers.push_back(std::move(entry));
    out.resolutions[i] = std::move(res);
  }
  out.changed = !request.previous || lock_text(*request.previous) != lock_text(out.lock);
  return out;
}

}  // namespace strata::builder
