// Deterministic layer writer.
//
// Turns a directory tree or an in-memory list of entries into an OCI layer: a PAX tar with
// entries sorted bytewise by path (parents before children), numeric uid/gid with empty
// user/group names, mtimes clamped to SOURCE_DATE_EPOCH, no atime/ctime, xattrs kept and
// sorted, hardlinks kept as hardlinks. The tar is compressed (zstd by default, or gzip with a
// header without name and time, or none) and streamed into a Sink; the uncompressed digest
// (diff_id) and the compressed digest are computed in the same pass. Memory stays bounded
// whatever the layer size: file contents are streamed, never held whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "oci/digest.hpp"
#include "util/io.hpp"

namespace strata::oci {

enum class Compression { Zstd, Gzip, None };

/// Media type for a layer of that compression (application/vnd.oci.image.layer.v1.tar+zstd, ...).
std::string layer_media_type(Compression compression);

struct LayerOptions {
  Compression compression = Compression::Zstd;
  int level = 3;             // zstd 1..19, gzip 1..9
  int threads = 0;           // zstd worker threads; 0 = number of CPUs (capped)
  std::int64_t source_date_epoch = 0;  // every mtime is clamped to at most this
  /// Directory input only: translate overlayfs whiteouts (char device 0:0 -> ".wh.NAME",
  /// directory with xattr trusted.overlay.opaque=y -> "DIR/.wh..wh..opq").
  bool overlay_whiteouts = false;
  /// Directory input only: keep the files' uid/gid (otherwise 0:0).
  bool keep_owners = true;
};

struct LayerResult {
  Digest diff_id;            // sha256 of the uncompressed tar
  Digest digest;             // sha256 of the bytes written to the sink
  std::uint64_t size = 0;    // bytes written to the sink
  std::uint64_t uncompressed_size = 0;
  std::string media_type;
  std::uint64_t entries = 0;
};

/// One entry of an in-memory layer.
struct LayerEntry {
  /// Whiteout: `path` names what a lower layer had and this one deletes; it is written as
  /// "DIR/.wh.NAME". OpaqueWhiteout: `path` names a directory whose lower content is hidden;
  /// it is written as "PATH/.wh..wh..opq". Both are empty files (mode/owner/mtime from the
  /// entry). Hardlink: the first of the link and its File in layer order carries the content.
  enum class Type { File, Directory, Symlink, Hardlink, Whiteout, OpaqueWhiteout };
  std::string path;          // relative, '/'-separated, no leading "/" or "./", no ".."
  Type type = Type::File;
  std::uint32_t mode = 0644; // permission bits incl. setuid/setgid/sticky
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t mtime = 0;    // clamped to source_date_epoch
  std::string content;       // File: inline content (used when source is empty)
  std::filesystem::path source;  // File: stream content from this file instead
  std::string link_target;   // Symlink target, or Hardlink: the path of the entry it links to
  std::map<std::string, std::string> xattrs;
};

/// Writes a layer from the tree under `root` (root itself is not an entry). Throws
/// InvalidInput for unsupported file types (sockets) and IO on read errors, naming the path.
LayerResult write_layer_from_dir(const std::filesystem::path& root, const LayerOptions& options,
                                 util::Sink& out);

/// Writes a layer from entries (any order; sorted here). Missing parent directories are
/// added as 0755 root-owned directories. Throws InvalidInput on bad or duplicate paths.
LayerResult write_layer_from_entries(std::vector<LayerEntry> entries, const LayerOptions& options,
                                     util::Sink& out);

}  // namespace strata::oci
