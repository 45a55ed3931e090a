// Exporting an image from the store: to an OCI image layout directory or a docker-archive
// tarball. Both read blobs by streaming, so memory stays flat whatever the layer size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cache/store.hpp"
#include "oci/digest.hpp"

namespace strata::builder {

/// Copies the manifest `manifest` (and its config and layers) from `store` into the layout
/// at `dir` (created or added to), naming it `ref_name` in index.json (replacing an entry of
/// the same name). Throws NotFound naming a missing blob, IO on write errors.
void export_oci_layout(const cache::Store& store, const oci::Digest& manifest,
                       const std::filesystem::path& dir, const std::string& ref_name);

/// Writes a docker-archive tarball of `manifest` to `file` atomically (a reader never sees
/// a partial file; nothing is left on failure). `repo_tags` are "name:tag" strings,
/// `mtime` the time stamp of the tar entries, `uncompressed_sizes` the known sizes of layer
/// tars by diff_id (others are measured by decompressing once).
void export_docker_archive(const cache::Store& store, const oci::Digest& manifest,
                           const std::filesystem::path& file,
                           const std::vector<std::string>& repo_tags, std::int64_t mtime,
                           const std::map<oci::Digest, std::uint64_t>& uncompressed_sizes = {});

}  // namespace strata::builder
