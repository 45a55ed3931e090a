// docker-archive tarballs, the format `docker save` writes and `docker load` reads:
// manifest.json ([{Config, RepoTags, Layers}]), repositories, the config blob and one
// uncompressed layer tar per layer. Layers are decompressed while written so that the
// tarball's layer files hash to the image config's diff_ids. Deterministic output.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "oci/image.hpp"
#include "util/io.hpp"

namespace strata::oci {

struct DockerArchiveLayer {
  Descriptor descriptor;  // compressed blob descriptor from the manifest
  Digest diff_id;         // from the config
  /// Size of the uncompressed tar when known (from the build); otherwise the layer is
  /// first decompressed to a temporary file to learn it.
  std::optional<std::uint64_t> uncompressed_size;
  /// Opens the (compressed) blob content; called once, while writing.
  std::function<std::unique_ptr<util::Source>()> open;
};

/// Writes a docker-archive to `out`. `repo_tags` are full names ("example:latest").
/// Verifies each layer's diff_id while writing (Corruption on mismatch).
void write_docker_archive(util::Sink& out, const std::string& config_json,
                          const Digest& config_digest,
                          const std::vector<DockerArchiveLayer>& layers,
                          const std::vector<std::string>& repo_tags, std::int64_t mtime);

}  // namespace strata::oci
