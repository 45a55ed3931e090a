// Reading and writing strata.lock (format described in lock.hpp).
#include "builder/lock.hpp"

#include <toml++/toml.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "builder/recipe_toml.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::builder {
namespace fs = std::filesystem;
using detail::TomlReader;

namespace {

constexpr std::int64_t k_lock_version = 1;

// A TOML basic string: JSON's escapes are all valid TOML escapes.
std::string toml_string(std::string_view text) {
  return nlohmann::json(std::string(text)).dump();
}

std::string string_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += (i == 0 ? "" : ", ") + toml_string(items[i]);
  }
  return out + "]";
}

oci::Digest digest_at(const TomlReader& reader, const toml::table& table, std::string_view key,
                      std::string_view what) {
  const std::string text = reader.required_string(table, key, what);
  try {
    return oci::Digest::parse(text);
  } catch (const util::Error& e) {
    reader.fail_at(*table.get(key), "'" + std::string(key) + "' in " + std::string(what) +
                                        " is not a digest: " + e.what());
  }
}

std::int64_t integer_at(const TomlReader& reader, const toml::table& table, std::string_view key,
                        std::string_view what) {
  const auto value = reader.integer(table, key, what);
  if (!value || *value < 0) {
    reader.fail_at(table, "'" + std::string(key) + "' in " + std::string(what) +
                              " must be a non-negative integer");
  }
  return *value;
}

LockedPackage parse_package(const TomlReader& reader, const toml::table& t) {
  constexpr std::string_view what = "a locked package";
  reader.check_keys(t, {"name", "version", "architecture", "sha256", "size", "path", "archive"},
                    what);
  LockedPackage p;
  p.name = reader.required_string(t, "name", what);
  p.version = reader.required_string(t, "version", what);
  p.architecture = reader.required_string(t, "architecture", what);
  const std::string hex = reader.required_string(t, "sha256", what);
  try {
    p.sha256 = oci::Digest::parse("sha256:" + hex);
  } catch (const util::Error&) {
    reader.fail_at(*t.get("sha256"), "'sha256' of package " + p.name +
                                         " must be 64 hexadecimal digits");
  }
  p.size = static_cast<std::uint64_t>(integer_at(reader, t, "size", what));
  p.path = reader.required_string(t, "path", what);
  if (p.path.empty() || p.path.starts_with('/') || p.path.find("..") != std::string::npos) {
    reader.fail_at(*t.get("path"), "'path' of package " + p.name +
                                       " must be a relative archive path (pool/...)");
  }
  p.archive = reader.string(t, "archive", what).value_or("");
  return p;
}

}  // namespace

const LockedLayer* Lock::find(std::string_view recipe, std::string_view layer) const {
  for (const auto& l : layers) {
    if (l.recipe == recipe && l.layer == layer) {
      return &l;
    }
  }
  return nullptr;
}

oci::Digest Lock::digest() const {
  return oci::Digest::of(lock_text(*this));
}

std::vector<LockChange> diff_locks(const Lock& before, const Lock& after) {
  std::vector<LockChange> out;
  auto key = [](const LockedPackage& p) { return p.name + ":" + p.architecture; };
  auto label = [](const LockedPackage& p) {
    return p.architecture == "all" ? p.name : p.name + ":" + p.architecture;
  };
  auto layer_changes = [&](const std::string& name, const LockedLayer* a, const LockedLayer* b) {
    std::map<std::string, const LockedPackage*> old_pkgs;
    std::map<std::string, const LockedPackage*> new_pkgs;
    if (a != nullptr) {
      for (const auto& p : a->packages) {
        old_pkgs[key(p)] = &p;
      }
    }
    if (b != nullptr) {
      for (const auto& p : b->packages) {
        new_pkgs[key(p)] = &p;
      }
    }
    std::set<std::string> keys;
    for (const auto& [k, p] : old_pkgs) {
      keys.insert(k);
    }
    for (const auto& [k, p] : new_pkgs) {
      keys.insert(k);
    }
    for (const auto& k : keys) {
      const auto o = old_pkgs.find(k);
      const auto n = new_pkgs.find(k);
      const LockedPackage* op = o == old_pkgs.end() ? nullptr : o->second;
      const LockedPackage* np = n == new_pkgs.end() ? nullptr : n->second;
      if (op != nullptr && np != nullptr && op->version == np->version && op->sha256 == np->sha256) {
        continue;
      }
      out.push_back(LockChange{name, label(op ? *op : *np), op ? op->version : "",
                               np ? np->version : ""});
    }
  };
  std::set<std::string> seen;
  for (const auto& l : after.layers) {
    const std::string name = l.recipe + "/" + l.layer;
    seen.insert(name);
    layer_changes(name, before.find(l.recipe, l.layer), &l);
  }
  for (const auto& l : before.layers) {
    const std::string name = l.recipe + "/" + l.layer;
    if (!seen.contains(name)) {
      layer_changes(name, &l, nullptr);
    }
  }
  return out;
}

std::string lock_text(const Lock& lock) {
  std::string out =
      "# strata.lock: the exact Debian packages of every debian layer of this recipe's stack.\n"
      "# Written by `strata lock`; `strata build --locked` builds from it and never resolves.\n"
      "# Commit it next to the recipe. Do not edit by hand: use `strata lock --update PKG`.\n"
      "version = " +
      std::to_string(k_lock_version) + "\n";
  if (lock.archive) {
    const LockedArchive& a = *lock.archive;
    out += "\n[archive]\n";
    out += "suite = " + toml_string(a.suite) + "\n";
    out += "codename = " + toml_string(a.codename) + "\n";
    out += "components = " + string_list(a.components) + "\n";
    out += "architectures = " + string_list(a.architectures) + "\n";
    out += "inrelease = " + toml_string(a.inrelease.str()) + "\n";
    out += "date_epoch = " + std::to_string(a.date_epoch) + "\n";
  }
  for (const LockedLayer& layer : lock.layers) {
    out += "\n[[layer]]\n";
    out += "recipe = " + toml_string(layer.recipe) + "\n";
    out += "layer = " + toml_string(layer.layer) + "\n";
    out += "request = " + toml_string(layer.request.str()) + "\n";
    out += "packages = [\n";
    for (const LockedPackage& p : layer.packages) {
      out += "  { name = " + toml_string(p.name) + ", version = " + toml_string(p.version) +
             ", architecture = " + toml_string(p.architecture) + ", sha256 = " +
             toml_string(p.sha256.hex()) + ", size = " + std::to_string(p.size) +
             ", path = " + toml_string(p.path) + ", archive = " + toml_string(p.archive) + " },\n";
    }
    out += "]\n";
  }
  return out;
}

Lock parse_lock(std::string_view text, const fs::path& file) {
  const TomlReader reader(file.string());
  toml::table doc;
  try {
    doc = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    reader.fail_at(reader.at(e.source()), std::string(e.description()));
  }
  reader.check_keys(doc, {"version", "archive", "layer"}, "the lock file");
  const auto version = reader.integer(doc, "version", "the lock file");
  if (!version) {
    reader.fail_at(SourceLocation{file.string(), 1, 1}, "missing 'version' (is this a strata.lock?)");
  }
  if (*version != k_lock_version) {
    util::fail(util::ErrorKind::Unsupported,
               reader.at(*doc.get("version")).str() + ": lock format version " +
                   std::to_string(*version) + " is not supported by this strata (it reads " +
                   std::to_string(k_lock_version) + "); run `strata lock` to rewrite it");
  }
  Lock lock;
  if (const toml::node* a = doc.get("archive")) {
    if (!a->is_table()) {
      reader.fail_at(*a, "'archive' must be a table");
    }
    const toml::table& t = *a->as_table();
    constexpr std::string_view what = "[archive]";
    reader.check_keys(t, {"suite", "codename", "components", "architectures", "inrelease",
                          "date_epoch"},
                      what);
    LockedArchive archive;
    archive.suite = reader.required_string(t, "suite", what);
    archive.codename = reader.string(t, "codename", what).value_or("");
    archive.components = reader.string_array(t, "components", what).value_or(std::vector<std::string>{});
    archive.architectures =
        reader.string_array(t, "architectures", what).value_or(std::vector<std::string>{});
    archive.inrelease = digest_at(reader, t, "inrelease", what);
    archive.date_epoch = integer_at(reader, t, "date_epoch", what);
    lock.archive = std::move(archive);
  }
  if (const toml::node* layers = doc.get("layer")) {
    if (!layers->is_array_of_tables()) {
      reader.fail_at(*layers, "'layer' must be written as [[layer]] tables");
    }
    for (const auto& item : *layers->as_array()) {
      const toml::table& t = *item.as_table();
      constexpr std::string_view what = "a [[layer]] of the lock";
      reader.check_keys(t, {"recipe", "layer", "request", "packages"}, what);
      LockedLayer layer;
      layer.recipe = reader.required_string(t, "recipe", what);
      layer.layer = reader.required_string(t, "layer", what);
      layer.request = digest_at(reader, t, "request", what);
      if (const toml::node* packages = t.get("packages")) {
        if (!packages->is_array()) {
          reader.fail_at(*packages, "'packages' must be an array of tables");
        }
        for (const auto& p : *packages->as_array()) {
          if (!p.is_table()) {
            reader.fail_at(p, "each package must be a table { name = ..., version = ... }");
          }
          layer.packages.push_back(parse_package(reader, *p.as_table()));
        }
      }
      lock.layers.push_back(std::move(layer));
    }
  }
  if (!lock.layers.empty() && !lock.archive) {
    reader.fail_at(SourceLocation{file.string(), 1, 1},
                   "the lock has layers but no [archive]; run `strata lock` to rewrite it");
  }
  return lock;
}

std::optional<Lock> read_lock(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    return std::nullopt;
  }
  return parse_lock(util::read_file(file), file);
}

void write_lock(const fs::path& file, const Lock& lock) {
  util::write_file_atomic(file, lock_text(lock));
}

fs::path lock_path_for(const fs::path& recipe_file) {
  fs::path out = recipe_file;
  out.replace_extension(".lock");
  return out;
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

}  // namespace strata::builder
