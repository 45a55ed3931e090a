// Reading a fetched archive (tar of any common compression, or zip) into layer entries.
//
// The archive is hostile input even when its digest is pinned: a publisher can be
// compromised, and a checksum only proves that we got what the recipe named. So the
// archive is never extracted onto a filesystem by path. Each entry is read with libarchive
// and checked against the entries seen so far, in memory:
//   - its path is split with oci::split_archive_path (absolute paths, "..", over-long
//     paths refused), then strip_components leading components are removed (an entry with
//     no component left is dropped, as GNU tar does; an entry that names the extraction
//     directory itself only sets that directory's mode);
//   - a name starting with ".wh." is refused: in a layer it would be a whiteout;
//   - no earlier entry on its path may be a symlink (a write "through" a symlink is how an
//     archive escapes the directory it is extracted to) or a non-directory;
//   - a later entry at the same path replaces an earlier one, except that a directory
//     that already holds entries is never replaced by a non-directory;
//   - a hardlink must name a regular file that came earlier in the archive;
//   - devices, FIFOs and sockets are refused.
// Regular files' contents are streamed to numbered files in a scratch directory, which the
// returned entries name as their source. Modes are kept (masked to 07777), owners replaced
// by the step's (default 0:0), mtimes clamped to SOURCE_DATE_EPOCH; xattrs, ACLs and
// user/group names are dropped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "builder/recipe.hpp"
#include "oci/layer_writer.hpp"

namespace strata::builder {

/// What to extract and how. Plain value; the referenced paths must exist.
struct ExtractRequest {
  std::filesystem::path archive;  // the archive file (a store blob)
  std::string format;             // "tar" (plain, gzip, bzip2, xz, lzma, zstd, lz4) or "zip"
  std::string dest;               // layer-relative directory ("" = the image root)
  std::uint32_t strip_components = 0;
  std::optional<Owner> owner;  // else 0:0
  std::int64_t source_date_epoch = 0;
  std::filesystem::path scratch;  // an existing, empty directory for file contents
  std::uint64_t max_entries = 1'000'000;
  std::size_t max_path_length = 4096;
  std::string what;  // names the archive in messages: "FILE:L:C: fetch URL"
};

/// Reads the archive and returns its entries (sorted by path, unique), below `dest`.
/// Throws InvalidInput "WHAT: entry 'PATH': REASON" for an unsafe entry, and
/// "WHAT: REASON" for a file that is not a readable archive of `format`; IO when the
/// scratch directory cannot be written. Thread-safe for distinct scratch directories.
std::vector<oci::LayerEntry> extract_archive_entries(const ExtractRequest& request);

}  // namespace strata::builder
