// Applies the entries of one layer, already parsed by libarchive, onto a root directory.
// Internal to the unpacker (unpacker.cpp drives it); see layer_applier.cpp.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "oci/safe_path.hpp"
#include "oci/unpacker.hpp"
#include "util/fd.hpp"

struct archive;
struct archive_entry;

namespace strata::oci {

/// Writes the entries of one layer into a root directory, safely. Errors are thrown as
/// util::Error without the layer/entry prefix (the caller adds it). Not thread-safe;
/// one instance per layer application.
class LayerApplier {
 public:
  /// Opens `root` (NotFound/IO if it cannot); `options` must outlive the applier.
  LayerApplier(const std::filesystem::path& root, const UnpackOptions& options);

  /// Applies the entry just read by archive_read_next_header(); reads its data from `a`.
  void apply(archive* a, archive_entry* entry);

  /// Applies deferred directory modes and times (after all content of the layer).
  void finish();

  [[nodiscard]] const UnpackStats& stats() const noexcept { return m_stats; }
  /// Whether paths are resolved with openat2 (false: component walk).
  [[nodiscard]] bool using_openat2() const noexcept { return m_resolver.using_openat2(); }

 private:
  struct DeferredDir {
    std::vector<std::string> parts;
    mode_t mode;
    bool has_times;
    timespec times[2];
  };

  int parent_dir(const std::vector<std::string>& parts);
  void invalidate_parent_cache() noexcept;
  void mark_created(const DirId& dir, const std::string& name);
  [[nodiscard]] bool created_here(const DirId& dir, const std::string& name) const;
  void clear_slot(int parent, const std::string& name, const std::string& display);

  void apply_whiteout(const std::vector<std::string>& parts);
  void remove_lower(int dir_fd, const DirId& dir, const std::string& name,
                    const std::string& display);
  void clean_lower(int dir_fd, const std::string& display);

  // Overlay mode (UnpackOptions::overlay_whiteouts), see layer_applier_overlay.cpp.
  void record_overlay_marker(const std::vector<std::string>& parts, const std::string& target);
  void apply_overlay_markers();
  void mark_opaque(int dir_fd, const std::string& display) const;
  [[nodiscard]] static bool is_overlay_xattr(std::string_view key) noexcept;

  void make_dir(archive_entry* e, const std::vector<std::string>& parts, int parent,
                const std::string& display);
  void make_file(archive* a, archive_entry* e, int parent, const std::string& name,
                 const std::string& display);
  void make_symlink(archive_entry* e, int parent, const std::string& name,
                    const std::string& display);
  void make_fifo(archive_entry* e, int parent, const std::string& name, const std::string& display);
  void make_hardlink(archive_entry* e, const std::vector<std::string>& target, int parent,
                     const std::string& name, const std::string& display);

  [[nodiscard]] mode_t permissions(archive_entry* e, bool is_dir) const;
  void set_owner_at(archive_entry* e, int parent, const std::string& name);
  void set_xattrs(archive_entry* e, int fd, int parent, const std::string& name);

  RootResolver m_resolver;
  const UnpackOptions& m_options;
  bool m_privileged;
  mode_t m_umask;  // 0777 when unknown: always chmod

  std::string m_parent_key;
  util::Fd m_parent_fd;
  DirId m_parent_id;
  bool m_parent_valid = false;

  // (directory, name) of every object this layer created or merged into, so that
  // whiteouts and opaque markers, which apply to lower layers only, spare them.
  std::unordered_set<std::string> m_created;
  std::vector<DeferredDir> m_dirs;
  // Overlay mode: paths whose lower object this layer hides (".wh.NAME" -> NAME) and
  // directories whose lower content it hides (".wh..wh..opq"), applied in finish().
  std::vector<std::vector<std::string>> m_overlay_whiteouts;
  std::vector<std::vector<std::string>> m_overlay_opaque;
  UnpackStats m_stats;
};

}  // namespace strata::oci
