#include "builder/steps.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>

#include "builder/fetch_step.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

namespace strata::builder {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail_at(const SourceLocation& where, const std::string& message) {
  util::fail(util::ErrorKind::InvalidInput, where.str() + ": " + message);
}

/// realpath(3) owned by a std::string; nullopt with errno set on failure.
std::optional<std::string> real_path(const fs::path& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr),
                                                       &std::free);
  if (!resolved) {
    return std::nullopt;
  }
  return std::string(resolved.get());
}

struct DirCloser {
  void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};

bool is_inside(const std::string& root, const std::string& path) {
  return path == root || root == "/" || path.starts_with(root + "/");
}

/// Accumulates a layer's entries; a later entry replaces an earlier one at the same path.
class EntrySet {
 public:
  void add(oci::LayerEntry entry, const SourceLocation& where) {
    // Every ancestor that is already an entry must be a directory.
    for (auto slash = entry.path.find('/'); slash != std::string::npos;
         slash = entry.path.find('/', slash + 1)) {
      const auto it = m_entries.find(entry.path.substr(0, slash));
      if (it != m_entries.end() && it->second.type != oci::LayerEntry::Type::Directory) {
        fail_at(where, "/" + entry.path + " needs /" + it->first +
                           " to be a directory, but an earlier step put a non-directory there");
      }
    }
    if (entry.type != oci::LayerEntry::Type::Directory) {
      const std::string prefix = entry.path + "/";
      const auto it = m_entries.lower_bound(prefix);
      if (it != m_entries.end() && it->first.starts_with(prefix)) {
        fail_at(where, "/" + entry.path +
                           " would replace a directory that an earlier step filled (/" + it->first +
                           ")");
      }
    }
    const std::string key = entry.path;
    m_entries.insert_or_assign(key, std::move(entry));
  }

  std::vector<oci::LayerEntry> take() {
    std::vector<oci::LayerEntry> out;
    out.reserve(m_entries.size());
    for (auto& [path, entry] : m_entries) {
      out.push_back(std::move(entry));
    }
    return out;
  }

 private:
  std::map<std::string, oci::LayerEntry> m_entries;
};

struct PlanContext {
  const Recipe& recipe;
  std::int64_t source_date_epoch;
  const InputHasher& hasher;
  FetchPlanner* fetch;
  bool inputs_only;  // plan_layer_inputs(): fetch steps record their input only
  EntrySet entries;
  std::set<LayerInput> inputs;
};

std::string image_rel(const std::string& abs) {
  return abs == "/" ? "" : abs.substr(1);
}

std::string join_image(const std::string& dir_rel, const std::string& name) {
  return dir_rel.empty() ? name : dir_rel + "/" + name;
}

std::string join_ctx(const std::string& ctx_rel, const std::string& name) {
  return ctx_rel == "." ? name : ctx_rel + "/" + name;
}

oci::LayerEntry base_entry(const PlanContext& ctx, std::string path, oci::LayerEntry::Type type,
                           const std::optional<Owner>& owner) {
  oci::LayerEntry e;
  e.path = std::move(path);
  e.type = type;
  e.mtime = ctx.source_date_epoch;
  if (owner) {
    e.uid = owner->uid;
    e.gid = owner->gid;
  }
  return e;
}

void add_one(PlanContext& ctx, const CopyStep& step, const fs::path& real,
             const std::string& ctx_rel, const std::string& image_path, bool follow);

void add_directory(PlanContext& ctx, const CopyStep& step, const fs::path& real,
                   const std::string& ctx_rel, const std::string& image_path) {
  if (!image_path.empty()) {
    auto e = base_entry(ctx, image_path, oci::LayerEntry::Type::Directory, step.owner);
    e.mode = 0755;
    ctx.entries.add(std::move(e), step.location);
  }
  ctx.inputs.insert(LayerInput{ctx_rel, "", 0, "dir", ""});
  std::unique_ptr<DIR, DirCloser> dir(::opendir(real.c_str()));
  if (!dir) {
    util::fail_errno(step.location.str() + ": cannot read directory " + real.string());
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* d = ::readdir(dir.get())) {
    const std::string name = d->d_name;
    if (name != "." && name != "..") {
      names.push_back(name);
    }
  }
  if (errno != 0) {
    util::fail_errno(step.location.str() + ": cannot read directory " + real.string());
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    add_one(ctx, step, real / name, join_ctx(ctx_rel, name), join_image(image_path, name), false);
  }
}

void add_one(PlanContext& ctx, const CopyStep& step, const fs::path& real,
             const std::string& ctx_rel, const std::string& image_path, bool follow) {
  struct stat st {};
  if ((follow ? ::stat(real.c_str(), &st) : ::lstat(real.c_str(), &st)) != 0) {
    if (errno == ENOENT) {
      fail_at(step.location,
              "copy source '" + ctx_rel + "' vanished during the build (" + real.string() + ")");
    }
    util::fail_errno(step.location.str() + ": cannot stat " + real.string());
  }
  if (S_ISDIR(st.st_mode)) {
    add_directory(ctx, step, real, ctx_rel, image_path);
    return;
  }
  if (image_path.empty()) {
    fail_at(step.location, "copy of '" + ctx_rel + "' cannot replace the image's root directory");
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
    const ssize_t n = ::readlink(real.c_str(), target.data(), target.size());
    if (n < 0) {
      util::fail_errno(step.location.str() + ": cannot read symlink " + real.string());
    }
    target.resize(static_cast<std::size_t>(n));
    auto e = base_entry(ctx, image_path, oci::LayerEntry::Type::Symlink, step.owner);
    e.mode = 0777;
    e.link_target = target;
    ctx.entries.add(std::move(e), step.location);
    ctx.inputs.insert(LayerInput{ctx_rel, "", 0, "symlink", target});
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    fail_at(step.location, "copy source '" + ctx_rel + "' (" + real.string() +
                               ") is not a regular file, directory or symlink");
  }
  const std::uint32_t context_mode = (st.st_mode & 0111) != 0 ? 0755 : 0644;
  auto e = base_entry(ctx, image_path, oci::LayerEntry::Type::File, step.owner);
  e.mode = step.mode.value_or(context_mode);
  e.source = real;
  ctx.entries.add(std::move(e), step.location);
  std::string sha256 = ctx.hasher ? ctx.hasher(real, st) : util::hash_file_hex(real.string());
  ctx.inputs.insert(LayerInput{ctx_rel, std::move(sha256), context_mode, "file", ""});
}

void plan_copy(PlanContext& ctx, const CopyStep& step) {
  const fs::path real = resolve_copy_source(ctx.recipe.dir, step.src, step.location);
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0) {
    util::fail_errno(step.location.str() + ": cannot stat " + real.string());
  }
  std::string dest = image_rel(step.dest);
  if (!S_ISDIR(st.st_mode) && step.dest_is_dir) {
    dest = join_image(dest, fs::path(step.src).filename().string());
  }
  add_one(ctx, step, real, step.src, dest, true);
}

void plan_file(PlanContext& ctx, const FileStep& step) {
  auto e = base_entry(ctx, image_rel(step.path), oci::LayerEntry::Type::File, step.owner);
  e.mode = step.mode;
  e.content = step.content;
  ctx.entries.add(std::move(e), step.location);
}

void plan_fetch(PlanContext& ctx, const FetchStep& step) {
  if (ctx.inputs_only) {
    ctx.inputs.insert(FetchPlanner::input(step));
    return;
  }
  if (ctx.fetch == nullptr) {
    util::fail(util::ErrorKind::Unsupported,
               step.location.str() + ": fetch step (" + step.url +
                   ") cannot be built here: this caller plans layers without a downloader "
                   "(builder::FetchPlanner); please report this as a bug in strata");
  }
  ctx.inputs.insert(FetchPlanner::input(step));
  for (auto& entry : ctx.fetch->entries(step, ctx.source_date_epoch)) {
    ctx.entries.add(std::move(entry), step.location);
  }
}

PlanContext plan_steps(PlanContext ctx, const Layer& layer) {
  for (const auto& step : layer.steps) {
    std::visit(
        [&](const auto& s) {
          using T = std::decay_t<decltype(s)>;
          if constexpr (std::is_same_v<T, CopyStep>) {
            plan_copy(ctx, s);
          } else if constexpr (std::is_same_v<T, FileStep>) {
            plan_file(ctx, s);
          } else if constexpr (std::is_same_v<T, FetchStep>) {
            plan_fetch(ctx, s);
          } else {
            util::fail(util::ErrorKind::Internal,
                       s.location.str() + ": sandbox steps are not planned as file layers");
          }
        },
        step);
  }
  return ctx;
}

}  // namespace

fs::path resolve_copy_source(const fs::path& recipe_dir, const std::string& src,
                             const SourceLocation& where) {
  const auto root = real_path(recipe_dir.empty() ? fs::path(".") : recipe_dir);
  if (!root) {
    util::fail_errno(where.str() + ": cannot resolve the recipe directory " + recipe_dir.string());
  }
  const fs::path wanted = fs::path(*root) / src;
  const auto real = real_path(wanted);
  if (!real) {
    if (errno == ENOENT || errno == ENOTDIR) {
      fail_at(where,
              "copy source '" + src + "' does not exist (looked for " + wanted.string() + ")");
    }
    util::fail_errno(where.str() + ": cannot resolve copy source " + wanted.string());
  }
  if (!is_inside(*root, *real)) {
    fail_at(where, "copy source '" + src + "' resolves to " + *real +
                       ", outside the recipe directory " + *root +
                       " (through '..' or a symlink); copy only files of the build context");
  }
  return *real;
}

LayerPlan plan_layer(const Recipe& recipe, const Layer& layer, std::int64_t source_date_epoch,
                     const InputHasher& hasher, FetchPlanner* fetch) {
  PlanContext ctx =
      plan_steps(PlanContext{recipe, source_date_epoch, hasher, fetch, false, {}, {}}, layer);
  LayerPlan plan;
  plan.entries = ctx.entries.take();
  plan.inputs.assign(ctx.inputs.begin(), ctx.inputs.end());
  return plan;
}

std::vector<LayerInput> plan_layer_inputs(const Recipe& recipe, const Layer& layer,
                                          std::int64_t source_date_epoch,
                                          const InputHasher& hasher) {
  PlanContext ctx =
      plan_steps(PlanContext{recipe, source_date_epoch, hasher, nullptr, true, {}, {}}, layer);
  return {ctx.inputs.begin(), ctx.inputs.end()};
}

std::string describe_step(const Step& step) {
  return std::visit(
      [](const auto& s) -> std::string {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, CopyStep>) {
          const bool slash = s.dest_is_dir && s.dest != "/";
          return "copy " + s.src + " -> " + s.dest + (slash ? "/" : "");
        } else if constexpr (std::is_same_v<T, FileStep>) {
          return "file " + s.path;
        } else if constexpr (std::is_same_v<T, DebianStep>) {
          std::string text = "debian";
          if (s.priority != "none") {
            text += " priority=" + s.priority;
          }
          for (const auto& p : s.packages) {
            text += " " + p;
          }
          return text + (s.recommends ? " +recommends" : "");
        } else if constexpr (std::is_same_v<T, FetchStep>) {
          return "fetch " + s.url + " -> " + s.dest + (s.extract.empty() ? "" : " (" + s.extract + ")");
        } else {
          std::string text = "run";
          for (const auto& a : s.argv) {
            text += " " + a;
          }
          // History lines stay readable: long commands are cut (the recipe has the whole).
          return text.size() > 200 ? text.substr(0, 197) + "..." : text;
        }
      },
      step);
}

std::string describe_layer(const Layer& layer, std::size_t index) {
  std::string steps;
  for (const auto& step : layer.steps) {
    steps += (steps.empty() ? "" : "; ") + describe_step(step);
  }
  const std::string name = layer.name.empty() ? std::to_string(index) : layer.name;
  return "strata: layer " + name + " (" + steps + ")";
}

}  // namespace strata::builder
